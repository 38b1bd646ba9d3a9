"""RetentionStore: anonymises the personal data of cases archived before a cutoff.

What the customer uploaded through the customer page (photos, videos: faces, addresses on
labels) goes too: the files from the store first, then their rows with the rest of the case's
personal data in one transaction. In that order, a run that stops between the two leaves the
case not yet marked anonymised, so the next run deletes again (a missing file is no error)
and finishes; the other order could leave files nobody would look for again."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import delete, exists, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from domain.retention import ANONYMISED, ANONYMISED_EVENT, scrub
from store.cases import _insert
from store.db import rows_changed
from store.files import FileStorage
from store.models import CaseAttachmentRow, CaseRow, IdempotencyKeyRow, OutboxRow, TimelineEventRow

RETENTION_ACTOR = "retention"

# What the audit event says was removed (names of fields, never their values).
REMOVED = [
    "customer.name", "customer.phone", "customer.email", "customer.address", "free text", "evidence references",
    "uploaded files",
]  # fmt: skip


class RetentionStore:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], files: FileStorage | None = None) -> None:
        self._sessions = sessions
        self._files = files  # where uploads are kept (services/file_store.storage_from); None: keeps none

    async def anonymise_archived_before(self, cutoff: datetime, retention_years: int, limit: int) -> list[str]:
        """Anonymise up to `limit` cases archived before `cutoff` and not yet anonymised.

        Each case in its own transaction, with a timeline event saying it happened:
        that event marks it done, so a second run (or a retried activity) changes nothing.
        Returns the case numbers anonymised now.
        """
        done = exists().where(
            TimelineEventRow.case_number == CaseRow.number,
            TimelineEventRow.kind == ANONYMISED_EVENT,
        )
        async with self._sessions() as session:
            numbers = list(
                (
                    await session.execute(
                        select(CaseRow.number)
                        .where(CaseRow.archived_at.is_not(None), CaseRow.archived_at < cutoff, ~done)
                        .order_by(CaseRow.archived_at, CaseRow.number)
                        .limit(limit)
                    )
                ).scalars()
            )
        anonymised = []
        for number in numbers:
            await self._remove_uploads(number)
            if await self._anonymise(number, retention_years):
                anonymised.append(number)
        return anonymised

    async def _remove_uploads(self, number: str) -> None:
        """Delete the case's uploaded files from the store (their rows go in `_anonymise`)."""
        async with self._sessions() as session:
            keys = list(
                (
                    await session.execute(
                        select(CaseAttachmentRow.storage_key).where(CaseAttachmentRow.case_number == number)
                    )
                ).scalars()
            )
        if not keys:
            return
        if self._files is None:
            raise RuntimeError(f"case {number} has uploads but the retention job was given no file store")
        for key in keys:
            await self._files.delete(key)

    async def _anonymise(self, number: str, retention_years: int) -> bool:
        now = datetime.now(UTC)
        async with self._sessions.begin() as session:
            row = await session.get(CaseRow, number, with_for_update=session.get_bind().dialect.name == "postgresql")
            if row is None or row.archived_at is None:
                return False
            seq = row.last_seq + 1
            marked = await rows_changed(
                session,
                _insert(session, TimelineEventRow)
                .values(
                    case_number=number,
                    seq=seq,
                    kind=ANONYMISED_EVENT,
                    stage=row.stage,
                    actor_id=RETENTION_ACTOR,
                    actor_role="system",
                    at=now,
                    data={
                        "archived_at": row.archived_at.isoformat(),
                        "retention_years": retention_years,
                        "removed": REMOVED,
                    },
                    recorded_at=now,
                )
                .on_conflict_do_nothing(index_elements=["case_number", "seq"]),
            )
            if marked == 0:
                return False  # a concurrent run got there first
            await session.execute(
                update(CaseRow)
                .where(CaseRow.number == number)
                .values(
                    customer_name=ANONYMISED,
                    customer_phone=None,
                    customer_phone_hash=None,
                    customer_email=None,
                    description=ANONYMISED,
                    intake=scrub(row.intake),
                    archive_record=scrub(row.archive_record) if row.archive_record is not None else None,
                    last_seq=seq,
                )
            )
            events = await session.execute(
                select(TimelineEventRow).where(TimelineEventRow.case_number == number, TimelineEventRow.seq < seq)
            )
            for event in events.scalars():
                cleaned = scrub(event.data)
                if cleaned != event.data:
                    event.data = cleaned
            for message in (await session.execute(select(OutboxRow).where(OutboxRow.case_number == number))).scalars():
                cleaned = scrub(message.body)
                if cleaned != message.body:
                    message.body = cleaned
            # The answers stored for repeats quote the case (its questions, plans, comments):
            # they go with it. Years after archiving, no client repeats those requests.
            await session.execute(delete(IdempotencyKeyRow).where(IdempotencyKeyRow.case_number == number))
            await session.execute(delete(CaseAttachmentRow).where(CaseAttachmentRow.case_number == number))
        return True

    async def expire_idempotency_keys(self, before: datetime) -> int:
        """Delete the idempotency records made before `before`: a repeat later than that acts anew."""
        async with self._sessions.begin() as session:
            return await rows_changed(session, delete(IdempotencyKeyRow).where(IdempotencyKeyRow.created_at < before))
