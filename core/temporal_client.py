"""One way to reach Temporal, shared by the API, the worker and the CLI."""

from __future__ import annotations

from temporalio.client import Client, Interceptor
from temporalio.runtime import Runtime
from temporalio.service import RPCStatusCode

from core.codec import data_converter
from core.settings import Settings

# Answers that say "not now" rather than "never": the server is down or busy, or nobody
# answered in time (CANCELLED is the client's own deadline, e.g. a query to a case no worker
# is running after a crash; FAILED_PRECONDITION "no poller seen ... worker may be down").
TRANSIENT_RPC = frozenset(
    {
        RPCStatusCode.UNAVAILABLE,
        RPCStatusCode.DEADLINE_EXCEEDED,
        RPCStatusCode.CANCELLED,
        RPCStatusCode.RESOURCE_EXHAUSTED,
        RPCStatusCode.FAILED_PRECONDITION,
    }
)


async def connect(settings: Settings, *, runtime: Runtime | None = None) -> Client:
    """`runtime`: the worker's, serving its metrics (core/metrics.py); the default one otherwise."""
    from core.tracing import client_interceptors

    interceptors: list[Interceptor] = client_interceptors()  # tracing, when OTEL_* turn it on
    # The API, the worker and the CLI encrypt payloads alike when codec keys are configured.
    return await Client.connect(
        settings.temporal_address,
        namespace=settings.temporal_namespace,
        data_converter=data_converter(settings.codec()),
        runtime=runtime,
        interceptors=interceptors,
    )
