"""What the customer-message channels read and write: the case's contact and language, each
delivery attempt (shown on the timeline), and opt-outs keyed by a hash of the contact."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from store.models import CaseRow, DeliveryAttemptRow, OptOutRow

SENT, FAILED, DEFERRED, OPTED_OUT = "sent", "failed", "deferred", "opted_out"
ROBOT = "robot"  # the channel of a staff alert's group-robot attempts (not shown as a customer message)


def normalised(channel: str, contact: str) -> str:
    """One customer, one key: e-mail case-insensitive; a phone by its digits, without China's +86."""
    if channel == "email":
        return contact.strip().lower()
    digits = "".join(c for c in contact if c.isdigit())
    return digits[2:] if digits.startswith("86") and len(digits) == 13 else digits


def contact_hash(channel: str, contact: str) -> str:
    return hashlib.sha256(f"{channel}:{normalised(channel, contact)}".encode()).hexdigest()


@dataclass(frozen=True)
class Recipient:
    """The case as a customer message needs it. Contact details stay in memory, never in a log."""

    number: str
    channel: str  # where the case came in
    email: str | None
    phone: str | None
    language: str | None
    timezone: str | None
    priority: str | None
    stage: str
    next_deadline: datetime | None
    # What the survey link's window is computed from (delivery/windows.py).
    tier: str | None = None
    policy_version: str | None = None
    calendar_version: str | None = None

    def contact(self, channel: str) -> str | None:
        return self.email if channel == "email" else self.phone if channel == "sms" else None


class MessageStore:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def recipient(self, number: str) -> Recipient | None:
        async with self._sessions() as session:
            row = await session.get(CaseRow, number)
        if row is None:
            return None
        customer: dict[str, Any] = (row.intake or {}).get("customer") or {}
        return Recipient(
            number=row.number,
            channel=row.channel,
            email=row.customer_email,
            phone=row.customer_phone,
            language=customer.get("language"),
            timezone=customer.get("timezone"),
            priority=row.priority,
            stage=row.stage,
            next_deadline=row.next_deadline,
            tier=row.customer_tier,
            policy_version=row.policy_version,
            calendar_version=row.calendar_version,
        )

    async def sent_by(self, number: str, seq: int, topic: str) -> str | None:
        """The channel that already delivered this message (a retry after a lost outcome), if any."""
        async with self._sessions() as session:
            return await session.scalar(
                select(DeliveryAttemptRow.channel)
                .where(
                    DeliveryAttemptRow.case_number == number,
                    DeliveryAttemptRow.seq == seq,
                    DeliveryAttemptRow.topic == topic,
                    DeliveryAttemptRow.result == SENT,
                )
                .limit(1)
            )

    async def record_attempt(
        self,
        number: str,
        seq: int,
        topic: str,
        channel: str,
        attempt: int,
        result: str,
        at: datetime,
        detail: str | None = None,
    ) -> None:
        async with self._sessions.begin() as session:
            session.add(
                DeliveryAttemptRow(
                    case_number=number, seq=seq, topic=topic, channel=channel, attempt=attempt, result=result,
                    detail=detail[:200] if detail else None, at=at,
                )
            )  # fmt: skip

    async def attempts(self, number: str) -> list[DeliveryAttemptRow]:
        """What the case's customer was sent (staff alerts' robot rows left out)."""
        async with self._sessions() as session:
            rows = await session.scalars(
                select(DeliveryAttemptRow)
                .where(DeliveryAttemptRow.case_number == number, DeliveryAttemptRow.channel != ROBOT)
                .order_by(DeliveryAttemptRow.id)
            )
            return list(rows)

    async def robots_sent(self, outbox_id: int) -> set[str]:
        """The group robots that already took the alert of this outbox row (any dispatcher, any attempt)."""
        async with self._sessions() as session:
            rows = await session.scalars(
                select(DeliveryAttemptRow.robot).where(
                    DeliveryAttemptRow.outbox_id == outbox_id,
                    DeliveryAttemptRow.channel == ROBOT,
                    DeliveryAttemptRow.result == SENT,
                )
            )
            return {robot for robot in rows if robot is not None}

    async def record_robot(
        self, outbox_id: int, number: str, seq: int, topic: str, robot: str, attempt: int, result: str, at: datetime,
        detail: str | None = None,
    ) -> None:  # fmt: skip
        async with self._sessions.begin() as session:
            session.add(
                DeliveryAttemptRow(
                    case_number=number, seq=seq, topic=topic, channel=ROBOT, attempt=attempt, result=result,
                    detail=detail[:200] if detail else None, at=at, outbox_id=outbox_id, robot=robot,
                )
            )  # fmt: skip

    async def opted_out(self, recipient: Recipient, channels: list[str]) -> set[str]:
        """Of `channels`, those this customer opted out of (on any of their cases)."""
        hashes = {c: contact_hash(c, contact) for c in channels if (contact := recipient.contact(c))}
        if not hashes:
            return set()
        async with self._sessions() as session:
            rows = await session.execute(
                select(OptOutRow.channel, OptOutRow.contact_hash).where(OptOutRow.contact_hash.in_(hashes.values()))
            )
            return {channel for channel, hashed in rows if hashes.get(channel) == hashed}

    async def record_opt_out(
        self, recipient: Recipient, channel: str, by: str, reason: str | None, at: datetime
    ) -> bool:
        """True when recorded now, False when it already was (recording twice acts once)."""
        contact = recipient.contact(channel)
        assert contact is not None, "the caller checks the case has this contact"
        try:
            async with self._sessions.begin() as session:
                hashed = contact_hash(channel, contact)
                if await session.get(OptOutRow, (hashed, channel)) is not None:
                    return False
                session.add(
                    OptOutRow(
                        contact_hash=hashed, channel=channel, case_number=recipient.number, recorded_by=by,
                        reason=reason, recorded_at=at,
                    )
                )  # fmt: skip
        except IntegrityError:  # recorded by a concurrent request
            return False
        return True
