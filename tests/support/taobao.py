"""Local fakes of Taobao's two services, speaking their documented formats (we do not own the platform):

- `fake_tmc()`: a TMC WebSocket server (channels/taobao/protocol.py frames). It checks the
  signed CONNECT, answers with a token, pushes published messages, counts every delivery,
  keeps a message until its confirmation arrives, and delivers every unconfirmed message
  again on the next connection (or pull request);
- `fake_top()`: the TOP router over real HTTP. It checks each call's signature, serves
  refunds (`taobao.refund.get`, `taobao.refunds.receive.get`), records the decision calls and
  applies them, and refuses as the platform does: over the per-call cap of
  `taobao.rp.refunds.agree` (20 refunds / ¥6,000) and, above `sms_over`, asking for the
  merchant's SMS code. Messages on a refund (`taobao.refund.message.add`) are kept in
  `buyer_messages`, or refused for the refunds in `refuse_messages`.
"""

from __future__ import annotations

import asyncio
import json
import random
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from channels.taobao.protocol import (
    KIND,
    Frame,
    MessageKind,
    MessageType,
    connect_sign,
    decode,
    encode,
)
from channels.taobao.top import BEIJING, parse_top_time, sign, top_time
from tests.support.devrun import free_port
from tests.support.receiver import _QuietServer

APP_KEY = "12345678"
APP_SECRET = "tb-test-secret"
SESSION = "shop-session-token"


# ---- TMC ------------------------------------------------------------------------------


@dataclass
class FakeTmc:
    url: str
    messages: dict[int, dict[str, Any]] = field(default_factory=dict)  # id -> {topic, content, pub_time}
    confirmed: set[int] = field(default_factory=set)
    # Confirmations of these ids are lost on the connection that delivered them (its consumer died as
    # it sent them, or before): the message stays unconfirmed, and the next connection may confirm it.
    lose_confirm: set[int] = field(default_factory=set)
    deliveries: Counter[int] = field(default_factory=Counter)
    connects: int = 0
    refused_connects: int = 0
    _open: dict[ServerConnection, tuple[str, set[int]]] = field(default_factory=dict)
    # TMC ids are int64 and unique for good: each fake starts at a random point, so the messages of
    # two tests never share an id in one database (which would rightly be taken as a redelivery).
    _next_id: int = field(default_factory=lambda: random.randrange(10**15, 10**17))

    @property
    def next_id(self) -> int:
        return self._next_id

    async def publish(self, topic: str, content: dict[str, Any]) -> int:
        message_id = self._next_id
        self._next_id += 1
        self.messages[message_id] = {
            "topic": topic,
            "content": json.dumps(content, ensure_ascii=False),
            "pub_time": top_time(datetime.now(BEIJING)),
        }
        for socket in list(self._open):
            await self._deliver(socket)
        return message_id

    async def drop_connections(self) -> None:
        for socket in list(self._open):
            await socket.close()

    async def wait_confirmed(self, message_id: int, timeout: float = 30) -> None:
        async with asyncio.timeout(timeout):
            while message_id not in self.confirmed:
                await asyncio.sleep(0.05)

    async def _deliver(self, socket: ServerConnection) -> None:
        _, sent = self._open[socket]
        for message_id, message in list(self.messages.items()):
            if message_id in self.confirmed or message_id in sent:
                continue
            sent.add(message_id)
            self.deliveries[message_id] += 1
            frame = Frame(
                type=MessageType.SEND,
                content={KIND: MessageKind.DATA, "id": message_id, "dataid": message_id, **message},
            )
            try:
                await socket.send(encode(frame))
            except ConnectionClosed:
                return

    async def handle(self, socket: ServerConnection) -> None:
        hello = decode(bytes(await socket.recv()))  # type: ignore[arg-type]
        content = hello.content
        expected = connect_sign(APP_KEY, APP_SECRET, str(content.get("group_name")), str(content.get("timestamp")))
        if (
            hello.type is not MessageType.CONNECT
            or content.get("app_key") != APP_KEY
            or content.get("sign") != expected
        ):
            self.refused_connects += 1
            await socket.send(encode(Frame(type=MessageType.CONNECTACK, status_code=401, status_phrase="invalid sign")))
            await socket.close()
            return
        self.connects += 1
        token = uuid.uuid4().hex
        self._open[socket] = (token, set())
        await socket.send(encode(Frame(type=MessageType.CONNECTACK, token=token)))
        await self._deliver(socket)  # what was left unconfirmed comes again
        try:
            async for data in socket:
                frame = decode(bytes(data))  # type: ignore[arg-type]
                if frame.token != token:
                    continue
                if frame.kind is MessageKind.CONFIRM and isinstance(frame.content.get("id"), int):
                    if frame.content["id"] in self.lose_confirm:
                        continue
                    self.confirmed.add(frame.content["id"])
                elif frame.kind is MessageKind.PULL_REQUEST:
                    await self._deliver(socket)  # what this connection has not been sent yet
        except ConnectionClosed:
            pass
        finally:
            _, sent = self._open.pop(socket, (token, set()))
            self.lose_confirm -= sent


