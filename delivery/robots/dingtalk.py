"""DingTalk (钉钉) custom robot: POST JSON to https://oapi.dingtalk.com/robot/send?access_token=...

Signing (加签), from DingTalk's custom robot guide (open.dingtalk.com, "自定义机器人安全设置"), as
quoted at https://apifox.com/apidoc/docs-site/467052/doc-3550006 and
https://binkzhou.github.io/blog/other/2023/0211001.html: string_to_sign = timestamp (ms) + "\n" + secret,
HMAC-SHA256 keyed with the secret, Base64, URL-encoded, appended as `&timestamp=...&sign=...`;
the timestamp may differ from DingTalk's clock by at most an hour. The URL-encoding is done once,
by httpx when it builds the query (encoding it twice is the classic "310000 sign not match",
https://github.com/x-cold/dingtalk-robot/issues/7).
Body: `{"msgtype": "text", "text": {"content": ...}}` or
`{"msgtype": "markdown", "markdown": {"title": ..., "text": ...}}`; answer `{"errcode": 0, "errmsg": "ok"}`
(310000 for a bad signature or timestamp, 130101 when sending too fast).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Any

import httpx

from delivery.robots.base import GroupRobot
from delivery.robots.message import Alert


def dingtalk_sign(secret: str, timestamp_ms: str) -> str:
    """Base64 of HMAC-SHA256(key=secret, message=timestamp + "\\n" + secret), before URL-encoding."""
    digest = hmac.new(secret.encode(), f"{timestamp_ms}\n{secret}".encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


class DingTalkRobot(GroupRobot):
    kind = "dingtalk"

    def request(self, alert: Alert) -> tuple[httpx.URL, dict[str, Any]]:
        url = httpx.URL(self._webhook)
        if self._secret:
            timestamp = str(round(self._clock() * 1000))
            url = url.copy_merge_params({"timestamp": timestamp, "sign": dingtalk_sign(self._secret, timestamp)})
        if self._markdown:
            return url, {"msgtype": "markdown", "markdown": {"title": alert.title, "text": alert.markdown}}
        return url, {"msgtype": "text", "text": {"content": alert.text}}
