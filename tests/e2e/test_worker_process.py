"""`aftersales worker` as Kubernetes runs it: SIGTERM (a rolling update) stops it gracefully, and
half-given mTLS settings stop it at once with one line naming what is missing."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import uuid
from pathlib import Path

from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.testing import WorkflowEnvironment

from tests.conftest import Database
from tests.support.devrun import AFTERSALES
from tests.support.receiver import eventually


async def test_sigterm_stops_the_worker_gracefully(
    env: WorkflowEnvironment, database: Database, tmp_path: Path
) -> None:
    queue = f"sigterm-{uuid.uuid4().hex[:8]}"
    environment = os.environ | {
        "TEMPORAL_ADDRESS": env.client.service_client.config.target_host,
        "TEMPORAL_NAMESPACE": env.client.namespace,
        "TASK_QUEUE": queue,
        "DATABASE_URL": database.url,
        "WORKER_RUNS_DISPATCHER": "false",
        "LOG_LEVEL": "INFO",
    }
    log = tmp_path / "worker.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [AFTERSALES, "worker"], env=environment, cwd=tmp_path, stdout=out, stderr=subprocess.STDOUT
        )
    try:
        request = DescribeTaskQueueRequest(
            namespace=env.client.namespace,
            task_queue=TaskQueue(name=queue),
            task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
        )

        async def polling() -> bool:
            return bool((await env.client.workflow_service.describe_task_queue(request)).pollers)

        await eventually(polling, timeout=60, what="the worker polls")
        process.send_signal(signal.SIGTERM)
        code = await asyncio.to_thread(process.wait, 60)
    finally:
        if process.poll() is None:
            process.kill()
    text = log.read_text()
    assert code == 0, text  # killed by the signal it would be -15
    assert "stopping: finishing running activities" in text
    assert "(worker versioning off)" in text and "aftersales." in text  # the build it reported


def test_a_certificate_without_its_key_is_one_line(tmp_path: Path) -> None:
    environment = os.environ | {"TEMPORAL_TLS_CERT_FILE": str(tmp_path / "tls.crt")}
    done = subprocess.run(
        [AFTERSALES, "worker"], env=environment, cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        "error: invalid setting: Value error, TEMPORAL_TLS_CERT_FILE is set but TEMPORAL_TLS_KEY_FILE is not: "
        "mTLS needs both the certificate and its key"
    ]