@asynccontextmanager
async def fake_tmc() -> AsyncIterator[FakeTmc]:
    port = free_port()
    state = FakeTmc(url=f"ws://127.0.0.1:{port}/")
    async with serve(state.handle, "127.0.0.1", port):
        yield state


# ---- TOP ------------------------------------------------------------------------------

AGREE_CAP = (20, Decimal("6000"))


@dataclass
class FakeTop:
    url: str
    refunds: dict[str, dict[str, Any]] = field(default_factory=dict)
    calls: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    sms_over: Decimal | None = None  # an agree call at or over this total asks for the SMS code
    cap: tuple[int, Decimal] = AGREE_CAP  # Tmall's is (30, 10000)
    # refund id -> (sub_code, sub_msg) its buyer messages are refused with (taobao.refund.message.add)
    refuse_messages: dict[str, tuple[str, str]] = field(default_factory=dict)
    buyer_messages: list[dict[str, str]] = field(default_factory=list)  # accepted: {refund_id, content}
    posted: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # by refund: what messages.get lists

    def add_refund(
        self,
        refund_id: str,
        *,
        tid: str,
        fee: str,
        status: str = "WAIT_SELLER_AGREE",
        deadline: datetime | None = None,
        modified: datetime | None = None,
        has_good_return: bool = False,
    ) -> dict[str, Any]:
        moment = modified or datetime.now(BEIJING)
        record: dict[str, Any] = {
            "refund_id": refund_id,
            "tid": tid,
            "oid": tid,
            "status": status,
            "refund_fee": fee,
            "modified": top_time(moment),
            "created": top_time(moment),
            "refund_phase": "onsale",
            "refund_version": int(moment.timestamp() * 1000),
            "has_good_return": has_good_return,
            "order_status": "WAIT_BUYER_CONFIRM_GOODS",
            "buyer_nick": "张**",  # the platform sends it; the adapter must not keep it
        }
        if deadline is not None:
            record["refund_remind_timeout"] = {"timeout": top_time(deadline), "exist_timeout": True, "remind_type": 1}
        self.refunds[refund_id] = record
        return record

    def calls_of(self, method: str) -> list[dict[str, str]]:
        return [params for name, params in self.calls if name == method]

    def _set(self, refund_id: str, status: str) -> None:
        record = self.refunds[refund_id]
        moment = datetime.now(BEIJING)
        record |= {"status": status, "modified": top_time(moment), "refund_version": int(moment.timestamp() * 1000)}

    def answer(self, form: dict[str, str]) -> dict[str, Any]:
        method = form.get("method", "")
        self.calls.append((method, form))
        if form.get("sign") != sign(form, APP_SECRET, form.get("sign_method", "md5")):  # type: ignore[arg-type]
            return {"error_response": {"code": 25, "msg": "Invalid signature"}}
        if form.get("session") != SESSION:
            return {"error_response": {"code": 27, "msg": "Invalid session"}}
        handler = getattr(self, "_" + method.replace(".", "_"), None)
        if handler is None:
            return {"error_response": {"code": 22, "msg": "Invalid method"}}
        return handler(form)

    def _taobao_refund_get(self, form: dict[str, str]) -> dict[str, Any]:
        record = self.refunds.get(form["refund_id"])
        if record is None:
            return {"error_response": {"code": 15, "msg": "Remote service error", "sub_code": "isv.refund-not-exist"}}
        return {"refund_get_response": {"refund": record}}

    def _taobao_refunds_receive_get(self, form: dict[str, str]) -> dict[str, Any]:
        since, until = parse_top_time(form["start_modified"]), parse_top_time(form["end_modified"])
        assert since and until
        found = [r for r in self.refunds.values() if since <= parse_top_time(r["modified"]) <= until]  # type: ignore[operator]
        page, size = int(form.get("page_no", "1")), int(form.get("page_size", "40"))
        chunk = found[(page - 1) * size : page * size]
        return {"refunds_receive_get_response": {"refunds": {"refund": chunk}, "has_next": page * size < len(found)}}

    def _taobao_rp_refunds_agree(self, form: dict[str, str]) -> dict[str, Any]:
        infos = [info.split("|") for info in form["refund_infos"].split(",")]
        total = sum(Decimal(fen) / 100 for _, fen, *_ in infos)
        if len(infos) > self.cap[0] or total > self.cap[1]:
            return {
                "error_response": {
                    "code": 15, "msg": "Remote service error", "sub_code": "isv.refund-amount-over-limit",
                    "sub_msg": f"单次退款不能超过{self.cap[0]}笔且总金额不超过{self.cap[1]}元",
                }
            }  # fmt: skip
        if self.sms_over is not None and total >= self.sms_over and not form.get("code"):
            results = [
                {"refund_id": rid, "succ": False, "message": "退款金额较大，已发送短信验证码至卖家手机，请输入验证码"}
                for rid, *_ in infos
            ]
            return {"rp_refunds_agree_response": {"msg_code": "OP_FAILURE_UE", "succ": False, "results": {"refund_mapping_result": results}}}  # fmt: skip
        for rid, *_ in infos:
            self._set(rid, "SUCCESS")
        results = [{"refund_id": rid, "succ": True, "message": "操作成功"} for rid, *_ in infos]
        return {"rp_refunds_agree_response": {"msg_code": "OP_SUCC", "succ": True, "results": {"refund_mapping_result": results}}}  # fmt: skip

    def _taobao_rp_returngoods_agree(self, form: dict[str, str]) -> dict[str, Any]:
        self._set(form["refund_id"], "WAIT_BUYER_RETURN_GOODS")
        return {"rp_returngoods_agree_response": {"is_success": True}}

    def _taobao_refund_message_add(self, form: dict[str, str]) -> dict[str, Any]:
        """A message on the refund, read by the buyer: `refund_id`, `content` of at most 400 bytes."""
        refund_id, content = form.get("refund_id", ""), form.get("content", "")
        if refund_id not in self.refunds:
            return {"error_response": {"code": 15, "msg": "Remote service error", "sub_code": "isv.refund-not-exist"}}
        if not content or len(content.encode()) > 400:
            return {"error_response": {"code": 41, "msg": "Invalid arguments:content", "sub_code": "isv.invalid-parameter"}}  # fmt: skip
        if refund_id in self.refuse_messages:
            sub_code, sub_msg = self.refuse_messages[refund_id]
            return {"error_response": {"code": 15, "msg": "Remote service error", "sub_code": sub_code, "sub_msg": sub_msg}}  # fmt: skip
        self.buyer_messages.append({"refund_id": refund_id, "content": content})
        self.posted.setdefault(refund_id, []).append(
            {"id": len(self.buyer_messages), "content": content, "owner_role": 2}
        )
        created = top_time(datetime.now(BEIJING))
        return {"refund_message_add_response": {"refund_message": {"id": len(self.buyer_messages), "created": created}}}

    def _taobao_refund_messages_get(self, form: dict[str, str]) -> dict[str, Any]:
        record = self.refunds.get(form.get("refund_id", ""))
        if record is None:
            return {"error_response": {"code": 15, "msg": "Remote service error", "sub_code": "isv.refund-not-exist"}}
        if form.get("refund_phase") not in ("onsale", "aftersale"):  # required on Tmall: asked here always
            return {"error_response": {"code": 40, "msg": "Missing required arguments:refund_phase"}}
        found = self.posted.get(form["refund_id"], [])
        return {"refund_messages_get_response": {"refund_messages": {"refund_message": found}, "total_results": len(found)}}  # fmt: skip

    def _taobao_refund_refuse(self, form: dict[str, str]) -> dict[str, Any]:
        if not 2 <= len(form.get("refuse_message", "")) <= 200:
            return {"error_response": {"code": 15, "msg": "Remote service error", "sub_code": "isv.invalid-parameter:refuse_message"}}  # fmt: skip
        self._set(form["refund_id"], "SELLER_REFUSE_BUYER")
        return {"refund_refuse_response": {"is_success": True}}


@asynccontextmanager
async def fake_top() -> AsyncIterator[FakeTop]:
    port = free_port()
    state = FakeTop(url=f"http://127.0.0.1:{port}/router/rest")

    async def router(request: Request) -> JSONResponse:
        # A url-encoded form, read without python-multipart (which Starlette's form() needs).
        form = {
            key: values[-1] for key, values in parse_qs((await request.body()).decode(), keep_blank_values=True).items()
        }
        return JSONResponse(state.answer(form))

    server = _QuietServer(
        uvicorn.Config(
            Starlette(routes=[Route("/router/rest", router, methods=["POST"])]),
            host="127.0.0.1",
            port=port,
            log_level="warning",
        )
    )
    task = asyncio.create_task(server.serve())
    for _ in range(200):
        if server.started:
            break
        await asyncio.sleep(0.02)
    assert server.started, "the fake TOP router did not start"
    try:
        yield state
    finally:
        server.should_exit = True
        await task
