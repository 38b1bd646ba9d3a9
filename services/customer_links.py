"""Signed links to the customer page: `/c/{token}`, one case, one purpose, until an expiry.

A token is `<case number>.<purpose code>.<expiry>.<signature>`: the case number (not personal
data), what the link is for, its expiry in seconds since the epoch (base 36) and an HMAC-SHA256
over the three, truncated to 128 bits. Nothing else is in it: no name, no phone, no text. It is
short enough for an SMS, and the same case, purpose and expiry always give the same token, so a
message sent twice carries the same link (and answering from either acts once).

The key is `customer_link_secret`; without it, a key made once in data_dir serves one machine
(`aftersales dev`). Every process that issues or checks links must share the key.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path

from core.settings import Settings, get_settings


class Purpose(StrEnum):
    SURVEY = "survey"
    FIX_CHECK = "fix_check"
    INFO_REQUEST = "info_request"
    STATUS = "status"


_CODES = {Purpose.SURVEY: "s", Purpose.FIX_CHECK: "f", Purpose.INFO_REQUEST: "i", Purpose.STATUS: "t"}
_PURPOSES = {code: purpose for purpose, code in _CODES.items()}
# The whole token, bounded: a longer or odd one is refused before any work.
_TOKEN = re.compile(r"^([A-Z]{2,8}-[0-9]{8}-[0-9]{6})\.([a-z])\.([0-9a-z]{1,10})\.([A-Za-z0-9_-]{22})$")
KEY_FILE = "customer-link.key"


class LinkRefused(Exception):
    """A token that opens nothing: not ours, altered, or not a token at all."""


class LinkExpired(LinkRefused):
    """A genuine link past its expiry (the page says so and names the hotline)."""

    def __init__(self, claims: Claims) -> None:
        super().__init__("the link has expired")
        self.claims = claims


@dataclass(frozen=True)
class Claims:
    case_number: str
    purpose: Purpose
    expires_at: datetime
    token: str

    @property
    def key(self) -> str:
        """An idempotency key for what the customer does with this link (no secret in it)."""
        return hashlib.sha256(self.token.encode()).hexdigest()


def _key(settings: Settings) -> bytes:
    if settings.customer_link_secret is not None:
        return settings.customer_link_secret.get_secret_value().encode()
    return _local_key(settings.data_dir / KEY_FILE)


def _local_key(path: Path) -> bytes:
    """The machine's own key: made once (readable by this user only), then read."""
    try:
        return path.read_bytes().strip()
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process made it first: use theirs
        return path.read_bytes().strip()
    with os.fdopen(fd, "w") as file:
        file.write(secrets.token_hex(32))
    return path.read_bytes().strip()


def _sign(key: bytes, body: str) -> str:
    digest = hmac.new(key, body.encode(), hashlib.sha256).digest()[:16]
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def _base36(value: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while True:
        value, rest = divmod(value, 36)
        out = digits[rest] + out
        if value == 0:
            return out


def issue_token(
    case_number: str, purpose: Purpose | str, expires_at: datetime, settings: Settings | None = None
) -> str:
    settings = settings or get_settings()
    if expires_at.tzinfo is None:
        raise ValueError("expires_at must be timezone-aware")
    body = f"{case_number}.{_CODES[Purpose(purpose)]}.{_base36(int(expires_at.timestamp()))}"
    token = f"{body}.{_sign(_key(settings), body)}"
    if not _TOKEN.match(token):
        raise ValueError(f"not a case number: {case_number!r}")
    return token


def issue_link(case_number: str, purpose: Purpose | str, expires_at: datetime, settings: Settings | None = None) -> str:
    """The customer page's address for `case_number` and `purpose`, valid until `expires_at`."""
    settings = settings or get_settings()
    return f"{settings.customer_link_base_url.rstrip('/')}/c/{issue_token(case_number, purpose, expires_at, settings)}"


def customer_link(case_number: str, purpose: str, expires_at: datetime) -> str | None:
    """The hook message templates call: the link, or None for a purpose the page does not serve."""
    if purpose not in Purpose.__members__.values():
        return None
    return issue_link(case_number, purpose, expires_at)


def verify(token: str, settings: Settings | None = None, now: datetime | None = None) -> Claims:
    """The claims of a genuine, unexpired token; LinkExpired past its expiry, LinkRefused otherwise."""
    settings = settings or get_settings()
    match = _TOKEN.match(token) if len(token) <= 80 else None
    if match is None:
        raise LinkRefused("not a customer link")
    number, code, expiry, signature = match.groups()
    if not hmac.compare_digest(signature, _sign(_key(settings), f"{number}.{code}.{expiry}")):
        raise LinkRefused("the signature does not match")
    if code not in _PURPOSES:
        raise LinkRefused("unknown purpose")
    claims = Claims(number, _PURPOSES[code], datetime.fromtimestamp(int(expiry, 36), UTC), token)
    if claims.expires_at <= (now or datetime.now(UTC)):
        raise LinkExpired(claims)
    return claims


def form_nonce(token: str, browser: str, settings: Settings | None = None) -> str:
    """The nonce a customer page's form carries: bound to this link and to the browser's own
    random cookie (SameSite=Strict), so a form posted from another site, or for another link, fails."""
    return _sign(_key(settings or get_settings()), f"form|{token}|{browser}")


def nonce_matches(nonce: str, token: str, browser: str, settings: Settings | None = None) -> bool:
    return bool(browser) and hmac.compare_digest(nonce.encode(), form_nonce(token, browser, settings).encode())
