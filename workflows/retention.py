"""RetentionWorkflow: anonymise the personal data of cases archived longer than the keeping period.

Started daily by a Temporal Schedule (temporal_setup.ensure_retention_schedule).
It works in batches so one activity never runs long, and stops after a bounded
number of them: whatever is left, the next day's run takes.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from domain.retention import AnonymiseRequest, AnonymiseResult, RetentionPolicy, RetentionReport, retention_cutoff

MAX_BATCHES = 50  # keeps one run's history small; the schedule comes back tomorrow


@workflow.defn
class RetentionWorkflow:
    @workflow.run
    async def run(self, policy: RetentionPolicy) -> RetentionReport:
        cutoff = retention_cutoff(workflow.now(), policy.years)
        total = 0
        for _ in range(MAX_BATCHES):
            result = await workflow.execute_activity(
                "anonymise_expired_cases",
                AnonymiseRequest(cutoff=cutoff, retention_years=policy.years, limit=policy.batch_size),
                result_type=AnonymiseResult,
                start_to_close_timeout=timedelta(minutes=10),
                retry_policy=RetryPolicy(initial_interval=timedelta(seconds=5), maximum_interval=timedelta(minutes=5)),
                summary=f"anonymise cases archived before {cutoff.date().isoformat()}",
            )
            total += result.anonymised
            if result.anonymised < policy.batch_size:
                break
        workflow.set_current_details(
            f"Anonymised {total} case(s) archived before {cutoff.isoformat(timespec='minutes')}."
        )
        return RetentionReport(cutoff=cutoff, anonymised=total)
