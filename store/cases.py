"""CaseStore: the only code that writes and reads the case record."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import and_, bindparam, delete, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker

from domain.case import LedgerReceipt, format_case_number
from domain.phone import DEVELOPMENT_LOOKUP_KEY, phone_lookup_hash
from domain.queues import summarize
from domain.records import ResolutionOrder, Transition
from store.case_reads import CaseReads  # CaseFilter: the API names it from here
from store.db import rows_changed
from store.models import (
    CaseCategoryRow,
    CaseDepartmentRow,
    CaseNumberCounterRow,
    CaseRow,
    IdempotencyKeyRow,
    LedgerEntryRow,
    OutboxRow,
    RecordFailureRow,
    SupersededEventRow,
    TimelineEventRow,
    table_of,
)


def transition_fingerprint(t: Transition) -> str:
    """What makes a write the same write: every field of the transition. A retried activity
    carries the same input; a re-run of a lost workflow task computes a new one (another
    event, or at least another `at`)."""
    return hashlib.sha256(t.model_dump_json().encode()).hexdigest()


def refused_for_good(error: BaseException) -> str | None:
    """Why the database refused a write in a way no retry can change, or None for an error
    worth retrying (an outage, a lost connection, a serialization failure).

    A data exception (SQLSTATE class 22, e.g. a NUL character in text) or an integrity
    violation (class 23; the record's own repeats use ON CONFLICT, so none is expected) is
    named by its error class and SQLSTATE only: the message may quote the refused value."""
    if not isinstance(error, DBAPIError):
        return None
    original = error.orig
    state = getattr(original, "sqlstate", None) or getattr(getattr(original, "__cause__", None), "sqlstate", None)
    if isinstance(error, (DataError, IntegrityError)) or (state is not None and str(state)[:2] in ("22", "23")):
        cause = getattr(original, "__cause__", None) or original
        return f"{type(cause).__name__}" + (f" (SQLSTATE {state})" if state else "")
    return None


class IdempotencyKeyReused(Exception):
    """The same Idempotency-Key came back with a different request body."""


class IdempotencyKeyInFlight(Exception):
    """The first request with this Idempotency-Key has not finished yet."""


@dataclass(frozen=True)
class KeyClaim:
    """What claiming an Idempotency-Key found: run the work (no stored answer), or replay."""

    number: str
    first: bool  # the key was new: nothing ran for it before
    status: int | None = None  # with body: the stored answer to replay
    body: dict[str, Any] | None = None

    @property
    def replay(self) -> bool:
        return self.status is not None


def _insert(session: AsyncSession, table: type) -> Any:
    dialect = session.get_bind().dialect.name
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)


def _receipt(entry: LedgerEntryRow) -> LedgerReceipt:
    return LedgerReceipt(
        reference=f"LEDGER-{entry.id}",
        resolution_type=entry.resolution_type,
        amount=entry.amount,
        currency=entry.currency,
        executed_at=entry.executed_at,
        route=entry.route,
    )


class _TransitionStatements:
    """The statements of `record_transition`, built once per dialect so SQLAlchemy's
    compiled cache is hit on every call; values are bound per call."""

    def __init__(self, dialect: str) -> None:
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        self.insert_case = insert(table_of(CaseRow)).on_conflict_do_nothing(index_elements=["number"])
        self.insert_event = insert(table_of(TimelineEventRow)).on_conflict_do_nothing(
            index_elements=["case_number", "seq"]
        )
        self.insert_category = insert(table_of(CaseCategoryRow))
        departments = insert(table_of(CaseDepartmentRow))
        self.upsert_department = departments.on_conflict_do_update(
            index_elements=["case_number", "department"],
            set_={"contribution_status": departments.excluded.contribution_status},
        )
        self.insert_outbox = insert(table_of(OutboxRow)).on_conflict_do_nothing(
            index_elements=["case_number", "seq", "recipient", "topic"]
        )
        timeline = table_of(TimelineEventRow).c
        self.select_fingerprint = select(timeline.fingerprint, timeline.at).where(
            timeline.case_number == bindparam("b_number"), timeline.seq == bindparam("b_seq")
        )
        cases = table_of(CaseRow)
        self.delete_categories = delete(table_of(CaseCategoryRow)).where(
            table_of(CaseCategoryRow).c.case_number == bindparam("b_number")
        )
        self._update = update(cases).where(
            cases.c.number == bindparam("b_number"), cases.c.last_seq <= bindparam("b_seq")
        )
        self._updates: dict[frozenset[str], Any] = {}

    def update_case(self, columns: Iterable[str]) -> Any:
        """The case-row update for this set of columns (two sets occur: with and without the archive)."""
        key = frozenset(columns)
        if key not in self._updates:
            self._updates[key] = self._update.values({name: bindparam(name) for name in sorted(key)})
        return self._updates[key]


class CaseStore(CaseReads):
    """Writes here; the reads the API makes are in CaseReads (store/case_reads.py)."""

    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], number_prefix: str = "AS", *, phone_key: bytes | None = None
    ) -> None:
        self._sessions = sessions
        self._prefix = number_prefix
        # The key of the phone look-up column (settings.phone_key()); API and worker share it.
        self._phone_key = phone_key or DEVELOPMENT_LOOKUP_KEY
        self._engine: AsyncEngine = sessions.kw["bind"]
        self._statements = _TransitionStatements(self._engine.dialect.name)

    @property
    def sessions(self) -> async_sessionmaker[AsyncSession]:
        return self._sessions

    def phone_lookup(self, phone: str) -> str:
        """What the phone look-up column holds for this number, however it is spelt."""
        found = phone_lookup_hash(phone, self._phone_key)
        if found is None:
            raise ValueError("no phone number given")
        return found

    # ---- writes (activities) ------------------------------------------------

    async def record_transitions(
        self, transitions: list[Transition], *, superseded: list[str] | None = None
    ) -> list[bool]:
        """Several transitions of one case (due items that woke together) in one transaction."""
        async with self._engine.begin() as connection:
            return [await self._record_one(t, connection, superseded) for t in transitions]

    async def record_transition(
        self, t: Transition, within: AsyncConnection | None = None, *, superseded: list[str] | None = None
    ) -> bool:
        """Write the event, the case row and the outbox in one transaction (or in `within`'s).

        Returns False when the same transition was already recorded: a retried activity
        changes nothing. A *different* transition at an existing (number, seq) replaces
        the earlier one (see `_supersede`); the kinds of the events it moved aside are
        appended to `superseded`, so the caller can count them once the write committed.
        Eight of these run per case, so they go through a Core connection with statements
        built once (bench/README.md).
        """
        async with self._engine.begin() if within is None else nullcontext(within) as connection:
            return await self._record_one(t, connection, superseded)

    async def _record_one(
        self, t: Transition, connection: AsyncConnection, superseded: list[str] | None = None
    ) -> bool:
        snap = t.snapshot
        escalated = summarize(snap.escalations)
        row_values: dict[str, Any] = {
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
            "escalations": [e.model_dump(mode="json") for e in snap.escalations] or None,
            "escalated_to": escalated.escalated_to,
            "escalated_at": escalated.escalated_at,
            "first_breached_at": escalated.first_breached_at,
            "missed_deadline": escalated.missed_deadline,
            "updated_at": t.at,
            "last_seq": t.seq,
        }
        if t.archive is not None:
            row_values |= {"archive_record": t.archive, "archived_at": t.at}
        statements = self._statements
        fingerprint = transition_fingerprint(t)
        if t.intake is not None:
            intake = t.intake
            await connection.execute(
                statements.insert_case,
                {
                    "number": t.number,
                    "channel": intake.channel.value,
                    "customer_tier": intake.customer.tier.value,
                    "customer_name": intake.customer.name,
                    "customer_phone": intake.customer.phone,
                    "customer_phone_hash": phone_lookup_hash(intake.customer.phone, self._phone_key),
                    "customer_email": intake.customer.email,
                    "order_number": intake.order.number,
                    "paid_amount": intake.order.paid_amount,
                    "currency": intake.order.currency,
                    "sku": intake.product.sku,
                    "description": intake.description,
                    "intake": intake.model_dump(mode="json"),
                    "received_at": t.received_at,
                    **row_values,
                },
            )
        event = {
            "case_number": t.number,
            "seq": t.seq,
            "kind": t.kind.value,
            "stage": snap.stage.value,
            "actor_id": t.actor.id,
            "actor_role": t.actor.role.value,
            "at": t.at,
            "data": t.data,
            "recorded_at": datetime.now(UTC),
            "fingerprint": fingerprint,
        }
        inserted = await connection.execute(statements.insert_event, event)
        replaced = False
        if inserted.rowcount == 0:
            found, found_at = (
                await connection.execute(statements.select_fingerprint, {"b_number": t.number, "b_seq": t.seq})
            ).one()
            if found is None or found == fingerprint:
                return False  # the same transition again (or one recorded before fingerprints)
            if t.at < found_at:
                # A write of a lost task arriving after the task that replaced it (a worker cut
                # off from Temporal but not from the database): what came later stands.
                return False
            # Not a repeat: the row came from a workflow task that never committed (a committed
            # local activity is never run again, and a regular activity retries its one input).
            # The task that re-ran started later, so its `at` is not earlier.
            moved = await self._supersede(connection, t.number, t.seq, replaced_by=fingerprint)
            if superseded is not None:
                superseded.extend(moved)
            await connection.execute(statements.insert_event, event)
            replaced = True
            if t.archive is None:
                row_values |= {"archive_record": None, "archived_at": None}
        await connection.execute(
            statements.update_case(row_values.keys()), {"b_number": t.number, "b_seq": t.seq, **row_values}
        )
        if t.categories_changed or replaced:
            await connection.execute(statements.delete_categories, {"b_number": t.number})
            if snap.categories:
                await connection.execute(
                    statements.insert_category,
                    # A triage may name a category twice; the row is there once.
                    [{"case_number": t.number, "category": c} for c in dict.fromkeys(c.value for c in snap.categories)],
                )
        if t.assisting:
            # Departments are only ever added: one that assisted keeps seeing the case it worked on.
            await connection.execute(
                statements.upsert_department,
                [
                    {"case_number": t.number, "department": d.value, "contribution_status": status.value}
                    for d, status in t.assisting.items()
                ],
            )
        if t.notifications:
            # A notification already delivered for a superseded event at this seq keeps its row
            # (the receiver deduplicates on case, seq, recipient and topic): no conflict here.
            await connection.execute(
                statements.insert_outbox,
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
                ],
            )
        return True

    async def _supersede(
        self, connection: AsyncConnection, number: str, from_seq: int, *, replaced_by: str | None
    ) -> list[str]:
        """Move the events at `from_seq` and after to `superseded_events` and drop their
        notifications not yet delivered: a workflow task wrote them and never committed,
        so the case never did them. The case row steps back so the next write applies.
        Returns the kinds of the events moved, in seq order."""
        timeline, outbox = table_of(TimelineEventRow).c, table_of(OutboxRow).c
        events = (
            (
                await connection.execute(
                    select(table_of(TimelineEventRow))
                    .where(timeline.case_number == number, timeline.seq >= from_seq)
                    .order_by(timeline.seq)
                )
            )
            .mappings()
            .all()
        )
        if not events:
            return []
        messages = (
            await connection.execute(
                select(outbox.seq, outbox.recipient, outbox.topic, outbox.status).where(
                    outbox.case_number == number, outbox.seq >= from_seq
                )
            )
        ).all()
        now = datetime.now(UTC)
        await connection.execute(
            table_of(SupersededEventRow).insert(),
            [
                {
                    "case_number": number, "seq": e["seq"], "kind": e["kind"], "stage": e["stage"],
                    "actor_id": e["actor_id"], "actor_role": e["actor_role"], "at": e["at"], "data": e["data"],
                    "recorded_at": e["recorded_at"], "fingerprint": e["fingerprint"],
                    "notifications": [
                        {"recipient": m.recipient, "topic": m.topic, "status": m.status} for m in messages if m.seq == e["seq"]
                    ],
                    "superseded_at": now,
                    "replaced_by": replaced_by if e["seq"] == from_seq else None,
                }
                for e in events
            ],
        )  # fmt: skip
        await connection.execute(
            delete(table_of(TimelineEventRow)).where(timeline.case_number == number, timeline.seq >= from_seq)
        )
        await connection.execute(
            delete(table_of(OutboxRow)).where(
                outbox.case_number == number, outbox.seq >= from_seq, outbox.status != "delivered"
            )
        )
        await connection.execute(
            update(table_of(CaseRow)).where(table_of(CaseRow).c.number == number).values(last_seq=from_seq - 1)
        )
        return [e["kind"] for e in events]

    async def record_failure(self, number: str, seq: int, kind: str, reason: str, at: datetime) -> None:
        """The database refused transition `seq` for good: kept for the stuck finder, once."""
        async with self._sessions.begin() as session:
            await session.execute(
                _insert(session, RecordFailureRow)
                .values(case_number=number, seq=seq, kind=kind, reason=reason[:200], failed_at=at)
                .on_conflict_do_nothing(index_elements=["case_number", "seq"])
            )

    async def record_resolution(self, order: ResolutionOrder) -> LedgerReceipt:
        """Write the ledger entry once per route key; a retry returns the first entry."""
        async with self._sessions.begin() as session:
            await session.execute(
                _insert(session, LedgerEntryRow)
                .values(
                    idempotency_key=order.route_key,
                    case_number=order.number,
                    resolution_type=order.type.value,
                    amount=order.amount,
                    currency=order.currency,
                    status="executed",
                    executed_at=order.at,
                    route=order.route,
                    refund_kind=order.refund_kind,
                    reference=order.external_reference,
                    item_sku=order.sku,
                )
                .on_conflict_do_nothing(index_elements=["idempotency_key"])
            )
            entry = (
                await session.execute(select(LedgerEntryRow).where(LedgerEntryRow.idempotency_key == order.route_key))
            ).scalar_one()
            return _receipt(entry)

    async def executed_resolution(self, key: str) -> LedgerReceipt | None:
        """The ledger entry of resolution `key` on any route, if one was carried out."""
        async with self._sessions() as session:
            entry = (
                await session.execute(
                    select(LedgerEntryRow)
                    .where(
                        (LedgerEntryRow.idempotency_key == key)
                        | LedgerEntryRow.idempotency_key.startswith(key + ":", autoescape=True),
                        LedgerEntryRow.status == "executed",
                    )
                    .order_by(LedgerEntryRow.id)
                    .limit(1)
                )
            ).scalar_one_or_none()
            return _receipt(entry) if entry is not None else None

    # ---- case numbers and idempotency (API) -----------------------------------

    async def next_case_number(self, day: str) -> str:
        async with self._sessions.begin() as session:
            return await self._allocate(session, day)

    async def _allocate(self, session: AsyncSession, day: str) -> str:
        counter = table_of(CaseNumberCounterRow).c
        sequence = (
            await session.execute(
                _insert(session, CaseNumberCounterRow)
                .values(day=day, last=1)
                .on_conflict_do_update(index_elements=["day"], set_={"last": counter.last + 1})
                .returning(counter.last)
            )
        ).scalar_one()
        return format_case_number(self._prefix, day, sequence)

    async def claim_key(
        self,
        scope: str,
        key: str,
        request_hash: str,
        *,
        lock_seconds: float,
        number: str | None = None,
        day: str | None = None,
    ) -> KeyClaim:
        """Claim a caller's Idempotency-Key before doing the work it stands for.

        The first claim records the key as in flight, bound to `number` (or to a new
        case number for `day`), in one transaction: of concurrent claims exactly one
        inserts the row. Later claims get the stored answer to replay, or
        IdempotencyKeyInFlight while the first still runs, or IdempotencyKeyReused for
        another request. A released key (its first request failed), or one in flight
        longer than `lock_seconds` (its request died), is taken over by one retry.
        """
        for _ in range(5):
            now = datetime.now(UTC)
            try:
                async with self._sessions.begin() as session:
                    row = await session.get(IdempotencyKeyRow, (scope, key))
                    if row is None:
                        bound = number or await self._allocate(session, day or "")
                        session.add(
                            IdempotencyKeyRow(
                                scope=scope, key=key, request_hash=request_hash, case_number=bound,
                                created_at=now, state="in_flight", claimed_at=now,
                            )
                        )  # fmt: skip
                        return KeyClaim(bound, first=True)
                    if row.request_hash != request_hash:
                        raise IdempotencyKeyReused(key)
                    if row.state == "done":
                        return KeyClaim(
                            row.case_number, first=False, status=row.response_status, body=row.response_body
                        )
                    cutoff = now - timedelta(seconds=lock_seconds)
                    taken = await rows_changed(
                        session,
                        update(IdempotencyKeyRow)
                        .where(
                            IdempotencyKeyRow.scope == scope,
                            IdempotencyKeyRow.key == key,
                            or_(
                                IdempotencyKeyRow.state == "released",
                                and_(IdempotencyKeyRow.state == "in_flight", IdempotencyKeyRow.claimed_at < cutoff),
                            ),
                        )
                        .values(state="in_flight", claimed_at=now),
                    )
                    if taken != 1:
                        raise IdempotencyKeyInFlight(key)
                    return KeyClaim(row.case_number, first=False)
            except IntegrityError:
                continue  # a concurrent claim inserted the row first: look again
        raise IdempotencyKeyInFlight(key)  # pragma: no cover - five lost races in a row

    async def complete_key(self, scope: str, key: str, status: int, body: dict[str, Any]) -> None:
        """Store the answer a repeat of the request replays."""
        async with self._sessions.begin() as session:
            await session.execute(
                update(IdempotencyKeyRow)
                .where(IdempotencyKeyRow.scope == scope, IdempotencyKeyRow.key == key)
                .values(state="done", response_status=status, response_body=body)
            )

    async def release_key(self, scope: str, key: str) -> None:
        """The request failed: a retry with the key may run it again (on the same case number)."""
        async with self._sessions.begin() as session:
            await session.execute(
                update(IdempotencyKeyRow)
                .where(
                    IdempotencyKeyRow.scope == scope,
                    IdempotencyKeyRow.key == key,
                    IdempotencyKeyRow.state == "in_flight",
                )
                .values(state="released")
            )
