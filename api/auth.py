"""Who is calling: services send an API key (`X-API-Key`), people a JWT (`Authorization: Bearer`).

Every refusal is a 401 problem that names what was wrong in general terms and never
repeats the credential. The caller found here is rate limited (api/limits.py) and is
the actor every action records.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import jwt
from fastapi import Request, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from api.pages import page_credential
from api.problems import Problem
from core.settings import Settings
from domain.case import Actor
from services.identity import ClaimsRejected, actor_from_claims

_api_key = APIKeyHeader(
    name="X-API-Key",
    auto_error=False,
    scheme_name="ApiKey",
    description="A service's API key (`aftersales apikey create`)",
)
_bearer = HTTPBearer(auto_error=False, scheme_name="Jwt", bearerFormat="JWT", description="A person's token")


def _unauthenticated(detail: str, *, invalid_token: bool = False) -> Problem:
    challenge = 'Bearer realm="aftersales"' + (', error="invalid_token"' if invalid_token else "")
    return Problem(401, "Not authenticated", detail, headers={"WWW-Authenticate": challenge})


class JwtVerifier:
    """Checks signature, expiry, issuer and audience, then reads the actor from the claims."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._algorithm = settings.jwt_algorithm
        self._key: Any = None
        if self._algorithm.startswith("HS"):
            if settings.jwt_secret is not None:
                self._key = settings.jwt_secret.get_secret_value()
        elif settings.jwt_public_key:
            self._key = settings.jwt_public_key
        elif settings.jwt_public_key_file:
            self._key = Path(settings.jwt_public_key_file).read_text()

    def actor(self, token: str) -> Actor:
        if self._key is None:
            raise _unauthenticated("bearer tokens are not accepted here (no JWT key configured); use an API key")
        s = self._settings
        try:
            claims = jwt.decode(
                token,
                self._key,
                algorithms=[self._algorithm],  # one algorithm only: no "alg: none", no HS/RS confusion
                audience=s.jwt_audience,
                issuer=s.jwt_issuer,
                leeway=s.jwt_leeway_seconds,
                options={"require": ["exp", "iss", "aud", "sub"]},
            )
        except jwt.ExpiredSignatureError:
            raise _unauthenticated("the token has expired", invalid_token=True) from None
        except jwt.InvalidTokenError as error:
            # The class name says what failed (audience, issuer, signature) without quoting the token.
            raise _unauthenticated(f"the token is not valid ({type(error).__name__})", invalid_token=True) from None
        try:
            return actor_from_claims(claims, s)
        except ClaimsRejected as error:
            raise _unauthenticated(str(error), invalid_token=True) from None


async def current_actor(
    request: Request,
    api_key: Annotated[str | None, Security(_api_key)] = None,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)] = None,
) -> Actor:
    """The authenticated caller; every action is recorded against it."""
    state = request.app.state
    if not api_key and not bearer and (session := page_credential(request)):
        # A browser's session on a page (api/pages.py): a key, or a person's token.
        if session.startswith("ask_"):
            api_key = session
        else:
            bearer = HTTPAuthorizationCredentials(scheme="Bearer", credentials=session)
    if api_key and bearer:
        raise _unauthenticated("send one credential: X-API-Key or Authorization: Bearer, not both")
    if api_key:
        actor = await state.api_keys.authenticate(api_key)
        if actor is None:
            raise _unauthenticated("the API key is unknown or revoked")
    elif bearer:
        actor = state.jwt.actor(bearer.credentials)
    else:
        raise _unauthenticated("send an API key in X-API-Key, or a token in Authorization: Bearer")
    await state.rate_limit.check(actor.id)
    return actor
