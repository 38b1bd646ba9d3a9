"""Signing in to the pages a person opens in a browser (the monthly report page).

A browser cannot send X-API-Key or a bearer token by itself. So a page answers a browser
that has no credentials with a sign-in form instead of problem JSON; the form takes the
person's API key (or their identity provider's token), checks it and keeps it in a cookie
that only the pages accept: HttpOnly (no script reads it), SameSite=Strict (no other site
makes the browser send it), Path=/reports, Secure over HTTPS, for eight hours. Revoking the
key ends the session at the next request. Every route except the pages' GETs ignores the
cookie, so it can never act on a case. Programs calling the page keep getting problem JSON.
"""

from __future__ import annotations

from datetime import datetime
from html import escape
from typing import Annotated
from urllib.parse import parse_qs, urlencode
from zoneinfo import ZoneInfo

from fastapi import APIRouter, FastAPI, Query, Request
from fastapi.responses import HTMLResponse, Response

from api.problems import Problem, problem_response
from services.access import allowed_roles
from services.report_page import FONTS

COOKIE = "aftersales_session"
SESSION_SECONDS = 8 * 3600
# The pages a browser opens (GET only); the cookie is a credential for these and nothing else.
PAGES = frozenset({"/reports/monthly.html"})
REPORT_PAGE = "/reports/monthly.html"

router = APIRouter(prefix="/reports", tags=["reports"])


def page_credential(request: Request) -> str | None:
    """The session cookie, where a page accepts it."""
    if request.method in ("GET", "HEAD") and request.url.path in PAGES:
        return request.cookies.get(COOKIE) or None
    return None


def _browser(request: Request) -> bool:
    return "text/html" in request.headers.get("accept", "")


def _this_month(request: Request) -> str:
    return f"{datetime.now(ZoneInfo(request.app.state.settings.business_timezone)):%Y-%m}"


def _form(request: Request, month: str, message: str | None) -> str:
    note = f'<p class="error" role="alert">{escape(message)}</p>' if message else ""
    return f"""<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>登录 Sign in · 月度质量报告 Monthly quality report</title>
<style>body{{font-family:{FONTS};max-width:32rem;margin:3rem auto;padding:0 1rem;color:#222}}
label{{display:block;margin:1rem 0 .3rem}}input{{width:100%;padding:.5rem;font:inherit;box-sizing:border-box}}
button{{margin-top:1.2rem;padding:.5rem 1.2rem;font:inherit}}.error{{color:#a0281e}}.en{{color:#555}}</style></head>
<body><h1>月度质量报告 <span class="en">Monthly quality report</span></h1>
<p>请用主管、售后负责人或管理员的 API 密钥登录。<br><span class="en">Sign in with a supervisor's, the after-sales
head's or an admin's API key (or your company token).</span></p>{note}
<form method="post" action="/reports/sign-in">
<label for="key">API 密钥 / API key</label>
<input id="key" name="key" type="password" autocomplete="current-password" required>
<label for="month">月份 / Month</label>
<input id="month" name="month" type="month" value="{escape(month, quote=True)}" required>
<button type="submit">登录并查看 / Sign in and open</button></form></body></html>
"""


def sign_in_page(request: Request, status: int, message: str | None = None) -> HTMLResponse:
    month = request.query_params.get("month") or _this_month(request)
    return HTMLResponse(_form(request, month, message), status_code=status, headers={"Cache-Control": "no-store"})


async def _actor(request: Request, credential: str):  # noqa: ANN202 - domain.case.Actor | None
    state = request.app.state
    if credential.startswith("ask_"):
        return await state.api_keys.authenticate(credential)
    try:
        return state.jwt.actor(credential)
    except Problem:
        return None


_SIGN_IN_FORM = {
    "requestBody": {
        "content": {
            "application/x-www-form-urlencoded": {
                "schema": {
                    "type": "object",
                    "properties": {
                        "key": {"type": "string", "maxLength": 4096, "description": "an API key or a person's token"},
                        "month": {"type": "string", "pattern": "^[0-9]{4}-[0-9]{2}$", "description": "YYYY-MM"},
                    },
                    "required": ["key"],
                }
            }
        }
    }
}


@router.get("/sign-in", response_class=HTMLResponse, summary="The sign-in form for the report page (browsers)")
async def sign_in_form(
    request: Request,
    month: Annotated[
        str | None, Query(pattern=r"^[0-9]{4}-[0-9]{2}$", description="the month to prefill, YYYY-MM")
    ] = None,
) -> HTMLResponse:
    return sign_in_page(request, 200)


@router.post(
    "/sign-in",
    response_class=HTMLResponse,
    summary="Sign in to the report page with an API key (a form post; 303 to the page)",
    openapi_extra=_SIGN_IN_FORM,
)
async def sign_in(request: Request) -> HTMLResponse:
    form = {k: v[0] for k, v in parse_qs((await request.body()).decode("utf-8", "replace")).items()}
    key, month = form.get("key", "").strip(), form.get("month", "").strip()
    if not key:
        return sign_in_page(request, 200)
    # A month that is not YYYY-MM is the page's to refuse, with its own message; only the shape is kept here.
    target = f"{REPORT_PAGE}?{urlencode({'month': month})}" if month else REPORT_PAGE
    actor = None if len(key) > 4096 or not key.isprintable() else await _actor(request, key)
    if actor is None:
        return HTMLResponse(_form(request, month, "密钥无效或已吊销。The key is unknown or revoked."), status_code=401)
    if actor.role not in allowed_roles("GET", REPORT_PAGE):
        message = f"角色 {actor.role.value} 无权查看报告。Role {actor.role.value} may not see the report."
        return HTMLResponse(_form(request, month, message), status_code=403)
    response = HTMLResponse("", status_code=303, headers={"Location": target, "Cache-Control": "no-store"})
    response.set_cookie(
        COOKIE, key, max_age=SESSION_SECONDS, path="/reports", httponly=True, samesite="strict",
        secure=request.url.scheme == "https",
    )  # fmt: skip
    return response


@router.post("/sign-out", response_class=HTMLResponse, summary="End the report page's session")
async def sign_out(request: Request) -> HTMLResponse:
    response = sign_in_page(request, 200)
    response.delete_cookie(COOKIE, path="/reports", httponly=True, samesite="strict")
    return response


def _refused(exc: Problem) -> str:
    """Why a session was refused, Chinese first; the problem's own detail is the English."""
    if exc.status == 401:
        return f"登录已失效或密钥已吊销，请重新登录。{exc.detail}"
    return f"当前角色无权查看报告。{exc.detail}"


def install(app: FastAPI) -> None:
    """A browser refused on a page (no credentials, a revoked key, another role) gets the form;
    everyone else the problem document as before. Call after api.problems.install."""

    @app.exception_handler(Problem)
    async def _problem(request: Request, exc: Problem) -> Response:
        if exc.status in (401, 403) and request.url.path in PAGES and _browser(request):
            return sign_in_page(request, exc.status, _refused(exc) if request.cookies.get(COOKIE) else None)
        return problem_response(exc.status, exc.title, exc.detail, request, headers=exc.headers, **exc.extensions)
