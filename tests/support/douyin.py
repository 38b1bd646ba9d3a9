"""A local fake of Douyin Shop (抖店), the platform we do not own: it signs and pushes after-sales
messages to the real API over HTTP, serves afterSale/Detail and afterSale/operate, and records
every decision call, and lists after-sales by update time (afterSale/List, for reconciliation:
an after-sale `apply`-ed but never pushed is a push the platform lost). It speaks the documented formats (channels/douyin/ cites them): pushes are
JSON arrays of {tag, msg_id, data} with `data` a JSON string, signed in `event-sign`; API calls
are checked against the open API's hmac-sha256 `sign`.

Like the platform, it moves an after-sale on when a decision is accepted and pushes the
messages that say so (RefundAgreed, RefundSuccess, ReturnApplyAgreed).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from channels.douyin.signature import api_signature, push_signature
from tests.support.devrun import free_port
from tests.support.receiver import _QuietServer

APP_KEY = "7000000000000000001"
APP_SECRET = "fake-douyin-secret-for-tests"
SHOP_ID = 4463798

_ids = itertools.count(int(time.time() * 1000) % 10**9)


def new_after_sale_id() -> str:
    return f"7{next(_ids):018d}"


@dataclass
class AfterSale:
    after_sale_id: str
    order: str
    sub_order: str
    kind: int  # aftersale_type
    amount_cents: int
    status: int = 6
    deadline: int | None = None  # unix seconds
    tags: list[str] = field(default_factory=list)
    applied_at: int = field(default_factory=lambda: int(time.time()))  # unix seconds
    updated_at: int = field(default_factory=lambda: int(time.time()))  # what afterSale/List filters on


@dataclass
class Call:
    method: str
    param: dict[str, Any]
    key: str | None
    signed: bool


@dataclass
class FakeDouyin:
    api_url: str
    push_url: str
    after_sales: dict[str, AfterSale] = field(default_factory=dict)
    calls: list[Call] = field(default_factory=list)
    # after-sale id -> (sub_code, sub_msg) the next operate call on it is refused with
    refuse: dict[str, tuple[str, str]] = field(default_factory=dict)
    pushes: list[tuple[int, dict[str, Any]]] = field(default_factory=list)  # (HTTP status, answer)
    applied_keys: Counter[str] = field(default_factory=Counter)
    push_seconds: list[float] = field(default_factory=list)
    _http: httpx.AsyncClient | None = None
    _sent: Counter[str] = field(default_factory=Counter)

    def operates(self, after_sale_id: str) -> list[Call]:
        return [
            c
            for c in self.calls
            if c.method == "afterSale.operate" and c.param["items"][0]["aftersale_id"] == after_sale_id
        ]

    # ---- pushing ----------------------------------------------------------------

    def message(self, tag: int, sale: AfterSale, **extra: Any) -> dict[str, Any]:
        sale.updated_at = int(time.time())
        data = {
            "aftersale_id": int(sale.after_sale_id),
            "aftersale_status": sale.status,
            "aftersale_type": sale.kind,
            "p_id": int(sale.order),
            "s_id": int(sale.sub_order),
            "shop_id": SHOP_ID,
            "refund_amount": sale.amount_cents,
            "refund_post_amount": 0,
            "refund_voucher_num": 0,
            "reason_code": 3,
            "update_time": int(time.time()),
        } | extra
        if tag in (209, 212, 215, 216):  # ExpirationChange and arbitration carry no amounts or reason
            for name in ("refund_amount", "refund_post_amount", "refund_voucher_num", "reason_code"):
                data.pop(name)
        return {"tag": str(tag), "msg_id": f"{sale.after_sale_id}-{tag}-{next(_ids)}", "data": json.dumps(data)}

    async def push(self, *messages: dict[str, Any], secret: str = APP_SECRET) -> httpx.Response:
        """Sign and push `messages` as one request, the way the platform does."""
        body = json.dumps(list(messages), ensure_ascii=False).encode()
        sign = push_signature(APP_KEY, body, secret)
        assert self._http is not None
        started = time.monotonic()
        response = await self._http.post(
            self.push_url, content=body, headers={"Content-Type": "application/json", "event-sign": sign}
        )
        self.push_seconds.append(time.monotonic() - started)
        self.pushes.append((response.status_code, response.json()))
        return response

    def apply(self, sale: AfterSale, buyer_applied_at: datetime, deadline: datetime) -> dict[str, Any]:
        """The buyer applies: the after-sale exists on the platform with its deadline."""
        sale.deadline = int(deadline.timestamp())
        sale.applied_at = int(buyer_applied_at.timestamp())
        self.after_sales[sale.after_sale_id] = sale
        return self.message(200, sale, apply_time=int(buyer_applied_at.timestamp()))

    def expiration_change(self, sale: AfterSale, deadline: datetime, *, extended: bool = True) -> dict[str, Any]:
        sale.deadline = int(deadline.timestamp())
        if extended and "时效延长" not in sale.tags:
            sale.tags.append("时效延长")
        return self.message(209, sale, status_deadline=sale.deadline)

    def expiration_change_before_create(self, sale: AfterSale, deadline: datetime) -> dict[str, Any]:
        sale.deadline = int(deadline.timestamp())
        return self.message(209, sale, status_deadline=sale.deadline)

    async def buyer_returns(self, sale: AfterSale, deadline: datetime) -> httpx.Response:
        sale.status = 11
        sale.deadline = int(deadline.timestamp())
        return await self.push(self.message(203, sale, status_deadline=sale.deadline))

    # ---- the open API ---------------------------------------------------------------

    async def _api(self, request: Request) -> JSONResponse:
        method = request.query_params.get("method", "")
        body = (await request.body()).decode()
        q = request.query_params
        expected = api_signature(APP_KEY, APP_SECRET, method, body, q.get("timestamp", ""), q.get("v", ""))
        signed = q.get("app_key") == APP_KEY and q.get("sign") == expected
        param = json.loads(body)
        key = request.headers.get("idempotency-key")
        self.calls.append(Call(method, param, key, signed))
        if not signed:
            return JSONResponse({"code": 30001, "msg": "sign error", "sub_code": "isv.sign-invalid"})
        if method == "afterSale.Detail":
            sale = self.after_sales.get(str(param.get("after_sale_id")))
            if sale is None:
                return JSONResponse({"code": 40004, "msg": "not found"})
            info = {
                "after_sale_id": int(sale.after_sale_id),
                "after_sale_status": sale.status,
                "status_deadline": sale.deadline or 0,
                "aftersale_tags": [{"tag_detail": t} for t in sale.tags],
            }
            return JSONResponse({"code": 10000, "msg": "success", "data": {"process_info": {"after_sale_info": info}}})
        if method == "afterSale.operate":
            return JSONResponse(await self._operate(param, key))
        if method == "afterSale.List":
            return JSONResponse(self._list(param))
        return JSONResponse({"code": 40004, "msg": f"unknown method {method}"})

    def _list(self, param: dict[str, Any]) -> dict[str, Any]:
        """afterSale/List by update time, pages from 0 (zsmhub/doudian-sdk api/afterSale_List/)."""
        start, end = param.get("update_start_time", 0), param.get("update_end_time", 2**62)
        page, size = int(param.get("page", 0)), min(int(param.get("size", 10)), 100)
        changed = sorted(
            (s for s in self.after_sales.values() if start <= s.updated_at <= end), key=lambda s: s.updated_at
        )
        items = [
            {
                "aftersale_info": {
                    "aftersale_id": sale.after_sale_id, "aftersale_type": sale.kind, "aftersale_status": sale.status,
                    "related_id": sale.sub_order, "apply_time": sale.applied_at, "update_time": sale.updated_at,
                    "status_deadline": sale.deadline or 0, "refund_amount": sale.amount_cents,
                    "refund_post_amount": 0, "aftersale_tags": [{"tag_detail": t} for t in sale.tags],
                },
                "order_info": {"shop_order_id": sale.order, "related_order_info": [{"sku_order_id": sale.sub_order}]},
                "text_part": {"aftersale_status_text": "待商家处理"},
            }
            for sale in changed[page * size : (page + 1) * size]
        ]  # fmt: skip
        data = {"items": items, "has_more": (page + 1) * size < len(changed), "total": len(changed), "page": page}
        return {"code": 10000, "msg": "success", "data": data | {"size": len(items)}}

    async def _operate(self, param: dict[str, Any], key: str | None) -> dict[str, Any]:
        (item,) = param["items"]  # one after-sale per call, as the platform recommends
        sale = self.after_sales[str(item["aftersale_id"])]
        if sale.after_sale_id in self.refuse:
            sub_code, sub_msg = self.refuse.pop(sale.after_sale_id)
            return {"code": 40004, "msg": "业务处理失败", "sub_code": sub_code, "sub_msg": sub_msg}
        if key is not None:
            self.applied_keys[key] += 1
            if self.applied_keys[key] > 1:  # a repeat of the same step: answered, applied once
                return {
                    "code": 10000,
                    "msg": "success",
                    "data": {"items": [{"aftersale_id": item["aftersale_id"], "status_code": 0}]},
                }
        follow: list[dict[str, Any]] = []
        kind = param["type"]
        if kind in (201, 111):  # refund agreed, then the money reaches the buyer
            sale.status, sale.deadline = 12, None
            now = int(time.time())
            follow = [self.message(201, sale, agree_time=now), self.message(206, sale, success_time=now + 1)]
        elif kind == 101:  # return authorised: now the buyer's move
            sale.status = 7
            follow = [self.message(202, sale)]
        elif kind in (202, 102):
            sale.status = 27
            follow = [self.message(204 if kind == 202 else 205, sale, refuse_time=int(time.time()))]
        if follow:
            asyncio.get_running_loop().create_task(self._push_later(follow))
        return {
            "code": 10000,
            "msg": "success",
            "data": {"items": [{"aftersale_id": item["aftersale_id"], "status_code": 0}]},
        }

    async def _push_later(self, messages: list[dict[str, Any]]) -> None:
        await asyncio.sleep(0.1)  # after the operate answer, as the platform's push follows its call
        for message in messages:
            await self.push(message)


@asynccontextmanager
async def fake_douyin(push_url: str) -> AsyncIterator[FakeDouyin]:
    port = free_port()
    fake = FakeDouyin(api_url=f"http://127.0.0.1:{port}", push_url=push_url)

    async def api(request: Request) -> JSONResponse:
        return await fake._api(request)

    routes = [Route(f"/afterSale/{name}", api, methods=["POST"]) for name in ("operate", "Detail", "List")]
    server = _QuietServer(uvicorn.Config(Starlette(routes=routes), host="127.0.0.1", port=port, log_level="warning"))
    task = asyncio.create_task(server.serve())
    for _ in range(200):
        if server.started:
            break
        await asyncio.sleep(0.02)
    assert server.started, "the fake Douyin platform did not start"
    async with httpx.AsyncClient(timeout=10) as http:
        fake._http = http
        try:
            yield fake
        finally:
            server.should_exit = True
            await task


@asynccontextmanager
async def serve_api(app: Any) -> AsyncIterator[str]:
    """Our API on a real local port, so the platform's pushes travel over HTTP."""
    port = free_port()
    server = _QuietServer(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
    task = asyncio.create_task(server.serve())
    for _ in range(200):
        if server.started:
            break
        await asyncio.sleep(0.02)
    assert server.started, "the API did not start"
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task
