"""CaseStore: the only code that writes and reads the case record."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from domain.case import LedgerReceipt, format_case_number
from domain.records import ResolutionOrder, Transition
from store.models import (
    CaseCategoryRow,
    CaseNumberCounterRow,
    CaseRow,
    IdempotencyKeyRow,
    LedgerEntryRow,
    OutboxRow,
    TimelineEventRow,
)


class IdempotencyKeyReused(Exception):
    """The same Idempotency-Key came back with a different request body."""


@dataclass(frozen=True)
class CaseFilter:
    stage: str | None = None
    priority: str | None = None
    department: str | None = None
    category: str | None = None


def _insert(session: AsyncSession, table: type) -> Any:
    dialect = session.get_bind().dialect.name
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)


def _key_row(scope: str, key: str, request_hash: str, number: str) -> IdempotencyKeyRow:
    return IdempotencyKeyRow(
        scope=scope, key=key, request_hash=request_hash, case_number=number, created_at=datetime.now(timezone.utc)
    )


class CaseStore:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], number_prefix: str = "AS") -> None:
        self._sessions = sessions
        self._prefix = number_prefix

    # ---- writes (activities) ------------------------------------------------

    async def record_transition(self, t: Transition) -> bool:
        """Write the event, the case row and the outbox in one transaction.

        Returns False when (number, seq) was already recorded: a retried
        activity changes nothing.
        """
        snap = t.snapshot
        row_values = {
            "stage": snap.stage.value,
            "priority": snap.priority.value if snap.priority else None,
            "department": snap.department.value if snap.department else None,
            "assignee": snap.assignee,
            "reopen_count": snap.reopen_count,
            "escalation_level": snap.escalation_level,
            "sla_state": snap.sla_state.value,
            "next_deadline": snap.next_deadline,
            "outcome": snap.outcome.value if snap.outcome else None,
            "closed_at": snap.closed_at,
            "policy_version": snap.policy_version,
            "calendar_version": snap.calendar_version,
            "updated_at": t.at,
            "last_seq": t.seq,
        }
        if t.archive is not None:
            row_values |= {"archive_record": t.archive, "archived_at": t.at}
        async with self._sessions.begin() as session:
            if t.intake is not None:
                intake = t.intake
                await session.execute(
                    _insert(session, CaseRow)
                    .values(
                        number=t.number,
                        channel=intake.channel.value,
                        customer_tier=intake.customer.tier.value,
                        customer_name=intake.customer.name,
                        customer_phone=intake.customer.phone,
                        customer_email=intake.customer.email,
                        order_number=intake.order.number,
                        paid_amount=intake.order.paid_amount,
                        currency=intake.order.currency,
                        sku=intake.product.sku,
                        description=intake.description,
                        intake=intake.model_dump(mode="json"),
                        received_at=t.received_at,
                        **row_values,
                    )
                    .on_conflict_do_nothing(index_elements=["number"])
                )
            inserted = await session.execute(
                _insert(session, TimelineEventRow)
                .values(
                    case_number=t.number,
                    seq=t.seq,
                    kind=t.kind.value,
                    stage=snap.stage.value,
                    actor_id=t.actor.id,
                    actor_role=t.actor.role.value,
                    at=t.at,
                    data=t.data,
                    recorded_at=datetime.now(timezone.utc),
                )
                .on_conflict_do_nothing(index_elements=["case_number", "seq"])
            )
            if inserted.rowcount == 0:
                return False
            await session.execute(
                update(CaseRow).where(CaseRow.number == t.number, CaseRow.last_seq <= t.seq).values(**row_values)
            )
            await session.execute(delete(CaseCategoryRow).where(CaseCategoryRow.case_number == t.number))
            if snap.categories:
                await session.execute(
                    _insert(session, CaseCategoryRow).values(
                        # A triage may name a category twice; the row is there once.
                        [{"case_number": t.number, "category": c} for c in dict.fromkeys(c.value for c in snap.categories)]
                    )
                )
            if t.notifications:
                await session.execute(
                    _insert(session, OutboxRow).values(
                        [
                            {
                                "case_number": t.number,
                                "seq": t.seq,
                                "recipient": n.recipient,
                                "topic": n.topic,
                                "body": n.body,
                                "status": "pending",
                                "attempts": 0,
                                "created_at": t.at,
                            }
                            for n in t.notifications
                        ]
                    )
                )
            return True

    async def record_resolution(self, order: ResolutionOrder) -> LedgerReceipt:
        """Write the ledger entry once per key; a retry returns the first entry."""
        async with self._sessions.begin() as session:
            await session.execute(
                _insert(session, LedgerEntryRow)
                .values(
                    idempotency_key=order.key,
                    case_number=order.number,
                    resolution_type=order.type.value,
                    amount=order.amount,
                    currency=order.currency,
                    status="executed",
                    executed_at=order.at,
                )
                .on_conflict_do_nothing(index_elements=["idempotency_key"])
            )
            entry = (
                await session.execute(select(LedgerEntryRow).where(LedgerEntryRow.idempotency_key == order.key))
            ).scalar_one()
            return LedgerReceipt(
                reference=f"LEDGER-{entry.id}",
                resolution_type=entry.resolution_type,
                amount=entry.amount,
                currency=entry.currency,
                executed_at=entry.executed_at,
            )

    # ---- case numbers and idempotency (API) -----------------------------------

    async def next_case_number(self, day: str) -> str:
        async with self._sessions.begin() as session:
            return await self._allocate(session, day)

    async def _allocate(self, session: AsyncSession, day: str) -> str:
        counter = CaseNumberCounterRow.__table__.c
        sequence = (
            await session.execute(
                _insert(session, CaseNumberCounterRow)
                .values(day=day, last=1)
                .on_conflict_do_update(index_elements=["day"], set_={"last": counter.last + 1})
                .returning(counter.last)
            )
        ).scalar_one()
        return format_case_number(self._prefix, day, sequence)

    async def case_number_for_key(self, scope: str, key: str, request_hash: str, day: str) -> tuple[str, bool]:
        """The case number bound to an Idempotency-Key, allocating one the first time.

        Returns (number, first_time). Raises IdempotencyKeyReused when the key
        was used before with a different body.
        """
        for _ in range(3):
            try:
                async with self._sessions.begin() as session:
                    existing = await session.get(IdempotencyKeyRow, (scope, key))
                    if existing is not None:
                        if existing.request_hash != request_hash:
                            raise IdempotencyKeyReused(key)
                        return existing.case_number, False
                    number = await self._allocate(session, day)
                    session.add(_key_row(scope, key, request_hash, number))
                return number, True
            except IntegrityError:
                continue  # a concurrent request with the same key won; read its number
        raise RuntimeError("could not bind the idempotency key")  # pragma: no cover

    async def bind_action_key(self, scope: str, key: str, request_hash: str, number: str) -> bool:
        """Remember which request an action's Idempotency-Key stood for.

        Returns True the first time; raises IdempotencyKeyReused for another body.
        """
        try:
            async with self._sessions.begin() as session:
                existing = await session.get(IdempotencyKeyRow, (scope, key))
                if existing is not None:
                    if existing.request_hash != request_hash:
                        raise IdempotencyKeyReused(key)
                    return False
                session.add(_key_row(scope, key, request_hash, number))
            return True
        except IntegrityError:
            return await self.bind_action_key(scope, key, request_hash, number)

    # ---- reads (API) -------------------------------------------------------------

    async def list_cases(self, filters: CaseFilter, limit: int, offset: int) -> tuple[list[CaseRow], int]:
        query = select(CaseRow)
        if filters.stage:
            query = query.where(CaseRow.stage == filters.stage)
        if filters.priority:
            query = query.where(CaseRow.priority == filters.priority)
        if filters.department:
            query = query.where(CaseRow.department == filters.department)
        if filters.category:
            query = query.where(
                CaseRow.number.in_(
                    select(CaseCategoryRow.case_number).where(CaseCategoryRow.category == filters.category)
                )
            )
        async with self._sessions() as session:
            total = (await session.execute(select(func.count()).select_from(query.subquery()))).scalar_one()
            rows = (
                await session.execute(
                    query.order_by(CaseRow.received_at.desc(), CaseRow.number.desc()).limit(limit).offset(offset)
                )
            ).scalars()
            return list(rows), total

    async def get_case(self, number: str) -> CaseRow | None:
        async with self._sessions() as session:
            return await session.get(CaseRow, number)

    async def categories(self, numbers: list[str]) -> dict[str, list[str]]:
        async with self._sessions() as session:
            rows = await session.execute(
                select(CaseCategoryRow.case_number, CaseCategoryRow.category)
                .where(CaseCategoryRow.case_number.in_(numbers))
                .order_by(CaseCategoryRow.category)
            )
            found: dict[str, list[str]] = {n: [] for n in numbers}
            for number, category in rows:
                found[number].append(category)
            return found

    async def timeline(self, number: str) -> list[TimelineEventRow]:
        async with self._sessions() as session:
            rows = await session.execute(
                select(TimelineEventRow).where(TimelineEventRow.case_number == number).order_by(TimelineEventRow.seq)
            )
            return list(rows.scalars())

    async def outbox(self, number: str) -> list[OutboxRow]:
        async with self._sessions() as session:
            rows = await session.execute(select(OutboxRow).where(OutboxRow.case_number == number).order_by(OutboxRow.id))
            return list(rows.scalars())

    async def ledger(self, number: str) -> list[LedgerEntryRow]:
        async with self._sessions() as session:
            rows = await session.execute(
                select(LedgerEntryRow).where(LedgerEntryRow.case_number == number).order_by(LedgerEntryRow.id)
            )
            return list(rows.scalars())
