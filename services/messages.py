"""The customer's messages as staff see them: each delivery attempt in words on the case's
timeline ("已通过短信告知客户 10:32" / "customer told by SMS at 10:32"), and opt-outs."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from store.messages import DEFERRED, FAILED, OPTED_OUT, SENT, MessageStore
from store.models import DeliveryAttemptRow

CHANNEL_WORDS = {
    "email": ("邮件", "e-mail"),
    "sms": ("短信", "SMS"),
    "relay": ("客服转达", "the service desk"),
    "marketplace": ("平台消息", "platform message"),
}


@dataclass(frozen=True)
class Delivery:
    channel: str
    topic: str
    result: str
    attempt: int
    at: datetime
    text: str  # zh-CN
    text_en: str


def in_words(row: DeliveryAttemptRow, zone: ZoneInfo) -> tuple[str, str]:
    zh, en = CHANNEL_WORDS.get(row.channel, (row.channel, row.channel))
    hhmm = row.at.astimezone(zone).strftime("%H:%M")
    if row.result == SENT:
        return f"已通过{zh}告知客户 {hhmm}", f"customer told by {en} at {hhmm}"
    if row.result == FAILED:
        return f"{zh}发送失败 {hhmm}，稍后重试", f"{en} to the customer failed at {hhmm}; retried later"
    if row.result == DEFERRED:
        return f"免打扰时段，{zh}暂缓发送 {hhmm}", f"{en} held for the customer's quiet hours at {hhmm}"
    if row.result == OPTED_OUT:
        return f"客户已退订{zh}，未发送 {hhmm}", f"not sent by {en}: the customer opted out ({hhmm})"
    return f"{zh} {row.result} {hhmm}", f"{en} {row.result} at {hhmm}"


async def deliveries(
    sessions: async_sessionmaker[AsyncSession], number: str, zone: ZoneInfo
) -> dict[int, list[Delivery]]:
    """Every attempt to tell the customer something, by the timeline event that sent it."""
    by_seq: dict[int, list[Delivery]] = defaultdict(list)
    for row in await MessageStore(sessions).attempts(number):
        text, text_en = in_words(row, zone)
        by_seq[row.seq].append(Delivery(row.channel, row.topic, row.result, row.attempt, row.at, text, text_en))
    return by_seq


class NoSuchContact(LookupError):
    """The case has no contact for that channel: there is nothing to opt out of."""


async def opt_out(
    sessions: async_sessionmaker[AsyncSession], number: str, channel: str, by: str, reason: str | None, at: datetime
) -> bool | None:
    """Record that the customer of case `number` wants no more messages on `channel`, for all their
    cases. True when recorded now, False when it already was, None when the case is unknown."""
    store = MessageStore(sessions)
    recipient = await store.recipient(number)
    if recipient is None:
        return None
    if not recipient.contact(channel):
        raise NoSuchContact(channel)
    return await store.record_opt_out(recipient, channel, by, reason, at)
