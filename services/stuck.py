"""The stuck-case finder behind `GET /ops/stuck` and `aftersales cases stuck`.

The database says which unfinished cases are breached, waiting for approval or
sitting too long in one stage (store/ops.py). Only Temporal knows that an
activity keeps failing: a pending activity with `attempt >= 3` in the
workflow's description. Describing every open workflow would not scale, and no
visibility query filters on pending activities, so the finder describes a
bounded set (at most `probe_limit` of each kind, DESCRIBE_CONCURRENCY at a time):

- the cases the database already lists as stuck (up to `limit`);
- the cases executing a resolution (the ledger activity);
- the open cases whose record changed least recently: an activity failing again
  and again stops a case from recording anything, so its row goes quiet;
- running case workflows that never reached the database at all (no `CaseStage`
  search attribute yet: the receipt's first activity keeps failing).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.service import RPCError

from core.settings import Settings
from core.temporal_client import TRANSIENT_RPC
from services.temporal_calls import rpc_timeout, temporal_deadline
from store.cases import CaseStore
from store.ops import OpsStore, StuckCase, StuckReason

__all__ = [
    "StuckCase",
    "StuckReason",
    "StuckReport",
    "find_stuck",
    "format_duration",
    "stuck_beside",
    "temporal_ui_link",
]

logger = logging.getLogger(__name__)

FAILING_ATTEMPTS = 3
PROBE_LIMIT = 100
DESCRIBE_CONCURRENCY = 20
DEFAULT_THRESHOLD = timedelta(hours=24)
# A case workflow that has not recorded its receipt yet carries no CaseStage.
UNRECORDED_QUERY = 'WorkflowType = "CaseWorkflow" AND ExecutionStatus = "Running" AND CaseStage IS NULL'


@dataclass
class StuckReport:
    as_of: datetime
    in_stage_longer_than: timedelta
    items: list[StuckCase]
    total: int  # stuck cases found, of which `items` holds the first `limit`
    probed: int  # workflows described for failing activities


@dataclass(frozen=True)
class _Failing:
    text: str
    started_at: datetime | None


async def stuck_beside(
    store: CaseStore,
    temporal: Client,
    settings: Settings,
    *,
    limit: int,
    in_stage_longer_than: timedelta = DEFAULT_THRESHOLD,
) -> StuckReport:
    """`find_stuck` on the case store's database, within the API's Temporal deadline (the console's page)."""
    async with temporal_deadline(settings):
        return await find_stuck(
            OpsStore.beside(store), temporal, in_stage_longer_than=in_stage_longer_than, limit=limit,
            rpc_timeout=rpc_timeout(settings),
        )  # fmt: skip


def temporal_ui_link(settings: Settings, number: str) -> str:
    return f"{settings.temporal_ui_url.rstrip('/')}/namespaces/{settings.temporal_namespace}/workflows/{number}"


async def find_stuck(
    ops: OpsStore,
    temporal: Client,
    *,
    now: datetime | None = None,
    in_stage_longer_than: timedelta = DEFAULT_THRESHOLD,
    limit: int = 50,
    probe_limit: int = PROBE_LIMIT,
    failing_attempts: int = FAILING_ATTEMPTS,
    rpc_timeout: timedelta | None = None,
) -> StuckReport:
    """With `rpc_timeout`, a Temporal that does not answer in time raises (the API answers 503)
    instead of leaving the report to wait for it, or quietly partial."""
    now = now or datetime.now(UTC)
    listed, total = await ops.stuck_cases(now=now, in_stage_longer_than=in_stage_longer_than, limit=limit)
    probe = dict.fromkeys([case.number for case in listed])
    probe.update(dict.fromkeys(case.number for case in await ops.probe_candidates(probe_limit)))
    try:
        async for execution in temporal.list_workflows(UNRECORDED_QUERY, limit=probe_limit, rpc_timeout=rpc_timeout):
            probe.setdefault(execution.id)
    except RPCError as error:  # a visibility store without IS NULL support: skip that part
        if error.status in TRANSIENT_RPC:
            raise
        logger.warning("stuck finder: visibility query for unrecorded cases failed: %s", error)
    failing = await _failing_activities(temporal, list(probe), failing_attempts, rpc_timeout)
    # A write the database refused for good retries no more: the record says so, not Temporal.
    refused = {
        row.case_number: _Failing(text=f"record_transition refused for good: {row.reason}", started_at=row.failed_at)
        for row in await ops.record_failures(probe_limit)
    }
    failing = refused | {number: failure for number, failure in failing.items() if number not in refused}

    by_number = {case.number: case for case in listed}
    others = [number for number in failing if number not in by_number]
    recorded = {
        case.number: case for case in await ops.open_cases(others, now=now, in_stage_longer_than=in_stage_longer_than)
    }
    extra: list[StuckCase] = []
    for number, failure in failing.items():
        case = by_number.get(number) or recorded.get(number)
        if case is None:  # running but never recorded: only Temporal knows it
            since = failure.started_at or now
            case = StuckCase(
                number=number, stage="received", priority=None, department=None, assignee=None,
                sla_state="unknown", escalation_level=0, next_deadline=None,
                in_stage_since=since, last_activity_at=since,
            )  # fmt: skip
        if number not in by_number:
            if not case.reasons:
                total += 1  # stuck only because of the failing activity: not counted by the database
            extra.append(case)
        case.reasons.append(StuckReason.RECORD_REFUSED if number in refused else StuckReason.ACTIVITY_FAILING)
        case.failing_activity = failure.text
    # A failing activity or a refused record needs an engineer: those come first.
    extra.sort(key=lambda case: case.in_stage_since)
    engineer = {StuckReason.ACTIVITY_FAILING, StuckReason.RECORD_REFUSED}
    items = (extra + [case for case in listed if engineer & set(case.reasons)]
             + [case for case in listed if not engineer & set(case.reasons)])  # fmt: skip
    return StuckReport(
        as_of=now, in_stage_longer_than=in_stage_longer_than, items=items[:limit], total=total, probed=len(probe)
    )


async def _failing_activities(
    temporal: Client, numbers: list[str], attempts: int, rpc_timeout: timedelta | None
) -> dict[str, _Failing]:
    gate = asyncio.Semaphore(DESCRIBE_CONCURRENCY)
    found: dict[str, _Failing] = {}

    async def one(number: str) -> None:
        async with gate:
            try:
                description = await temporal.get_workflow_handle(number).describe(rpc_timeout=rpc_timeout)
            except RPCError as error:
                if error.status in TRANSIENT_RPC:
                    raise  # Temporal is not answering: the report would be wrong, not just short
                logger.warning("stuck finder: cannot describe %s: %s", number, error)
                return
        if description.status is not WorkflowExecutionStatus.RUNNING:
            return
        worst = max(description.raw_description.pending_activities, key=lambda a: a.attempt, default=None)
        if worst is None or worst.attempt < attempts:
            return
        failure = worst.last_failure.message if worst.HasField("last_failure") else "no failure message"
        found[number] = _Failing(
            text=f"{worst.activity_type.name}, attempt {worst.attempt}: {failure}",
            started_at=description.start_time,
        )

    await asyncio.gather(*(one(number) for number in numbers))
    return found


def format_duration(duration: timedelta) -> str:
    """`2 d 3 h`, `5 h 12 min`, `42 min`, `30 s`: for people reading a table."""
    seconds = max(int(duration.total_seconds()), 0)
    days, rest = divmod(seconds, 86_400)
    hours, rest = divmod(rest, 3_600)
    minutes, seconds = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes} min"
    if minutes:
        return f"{minutes} min"
    return f"{seconds} s"
