"""Reading a Douyin Shop push: a JSON array of `{tag, msg_id, data}`, `data` itself a JSON
string (zsmhub/doudian-sdk message/doudian_message.go `Message`, `GetMessage`; the .NET SDK
names the id `msgId`, DouyinShopEvent.cs: both are read)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from pydantic import ValidationError

from channels.base import MessageRejected
from channels.douyin.status import whose_move
from channels.douyin.topics import EVENT_TIME_FIELDS, KINDS, TOPICS
from domain.marketplace import Platform, PlatformEvent, PlatformStep

MAX_MESSAGES = 100  # per push; the platform batches a few
_ID_FIELDS = ("p_id", "s_id", "shop_id", "aftersale_id", "arbitrate_id")
# The fields kept from `data`: ids, codes, amounts and instants; never free text.
_KEPT = frozenset(
    {*_ID_FIELDS, "aftersale_status", "aftersale_type", "refund_amount", "refund_post_amount", "reason_code",
     "status_deadline", "update_time", "arbitrate_status", "arbitrate_conclusion", *EVENT_TIME_FIELDS}
)  # fmt: skip


def _instant(value: Any) -> datetime | None:
    if isinstance(value, bool) or value in (None, "", 0):
        return None
    if isinstance(value, int | float) or (isinstance(value, str) and value.isdigit()):
        seconds = int(value)
        if seconds > 10**11:  # milliseconds
            seconds //= 1000
        return datetime.fromtimestamp(seconds, UTC)
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            return None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return None


def _cents(value: Any) -> Decimal | None:
    if isinstance(value, bool) or not isinstance(value, int | str) or not str(value).isdigit():
        return None
    return (Decimal(int(value)) / 100).quantize(Decimal("0.01"))


def _text(value: Any) -> str | None:
    if isinstance(value, bool) or value is None:
        return None
    return str(value) if isinstance(value, int | str) else None


def read_push(body: bytes, now: datetime) -> list[PlatformEvent]:
    try:
        messages = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise MessageRejected("body", "not JSON") from None
    if isinstance(messages, dict):
        messages = [messages]
    if not isinstance(messages, list) or len(messages) > MAX_MESSAGES:
        raise MessageRejected("body", f"a JSON array of at most {MAX_MESSAGES} messages")
    events = []
    for index, message in enumerate(messages):
        event = _read_one(message, index, now)
        if event is not None:
            events.append(event)
    return events


def _read_one(message: Any, index: int, now: datetime) -> PlatformEvent | None:
    where = f"body[{index}]"
    if not isinstance(message, dict):
        raise MessageRejected(where, "a message is a JSON object")
    tag = _text(message.get("tag"))
    message_id = _text(message.get("msg_id", message.get("msgId")))
    if not tag or not message_id:
        raise MessageRejected(f"{where}.msg_id" if tag else f"{where}.tag", "missing")
    data = message.get("data")
    if isinstance(data, str):
        try:
            data = json.loads(data)
        except json.JSONDecodeError:
            raise MessageRejected(f"{where}.data", "not JSON") from None
    if not isinstance(data, dict):
        raise MessageRejected(f"{where}.data", "a JSON object")
    topic = TOPICS.get(tag)
    after_sale_id = _text(data.get("aftersale_id"))
    if after_sale_id is None:
        if topic is None:
            return None  # not an after-sales message (orders, products): not ours to record
        raise MessageRejected(f"{where}.data.aftersale_id", "missing")
    kept = {k: v for k, v in data.items() if k in _KEPT and (v is None or isinstance(v, int | str))}
    status = _text(data.get("aftersale_status"))
    kind_code = data.get("aftersale_type")
    occurred = next((t for f in EVENT_TIME_FIELDS if (t := _instant(data.get(f))) is not None), None)
    update_time = data.get("update_time")
    try:
        return PlatformEvent(
            platform=Platform.DOUYIN,
            message_id=message_id,
            topic=topic.name if topic else f"doudian_tag_{tag}"[:64],
            step=topic.step if topic else PlatformStep.OTHER,
            after_sale_id=after_sale_id,
            order_number=_text(data.get("p_id")),
            sub_order=_text(data.get("s_id")),
            shop_id=_text(data.get("shop_id")),
            kind=KINDS.get(kind_code) if isinstance(kind_code, int) else None,
            status=status,
            amount=_cents(data.get("refund_amount")),
            shipping_amount=_cents(data.get("refund_post_amount")),
            reason=_text(data.get("reason_code")),
            deadline=_instant(data.get("status_deadline")),
            occurred_at=occurred or _instant(update_time) or now,
            version=update_time if isinstance(update_time, int) and not isinstance(update_time, bool) else None,
            whose=whose_move(status),
            data=kept,
        )
    except ValidationError as error:
        first = error.errors()[0]
        field = ".".join(str(part) for part in first["loc"])
        raise MessageRejected(f"{where}.{field}", first["msg"]) from None
