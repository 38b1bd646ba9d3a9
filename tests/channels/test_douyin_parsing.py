"""Reading Douyin Shop's pushes and signing its calls: pure, against the documented formats."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from channels.base import MessageRejected
from channels.douyin.adapter import DouyinAdapter, operate_type
from channels.douyin.messages import read_push
from channels.douyin.signature import api_signature, push_signature, push_signed
from channels.douyin.status import STATUSES, markdown_table, whose_move
from channels.douyin.topics import TOPICS
from domain.marketplace import AfterSaleKind, DecisionKind, PlatformStep, Whose, case_intake

NOW = datetime(2026, 12, 1, 4, 0, tzinfo=UTC)
CREATED = {
    "aftersale_id": 7301234567890123456,
    "aftersale_status": 6,
    "aftersale_type": 0,
    "p_id": 6930000000000000001,
    "s_id": 6930000000000000002,
    "shop_id": 4463798,
    "refund_amount": 45900,
    "refund_post_amount": 800,
    "reason_code": 3,
    "apply_time": 1764561600,
    "update_time": 1764561601,
}


def push(*messages: dict) -> bytes:
    return json.dumps(list(messages)).encode()


def test_the_push_signature_is_md5_of_key_body_and_secret() -> None:
    body = push({"tag": "200", "msg_id": "m1", "data": json.dumps(CREATED)})
    expected = hashlib.md5(b"key" + body + b"secret").hexdigest()
    assert push_signature("key", body, "secret") == expected
    assert push_signed("key", "secret", body, expected.upper())  # compared ignoring case, as the SDKs do
    assert not push_signed("key", "secret", body + b" ", expected)
    assert not push_signed("key", "secret", body, None)
    adapter = DouyinAdapter("key", "secret", "http://platform.invalid")
    assert adapter.verify(body, {"event-sign": expected}) and not adapter.verify(body, {})


def test_the_api_signature_covers_method_body_time_and_version() -> None:
    one = api_signature("key", "secret", "afterSale.operate", '{"type":201}', "1764561600", "2")
    assert len(one) == 64 and one == one.lower()
    assert one != api_signature("key", "secret", "afterSale.operate", '{"type":202}', "1764561600", "2")


def test_a_refund_created_push_becomes_our_intake() -> None:
    (event,) = read_push(push({"tag": "200", "msg_id": "m1", "data": json.dumps(CREATED)}), NOW)
    assert (event.topic, event.step, event.kind) == (
        "doudian_refund_RefundCreated",
        PlatformStep.REQUESTED,
        AfterSaleKind.RETURN_AND_REFUND,
    )
    assert (event.after_sale_id, event.order_number, event.status) == (
        "7301234567890123456",
        "6930000000000000001",
        "6",
    )
    assert (event.amount, event.shipping_amount, event.reason) == (Decimal("459.00"), Decimal("8.00"), "3")
    assert event.occurred_at == datetime.fromtimestamp(1764561600, UTC) and event.whose is Whose.MERCHANT
    intake = case_intake(event)
    assert intake is not None
    assert (intake.channel.value, intake.order.number, intake.order.paid_amount) == (
        "marketplace",
        "6930000000000000001",
        Decimal("459.00"),
    )
    assert intake.description.startswith("抖店 Douyin Shop 售后 after-sale 7301234567890123456：退货退款")


def test_expiration_change_carries_the_new_deadline_and_cannot_open_a_case() -> None:
    data = {k: CREATED[k] for k in ("aftersale_id", "aftersale_status", "aftersale_type", "p_id", "s_id", "shop_id")}
    # The .NET SDK's id field name is msgId, the Go SDK's msg_id: both are read.
    (event,) = read_push(push({"tag": 209, "msgId": "m2", "data": data | {"status_deadline": 1764648000}}), NOW)
    assert (event.step, event.deadline) == (PlatformStep.DEADLINE_CHANGED, datetime.fromtimestamp(1764648000, UTC))
    assert case_intake(event) is None  # no amount: held until its RefundCreated


def test_every_after_sales_topic_is_read_and_other_pushes_are_ignored() -> None:
    messages = [{"tag": tag, "msg_id": f"m{tag}", "data": json.dumps(CREATED)} for tag in TOPICS]
    order = {"tag": "100", "msg_id": "trade", "data": json.dumps({"p_id": 1, "order_status": 2})}
    events = read_push(push(*messages, order), NOW)
    assert [e.topic for e in events] == [topic.name for topic in TOPICS.values()]
    assert {e.step for e in events} >= {PlatformStep.REFUNDED, PlatformStep.CLOSED, PlatformStep.ARBITRATION}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b"not json", "body"),
        (push({"tag": "200", "data": "{}"}), "body[0].msg_id"),
        (push({"tag": "200", "msg_id": "m", "data": "{"}), "body[0].data"),
        (push({"tag": "200", "msg_id": "m", "data": json.dumps({"p_id": 1})}), "body[0].data.aftersale_id"),
        (
            push({"tag": "200", "msg_id": "m", "data": json.dumps(CREATED | {"aftersale_id": "73\x00"})}),
            "body[0].after_sale_id",
        ),
        (push({"tag": "200", "msg_id": "m" * 200, "data": json.dumps(CREATED)}), "body[0].message_id"),
        (json.dumps([{"tag": "200", "msg_id": str(i), "data": "{}"} for i in range(101)]).encode(), "body"),
    ],
)
def test_unreadable_pushes_name_the_field(body: bytes, field: str) -> None:
    with pytest.raises(MessageRejected) as refused:
        read_push(body, NOW)
    assert refused.value.field == field


def test_decision_types_follow_the_after_sale_type() -> None:
    refund_only, goods, exchange = (
        AfterSaleKind.REFUND_AFTER_SHIPPING,
        AfterSaleKind.RETURN_AND_REFUND,
        AfterSaleKind.EXCHANGE,
    )
    assert operate_type(DecisionKind.APPROVE_REFUND, refund_only) == 201
    assert operate_type(DecisionKind.REFUSE, refund_only) == 202
    assert operate_type(DecisionKind.AUTHORISE_RETURN, goods) == 101
    assert operate_type(DecisionKind.REFUSE, goods) == 102
    assert operate_type(DecisionKind.CONFIRM_RECEIPT, goods) == 111
    assert operate_type(DecisionKind.AUTHORISE_RETURN, exchange) == 301


def test_the_status_mapping_is_data_and_the_readme_shows_it() -> None:
    assert whose_move("6") is Whose.MERCHANT and whose_move("7") is Whose.BUYER and whose_move("12") is Whose.NOBODY
    assert whose_move("999") is Whose.MERCHANT  # unknown: a deadline is never dropped silently
    assert len({row.code for row in STATUSES}) == len(STATUSES)
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    assert markdown_table() in readme
