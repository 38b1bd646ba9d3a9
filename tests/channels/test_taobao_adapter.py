"""The Taobao adapter against the fake TOP router and the TMC frames: what the platform would see
and what a person is told when a limit stops a decision."""

from __future__ import annotations

import asyncio
import contextlib
import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from channels.base import MessageRejected
from channels.taobao.adapter import OVER_BATCH_CAP, SMS_VERIFICATION, TaobaoAdapter
from channels.taobao.consumer import TmcConsumer
from channels.taobao.protocol import (
    Frame,
    FrameError,
    MessageKind,
    MessageType,
    confirm_frame,
    connect_sign,
    decode,
    encode,
)
from channels.taobao.status import can_follow, whose_move
from channels.taobao.top import BEIJING, TopClient, sign
from domain.marketplace import (
    AfterSaleKind,
    DecisionKind,
    IntakeResult,
    Platform,
    PlatformDecision,
    PlatformEvent,
    PlatformStep,
    Whose,
)
from tests.support.receiver import eventually
from tests.support.taobao import APP_KEY, APP_SECRET, SESSION, FakeTop, fake_tmc, fake_top


def adapter(top: FakeTop, shop_type: str = "taobao") -> TaobaoAdapter:
    return TaobaoAdapter(TopClient(top.url, APP_KEY, APP_SECRET, SESSION), shop_type=shop_type)  # type: ignore[arg-type]


def decision(
    refund_id: str, kind: DecisionKind = DecisionKind.APPROVE_REFUND, reason: str | None = None
) -> PlatformDecision:
    return PlatformDecision(
        platform=Platform.TAOBAO, after_sale_id=refund_id, kind=kind, reason=reason,
        idempotency_key=f"TB-1:{kind.value}:3", case_number="TB-20261201-000001",
    )  # fmt: skip


def test_frames_round_trip_and_refuse_garbage() -> None:
    frame = Frame(
        type=MessageType.SEND,
        token="tok",
        content={"__kind": MessageKind.DATA, "id": 7_000_000_000_001, "topic": "taobao_refund_RefundCreated", "content": "{\"a\": \"退款\"}"},
    )  # fmt: skip
    again = decode(encode(frame))
    assert (again.type, again.token, again.kind) == (MessageType.SEND, "tok", MessageKind.DATA)
    assert again.content["id"] == 7_000_000_000_001 and json.loads(again.content["content"]) == {"a": "退款"}
    assert decode(encode(confirm_frame("tok", 42))).content == {"__kind": MessageKind.CONFIRM, "id": 42}
    with pytest.raises(FrameError):
        decode(encode(frame)[:-3])
    with pytest.raises(FrameError):
        decode(b"\x02\x09\x00\x00")


def test_signatures_are_the_documented_ones() -> None:
    # MD5(secret + "app_key"+key + "group_name"+group + "timestamp"+ts + secret), upper-case.
    import hashlib

    raw = f"{APP_SECRET}app_key{APP_KEY}group_namedefaulttimestamp1700000000000{APP_SECRET}"
    assert (
        connect_sign(APP_KEY, APP_SECRET, "default", "1700000000000") == hashlib.md5(raw.encode()).hexdigest().upper()
    )
    params = {"method": "taobao.refund.get", "b": "2", "a": "1", "sign": "ignored"}
    assert sign(params, "s") == hashlib.md5(b"sa1b2methodtaobao.refund.gets").hexdigest().upper()
    assert sign(params, "s", "hmac") != sign(params, "s", "hmac-sha256") != sign(params, "s")


def test_the_status_machine() -> None:
    assert can_follow("WAIT_SELLER_AGREE", "WAIT_BUYER_RETURN_GOODS")
    assert can_follow("WAIT_BUYER_RETURN_GOODS", "WAIT_SELLER_CONFIRM_GOODS")
    assert can_follow("WAIT_SELLER_CONFIRM_GOODS", "SUCCESS")
    assert not can_follow("SUCCESS", "WAIT_SELLER_AGREE")
    assert not can_follow("CLOSED", "SUCCESS")
    assert [whose_move(s) for s in ("WAIT_SELLER_AGREE", "WAIT_BUYER_RETURN_GOODS", "SUCCESS")] == [
        Whose.MERCHANT, Whose.BUYER, Whose.NOBODY,
    ]  # fmt: skip


