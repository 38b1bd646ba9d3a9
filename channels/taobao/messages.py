"""Taobao refund messages and refund records as normalised PlatformEvents.

A TMC message (channels/taobao/protocol.py) carries `id`, `topic` and `content` (JSON text);
the refund topics' content has refund_id, tid, oid, refund_fee (yuan, text), refund_phase
(onsale/aftersale), bill_type, modified (GitHub `TheNorthMemory/tmc.js` types/taobao.d.ts,
`Taobao.Refund.RefundCreated` and siblings). Nicknames (buyer_nick, seller_nick,
buyer_open_uid) identify people and are never kept.

A refund record (taobao.refund.get, taobao.refunds.receive.get; GitHub `bububa/opentaobao`
model/refund/Refund.go) adds status, has_good_return, order_status, refund_version and
`refund_remind_timeout {timeout, exist_timeout, remind_type}`, the platform's deadline.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from pydantic import ValidationError

from channels.base import MessageRejected
from channels.taobao.status import STEP_OF_STATUS, TOPIC_PREFIX, TOPICS, RefundStatus, after_sale_kind, whose_move
from channels.taobao.top import parse_top_time
from domain.marketplace import Platform, PlatformEvent, PlatformStep

# What we keep of a message's or record's own fields: ids, codes, amounts, instants (no nicknames).
KEPT = (
    "refund_id", "tid", "oid", "refund_fee", "refund_phase", "bill_type", "modified", "status",
    "refund_version", "has_good_return", "order_status", "good_status",
)  # fmt: skip


def _kept(fields: dict[str, Any]) -> dict[str, Any]:
    """The fields we keep, each a number, a flag or a short text without control characters."""
    kept: dict[str, Any] = {}
    for key in KEPT:
        value = fields.get(key)
        if isinstance(value, bool | int) or (
            isinstance(value, str) and len(value) <= 64 and not any(ord(ch) < 32 for ch in value)
        ):
            kept[key] = value
    return kept


def _text(value: Any, name: str, *, limit: int = 64) -> str | None:
    if value is None or value == "":
        return None
    text = str(value)
    if len(text) > limit or any(ord(ch) < 32 for ch in text):
        raise MessageRejected(name, f"not an id of at most {limit} characters")
    return text


def _amount(value: Any, name: str) -> Decimal | None:
    if value is None or value == "":
        return None
    try:
        amount = Decimal(str(value)).quantize(Decimal("0.01"))
    except InvalidOperation:
        raise MessageRejected(name, "not an amount in yuan") from None
    if amount < 0 or amount >= Decimal("1e10"):
        raise MessageRejected(name, "out of range")
    return amount


def _deadline(record: dict[str, Any]) -> datetime | None:
    remind = record.get("refund_remind_timeout")
    if not isinstance(remind, dict):
        return None
    if remind.get("exist_timeout") in (False, "false"):
        return None
    return parse_top_time(remind.get("timeout"))


def _event(
    fields: dict[str, Any], *, message_id: str, topic: str, step: PlatformStep, status: str, occurred: datetime
) -> PlatformEvent:
    after_sale_id = _text(fields.get("refund_id"), "content.refund_id")
    if after_sale_id is None:
        raise MessageRejected("content.refund_id", "missing")
    modified = parse_top_time(fields.get("modified")) if isinstance(fields.get("modified"), str) else None
    good_return = fields.get("has_good_return")
    try:
        return PlatformEvent(
            platform=Platform.TAOBAO,
            message_id=message_id,
            topic=topic,
            step=step,
            after_sale_id=after_sale_id,
            order_number=_text(fields.get("tid"), "content.tid"),
            sub_order=_text(fields.get("oid"), "content.oid"),
            kind=after_sale_kind(
                fields.get("bill_type"),
                good_return in (True, "true") if good_return is not None else None,
                fields.get("order_status"),
            ),
            status=status,
            amount=_amount(fields.get("refund_fee"), "content.refund_fee"),
            reason=None,  # the buyer's reason is free text on Taobao: it stays on the platform
            deadline=_deadline(fields),
            occurred_at=modified or occurred,
            # Seconds: the refund's last change, which orders messages of one refund.
            version=int((modified or occurred).timestamp()),
            whose=whose_move(status),
            data=_kept(fields),
        )
    except ValidationError as error:
        problem = error.errors()[0]
        raise MessageRejected(".".join(str(p) for p in problem["loc"]) or "content", problem["msg"]) from None


def parse_message(body: bytes) -> list[PlatformEvent]:
    """One TMC message, as the consumer hands it over: `{"id", "topic", "content", "pub_time"?}`.
    A topic outside the refund topics is read as OTHER (recorded, not acted on)."""
    try:
        message = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise MessageRejected("body", "not JSON") from None
    if not isinstance(message, dict):
        raise MessageRejected("body", "not an object")
    message_id = _text(message.get("id"), "id", limit=128)
    topic = _text(message.get("topic"), "topic")
    if message_id is None or topic is None:
        raise MessageRejected("id" if message_id is None else "topic", "missing")
    content = message.get("content")
    if isinstance(content, str):
        try:
            content = json.loads(content)
        except ValueError:
            raise MessageRejected("content", "not JSON") from None
    if not isinstance(content, dict):
        raise MessageRejected("content", "not an object")
    step, status = TOPICS.get(topic, (PlatformStep.OTHER, None))
    if not topic.startswith(TOPIC_PREFIX) or status is None:
        step, status = PlatformStep.OTHER, content.get("status")
    occurred = parse_top_time(message.get("pub_time")) or datetime.now(UTC)
    return [_event(content, message_id=message_id, topic=topic, step=step, status=str(status or ""), occurred=occurred)]


def from_record(record: dict[str, Any], *, source: str) -> PlatformEvent:
    """A refund as the list or detail API shows it now: the step that led to its status, and a
    message id of its own per status and change, so a snapshot seen twice is recorded once."""
    status = str(record.get("status") or "")
    try:
        step = STEP_OF_STATUS[RefundStatus(status)]
    except ValueError:
        raise MessageRejected("status", f"unknown refund status {status[:32]!r}") from None
    modified = parse_top_time(record.get("modified")) or datetime.now(UTC)
    refund_id = _text(record.get("refund_id"), "refund_id") or "?"
    message_id = f"{source}:{refund_id}:{status}:{int(modified.timestamp())}"
    return _event(
        record, message_id=message_id, topic=f"{source}:{status}", step=step, status=status, occurred=modified
    )


def with_record(event: PlatformEvent, record: dict[str, Any]) -> PlatformEvent:
    """The message's event with what the detail adds: the deadline, the request type, the amount
    and the refund's version (needed by the decision calls). The message's own step stays."""
    data = event.data | _kept(record)
    good_return = record.get("has_good_return")
    update: dict[str, Any] = {
        "data": data,
        "kind": after_sale_kind(
            data.get("bill_type"), good_return in (True, "true") if good_return is not None else None,
            record.get("order_status"),
        ),
    }  # fmt: skip
    # The detail is the refund now; its deadline belongs to the message only while the refund is still
    # in the status the message reports (a late message must not carry a later step's deadline).
    deadline = _deadline(record)
    if deadline is not None and record.get("status") == event.status:
        update["deadline"] = deadline
    if event.amount is None and record.get("refund_fee") is not None:
        update["amount"] = _amount(record.get("refund_fee"), "refund_fee")
    if event.order_number is None and record.get("tid") is not None:
        update["order_number"] = _text(record.get("tid"), "tid")
    return event.model_copy(update=update)
