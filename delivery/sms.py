"""Customer SMS through a provider's signed HTTP API.

The provider is configuration (SMS_PROVIDER_URL, SMS_API_KEY, SMS_API_SECRET). A request is a JSON
POST `{"to", "text", "reference"}` signed as every webhook of this service is (delivery/signing.py:
HMAC-SHA256 over `<timestamp>.<body>`), with our key id in `X-Api-Key`; `reference` and the
Idempotency-Key stay the same on a retry, so the provider sends a message once. Any 2xx is sent.

Length: one segment holds 70 Chinese characters (UCS-2) or 160 plain ASCII ones; a longer text
travels as parts of 67 / 153. A message is kept to SMS_MAX_SEGMENTS: the text is cut, never the
case number's link, which carries the rest.
"""

from __future__ import annotations

from dataclasses import dataclass

import httpx
from pydantic import SecretStr

from delivery import signing

ELLIPSIS = "…"


def _gsm(text: str) -> bool:
    return all(ord(c) < 128 for c in text)


def segments(text: str) -> int:
    single, part = (160, 153) if _gsm(text) else (70, 67)
    return 1 if len(text) <= single else -(-len(text) // part)


def capacity(text: str, count: int) -> int:
    """The characters `count` segments hold in the encoding `text` needs."""
    single, part = (160, 153) if _gsm(text) else (70, 67)
    return single if count == 1 else part * count


def fit(text: str, link: str | None, max_segments: int, signature: str = "") -> str:
    """`signature` + text (+ link), cut so that it fits in `max_segments` segments."""
    tail = f" {link}" if link else ""
    whole = f"{signature}{text}{tail}"
    if segments(whole) <= max_segments:
        return whole
    room = capacity(whole, max_segments) - len(signature) - len(tail) - len(ELLIPSIS)
    return f"{signature}{text[: max(room, 0)]}{ELLIPSIS}{tail}"


@dataclass(frozen=True)
class Sms:
    to: str
    text: str
    reference: str  # the outbox key: the same on every retry


class SmsFailed(Exception):
    pass


class SmsChannel:
    name = "sms"

    def __init__(
        self, url: str, key_id: str, secret: str, *, max_segments: int = 2, client: httpx.AsyncClient | None = None
    ) -> None:
        self._hook = signing.SignedWebhook(url, secret, client=client)
        self._key_id = key_id
        self.max_segments = max_segments

    @classmethod
    def configured(cls, url: str | None, key_id: str | None, secret: SecretStr | None, max_segments: int) -> SmsChannel:
        if not url or not key_id or secret is None:
            raise ValueError("CUSTOMER_CHANNELS names sms: set SMS_PROVIDER_URL, SMS_API_KEY and SMS_API_SECRET")
        return cls(url, key_id, secret.get_secret_value(), max_segments=max_segments)

    def text(self, body: str, link: str | None, signature: str) -> str:
        """The SMS as sent: the sender's signature (【售后服务】), the text cut to fit, the link."""
        return fit(body, link, self.max_segments, signature)

    async def send(self, sms: Sms) -> None:
        try:
            response = await self._hook.post(
                {"to": sms.to, "text": sms.text, "reference": sms.reference}, sms.reference, {"X-Api-Key": self._key_id}
            )
        except httpx.HTTPError as error:
            raise SmsFailed(f"{type(error).__name__} reaching the SMS provider") from error
        if not response.is_success:
            raise SmsFailed(f"HTTP {response.status_code} from the SMS provider")
