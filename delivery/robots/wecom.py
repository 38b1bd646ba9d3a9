"""WeCom (企业微信) group robot: POST JSON to https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=...

Format (WeCom's "群机器人配置说明", developer.work.weixin.qq.com/document/path/91770, as quoted at
https://docs.zhuonian.xyz/api/wecom-webhook.html and https://aecore.glodon.com/docs/colibri/api_3_qywxApi.html):
`{"msgtype": "text", "text": {"content": ...}}` (at most 2048 bytes) or
`{"msgtype": "markdown", "markdown": {"content": ...}}` (at most 4096 bytes); the answer is
`{"errcode": 0, "errmsg": "ok"}`, e.g. 45009 when a robot sends more than 20 messages a minute.
No signature: the key in the URL is the credential.
"""

from __future__ import annotations

from typing import Any

import httpx

from delivery.robots.base import GroupRobot, clip
from delivery.robots.message import Alert


class WeComRobot(GroupRobot):
    kind = "wecom"

    def request(self, alert: Alert) -> tuple[httpx.URL, dict[str, Any]]:
        if self._markdown:
            return httpx.URL(self._webhook), {
                "msgtype": "markdown",
                "markdown": {"content": clip(alert.markdown, 4096)},
            }
        return httpx.URL(self._webhook), {"msgtype": "text", "text": {"content": clip(alert.text, 2048)}}
