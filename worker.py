"""Starts the case worker: `python worker.py` or `aftersales worker`."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from temporalio.client import Client
from temporalio.worker import Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from activities.case import CaseActivities
from activities.retention import RetentionActivities
from settings import Settings, get_settings
from store.cases import CaseStore
from store.db import create_engine, session_factory
from store.retention import RetentionStore
from temporal_client import connect
from workflows.case import CaseWorkflow
from workflows.retention import RetentionWorkflow

# The domain is pure and pydantic is heavy to re-import: both may skip the sandbox.
SANDBOX = SandboxedWorkflowRunner(
    restrictions=SandboxRestrictions.default.with_passthrough_modules("domain", "pydantic", "pydantic_core")
)


def build_worker(client: Client, store: CaseStore, task_queue: str, **options: Any) -> Worker:
    return Worker(
        client,
        task_queue=task_queue,
        workflows=[CaseWorkflow, RetentionWorkflow],
        activities=CaseActivities(store).all + RetentionActivities(RetentionStore(store.sessions)).all,
        workflow_runner=SANDBOX,
        **options,
    )


async def run_worker(settings: Settings, client: Client | None = None) -> None:
    engine = create_engine(settings.effective_database_url)
    try:
        client = client or await connect(settings)
        worker = build_worker(client, CaseStore(session_factory(engine)), settings.task_queue)
        logging.getLogger(__name__).info("worker polling %s on %s", settings.task_queue, settings.temporal_address)
        await worker.run()
    finally:
        await engine.dispose()


if __name__ == "__main__":
    from logs import configure_logging

    configure_logging(get_settings().log_level)
    asyncio.run(run_worker(get_settings()))
