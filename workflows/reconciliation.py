"""MarketplaceReconciliationWorkflow: read each configured platform's after-sales changed in the
last window and repair what our record lacks (started by a Temporal Schedule,
core/temporal_setup.ensure_reconcile_schedule; runs overlap their windows on purpose).

First a sweep applies the messages recorded but never applied (the API answered the platform,
then stopped before acting), so a case is not left behind a message we hold; then one activity per platform, so one platform's outage neither blocks nor fails the others: its
error is reported and the next run reads the window again.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

_RETRY = RetryPolicy(initial_interval=timedelta(seconds=5), maximum_interval=timedelta(minutes=1), maximum_attempts=3)

with workflow.unsafe.imports_passed_through():
    from domain.reconciliation import PlatformRepair, PlatformWindow, ReconcileReport, ReconcileRequest


@workflow.defn
class MarketplaceReconciliationWorkflow:
    @workflow.run
    async def run(self, request: ReconcileRequest) -> ReconcileReport:
        until = workflow.now()
        since = until - timedelta(minutes=request.window_minutes)
        report = ReconcileReport(since=since, until=until)
        # First the messages recorded but never applied (the API died after answering the platform).
        if request.platforms:
            try:
                report.unapplied_applied = await workflow.execute_activity(
                    "apply_unapplied",
                    result_type=int,
                    start_to_close_timeout=timedelta(minutes=5),
                    retry_policy=_RETRY,
                    summary="apply the marketplace messages recorded but never applied",
                )
            except ActivityError as error:
                report.unapplied_error = str(error.cause or error)[:200]
        for platform in request.platforms:
            window = PlatformWindow(platform=platform, since=since, until=until)
            try:
                repair = await workflow.execute_activity(
                    "reconcile_platform",
                    window,
                    result_type=PlatformRepair,
                    start_to_close_timeout=timedelta(minutes=5),
                    retry_policy=_RETRY,
                    summary=f"reconcile {platform.value} after-sales changed since {since.isoformat(timespec='minutes')}",
                )
            except ActivityError as error:
                repair = PlatformRepair(platform=platform, error=str(error.cause or error)[:200])
            report.platforms.append(repair)
        workflow.set_current_details(report.summary())
        return report
