"""Signing in to the console.

Production: OpenID Connect, authorization code with PKCE (authlib), against the company's
identity provider (`OIDC_ISSUER`, `OIDC_CLIENT_ID`, `OIDC_CLIENT_SECRET`). The ID token's claims
map to role and department by the same function as the API (services/identity.py `actor_from_claims`), so a
person is the same actor in the console as with a bearer token.

Development: `aftersales dev` prints one sign-in link per role, each with a one-time token
kept in the process (`DevSignIn`); a used or unknown token signs nobody in.
"""

from __future__ import annotations

import secrets
import time
import warnings
from dataclasses import dataclass, field
from typing import Any

from itsdangerous import BadSignature, URLSafeTimedSerializer
from joserfc import jwt as jose_jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from core.settings import Settings
from domain.case import Actor, Department, Role
from services.identity import ClaimsRejected, actor_from_claims

# Who `aftersales dev` signs in, one per role: the same people the tests and the demo use.
DEV_PEOPLE: dict[str, Actor] = {
    "agent": Actor(id="agent-li", role=Role.AGENT),
    "handler": Actor(id="handler-wang", role=Role.HANDLER, department=Department.QUALITY),
    "supervisor": Actor(id="supervisor-zhao", role=Role.SUPERVISOR),
    "head": Actor(id="head-sun", role=Role.HEAD),
    "admin": Actor(id="admin-chen", role=Role.ADMIN),
}
DEV_TOKEN_SECONDS = 24 * 3600
DEV_TOKENS_KEPT = 500  # the sign-in page hands out fresh links on every view: the oldest unused ones lapse


@dataclass
class DevSignIn:
    """One-time sign-in tokens, in memory: only `aftersales dev` and tests turn this on."""

    tokens: dict[str, tuple[Actor, float]] = field(default_factory=dict)

    def issue(self, actor: Actor, now: float | None = None) -> str:
        token = secrets.token_urlsafe(24)
        while len(self.tokens) >= DEV_TOKENS_KEPT:
            del self.tokens[next(iter(self.tokens))]
        self.tokens[token] = (actor, (now if now is not None else time.time()) + DEV_TOKEN_SECONDS)
        return token

    def redeem(self, token: str, now: float | None = None) -> Actor | None:
        actor, expires = self.tokens.pop(token, (None, 0.0))
        return actor if actor is not None and expires > (now if now is not None else time.time()) else None


class SignInFailed(Exception):
    """The identity provider's answer signs nobody in; the message says why, without the token."""


class OidcSignIn:
    """Authorization code + PKCE against the issuer's discovered endpoints."""

    FLOW_SECONDS = 600

    def __init__(self, settings: Settings, secret: str, http: Any = None) -> None:
        assert settings.oidc_issuer and settings.oidc_client_id
        self.settings = settings
        self.issuer = settings.oidc_issuer.rstrip("/")
        self._flow = URLSafeTimedSerializer(secret, salt="aftersales-console-oidc")
        self._metadata: dict[str, Any] | None = None
        self.transport = http  # tests hand in a transport to a local fake provider

    def client(self, redirect_uri: str) -> Any:  # authlib's AsyncOAuth2Client
        # Imported here, on the first OpenID Connect sign-in: authlib warns at import that its httpx
        # integration is deprecated, which would otherwise reach every command's stderr.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            from authlib.integrations.httpx_client import AsyncOAuth2Client  # type: ignore[import-untyped]

        secret = self.settings.oidc_client_secret
        return AsyncOAuth2Client(
            client_id=self.settings.oidc_client_id,
            client_secret=secret.get_secret_value() if secret else None,
            scope=self.settings.oidc_scopes,
            redirect_uri=redirect_uri,
            code_challenge_method="S256",
            token_endpoint_auth_method="client_secret_post" if secret else "none",
            timeout=10,
            **({"transport": self.transport} if self.transport is not None else {}),
        )

    async def metadata(self) -> dict[str, Any]:
        if self._metadata is None:
            async with self.client("") as http:
                answer = await http.request(
                    "GET", f"{self.issuer}/.well-known/openid-configuration", withhold_token=True
                )
                answer.raise_for_status()
                self._metadata = answer.json()
        return self._metadata

    async def start(self, redirect_uri: str) -> tuple[str, str]:
        """The provider's authorization URL and the signed flow state to keep in a cookie."""
        meta = await self.metadata()
        verifier, state, nonce = secrets.token_urlsafe(48), secrets.token_urlsafe(24), secrets.token_urlsafe(24)
        async with self.client(redirect_uri) as http:
            url, _ = http.create_authorization_url(
                meta["authorization_endpoint"], state=state, code_verifier=verifier, nonce=nonce
            )
        return url, self._flow.dumps({"state": state, "verifier": verifier, "nonce": nonce})

    async def finish(self, redirect_uri: str, flow: str | None, code: str, state: str) -> Actor:
        try:
            kept = self._flow.loads(flow or "", max_age=self.FLOW_SECONDS)
        except BadSignature:
            raise SignInFailed("the sign-in took too long or was started elsewhere; start again") from None
        if not secrets.compare_digest(kept["state"], state):
            raise SignInFailed("the sign-in answer does not belong to this browser; start again")
        meta = await self.metadata()
        async with self.client(redirect_uri) as http:
            token = await http.fetch_token(meta["token_endpoint"], code=code, code_verifier=kept["verifier"])
            keys = (await http.request("GET", meta["jwks_uri"], withhold_token=True)).json()
        id_token = token.get("id_token")
        if not id_token:
            raise SignInFailed("the identity provider sent no ID token")
        return self.actor(id_token, KeySet.import_key_set(keys), kept["nonce"])

    def actor(self, id_token: str, keys: Any, nonce: str) -> Actor:
        wanted = jose_jwt.JWTClaimsRegistry(
            leeway=self.settings.jwt_leeway_seconds,
            iss={"essential": True, "value": self.issuer},
            aud={"essential": True, "value": self.settings.oidc_client_id or ""},
            nonce={"essential": True, "value": nonce},
            sub={"essential": True},
            exp={"essential": True},
        )
        try:
            token = jose_jwt.decode(id_token, keys, algorithms=["RS256", "ES256", "PS256", "EdDSA"])
            wanted.validate(token.claims)
        except (JoseError, ValueError) as error:
            raise SignInFailed(f"the ID token is not valid ({type(error).__name__})") from None
        return claims_actor(dict(token.claims), self.settings)


def claims_actor(claims: dict[str, Any], settings: Settings) -> Actor:
    try:
        return actor_from_claims(claims, settings)
    except ClaimsRejected as error:
        raise SignInFailed(str(error)) from None
