"""The customer page, `/c/{token}`: what a signed link in a message opens (services/customer_links.py).

Thin routes: the token decides the case and the purpose (nothing in the URL or the form can name
another case), services/customer_page.py reads the status and hands the answer to the case.
Chinese first; the case's language, else the browser's, unless the customer chose with the
toggle (`?lang=`, remembered in a cookie); rendered by Jinja2 from
templates/, its one stylesheet served from here; no script, nothing from another origin.

Forms carry a nonce bound to the link and to a random cookie of this browser (HttpOnly,
SameSite=Strict, Path=/c): a form posted from another site comes without the cookie and is
refused, as is one whose Origin is another site's. A refused link is a page with a 4xx status
(404 for a link that is not ours, 410 for an expired one, naming the hotline), never a 500.
"""

from __future__ import annotations

import re
import secrets
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.datastructures import UploadFile
from temporalio.service import RPCError

from api.customer.words import STAGES, say
from core.settings import Settings
from domain.case import Stage
from domain.lifecycle import OPEN_STAGES
from services.customer_links import Claims, LinkExpired, LinkRefused, Purpose, form_nonce, nonce_matches, verify
from services.customer_page import CaseStatus, CustomerPage, Taken, answered, status
from services.temporal_calls import TemporalDidNotAnswer
from services.uploads import MAX_FILES, UploadRefused, Uploads

_HERE = Path(__file__).parent
_TEMPLATES = Environment(
    loader=FileSystemLoader(_HERE / "templates"), autoescape=select_autoescape(default=True), auto_reload=False
)
_CSS = (_HERE / "static" / "page.css").read_bytes()
BROWSER_COOKIE = "cp_browser"
LANG_COOKIE = "cp_lang"  # the language the customer chose with the toggle (?lang=), remembered
PREFIX = "/c/"
COMMENT_LIMIT, TEXT_LIMIT = 1000, 2000
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
# Where each purpose's form is still answerable.
_ANSWERABLE = {
    Purpose.SURVEY: frozenset({Stage.AWAITING_FEEDBACK}),
    Purpose.FIX_CHECK: frozenset({Stage.CLOSED}),
    Purpose.INFO_REQUEST: OPEN_STAGES | {Stage.AWAITING_FEEDBACK},
}
_UPLOAD_STATUS = {"too_large": 413, "unsupported_type": 415}
_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "same-origin",  # no-referrer would make the form's Origin "null"
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'",
}

router = APIRouter(tags=["customer page"])


def _english(request: Request) -> bool:
    """?lang=en|zh, else the toggle's cookie, else the case's language (its intake's
    `customer.language`), else whichever of English and Chinese the browser prefers; Chinese by default."""
    chosen = request.query_params.get("lang")
    if chosen not in ("en", "zh"):
        chosen = request.cookies.get(LANG_COOKIE)
    if chosen in ("en", "zh"):
        return chosen == "en"
    case_language = getattr(request.state, "case_language", None)
    if case_language is not None:
        return case_language == "en"
    best, best_q = "zh", 0.0
    for part in request.headers.get("accept-language", "")[:500].split(","):
        tag, _, params = part.strip().lower().partition(";")
        try:
            q = float(params.strip()[2:]) if params.strip().startswith("q=") else 1.0
        except ValueError:
            continue
        for lang in ("zh", "en"):
            if tag.startswith(lang) and q > best_q:
                best, best_q = lang, q
    return best == "en"


def _page(request: Request, status_code: int, **context: Any) -> HTMLResponse:
    english = _english(request)
    context.setdefault("toggle", f"{request.url.path}?lang={'zh' if english else 'en'}")
    html = _TEMPLATES.get_template("page.html").render(
        en=english, t=lambda key, **values: say(key, english, **values), **context
    )
    response = HTMLResponse(html, status_code=status_code, headers=_HEADERS)
    chosen = request.query_params.get("lang")
    if chosen in ("en", "zh") and request.cookies.get(LANG_COOKIE) != chosen:
        response.set_cookie(
            LANG_COOKIE, chosen, path="/c", max_age=365 * 86400, httponly=True, samesite="lax",
            secure=request.url.scheme == "https",
        )  # fmt: skip
    return response


def _message(request: Request, status_code: int, key: str, *, error: bool = True, **context: Any) -> HTMLResponse:
    settings: Settings = request.app.state.settings
    text = say(key, _english(request), hotline=settings.customer_hotline, limit=context.pop("limit", ""))
    return _page(request, status_code, message=text, error=error, **context)


def _claims(request: Request, token: str) -> Claims | HTMLResponse:
    try:
        return verify(token, request.app.state.settings)
    except LinkExpired:
        return _message(request, 410, "expired")
    except LinkRefused:
        return _message(request, 404, "invalid", toggle=None)


def _service(request: Request) -> CustomerPage:
    state = request.app.state
    uploads = Uploads(state.settings, state.file_storage, state.attachments, state.upload_scanner)
    return CustomerPage(state.temporal, state.store, state.settings, uploads)


def _promised(case: CaseStatus, settings: Settings) -> dict[str, str]:
    if case.promised_at is None:
        return {}
    return {
        "promised": f"{case.promised_at:%Y-%m-%d %H:%M} ({settings.business_timezone})",
        "promised_iso": case.promised_at.isoformat(timespec="minutes"),
    }


@router.get("/c/assets/page.css", summary="The customer page's stylesheet")
async def stylesheet() -> Response:
    return Response(_CSS, media_type="text/css", headers={"Cache-Control": "public, max-age=3600"})


