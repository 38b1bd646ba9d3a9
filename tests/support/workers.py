"""The case worker as the tests run it inside their own process."""

from __future__ import annotations

from typing import Any

from temporalio.worker import Worker

from worker import build_worker


def in_process_worker(*args: Any, **options: Any) -> Worker:
    """`worker.build_worker` without Temporal's 2 s deadlock clock (`debug_mode`; the sandbox
    stays). A workflow task that does not yield within 2 s of wall time fails as a "potential
    deadlock" (TMPRL1101). A test process also runs the API, the clients and the session's
    fixtures, and its heap grows over a run (1.2 to 1.6 million objects by the end, measured):
    a full garbage collection of it stalled the process 2 to 6 s on CI's two shared cores and
    tripped the clock in tasks and queries that were not stuck (three failures in one CI run).
    The workers the e2e tests start as processes (`aftersales dev`, `aftersales worker`) keep
    the clock, as production does; a workflow that really hangs still fails its test by the
    test's timeout."""
    return build_worker(*args, debug_mode=True, **options)
