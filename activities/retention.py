"""The retention job's side effect: anonymising expired cases in the record."""

from __future__ import annotations

from temporalio import activity

from domain.retention import AnonymiseRequest, AnonymiseResult
from store.retention import RetentionStore


class RetentionActivities:
    def __init__(self, store: RetentionStore) -> None:
        self._store = store

    @activity.defn(name="anonymise_expired_cases")
    async def anonymise_expired_cases(self, request: AnonymiseRequest) -> AnonymiseResult:
        numbers = await self._store.anonymise_archived_before(request.cutoff, request.retention_years, request.limit)
        # Case numbers only: they carry no personal data.
        activity.logger.info("anonymised %d case(s) archived before %s: %s", len(numbers), request.cutoff.date(), ", ".join(numbers))
        return AnonymiseResult(anonymised=len(numbers))

    @property
    def all(self) -> list:
        return [self.anonymise_expired_cases]
