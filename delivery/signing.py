"""Signed JSON requests: what every webhook this service sends carries.

Headers:
- `X-Aftersales-Timestamp`: Unix seconds when the request was signed;
- `X-Aftersales-Signature`: `sha256=` + hex HMAC-SHA256, keyed with the shared secret,
  over `<timestamp>.<raw body>` (the timestamp is signed too, so a receiver can refuse
  replays older than a few minutes);
- `Idempotency-Key`: the same for every retry of one message, so the receiver dedupes.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any, Self

import httpx
from pydantic import SecretStr

SIGNATURE_HEADER = "X-Aftersales-Signature"
TIMESTAMP_HEADER = "X-Aftersales-Timestamp"
IDEMPOTENCY_HEADER = "Idempotency-Key"


def encode(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"), sort_keys=True, default=str).encode()


def signature(secret: str, timestamp: str, body: bytes) -> str:
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def signed_headers(secret: str, body: bytes, idempotency_key: str, now: float | None = None) -> dict[str, str]:
    timestamp = str(int(now if now is not None else time.time()))
    return {
        "Content-Type": "application/json",
        TIMESTAMP_HEADER: timestamp,
        SIGNATURE_HEADER: signature(secret, timestamp, body),
        IDEMPOTENCY_HEADER: idempotency_key,
    }


class SignedWebhook:
    """One receiver of signed JSON POSTs: its URL, the shared secret and one HTTP client. The notification
    and the execution webhooks are both one of these; each decides what an answer means."""

    timeout = 10.0  # seconds one request may take, unless the caller says otherwise

    def __init__(
        self, url: str, secret: str, *, timeout: float | None = None, client: httpx.AsyncClient | None = None
    ) -> None:
        self._url = url
        self._secret = secret
        self._client = client or httpx.AsyncClient(timeout=self.timeout if timeout is None else timeout)

    @classmethod
    def configured(cls, url: str | None, secret: SecretStr | None, *, setting: str) -> Self:
        """The webhook `<setting>_ADAPTER=webhook` chose; without its URL and secret the process does not start."""
        if not url or secret is None:
            raise ValueError(f"{setting}_ADAPTER=webhook needs {setting}_WEBHOOK_URL and {setting}_WEBHOOK_SECRET")
        return cls(url, secret.get_secret_value())

    async def post(
        self, payload: dict[str, Any], idempotency_key: str, headers: dict[str, str] | None = None
    ) -> httpx.Response:
        """Signs and sends `payload` with the extra `headers`; raises httpx.HTTPError when there is no answer."""
        body = encode(payload)
        signed = signed_headers(self._secret, body, idempotency_key) | (headers or {})
        return await self._client.post(self._url, content=body, headers=signed)

    async def aclose(self) -> None:
        await self._client.aclose()


def verify(secret: str, headers: Any, body: bytes, tolerance_seconds: float = 300, now: float | None = None) -> bool:
    """For receivers (and tests of receivers): the signature matches and is recent."""
    headers = httpx.Headers(headers)  # header names are case-insensitive
    timestamp = headers.get(TIMESTAMP_HEADER)
    given = headers.get(SIGNATURE_HEADER)
    if not timestamp or not given or not timestamp.isdigit():
        return False
    if abs((now if now is not None else time.time()) - int(timestamp)) > tolerance_seconds:
        return False
    return hmac.compare_digest(given, signature(secret, timestamp, body))