def test_a_refund_message_is_read_without_the_buyers_nickname() -> None:
    body = json.dumps(
        {
            "id": 99,
            "topic": "taobao_refund_RefundCreated",
            "content": json.dumps(
                {"refund_id": 5001, "tid": 3001, "oid": 3002, "refund_fee": "88.50", "buyer_nick": "张三",
                 "bill_type": "return_bill", "refund_phase": "aftersale", "modified": "2026-11-30 10:00:00"}
            ),
        }
    ).encode()  # fmt: skip
    event = TaobaoAdapter(TopClient("http://unused", "k", "s", "t")).parse(body)[0]
    assert (event.after_sale_id, event.order_number, event.amount) == ("5001", "3001", Decimal("88.50"))
    assert (event.step, event.status, event.kind) == (
        PlatformStep.REQUESTED,
        "WAIT_SELLER_AGREE",
        AfterSaleKind.RETURN_AND_REFUND,
    )
    assert event.occurred_at == datetime(2026, 11, 30, 10, tzinfo=BEIJING)
    assert "张三" not in event.model_dump_json()
    for bad, field in ((b"[]", "body"), (b'{"id": 1}', "topic"), (b'{"id": 1, "topic": "taobao_refund_RefundCreated", "content": "{}"}', "content.refund_id")):  # fmt: skip
        with pytest.raises(MessageRejected) as refused:
            TaobaoAdapter(TopClient("http://unused", "k", "s", "t")).parse(bad)
        assert refused.value.field == field


def test_http_bodies_are_never_taken_as_taobao_messages() -> None:
    assert not TaobaoAdapter(TopClient("http://unused", "k", "s", "t")).verify(b"{}", {})


async def test_agreeing_within_the_limits_reaches_the_platform_once() -> None:
    async with fake_top() as top:
        top.add_refund("6001", tid="4001", fee="120.00")
        outcome = await adapter(top).decide(decision("6001"))
        assert outcome.accepted
        [call] = top.calls_of("taobao.rp.refunds.agree")
        refund_id, fen, version, phase = call["refund_infos"].split("|")
        assert (refund_id, fen, phase) == ("6001", "12000", "onsale") and version.isdigit()
        # Again (a retried activity): the refund shows the agreement already; no second call.
        assert (await adapter(top).decide(decision("6001"))).accepted
        assert len(top.calls_of("taobao.rp.refunds.agree")) == 1


async def test_over_the_batch_cap_or_asking_for_sms_the_decision_is_refused_with_the_reason() -> None:
    async with fake_top() as top:
        top.add_refund("6002", tid="4002", fee="6500.00")
        over = await adapter(top).decide(decision("6002"))
        assert not over.accepted and over.platform_code == OVER_BATCH_CAP
        assert "6000" in (over.platform_message or "") and top.calls_of("taobao.rp.refunds.agree") == []
        # On Tmall the cap is ¥10,000: the call is made, and the platform asks for the SMS code.
        top.sms_over, top.cap = Decimal("5000"), (30, Decimal("10000"))
        sms = await adapter(top, "tmall").decide(decision("6002"))
        assert not sms.accepted and sms.platform_code == SMS_VERIFICATION
        assert "短信验证码" in (sms.platform_message or "")
        assert top.refunds["6002"]["status"] == "WAIT_SELLER_AGREE"


