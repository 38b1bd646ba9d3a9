"""Feishu / Lark custom bot: POST JSON to https://open.feishu.cn/open-apis/bot/v2/hook/...

Signing (签名校验), from Feishu's custom bot guide (open.feishu.cn, "自定义机器人使用指南"), as quoted
at https://m.down10s.com/jiaocheng/5605312225.html and in Gitea's fix
https://github.com/go-gitea/gitea/pull/34802: key = timestamp (seconds) + "\n" + secret, HMAC-SHA256
over an EMPTY message, Base64; `timestamp` (a string) and `sign` go in the JSON body, and the
timestamp must be within an hour of Feishu's clock (else code 19021, "sign match fail or timestamp
is not within one hour", https://github.com/feiyu563/PrometheusAlert/issues/422).
Body: `{"msg_type": "text", "content": {"text": ...}}` or `{"msg_type": "interactive", "card": {...}}`;
answer `{"code": 0, "msg": "success"}` (9499 / 11232 when rate limited; older answers carry `StatusCode`).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Any

import httpx

from delivery.robots.base import GroupRobot
from delivery.robots.message import Alert

TEMPLATES = {"breach": "red", "warning": "orange", "task": "blue"}


def feishu_sign(secret: str, timestamp_s: str) -> str:
    """Base64 of HMAC-SHA256(key=timestamp + "\\n" + secret, message=b"")."""
    digest = hmac.new(f"{timestamp_s}\n{secret}".encode(), b"", hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


class FeishuRobot(GroupRobot):
    kind = "feishu"
    code_field = "code"

    def request(self, alert: Alert) -> tuple[httpx.URL, dict[str, Any]]:
        payload: dict[str, Any]
        if self._markdown:
            payload = {
                "msg_type": "interactive",
                "card": {
                    "header": {
                        "title": {"tag": "plain_text", "content": alert.title},
                        "template": TEMPLATES[alert.level],
                    },
                    "elements": [{"tag": "markdown", "content": alert.markdown}],
                },
            }
        else:
            payload = {"msg_type": "text", "content": {"text": alert.text}}
        if self._secret:
            timestamp = str(int(self._clock()))
            payload = {"timestamp": timestamp, "sign": feishu_sign(self._secret, timestamp)} | payload
        return httpx.URL(self._webhook), payload
