"""The worker as `aftersales worker` builds it reports its Worker Deployment Version to the server."""

from __future__ import annotations

import asyncio
import uuid

from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.testing import WorkflowEnvironment

from core.settings import Settings
from tests.conftest import Database
from worker import worker_from_settings


async def test_the_pollers_carry_the_deployment_and_build_id(env: WorkflowEnvironment, database: Database) -> None:
    queue = f"build-{uuid.uuid4().hex[:8]}"
    settings = Settings(task_queue=queue, database_url=database.url, worker_build_id="test-build-7")
    async with worker_from_settings(env.client, database.store, settings):
        request = DescribeTaskQueueRequest(
            namespace=env.client.namespace,
            task_queue=TaskQueue(name=queue),
            task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
        )
        for _ in range(100):  # the first poll reaches the server a moment after the worker starts
            pollers = (await env.client.workflow_service.describe_task_queue(request)).pollers
            if pollers:
                break
            await asyncio.sleep(0.1)
    assert pollers, "no worker polled the queue"
    versions = {(p.deployment_options.deployment_name, p.deployment_options.build_id) for p in pollers}
    assert versions == {("aftersales", "test-build-7")}
    assert not any(p.deployment_options.worker_versioning_mode == 2 for p in pollers)  # 2: VERSIONED
