"""A stand-in for the three robot platforms, as a real HTTP server on a free local port.

It checks each request the way the platform does and answers in the platform's words:
- WeCom `/cgi-bin/webhook/send?key=K`: the key, `msgtype` text (content <= 2048 bytes) or
  markdown (<= 4096 bytes); `{"errcode": 0, "errmsg": "ok"}`, 93000 for an unknown key.
- DingTalk `/robot/send?access_token=T&timestamp=&sign=`: the timestamp (ms) within an hour
  and the sign recomputed from it and the secret (HMAC-SHA256 of timestamp + "\\n" + secret,
  Base64, URL-decoded from the query); 310000 otherwise.
- Feishu `/open-apis/bot/v2/hook/H`: `timestamp` (s) within an hour and `sign` recomputed
  (HMAC-SHA256 keyed with timestamp + "\\n" + secret over nothing, Base64); `{"code": 0}`,
  19021 otherwise.
`busy[kind]` answers that many requests with the platform's rate-limit code first.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from tests.support.devrun import free_port
from tests.support.receiver import _QuietServer

WECOM_KEY = "693a91f6-7xxx-4bc4-97a0-0ec2sifa5aaa"
DINGTALK_TOKEN = "ding-access-token"
DINGTALK_SECRET = "SEC0123456789abcdef"
FEISHU_HOOK = "2f0c1f4b-feishu-hook"
FEISHU_SECRET = "feishu-signing-secret"
HOUR = 3600
RATE_LIMITED = {"wecom": 45009, "dingtalk": 130101, "feishu": 11232}


@dataclass
class Platforms:
    base: str
    accepted: dict[str, list[dict[str, Any]]] = field(
        default_factory=lambda: {"wecom": [], "dingtalk": [], "feishu": []}
    )
    refused: dict[str, list[tuple[int, str]]] = field(
        default_factory=lambda: {"wecom": [], "dingtalk": [], "feishu": []}
    )
    busy: dict[str, int] = field(default_factory=lambda: {"wecom": 0, "dingtalk": 0, "feishu": 0})
    signs: list[str] = field(default_factory=list)  # DingTalk's `sign` as it came in the query, encoded

    @property
    def wecom(self) -> str:
        return f"{self.base}/cgi-bin/webhook/send?key={WECOM_KEY}"

    @property
    def dingtalk(self) -> str:
        return f"{self.base}/robot/send?access_token={DINGTALK_TOKEN}"

    @property
    def feishu(self) -> str:
        return f"{self.base}/open-apis/bot/v2/hook/{FEISHU_HOOK}"

    def texts(self, kind: str) -> list[str]:
        """What each accepted message says, whatever its format: the body less its signature
        fields (a timestamp's or a signature's digits are no message, and change every run)."""
        out = []
        for body in self.accepted[kind]:
            said = {key: value for key, value in body.items() if key not in ("timestamp", "sign")}
            out.append(json.dumps(said, ensure_ascii=False))
        return out


def _sign_dingtalk(secret: str, timestamp: str) -> str:
    return base64.b64encode(
        hmac.new(secret.encode(), f"{timestamp}\n{secret}".encode(), hashlib.sha256).digest()
    ).decode()


def _sign_feishu(secret: str, timestamp: str) -> str:
    return base64.b64encode(hmac.new(f"{timestamp}\n{secret}".encode(), b"", hashlib.sha256).digest()).decode()


def _fresh(timestamp: str, unit: int) -> bool:
    try:
        return abs(time.time() - int(timestamp) / unit) <= HOUR
    except ValueError:
        return False


def _text_of(kind: str, body: dict[str, Any]) -> str | None:
    """The message's visible text if its shape is the platform's, else None."""
    if kind == "feishu":
        if body.get("msg_type") == "text" and isinstance(body.get("content"), dict):
            return body["content"].get("text")
        if body.get("msg_type") == "interactive" and isinstance(body.get("card"), dict):
            return json.dumps(body["card"], ensure_ascii=False)
        return None
    msgtype = body.get("msgtype")
    if msgtype == "text" and isinstance(body.get("text"), dict):
        content = body["text"].get("content")
        return content if isinstance(content, str) and len(content.encode()) <= 2048 else None
    if msgtype == "markdown" and isinstance(body.get("markdown"), dict):
        content = body["markdown"].get("content" if kind == "wecom" else "text")
        return content if isinstance(content, str) and len(content.encode()) <= 4096 else None
    return None


@asynccontextmanager
async def robot_platforms() -> AsyncIterator[Platforms]:
    port = free_port()
    state = Platforms(base=f"http://127.0.0.1:{port}")

    def answer(kind: str, body: dict[str, Any], refusal: tuple[int, str] | None) -> JSONResponse:
        field_name = "code" if kind == "feishu" else "errcode"
        if refusal is None and state.busy[kind] > 0:
            state.busy[kind] -= 1
            refusal = (RATE_LIMITED[kind], "rate limited")
        if refusal is None and _text_of(kind, body) is None:
            refusal = (9499 if kind == "feishu" else 40008, "bad message")
        if refusal is not None:
            state.refused[kind].append(refusal)
            return JSONResponse({field_name: refusal[0], "msg" if kind == "feishu" else "errmsg": refusal[1]})
        state.accepted[kind].append(body)
        return JSONResponse(
            {field_name: 0, "msg" if kind == "feishu" else "errmsg": "success" if kind == "feishu" else "ok"}
        )

    async def wecom(request: Request) -> JSONResponse:
        body = json.loads(await request.body())
        ok = request.query_params.get("key") == WECOM_KEY
        return answer("wecom", body, None if ok else (93000, "invalid webhook url"))

    async def dingtalk(request: Request) -> JSONResponse:
        body = json.loads(await request.body())
        query = request.query_params  # URL-decoded, as DingTalk reads it
        timestamp, sign = query.get("timestamp", ""), query.get("sign", "")
        state.signs += [p.partition("=")[2] for p in request.url.query.split("&") if p.startswith("sign=")]
        refusal = None
        if query.get("access_token") != DINGTALK_TOKEN:
            refusal = (300001, "token is not exist")
        elif not _fresh(timestamp, 1000):
            refusal = (310000, "invalid timestamp")
        elif not hmac.compare_digest(sign, _sign_dingtalk(DINGTALK_SECRET, timestamp)):
            refusal = (310000, "sign not match")
        return answer("dingtalk", body, refusal)

    async def feishu(request: Request) -> JSONResponse:
        body = json.loads(await request.body())
        timestamp, sign = str(body.get("timestamp", "")), str(body.get("sign", ""))
        refusal = None
        if request.path_params["hook"] != FEISHU_HOOK:
            refusal = (19001, "param invalid: incoming webhook access token invalid")
        elif not _fresh(timestamp, 1) or not hmac.compare_digest(sign, _sign_feishu(FEISHU_SECRET, timestamp)):
            refusal = (19021, "sign match fail or timestamp is not within one hour from current time")
        return answer("feishu", body, refusal)

    app = Starlette(
        routes=[
            Route("/cgi-bin/webhook/send", wecom, methods=["POST"]),
            Route("/robot/send", dingtalk, methods=["POST"]),
            Route("/open-apis/bot/v2/hook/{hook}", feishu, methods=["POST"]),
        ]
    )
    server = _QuietServer(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    task = asyncio.create_task(server.serve())
    for _ in range(200):
        if server.started:
            break
        await asyncio.sleep(0.02)
    assert server.started, "the robot platforms did not start"
    try:
        yield state
    finally:
        server.should_exit = True
        await task
