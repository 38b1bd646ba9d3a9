"""The metrics the product exports, by process, and helpers to read a Prometheus scrape.

`EXPORTED` is what the dashboard and the alert rules (deploy/) may query;
tests/e2e/test_observability.py checks every name in it appears in the real scrapes of
`aftersales api` and `aftersales worker` after a case's lifecycle, and tests/e2e/test_deploy_monitoring.py
checks every query of deploy/ names only these (or the Temporal server's, listed apart).
"""

from __future__ import annotations

import os
import re
import shutil
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig

import core.metrics
from core.metrics import CaseCounters
from tests.support.processes import free_port

# Sample names (a histogram's _bucket/_sum/_count, a counter's _total) as a scrape shows them.
API = frozenset(
    {
        "http_requests_total",
        "http_request_duration_seconds_bucket",
        "http_request_duration_seconds_count",
        "http_request_duration_seconds_sum",
        "aftersales_idempotent_replays_total",
        "aftersales_open_cases",
        "aftersales_approvals_waiting",
        "aftersales_outbox_notifications",
        "aftersales_outbox_oldest_pending_age_seconds",
        "aftersales_task_queue_backlog",
    }
)
WORKER = frozenset(
    {
        # The case counters (core/metrics.py).
        "aftersales_cases_opened_total",
        "aftersales_transitions_total",
        "aftersales_sla_warnings_total",
        "aftersales_sla_breaches_total",
        "aftersales_sla_escalations_total",
        "aftersales_notifications_delivered_total",
        # The process's garbage-collection pauses, by generation (core/metrics.py).
        "aftersales_worker_gc_pause_seconds_bucket",
        "aftersales_worker_gc_pause_seconds_count",
        "aftersales_worker_gc_pause_seconds_sum",
        # The Temporal SDK's (names as its docs list them; durations in seconds).
        "temporal_workflow_task_schedule_to_start_latency_bucket",
        "temporal_activity_schedule_to_start_latency_bucket",
        "temporal_workflow_task_execution_latency_bucket",
        "temporal_worker_task_slots_available",
        "temporal_worker_task_slots_used",
        "temporal_sticky_cache_size",
        "temporal_sticky_cache_hit",
        "temporal_workflow_task_queue_poll_succeed",
        "temporal_num_pollers",
        "temporal_request",
    }
)
# Shown only once it happened (a delivery that failed, a route that refused, a recorded event a
# re-run workflow task replaced, a case evicted from the cache, a workflow that ended): declared here, not required in a scrape of one lifecycle.
WORKER_WHEN_IT_HAPPENS = frozenset(
    {
        "aftersales_execution_route_failures_total",
        "aftersales_notification_delivery_failures_total",
        "aftersales_transitions_superseded_total",
        "temporal_workflow_task_execution_failed",
        "temporal_sticky_cache_miss",
        "temporal_sticky_cache_total_forced_eviction",
        "temporal_workflow_completed",
        "temporal_workflow_failed",
        "temporal_activity_execution_failed",
    }
)
EXPORTED = API | WORKER | WORKER_WHEN_IT_HAPPENS
# The Temporal server's own metrics (self-hosted cluster), for the alert on sync matches and the
# backlog panel: not ours to test here, named so the check knows them.
TEMPORAL_SERVER = frozenset({"poll_success", "poll_success_sync", "approximate_backlog_count"})
# Prometheus's own series about its targets.
PROMETHEUS = frozenset({"up"})


_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)")
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def samples(text: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    """Sample name -> [(labels, value)] of a scrape, names exactly as sent (prometheus_client's
    parser would add `_total` to the SDK's counters, which Prometheus stores without it)."""
    found: dict[str, list[tuple[dict[str, str], float]]] = defaultdict(list)
    for line in text.splitlines():
        match = _SAMPLE.match(line)
        if match is None or line.startswith("#"):
            continue
        name, labels, value = match.groups()
        found[name].append((dict(_LABEL.findall(labels or "")), float(value)))
    return found


def total(found: dict[str, list[tuple[dict[str, str], float]]], name: str, **labels: str) -> float:
    """The sum of `name`'s samples whose labels include `labels`."""
    return sum(value for have, value in found.get(name, []) if labels.items() <= have.items())


@contextmanager
def serving_counters(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """This test's case counters on a Prometheus endpoint of their own, as `WORKER_METRICS_PORT`
    makes the worker serve them; the URL to scrape. The endpoint lives as long as its runtime,
    kept here until the block ends."""
    port = free_port()
    runtime = Runtime(telemetry=TelemetryConfig(metrics=PrometheusConfig(bind_address=f"127.0.0.1:{port}")))
    monkeypatch.setattr(core.metrics, "_counters", CaseCounters(runtime.metric_meter))
    yield f"http://127.0.0.1:{port}/metrics"
    del runtime


def promtool_path() -> str:
    """Path of promtool; skipped where it is missing, except under CI, which installs it."""
    found = shutil.which("promtool")
    if found is None:
        if os.environ.get("CI") == "true":
            pytest.fail("promtool is missing: .ci/run installs Debian's prometheus package")
        pytest.skip("promtool is missing: apt-get install prometheus")
    return found
