"""Mounting the console on the API's app: its pages under /console, its static files, and what
turns a missing session, a refused form or an unknown case into a page rather than JSON."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from console.auth import DevSignIn, OidcSignIn
from console.problems import problem_page
from console.render import page
from console.session import CsrfRefused, SessionSigner, SignInRequired, clear_session
from core.settings import Settings

PREFIX = "/console"
STATIC = Path(__file__).parent / "static"


class CaseHidden(Exception):
    """No such case, or not one this person may see: the same 404 page either way."""

    def __init__(self, number: str) -> None:
        super().__init__(number)
        self.number = number


@dataclass
class ConsoleState:
    signer: SessionSigner
    oidc: OidcSignIn | None
    dev: DevSignIn | None = None  # one-time dev sign-in links: `aftersales dev` and tests only
    extra: dict[str, object] = field(default_factory=dict)


def install(app: FastAPI, settings: Settings) -> None:
    from console.gate import PageForbidden, forbidden_page
    from console.routes import case, find, inbox, new_case, operations, sign_in

    secret = (
        settings.console_session_secret.get_secret_value()
        if settings.console_session_secret
        else secrets.token_urlsafe(32)
    )
    oidc = OidcSignIn(settings, secret) if settings.oidc_issuer and settings.oidc_client_id else None
    app.state.console = ConsoleState(signer=SessionSigner(secret, settings.console_session_minutes), oidc=oidc)
    app.mount(f"{PREFIX}/static", StaticFiles(directory=STATIC), name="console-static")
    for module in (sign_in, inbox, case, new_case, find, operations):
        app.include_router(module.router)
    app.add_exception_handler(SignInRequired, _sign_in)
    app.add_exception_handler(CsrfRefused, _csrf_refused)
    app.add_exception_handler(CaseHidden, _case_hidden)
    app.add_exception_handler(PageForbidden, forbidden_page)
    # The API's problems (a rate limit, a Temporal deadline) on a console path: a page (console/problems.py).
    app.state.problem_page = problem_page


def enable_dev_sign_in(app: FastAPI) -> DevSignIn:
    """Turn on one-time sign-in links (never in production: `aftersales dev` and tests)."""
    state: ConsoleState = app.state.console
    state.dev = state.dev or DevSignIn()
    return state.dev


async def _sign_in(request: Request, _: Exception) -> Response:
    if request.method == "GET" and request.headers.get("x-console-poll") is None:
        response: Response = RedirectResponse(f"{PREFIX}/sign-in?next={quote(request.url.path)}", status_code=303)
    else:  # a form or a poll: the page reloads to the sign-in page
        response = RedirectResponse(f"{PREFIX}/sign-in", status_code=303)
    clear_session(request, response)
    return response


async def _csrf_refused(request: Request, _: Exception) -> Response:
    return page(request, "refused.html", status=403)


async def _case_hidden(request: Request, error: Exception) -> Response:
    number = error.number if isinstance(error, CaseHidden) else ""
    return page(request, "not_found.html", status=404, number=number)


def dev_sign_in_links(app: FastAPI, base_url: str) -> dict[str, str]:
    """One one-time sign-in link per role, for `aftersales dev` to print."""
    from console.auth import DEV_PEOPLE

    dev = enable_dev_sign_in(app)
    return {role: f"{base_url}{PREFIX}/dev-sign-in/{dev.issue(actor)}" for role, actor in DEV_PEOPLE.items()}
