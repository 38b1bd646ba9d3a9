"""`aftersales temporal setup`: register the search attributes on a real Temporal cluster,
and create (or update) the daily retention schedule and the marketplace reconciliation schedule.

`aftersales dev` passes them to the dev server on its command line; a real
cluster gets them once, through the operator service. Running it again does
nothing; a name already registered with another type is an error to resolve by
hand (Temporal cannot change a search attribute's type in place).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest, ListSearchAttributesRequest
from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleCalendarSpec,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleRange,
    ScheduleSpec,
    ScheduleUpdate,
)
from temporalio.common import SearchAttributeKey
from temporalio.service import RPCError, RPCStatusCode

from domain.marketplace import Platform
from domain.reconciliation import ReconcileRequest
from domain.retention import RetentionPolicy
from domain.search_attributes import ALL
from workflows.reconciliation import MarketplaceReconciliationWorkflow
from workflows.retention import RetentionWorkflow


class SearchAttributeConflict(RuntimeError):
    """A search attribute of ours is registered with another type."""


def _type_name(value: int) -> str:
    name = IndexedValueType.Name(value)  # type: ignore[arg-type]  # protobuf enum values are ints
    return name.removeprefix("INDEXED_VALUE_TYPE_").title().replace("_", "")  # KeywordList


@dataclass
class SetupResult:
    namespace: str
    added: list[str] = field(default_factory=list)
    existing: list[str] = field(default_factory=list)


async def register_search_attributes(
    client: Client, namespace: str | None = None, keys: tuple[SearchAttributeKey, ...] = ALL
) -> SetupResult:
    """Add the missing search attributes to `namespace` (the client's by default).

    Raises SearchAttributeConflict, adding nothing, when one of them exists with another type.
    """
    namespace = namespace or client.namespace
    # A read, so safe to send again: the SDK then rides out the server recycling its connection
    # (a GOAWAY fails the call in flight with "operation was canceled").
    request = ListSearchAttributesRequest(namespace=namespace)
    listed = await client.operator_service.list_search_attributes(request, retry=True)
    registered = {**dict(listed.system_attributes), **dict(listed.custom_attributes)}
    result = SetupResult(namespace=namespace)
    missing: dict[str, int] = {}
    conflicts = []
    for key in keys:
        wanted = int(key.indexed_value_type)
        found = registered.get(key.name)
        if found is None:
            missing[key.name] = wanted
        elif found != wanted:
            conflicts.append(f"{key.name} is {_type_name(found)}, expected {_type_name(wanted)}")
        else:
            result.existing.append(key.name)
    if conflicts:
        raise SearchAttributeConflict(
            f"namespace {namespace}: "
            + "; ".join(conflicts)
            + ". Remove or rename them (temporal operator search-attribute remove) and run setup again."
        )
    if missing:
        await client.operator_service.add_search_attributes(
            AddSearchAttributesRequest(namespace=namespace, search_attributes=missing)  # type: ignore[arg-type]  # enum ints
        )
        result.added = list(missing)
    return result


# ---- the retention schedule ----------------------------------------------------

RETENTION_HOUR = 3  # a quiet hour in the business timezone


def retention_schedule(task_queue: str, years: int, timezone: str, workflow_id: str) -> Schedule:
    """Daily at 03:00 business time: one RetentionWorkflow; a run still going skips the next."""
    return Schedule(
        action=ScheduleActionStartWorkflow(
            RetentionWorkflow.run,
            RetentionPolicy(years=years),
            id=workflow_id,  # Temporal appends the scheduled time
            task_queue=task_queue,
            static_summary=f"Anonymise personal data of cases archived more than {years} year(s) ago",
        ),
        spec=ScheduleSpec(
            calendars=[ScheduleCalendarSpec(hour=[ScheduleRange(RETENTION_HOUR)], comment="daily")],
            time_zone_name=timezone,
        ),
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP, catchup_window=timedelta(days=1)),
    )


async def ensure_retention_schedule(
    client: Client, *, schedule_id: str, task_queue: str, years: int, timezone: str
) -> str:
    """Create the retention schedule, or bring an existing one up to date. Returns "created" or "updated"."""
    schedule = retention_schedule(task_queue, years, timezone, workflow_id=schedule_id)
    try:
        await client.create_schedule(schedule_id, schedule)
        return "created"
    except ScheduleAlreadyRunningError:
        await client.get_schedule_handle(schedule_id).update(lambda _: ScheduleUpdate(schedule=schedule))
        return "updated"


# ---- the marketplace reconciliation schedule ------------------------------------------


def reconcile_schedule(
    task_queue: str, platforms: list[Platform], every_minutes: int, window_minutes: int, workflow_id: str
) -> Schedule:
    """Every `every_minutes`: one reconciliation reading the last `window_minutes` (longer than the
    interval, so windows overlap and a run that was skipped or failed loses nothing)."""
    return Schedule(
        action=ScheduleActionStartWorkflow(
            MarketplaceReconciliationWorkflow.run,
            ReconcileRequest(platforms=platforms, window_minutes=window_minutes),
            id=workflow_id,  # Temporal appends the scheduled time
            task_queue=task_queue,
            static_summary=f"Repair marketplace after-sales a lost message left behind ({', '.join(p.value for p in platforms)})",
        ),
        spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=timedelta(minutes=every_minutes))]),
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP, catchup_window=timedelta(minutes=window_minutes)),
    )


async def ensure_reconcile_schedule(
    client: Client,
    *,
    schedule_id: str,
    task_queue: str,
    platforms: list[Platform],
    every_minutes: int,
    window_minutes: int,
) -> str:
    """Create or update the schedule for the configured platforms: "created", "updated", or
    "none" (no platform configured: an existing schedule is deleted, nothing runs for nothing)."""
    handle = client.get_schedule_handle(schedule_id)
    if not platforms:
        try:
            await handle.delete()
        except RPCError as error:
            if error.status is not RPCStatusCode.NOT_FOUND:
                raise
        return "none"
    schedule = reconcile_schedule(task_queue, platforms, every_minutes, window_minutes, workflow_id=schedule_id)
    try:
        await client.create_schedule(schedule_id, schedule)
        return "created"
    except ScheduleAlreadyRunningError:
        await handle.update(lambda _: ScheduleUpdate(schedule=schedule))
        return "updated"
