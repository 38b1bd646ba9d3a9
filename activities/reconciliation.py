"""The reconciliation activity: a platform's recent after-sales against our record.

An after-sale the platform shows that has no case (its push was lost) is taken through the
same intake as a pushed message, which opens its case; one whose case applied an older
platform status is brought up to date the same way. The listed state is recorded under a
message id of its own (the adapter derives it from status and change time), so overlapping
windows and repeated runs record it once.

Adapters and the intake are handed in by worker.py (activities do not import channels/ or
services/): each is seen here as the one call used.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Protocol

from temporalio import activity

from domain.marketplace import IntakeResult, Platform, PlatformEvent
from domain.reconciliation import PlatformRepair, PlatformWindow
from store.reconciliation import LinkStates


class AfterSaleLister(Protocol):
    async def changed_after_sales(self, since: datetime, until: datetime) -> list[PlatformEvent]: ...


class EventTaker(Protocol):
    async def take_event(self, event: PlatformEvent) -> IntakeResult: ...

    async def act_on_unapplied(self, limit: int = 100) -> int: ...


class ReconciliationActivities:
    def __init__(
        self, listers: Mapping[Platform, AfterSaleLister], intake: EventTaker | None, links: LinkStates
    ) -> None:
        self._listers = dict(listers)
        self._intake = intake
        self._links = links

    @activity.defn(name="apply_unapplied")
    async def apply_unapplied(self) -> int:
        """Apply the messages recorded but never applied (whatever the platform): how many were."""
        if self._intake is None:
            return 0
        applied = await self._intake.act_on_unapplied()
        if applied:
            activity.metric_meter().create_counter(
                "aftersales_marketplace_repairs_total",
                "After-sales reconciliation repaired, by platform and what it did",
            ).add(applied, {"platform": "any", "repair": "unapplied"})
        activity.logger.info("applied %d marketplace messages recorded but never applied", applied)
        return applied

    @activity.defn(name="reconcile_platform")
    async def reconcile_platform(self, window: PlatformWindow) -> PlatformRepair:
        repair = PlatformRepair(platform=window.platform)
        lister = self._listers.get(window.platform)
        if lister is None or self._intake is None:
            repair.error = f"{window.platform.value} is not configured on this worker"
            return repair
        listed = await lister.changed_after_sales(window.since, window.until)
        repair.listed = len(listed)
        # The newest state of each after-sale only: the list may show one twice across pages.
        newest: dict[str, PlatformEvent] = {}
        for event in listed:
            if event.after_sale_id not in newest or event.occurred_at >= newest[event.after_sale_id].occurred_at:
                newest[event.after_sale_id] = event
        known = await self._links.statuses(window.platform.value, list(newest))
        for after_sale_id, event in newest.items():
            if after_sale_id in known and known[after_sale_id] == event.status:
                continue
            try:
                await self._intake.take_event(event)
            except Exception as error:  # noqa: BLE001 - one after-sale's failure must not hide the others'; the next run retries it
                activity.logger.warning(
                    "reconcile %s %s: not taken (%s)", window.platform.value, after_sale_id, type(error).__name__
                )
                repair.failed.append(after_sale_id)
                continue
            (repair.updated if after_sale_id in known else repair.opened).append(after_sale_id)
        meter = activity.metric_meter()
        counter = meter.create_counter(
            "aftersales_marketplace_repairs_total", "After-sales reconciliation repaired, by platform and what it did"
        )
        for what, ids in (("opened", repair.opened), ("updated", repair.updated), ("failed", repair.failed)):
            if ids:
                counter.add(len(ids), {"platform": window.platform.value, "repair": what})
        # After-sale ids and counts only: they carry no personal data.
        activity.logger.info(
            "reconciled %s: %d listed, opened %s, updated %s, failed %s",
            window.platform.value,
            repair.listed,
            ",".join(repair.opened) or "none",
            ",".join(repair.updated) or "none",
            ",".join(repair.failed) or "none",
        )
        return repair

    @property
    def all(self) -> list:
        return [self.apply_unapplied, self.reconcile_platform]
