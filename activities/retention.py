"""The retention job's side effect: anonymising expired cases in the record."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from temporalio import activity

from domain.retention import IDEMPOTENCY_KEY_DAYS, AnonymiseRequest, AnonymiseResult
from store.retention import RetentionStore


class RetentionActivities:
    def __init__(self, store: RetentionStore, idempotency_key_days: int = IDEMPOTENCY_KEY_DAYS) -> None:
        self._store = store
        self._key_days = idempotency_key_days

    @activity.defn(name="anonymise_expired_cases")
    async def anonymise_expired_cases(self, request: AnonymiseRequest) -> AnonymiseResult:
        numbers = await self._store.anonymise_archived_before(request.cutoff, request.retention_years, request.limit)
        # Case numbers only: they carry no personal data.
        activity.logger.info(
            "anonymised %d case(s) archived before %s: %s", len(numbers), request.cutoff.date(), ", ".join(numbers)
        )
        # Here, not in a workflow step of its own, so the schedule's running workflows need no change.
        expired = await self._store.expire_idempotency_keys(datetime.now(UTC) - timedelta(days=self._key_days))
        if expired:
            activity.logger.info("deleted %d idempotency record(s) older than %d days", expired, self._key_days)
        return AnonymiseResult(anonymised=len(numbers), expired_keys=expired)

    @property
    def all(self) -> list:
        return [self.anonymise_expired_cases]
