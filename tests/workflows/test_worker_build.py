"""The worker as `aftersales worker` builds it reports its Worker Deployment Version to the server."""

from __future__ import annotations

import asyncio
import uuid

from temporalio.api.enums.v1 import TaskQueueType, VersioningBehavior, WorkerVersioningMode
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest, SetWorkerDeploymentCurrentVersionRequest
from temporalio.testing import WorkflowEnvironment

from core.settings import Settings
from domain.retention import RetentionPolicy
from tests.conftest import Database
from worker import worker_from_settings
from workflows.retention import RetentionWorkflow


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
    assert WorkerVersioningMode.WORKER_VERSIONING_MODE_VERSIONED not in {
        p.deployment_options.worker_versioning_mode for p in pollers
    }


async def test_with_worker_versioning_workflows_run_on_the_current_build_and_auto_upgrade(
    env: WorkflowEnvironment, database: Database
) -> None:
    """WORKER_VERSIONING=true (components/worker-versioning): the worker polls as a versioned build, takes
    tasks once an operator makes that build current, and the workflows it runs are AUTO_UPGRADE."""
    queue = f"versioned-{uuid.uuid4().hex[:8]}"
    deployment = f"aftersales-{database.backend}"  # one deployment per backend: they share the server
    settings = Settings(
        task_queue=queue,
        database_url=database.url,
        worker_versioning=True,
        worker_deployment_name=deployment,
        worker_build_id="build-1",
    )
    async with worker_from_settings(env.client, database.store, settings):
        request = DescribeTaskQueueRequest(
            namespace=env.client.namespace,
            task_queue=TaskQueue(name=queue),
            task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
        )
        for _ in range(100):
            pollers = (await env.client.workflow_service.describe_task_queue(request)).pollers
            if pollers:
                break
            await asyncio.sleep(0.1)
        assert [p.deployment_options.worker_versioning_mode for p in pollers] == [
            WorkerVersioningMode.WORKER_VERSIONING_MODE_VERSIONED
        ] * len(pollers)
        # What `temporal worker deployment set-current-version` does after a rollout.
        await env.client.workflow_service.set_worker_deployment_current_version(
            SetWorkerDeploymentCurrentVersionRequest(
                namespace=env.client.namespace, deployment_name=deployment, build_id="build-1"
            )
        )
        handle = await env.client.start_workflow(
            RetentionWorkflow.run, RetentionPolicy(years=3), id=f"retention-{queue}", task_queue=queue
        )
        await asyncio.wait_for(handle.result(), 60)
    info = (await handle.describe()).raw_description.workflow_execution_info.versioning_info
    assert info.behavior == VersioningBehavior.VERSIONING_BEHAVIOR_AUTO_UPGRADE
    assert (info.deployment_version.deployment_name, info.deployment_version.build_id) == (deployment, "build-1")
