"""The API's Prometheus endpoint, `GET /metrics`.

- Requests: `http_requests_total` and `http_request_duration_seconds` (prometheus-fastapi-instrumentator)
  by `handler` (the route template, `/cases/{number}`: never the raw path, so no case number or
  anything a caller typed; a path no route matches counts as `none`), `method` and `status` (2xx, 4xx...).
- `aftersales_idempotent_replays_total`: requests answered from a stored Idempotency-Key answer.
- Gauges read from the database (store/gauges.py) at most once per `METRICS_CACHE_SECONDS`,
  however many scrapers ask: open cases by stage and SLA state, approvals waiting by grade,
  the outbox backlog and the age of its oldest pending notification; and, from Temporal
  (DescribeTaskQueue, what KEDA's temporal scaler reads too), the task queue's backlog.

/metrics is not behind the callers' authentication nor their rate limit (Prometheus is no caller);
it says nothing personal. `METRICS_TOKEN` makes it ask for `Authorization: Bearer <token>`.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import time
from collections.abc import Iterator
from datetime import timedelta

from fastapi import FastAPI, Request
from fastapi.responses import Response
from prometheus_client import REGISTRY, CollectorRegistry, Counter, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from prometheus_fastapi_instrumentator import Instrumentator
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client

from api.problems import Problem
from core.settings import Settings
from store.gauges import BACKLOG_STATUSES, Gauges, read_gauges

log = logging.getLogger(__name__)

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
QUEUE_TYPES = {"workflow": TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW, "activity": TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY}

# Process-wide (the default registry): counted where the API answers from the record.
IDEMPOTENT_REPLAYS = Counter(
    "aftersales_idempotent_replays_total", "Requests answered with the stored answer of their Idempotency-Key"
)


class DatabaseGauges(Collector):
    """The record's gauges, refreshed by `refresh()` when older than `ttl` seconds; `collect()`
    (run by the registry, synchronously) only reports the last reading."""

    def __init__(self, settings: Settings) -> None:
        self._ttl = settings.metrics_cache_seconds
        self._namespace = settings.temporal_namespace
        self._task_queue = settings.task_queue
        self._read_at: float | None = None
        self._gauges: Gauges | None = None
        self._backlog: dict[str, int] = {}
        self._lock = asyncio.Lock()

    async def refresh(self, sessions: async_sessionmaker[AsyncSession], temporal: Client | None) -> None:
        async with self._lock:  # scrapes arriving together share one reading
            if self._read_at is not None and time.monotonic() - self._read_at < self._ttl:
                return
            self._gauges = await read_gauges(sessions)
            self._backlog = await self._task_queue_backlog(temporal) if temporal else {}
            self._read_at = time.monotonic()

    async def _task_queue_backlog(self, temporal: Client) -> dict[str, int]:
        """Tasks waiting in the case task queue, by type; empty when Temporal does not say (a scrape
        never fails for it: the database gauges are still worth having)."""
        backlog = {}
        for kind, queue_type in QUEUE_TYPES.items():
            request = DescribeTaskQueueRequest(
                namespace=self._namespace,
                task_queue=TaskQueue(name=self._task_queue),
                task_queue_type=queue_type,
                report_stats=True,
            )
            try:
                described = await temporal.workflow_service.describe_task_queue(request, timeout=timedelta(seconds=5))
            except Exception as error:  # noqa: BLE001 - any failure leaves the gauge out of this scrape
                log.warning("task queue backlog unavailable: %s", error)
                return {}
            backlog[kind] = described.stats.approximate_backlog_count
        return backlog

    def collect(self) -> Iterator[GaugeMetricFamily]:
        gauges = self._gauges
        if gauges is None:
            return
        cases = GaugeMetricFamily(
            "aftersales_open_cases", "Open cases (not closed, withdrawn or archived)", labels=["stage", "sla_state"]
        )
        for (stage, sla_state), count in sorted(gauges.open_cases.items()):
            cases.add_metric([stage, sla_state], count)
        yield cases
        approvals = GaugeMetricFamily(
            "aftersales_approvals_waiting",
            "Plans waiting for approval, by grade (the case's priority)",
            labels=["grade"],
        )
        for grade, count in sorted(gauges.approvals_waiting.items()):
            approvals.add_metric([grade], count)
        yield approvals
        outbox = GaugeMetricFamily(
            "aftersales_outbox_notifications",
            "Outbox rows: pending (waiting for an attempt), sending (claimed), failed (gave up)",
            labels=["status"],
        )
        for status in (*BACKLOG_STATUSES, "failed"):
            outbox.add_metric([status], gauges.outbox.get(status, 0))
        yield outbox
        yield GaugeMetricFamily(
            "aftersales_outbox_oldest_pending_age_seconds",
            "Age of the oldest notification not yet delivered (0 when none waits)",
            value=gauges.oldest_pending_age_seconds,
        )
        backlog = GaugeMetricFamily(
            "aftersales_task_queue_backlog",
            "Tasks waiting in the case task queue for a worker (Temporal's approximate count), by type",
            labels=["task_queue", "type"],
        )
        for kind, count in self._backlog.items():
            backlog.add_metric([self._task_queue, kind], count)
        yield backlog


def install(app: FastAPI, settings: Settings) -> None:
    """Count the app's requests and serve GET /metrics (outside the OpenAPI schema)."""
    # The app's own registry (a test process builds many apps), which reports the process-wide one too.
    registry = CollectorRegistry()
    registry.register(REGISTRY)  # a registry is a collector: collect() is all it needs
    gauges = DatabaseGauges(settings)
    registry.register(gauges)
    Instrumentator(
        registry=registry,
        excluded_handlers=["^/metrics$"],
        should_group_untemplated=True,
        should_group_status_codes=True,
    ).instrument(app)
    token = settings.metrics_token.get_secret_value() if settings.metrics_token else None

    @app.get("/metrics", include_in_schema=False)
    async def metrics(request: Request) -> Response:
        if token is not None:
            sent = request.headers.get("authorization", "")
            if not hmac.compare_digest(sent.encode(), f"Bearer {token}".encode()):
                raise Problem(401, "Unauthorized", "/metrics needs the METRICS_TOKEN as a bearer token")
        await gauges.refresh(request.app.state.store.sessions, getattr(request.app.state, "temporal", None))
        return Response(generate_latest(registry), media_type=CONTENT_TYPE)
