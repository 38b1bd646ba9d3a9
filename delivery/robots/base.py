"""What every group robot shares: one webhook, one HTTP client, and the platform's answer read strictly.

Each platform answers HTTP 200 with a JSON code (`errcode` for WeCom and DingTalk, `code` for
Feishu); anything but 0 (rate limited, bad signature, bad request) is a DeliveryFailed, so the
outbox retries with its backoff and gives up as `failed` after the last attempt.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from typing import Any

import httpx

from delivery.notify import DeliveryFailed
from delivery.robots.message import Alert

# A robot's webhook URL is its credential: WeCom's `key`, DingTalk's `access_token` (and the
# request's `sign`), Feishu's hook id. httpx logs every request URL at INFO; these never reach a log.
_CREDENTIALS = re.compile(r"((?:[?&](?:key|access_token|sign)=)|/bot/v2/hook/)[^&\s\"']+")


class HideCredentials(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        hidden = _CREDENTIALS.sub(r"\1***", message)
        if hidden != message:
            record.msg, record.args = hidden, ()
        return True


def hide_credentials_in_httpx_logs() -> None:
    logger = logging.getLogger("httpx")
    if not any(isinstance(f, HideCredentials) for f in logger.filters):
        logger.addFilter(HideCredentials())


class GroupRobot:
    kind = ""
    code_field = "errcode"
    timeout = 10.0
    # WeCom: text up to 2048 bytes, markdown up to 4096; the others allow more. Alerts are far shorter.
    max_bytes = 2048

    def __init__(
        self,
        robot_id: str,
        webhook: str,
        *,
        secret: str | None = None,
        markdown: bool = False,
        client: httpx.AsyncClient | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.robot_id = robot_id
        self._webhook = webhook
        self._secret = secret
        self._markdown = markdown
        self._client = client or httpx.AsyncClient(timeout=self.timeout)
        self._clock = clock
        hide_credentials_in_httpx_logs()

    def request(self, alert: Alert) -> tuple[httpx.URL, dict[str, Any]]:
        """The URL (signed where the platform signs it) and the JSON body for `alert`."""
        raise NotImplementedError

    async def send(self, alert: Alert) -> None:
        url, payload = self.request(alert)
        try:
            response = await self._client.post(url, json=payload)
        except httpx.HTTPError as error:
            raise DeliveryFailed(f"{self.kind} robot {self.robot_id}: {type(error).__name__}") from error
        # Never the URL in an error: it carries the robot's key or access token.
        try:
            answer = response.json()
        except ValueError:
            answer = None
        if not isinstance(answer, dict):
            raise DeliveryFailed(f"{self.kind} robot {self.robot_id}: HTTP {response.status_code}, no JSON answer")
        code = answer.get(self.code_field, answer.get("StatusCode"))
        if code != 0:
            message = str(answer.get("errmsg") or answer.get("msg") or "")[:200]
            raise DeliveryFailed(
                f"{self.kind} robot {self.robot_id}: HTTP {response.status_code}, {self.code_field} {code} {message}".rstrip()
            )

    async def aclose(self) -> None:
        await self._client.aclose()


def clip(text: str, max_bytes: int) -> str:
    """At most `max_bytes` of UTF-8, cut on a character boundary."""
    data = text.encode()
    return text if len(data) <= max_bytes else data[:max_bytes].decode(errors="ignore")