async def test_refusing_sends_the_reason_and_tmall_needs_a_person() -> None:
    async with fake_top() as top:
        top.add_refund("6003", tid="4003", fee="20.00")
        assert (await adapter(top).decide(decision("6003", DecisionKind.REFUSE, "商品已使用，不支持退货"))).accepted
        assert top.calls_of("taobao.refund.refuse")[0]["refuse_message"] == "商品已使用，不支持退货"
        top.add_refund("6004", tid="4004", fee="20.00")
        tmall = await adapter(top, "tmall").decide(decision("6004", DecisionKind.REFUSE, "不符合"))
        assert not tmall.accepted and tmall.platform_code == "refusal_needs_proof"
        # The buyer withdrew on the platform: nothing to agree any more, and a person is told so.
        top.add_refund("6007", tid="4007", fee="20.00", status="CLOSED")
        closed = await adapter(top).decide(decision("6007"))
        assert not closed.accepted and closed.platform_code == "not_possible_in_status"
        assert "CLOSED" in (closed.platform_message or "") and top.calls_of("taobao.rp.refunds.agree") == []


async def test_the_list_api_gives_each_changed_refund_as_its_current_step() -> None:
    async with fake_top() as top:
        now = datetime.now(BEIJING)
        top.add_refund(
            "6005", tid="4005", fee="10.00", status="WAIT_SELLER_CONFIRM_GOODS", modified=now - timedelta(minutes=5)
        )
        top.add_refund("6006", tid="4006", fee="10.00", modified=now - timedelta(hours=3))
        listed = await adapter(top).changed_after_sales(datetime.now(UTC) - timedelta(minutes=30), datetime.now(UTC))
        assert [(e.after_sale_id, e.step) for e in listed] == [("6005", PlatformStep.BUYER_RETURNED)]
        assert listed[0].message_id.startswith("reconcile:6005:WAIT_SELLER_CONFIRM_GOODS:")


class Recorded:
    """An intake that only remembers what it was given (the consumer's side of the contract)."""

    def __init__(self) -> None:
        self.events: list[PlatformEvent] = []

    async def take_event(self, event: PlatformEvent) -> IntakeResult:
        self.events.append(event)
        return IntakeResult(message_id=event.message_id, case_number="TB-1", applied=True)


async def test_the_consumer_reconnects_after_a_drop_and_a_wrong_secret_is_refused() -> None:
    async with fake_top() as top, fake_tmc() as tmc:
        intake = Recorded()
        consumer = TmcConsumer(adapter(top), intake, app_key=APP_KEY, secret=APP_SECRET, url=tmc.url)
        task = asyncio.create_task(consumer.run())
        try:
            top.add_refund("6101", tid="4101", fee="9.90", deadline=datetime.now(BEIJING) + timedelta(days=1))
            first = await tmc.publish(
                "taobao_refund_RefundCreated", {"refund_id": 6101, "tid": 4101, "refund_fee": "9.90"}
            )
            await tmc.wait_confirmed(first)
            await tmc.drop_connections()  # the server goes away; the consumer comes back on its own
            second = await tmc.publish(
                "taobao_refund_RefundClosed", {"refund_id": 6101, "tid": 4101, "refund_fee": "9.90"}
            )
            await tmc.wait_confirmed(second)
            # Not a refund topic: confirmed (or TMC would send it forever) but not recorded.
            await tmc.wait_confirmed(await tmc.publish("taobao_trade_TradeCreate", {"tid": 4102}))
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        assert tmc.connects == 2
        assert [(e.step, e.status) for e in intake.events] == [
            (PlatformStep.REQUESTED, "WAIT_SELLER_AGREE"), (PlatformStep.CLOSED, "CLOSED"),
        ]  # fmt: skip
        assert intake.events[0].deadline is not None  # enriched from taobao.refund.get

        wrong = TmcConsumer(adapter(top), intake, app_key=APP_KEY, secret="not-the-secret", url=tmc.url)
        task = asyncio.create_task(wrong.run())
        try:
            await eventually(lambda: tmc.refused_connects > 0, what="a refused connect")
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        assert tmc.connects == 2 and not wrong.connected.is_set()