@router.get("/c/{token}", response_class=HTMLResponse, summary="The customer page a signed link opens")
async def open_page(request: Request, token: str) -> HTMLResponse:
    claims = _claims(request, token)
    if isinstance(claims, HTMLResponse):
        return claims
    state = request.app.state
    settings: Settings = state.settings
    try:
        case = await status(state.temporal, state.store, settings, claims.case_number)
    except (TemporalDidNotAnswer, RPCError):
        return _message(request, 503, "unavailable")
    if case is None:
        return _message(request, 404, "no_case")
    request.state.case_language = case.language
    english = _english(request)
    context: dict[str, Any] = {"case": case, "stage_words": STAGES[case.stage][1 if english else 0]}
    context |= _promised(case, settings)
    lang = "en" if english else "zh"
    if claims.purpose is not Purpose.STATUS:
        if await answered(state.attachments, claims):
            key = "thanks" if request.query_params.get("sent") == "1" else "already"
            return _message(request, 200, key, error=False, **context)
        if case.stage not in _ANSWERABLE[claims.purpose]:
            return _message(request, 200, "not_now", error=False, **context)
        browser = request.cookies.get(BROWSER_COOKIE) or secrets.token_urlsafe(16)
        context |= {
            "form": claims.purpose.value,
            "action": f"/c/{token}?lang={lang}",
            "nonce": form_nonce(token, browser, settings),
            "comment_limit": COMMENT_LIMIT,
            "text_limit": TEXT_LIMIT,
        }
        response = _page(request, 200, **context)
        if BROWSER_COOKIE not in request.cookies:
            response.set_cookie(
                BROWSER_COOKIE, browser, path="/c", httponly=True, samesite="strict",
                secure=request.url.scheme == "https",
            )  # fmt: skip
        return response
    return _page(request, 200, **context)


def _same_origin(request: Request) -> bool:
    origin = request.headers.get("origin")
    if origin is None or origin == "null":
        return origin is None
    return urlsplit(origin).netloc == request.headers.get("host", "")


def _bounded(text: object, limit: int, *, required: bool) -> str | None:
    """The text stripped, or None when it is missing but required, too long, or has control characters."""
    value = text.strip() if isinstance(text, str) else ""
    if (required and not value) or len(value) > limit or _CONTROL.search(value):
        return None
    return value


@router.post("/c/{token}", response_class=HTMLResponse, summary="The customer's answer from the page")
async def answer(request: Request, token: str) -> Response:
    claims = _claims(request, token)
    if isinstance(claims, HTMLResponse):
        return claims
    if claims.purpose is Purpose.STATUS:
        return _message(request, 405, "not_now")
    settings: Settings = request.app.state.settings
    async with request.form(max_files=MAX_FILES + 1, max_fields=10, max_part_size=64 * 1024) as form:
        nonce = form.get("nonce")
        browser = request.cookies.get(BROWSER_COOKIE, "")
        if (
            not isinstance(nonce, str)
            or not _same_origin(request)
            or not nonce_matches(nonce, token, browser, settings)
        ):
            return _message(request, 403, "form_expired")
        comment = _bounded(form.get("comment"), COMMENT_LIMIT, required=False)
        page = _service(request)
        try:
            if claims.purpose is Purpose.SURVEY:
                score = form.get("score")
                if not isinstance(score, str) or score not in ("1", "2", "3", "4", "5"):
                    return _message(request, 422, "bad_score")
                if comment is None:
                    return _message(request, 422, "bad_comment", limit=COMMENT_LIMIT)
                taken = await page.survey(claims, int(score), comment or None)
            elif claims.purpose is Purpose.FIX_CHECK:
                held = form.get("held")
                if held not in ("yes", "no"):
                    return _message(request, 422, "bad_held")
                if comment is None:
                    return _message(request, 422, "bad_comment", limit=COMMENT_LIMIT)
                taken = await page.fix_check(claims, held == "yes", comment or None)
            else:
                text = _bounded(form.get("text"), TEXT_LIMIT, required=True)
                if text is None:
                    return _message(request, 422, "bad_text", limit=TEXT_LIMIT)
                parts = [f for f in form.getlist("files") if isinstance(f, UploadFile) and (f.filename or f.size)]
                files = [await f.read() for f in parts]
                taken = await page.reply(claims, text, files)
        except UploadRefused as refused:
            return _upload_refused(request, refused, settings)
        except (TemporalDidNotAnswer, RPCError):
            return _message(request, 503, "unavailable")
    if taken is Taken.TAKEN:
        lang = "en" if _english(request) else "zh"
        return RedirectResponse(f"/c/{token}?lang={lang}&sent=1", status_code=303, headers=_HEADERS)
    if taken is Taken.ALREADY:
        return _message(request, 200, "already", error=False)
    return _message(request, 409, "busy" if taken is Taken.BUSY else "not_now")


def _upload_refused(request: Request, refused: UploadRefused, settings: Settings) -> HTMLResponse:
    english = _english(request)
    text = say(
        refused.code, english, n=refused.index + 1,
        image=_size(settings.upload_max_image_bytes), video=_size(settings.upload_max_video_bytes),
    )  # fmt: skip
    return _page(request, _UPLOAD_STATUS.get(refused.code, 422), message=text, error=True)


def _size(limit: int) -> str:
    return f"{limit // (1024 * 1024)} MB" if limit >= 1024 * 1024 else f"{max(limit // 1024, 1)} KB"
