"""Sessions, CSRF and sign-in, through the app as a browser would reach it (no Temporal needed)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from api.app import create_app
from console.app import enable_dev_sign_in
from console.auth import SignInFailed, claims_actor
from console.session import COOKIE
from core.settings import Settings
from domain.case import Actor, Department, Role

AGENT = Actor(id="agent-li", role=Role.AGENT)


@pytest.fixture
async def browser_like() -> AsyncIterator[tuple[httpx.AsyncClient, Any]]:
    app = create_app(Settings())
    dev = enable_dev_sign_in(app)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
        yield client, (app, dev)


async def _signed_in(client: httpx.AsyncClient, handles: Any, actor: Actor = AGENT) -> None:
    _, dev = handles
    answer = await client.get(f"/console/dev-sign-in/{dev.issue(actor)}")
    assert answer.status_code == 303, answer.text


async def test_a_dev_link_signs_in_once(browser_like) -> None:  # noqa: ANN001
    client, (app, dev) = browser_like
    token = dev.issue(AGENT)
    first = await client.get(f"/console/dev-sign-in/{token}")
    assert first.status_code == 303 and first.headers["location"] == "/console/"
    cookie = first.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/console" in cookie
    assert "Secure" not in cookie  # on localhost only
    again = await httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1").get(
        f"/console/dev-sign-in/{token}"
    )
    assert again.status_code == 401
    assert "此登录链接已用过" in again.text


async def test_the_cookie_is_secure_outside_localhost(browser_like) -> None:  # noqa: ANN001
    _, (app, dev) = browser_like
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="https://console.example") as c:
        answer = await c.get(f"/console/dev-sign-in/{dev.issue(AGENT)}")
    assert "Secure" in answer.headers["set-cookie"]


async def test_a_form_without_its_csrf_token_is_refused(browser_like) -> None:  # noqa: ANN001
    client, handles = browser_like
    await _signed_in(client, handles)
    refused = await client.post("/console/sign-out", data={})
    assert refused.status_code == 403
    assert "表单被拒绝" in refused.text
    forged = await client.post("/console/sign-out", data={"csrf_token": "not-the-token"})
    assert forged.status_code == 403
    assert (await client.get("/console/sign-in")).status_code == 200


async def test_sign_out_with_the_token_ends_the_session(browser_like) -> None:  # noqa: ANN001
    client, handles = browser_like
    await _signed_in(client, handles)
    page = await client.get("/console/sign-in")
    app, _ = handles
    session = app.state.console.signer.decode(client.cookies.get(COOKIE))
    out = await client.post("/console/sign-out", data={"csrf_token": session.csrf})
    assert out.status_code == 303 and out.headers["location"] == "/console/sign-in"
    assert page.status_code == 200
    client.cookies.clear()
    assert (await client.get("/console/")).headers["location"].startswith("/console/sign-in")


async def test_an_expired_session_goes_back_to_sign_in(browser_like) -> None:  # noqa: ANN001
    client, (app, _) = browser_like
    signer = app.state.console.signer
    stale = signer.new(AGENT, now=time.time() - signer.minutes * 60 - 1)
    client.cookies.set(COOKIE, signer.encode(stale), path="/console")
    answer = await client.get("/console/")
    assert answer.status_code == 303
    assert answer.headers["location"] == "/console/sign-in?next=/console/"


async def test_oidc_claims_map_like_the_apis_tokens() -> None:
    settings = Settings()
    handler = claims_actor({"sub": "wang", "role": "handler", "department": "quality"}, settings)
    assert handler == Actor(id="wang", role=Role.HANDLER, department=Department.QUALITY)
    with pytest.raises(SignInFailed, match="department"):
        claims_actor({"sub": "wang", "role": "handler"}, settings)
    with pytest.raises(SignInFailed, match="role"):
        claims_actor({"sub": "x", "role": "system"}, settings)


async def test_signing_in_again_returns_to_the_page_and_never_off_site(browser_like) -> None:  # noqa: ANN001
    client, (_, dev) = browser_like
    token = dev.issue(AGENT)
    back = await client.get(f"/console/dev-sign-in/{token}", params={"next": "/console/cases/AS-1"})
    assert back.headers["location"] == "/console/cases/AS-1"
    away = await client.get(f"/console/dev-sign-in/{dev.issue(AGENT)}", params={"next": "https://evil.example/"})
    assert away.headers["location"] == "/console/"
    page = await client.get("/console/sign-in", params={"next": "/console/cases/AS-1"})
    assert "?next=/console/cases/AS-1" in page.text
