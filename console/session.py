"""A person's console session: a signed cookie (itsdangerous), HttpOnly, SameSite=Lax, Secure
outside localhost, ending after `console_session_minutes`. It carries who signed in, a CSRF
token every form echoes, and nothing personal about customers.

Signed rather than server-side: nothing to store or clean up, and signing out clears the cookie;
a stolen cookie is bounded by its expiry (the cookie is HttpOnly, so no script reads it).
"""

from __future__ import annotations

import hmac
import secrets
import time
from dataclasses import asdict, dataclass, field
from typing import Annotated

from fastapi import Depends, Request, Response
from itsdangerous import BadSignature, URLSafeSerializer

from domain.case import Actor, Department, Role

COOKIE = "aftersales_console"
PATH = "/console"
LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})


class SignInRequired(Exception):
    """No valid session: the console answers with the sign-in page (console/app.py)."""


class CsrfRefused(Exception):
    """A form arrived without the session's CSRF token."""


@dataclass
class Session:
    sub: str
    role: str
    department: str | None
    expires_at: float
    csrf: str = field(default_factory=lambda: secrets.token_urlsafe(24))

    @property
    def actor(self) -> Actor:
        department = Department(self.department) if self.department else None
        return Actor(id=self.sub, role=Role(self.role), department=department)

    def csrf_ok(self, token: str | None) -> bool:
        return bool(token) and hmac.compare_digest(self.csrf, token or "")


class SessionSigner:
    def __init__(self, secret: str, minutes: int) -> None:
        self._serializer = URLSafeSerializer(secret, salt="aftersales-console-session")
        self.minutes = minutes

    def new(self, actor: Actor, now: float | None = None) -> Session:
        expires = (now if now is not None else time.time()) + self.minutes * 60
        department = actor.department.value if actor.department else None
        return Session(sub=actor.id, role=actor.role.value, department=department, expires_at=expires)

    def encode(self, session: Session) -> str:
        return self._serializer.dumps(asdict(session))

    def decode(self, value: str | None, now: float | None = None) -> Session | None:
        """The session in the cookie, or None if missing, forged, malformed or expired."""
        if not value:
            return None
        try:
            data = self._serializer.loads(value)
            session = Session(**data)
            Role(session.role)
        except (BadSignature, TypeError, ValueError):
            return None
        if session.expires_at <= (now if now is not None else time.time()):
            return None
        return session


def signer(request: Request) -> SessionSigner:
    return request.app.state.console.signer


def _secure(request: Request) -> bool:
    return request.url.hostname not in LOCAL_HOSTS


def set_session(request: Request, response: Response, session: Session) -> None:
    response.set_cookie(
        COOKIE,
        signer(request).encode(session),
        max_age=max(int(session.expires_at - time.time()), 1),
        path=PATH,
        httponly=True,
        samesite="lax",
        secure=_secure(request),
    )


def clear_session(request: Request, response: Response) -> None:
    response.delete_cookie(COOKIE, path=PATH, httponly=True, samesite="lax", secure=_secure(request))


async def current_session(request: Request) -> Session:
    # async: a dependency that is a plain function runs on a worker thread, a hop for nothing here
    return _signed_in(request)


def _signed_in(request: Request) -> Session:
    session = signer(request).decode(request.cookies.get(COOKIE))
    if session is None:
        raise SignInRequired()
    return session


async def form_session(request: Request) -> Session:
    """The session of a form post, if the form carries the session's CSRF token."""
    session = _signed_in(request)
    form = await request.form()
    token = form.get("csrf_token")
    if not session.csrf_ok(token if isinstance(token, str) else None):
        raise CsrfRefused()
    return session


SignedIn = Annotated[Session, Depends(current_session)]
FormSession = Annotated[Session, Depends(form_session)]
