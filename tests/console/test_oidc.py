"""OpenID Connect sign-in, authorization code + PKCE, against a fake identity provider (the
company's IdP is outside what we own): authlib's real client speaks to it over an httpx transport."""

from __future__ import annotations

import base64
import hashlib
import json
import time
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey

from api.app import create_app
from console.session import COOKIE
from core.settings import Settings
from domain.case import Actor, Department, Role

ISSUER = "https://idp.example.test"
KEY = RSAKey.generate_key(2048, parameters={"kid": "idp-1"})


class FakeIdp:
    """Discovery, JWKS and a token endpoint that checks the PKCE verifier against the challenge."""

    def __init__(self, claims: dict[str, Any]) -> None:
        self.claims = claims
        self.pending: dict[str, dict[str, str]] = {}  # code -> the authorization request

    def authorize(self, url: str) -> str:
        request = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
        self.pending["code-1"] = request
        return f"{request['redirect_uri']}?code=code-1&state={request['state']}"

    def handle(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path == "/.well-known/openid-configuration":
            return httpx.Response(200, json={
                "issuer": ISSUER, "authorization_endpoint": f"{ISSUER}/authorize",
                "token_endpoint": f"{ISSUER}/token", "jwks_uri": f"{ISSUER}/jwks",
            })  # fmt: skip
        if path == "/jwks":
            return httpx.Response(200, json=KeySet([KEY]).as_dict(private=False))
        if path == "/token":
            form = {k: v[0] for k, v in parse_qs(request.content.decode()).items()}
            asked = self.pending.pop(form.get("code", ""), None)
            if asked is None:
                return httpx.Response(400, json={"error": "invalid_grant"})
            digest = hashlib.sha256(form["code_verifier"].encode()).digest()
            if base64.urlsafe_b64encode(digest).rstrip(b"=").decode() != asked["code_challenge"]:
                return httpx.Response(400, json={"error": "invalid_grant", "error_description": "PKCE"})
            now = int(time.time())
            claims = {"iss": ISSUER, "aud": "console", "iat": now, "exp": now + 300, "nonce": asked["nonce"]}
            token = jwt.encode({"alg": "RS256", "kid": "idp-1"}, claims | self.claims, KEY)
            body = {"access_token": "at", "token_type": "Bearer", "expires_in": 300, "id_token": token}
            return httpx.Response(200, content=json.dumps(body), headers={"Content-Type": "application/json"})
        return httpx.Response(404)


def _console(idp: FakeIdp) -> httpx.AsyncClient:
    app = create_app(Settings(oidc_issuer=ISSUER, oidc_client_id="console"))
    app.state.console.oidc.transport = httpx.MockTransport(idp.handle)
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1")
    client.app = app  # type: ignore[attr-defined]
    return client


def _session_actor(browser: httpx.AsyncClient) -> Actor | None:
    session = browser.app.state.console.signer.decode(browser.cookies.get(COOKIE))  # type: ignore[attr-defined]
    return session.actor if session else None


async def test_a_handler_signs_in_with_pkce_and_keeps_their_department() -> None:
    idp = FakeIdp({"sub": "handler-qa", "role": "handler", "department": "quality"})
    async with _console(idp) as browser:
        page = await browser.get("/console/sign-in", headers={"Accept-Language": "en"})
        assert "Sign in with your company account" in page.text
        start = await browser.get("/console/oidc/start")
        assert start.status_code == 303
        asked = parse_qs(urlsplit(start.headers["location"]).query)
        assert asked["code_challenge_method"] == ["S256"] and asked["response_type"] == ["code"]
        assert "code_verifier" not in asked  # only its hash leaves the server
        back = await browser.get(idp.authorize(start.headers["location"]))
        assert back.status_code == 303, back.text
        assert back.headers["location"] == "/console/"
        assert _session_actor(browser) == Actor(id="handler-qa", role=Role.HANDLER, department=Department.QUALITY)


async def test_an_answer_for_another_browser_or_role_signs_nobody_in() -> None:
    idp = FakeIdp({"sub": "robot", "role": "system"})
    async with _console(idp) as browser:
        start = await browser.get("/console/oidc/start")
        redirect = idp.authorize(start.headers["location"])
        forged = await browser.get(redirect.replace("state=", "state=x"))
        assert forged.status_code == 401 and "does not belong to this browser" in forged.text
        idp.authorize(start.headers["location"])  # the provider hands out the code again
        refused = await browser.get(redirect)
        assert refused.status_code == 401 and "claim of agent, handler" in refused.text
        assert _session_actor(browser) is None  # still signed out
