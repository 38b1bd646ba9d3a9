"""A time-skipping Temporal dev server that is this session's own, not a neighbour's.

The SDK picks the server's port by binding port 0 and letting it go, starts the server on it,
and takes the first process that answers there as the server. With several sessions starting
servers at once (pytest-xdist's workers, other test runs on the machine) another server can
take that port first: ours then exits, and the session quietly shares the other's server, its
task queues and case numbers (a case "already in plan_proposed" the moment it is opened). So
each server is started with a namespace of a unique name, and a session that cannot see its
namespace shuts down and starts again.
"""

from __future__ import annotations

import asyncio
import time
import uuid
import warnings
from typing import Any

from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import WorkflowEnvironment

ATTEMPTS = 5
NAMESPACE_SECONDS = 5.0


async def own_time_skipping_environment(*, dev_server_extra_args: list[str], **kwargs: Any) -> WorkflowEnvironment:
    """`WorkflowEnvironment.start_time_skipping_v2(...)`, checked to be connected to the server it started."""
    for _ in range(ATTEMPTS):
        marker = f"session-{uuid.uuid4().hex[:12]}"
        environment = await WorkflowEnvironment.start_time_skipping_v2(
            dev_server_extra_args=[*dev_server_extra_args, "--namespace", marker], **kwargs
        )
        target = environment.client.service_client.config.target_host
        if await _has_namespace(environment, marker):
            return environment
        # Said in the run's warnings summary: how often this happens is worth knowing.
        warnings.warn(f"a Temporal dev server not of this session answered at {target}; starting another", stacklevel=1)
        await environment.shutdown()
    raise AssertionError(f"no Temporal dev server of this session's own after {ATTEMPTS} tries")


async def _has_namespace(environment: WorkflowEnvironment, name: str) -> bool:
    """Whether the server knows `name`, allowing it a few seconds in case it registers it late."""
    deadline = time.monotonic() + NAMESPACE_SECONDS
    while True:
        try:
            await environment.client.workflow_service.describe_namespace(DescribeNamespaceRequest(namespace=name))
            return True
        except RPCError as error:
            if error.status != RPCStatusCode.NOT_FOUND:
                raise
        if time.monotonic() >= deadline:
            return False
        await asyncio.sleep(0.2)
