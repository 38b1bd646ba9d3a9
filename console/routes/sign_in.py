"""Sign-in (dev links, OpenID Connect), sign-out and the language toggle."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

import httpx
from authlib.integrations.base_client.errors import OAuthError  # type: ignore[import-untyped]
from fastapi import APIRouter, Query, Request
from fastapi.responses import RedirectResponse, Response

from console import i18n
from console.auth import DEV_PEOPLE, SignInFailed
from console.render import page
from console.session import FormSession, clear_session, set_session, signer

router = APIRouter(prefix="/console", include_in_schema=False)
FLOW_COOKIE = "aftersales_oidc"


def _home(next_path: str | None) -> str:
    # Only our own pages: never an open redirect to another site.
    if next_path and next_path.startswith("/console/") and not next_path.startswith("//"):
        return next_path
    return "/console/"


@router.get("/sign-in", name="console_sign_in")
async def sign_in_page(request: Request, next: Annotated[str | None, Query(max_length=200)] = None) -> Response:
    state = request.app.state.console
    dev_links = {}
    if state.dev is not None:  # fresh one-time links on every view, for development only
        back = f"?next={quote(_home(next))}" if next else ""
        dev_links = {role: f"/console/dev-sign-in/{state.dev.issue(actor)}{back}" for role, actor in DEV_PEOPLE.items()}
    return page(request, "sign_in.html", oidc=state.oidc is not None, dev_links=dev_links, next=next or "")


@router.get("/dev-sign-in/{token}")
async def dev_sign_in(
    request: Request, token: str, next: Annotated[str | None, Query(max_length=200)] = None
) -> Response:
    dev = request.app.state.console.dev
    actor = dev.redeem(token) if dev is not None and len(token) <= 64 else None
    if actor is None:
        return page(request, "sign_in.html", status=401, oidc=request.app.state.console.oidc is not None,
                    dev_links={}, next="", failed=True)  # fmt: skip
    response = RedirectResponse(_home(next), status_code=303)
    set_session(request, response, signer(request).new(actor))
    return response


@router.get("/oidc/start")
async def oidc_start(request: Request) -> Response:
    oidc = request.app.state.console.oidc
    if oidc is None:
        return RedirectResponse("/console/sign-in", status_code=303)
    try:
        url, flow = await oidc.start(str(request.url_for("console_oidc_callback")))
    except (httpx.HTTPError, KeyError, ValueError):
        return page(request, "sign_in.html", status=503, oidc=True, dev_links={}, next="", failed=True,
                    reason="the identity provider did not answer")  # fmt: skip
    response = RedirectResponse(url, status_code=303)
    response.set_cookie(FLOW_COOKIE, flow, max_age=oidc.FLOW_SECONDS, path="/console/oidc", httponly=True,
                        samesite="lax", secure=request.url.hostname not in ("localhost", "127.0.0.1"))  # fmt: skip
    return response


@router.get("/oidc/callback", name="console_oidc_callback")
async def oidc_callback(
    request: Request,
    code: Annotated[str, Query(max_length=2048)] = "",
    state: Annotated[str, Query(max_length=256)] = "",
) -> Response:
    oidc = request.app.state.console.oidc
    if oidc is None or not code:
        return RedirectResponse("/console/sign-in", status_code=303)
    try:
        actor = await oidc.finish(
            str(request.url_for("console_oidc_callback")), request.cookies.get(FLOW_COOKIE), code, state
        )
    except (httpx.HTTPError, OAuthError, KeyError, ValueError):
        return page(request, "sign_in.html", status=401, oidc=True, dev_links={}, next="", failed=True,
                    reason="the identity provider refused the sign-in")  # fmt: skip
    except SignInFailed as error:
        return page(request, "sign_in.html", status=401, oidc=True, dev_links={}, next="", failed=True,
                    reason=str(error))  # fmt: skip
    response = RedirectResponse("/console/", status_code=303)
    response.delete_cookie(FLOW_COOKIE, path="/console/oidc")
    set_session(request, response, signer(request).new(actor))
    return response


@router.post("/sign-out")
async def sign_out(request: Request, _: FormSession) -> Response:
    response = RedirectResponse("/console/sign-in", status_code=303)
    clear_session(request, response)
    return response


@router.get("/language/{language}")
async def choose_language(
    request: Request, language: str, next: Annotated[str | None, Query(max_length=200)] = None
) -> Response:
    response = RedirectResponse(_home(next), status_code=303)
    if language in i18n.LANGUAGES:
        response.set_cookie(i18n.LANG_COOKIE, language, max_age=365 * 86400, path="/console", samesite="lax")
    return response
