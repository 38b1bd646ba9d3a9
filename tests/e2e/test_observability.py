"""Metrics of the real processes (issue 16, part 1): `aftersales api` and `aftersales worker` run as a
deployment runs them; one case lives its whole life through the API, with a missed deadline on
the way; then both are scraped. Every counter moved by exactly what the case's timeline says
happened, the database gauges say where the case is, and no label holds personal data.
"""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from temporalio.testing import WorkflowEnvironment

from tests.conftest import migrated_database
from tests.support.api import post
from tests.support.observability import API, WORKER, samples, total
from tests.support.people import AGENT, HANDLER, HEAD, PLAN, TRIAGE, intake
from tests.support.processes import aftersales, api_command, free_port
from tests.support.waiting import wait_for_stage

CUSTOMER = {"name": "欧阳娜娜", "phone": "+86 139 7654 3210", "email": "nana.ouyang@example.org", "tier": "normal"}
PERSONAL = ("欧阳", "13976543210", "139 7654 3210", "7654", "nana.ouyang", "example.org")


def personal_labels(text: str, prefix: str) -> list[str]:
    """Every label value of a scrape that holds something personal (or a case number)."""
    found = []
    for name, rows in samples(text).items():
        for labels, _ in rows:
            for value in labels.values():
                if any(p in value for p in PERSONAL) or value.startswith(f"{prefix}-"):
                    found.append(f"{name}{labels}")
    return found


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
async def test_counters_and_gauges_after_a_lifecycle(env: WorkflowEnvironment, tmp_path: Path, backend: str) -> None:
    async with migrated_database(backend, tmp_path) as (database, _):
        # Both runs share the session's Temporal server: their case numbers (workflow ids) must differ.
        await _lifecycle(env, tmp_path, database, f"metrics-e2e-{backend}", "MX" if backend == "sqlite" else "MP")


async def _lifecycle(env: WorkflowEnvironment, tmp_path: Path, database: str, task_queue: str, prefix: str) -> None:
    temporal = env.client.service_client.config.target_host
    api_port, worker_port = free_port(), free_port()
    common = {
        "DATABASE_URL": database,
        "CASE_NUMBER_PREFIX": prefix,
        "TASK_QUEUE": task_queue,
        "TEMPORAL_ADDRESS": temporal,
        "RATE_LIMIT": "",
        "NOTIFY_POLL_SECONDS": "0.2",
    }
    worker_env = common | {"WORKER_METRICS_PORT": str(worker_port), "WORKER_METRICS_HOST": "127.0.0.1"}
    api_env = common | {"METRICS_CACHE_SECONDS": "0"}
    worker_metrics = f"http://127.0.0.1:{worker_port}/metrics"
    async with (
        aftersales(["worker"], worker_env, tmp_path / "worker.log", worker_metrics),
        aftersales(
            api_command(api_port, temporal), api_env, tmp_path / "api.log", f"http://127.0.0.1:{api_port}/healthz"
        ),
        httpx.AsyncClient(base_url=f"http://127.0.0.1:{api_port}", timeout=30) as api,
    ):
        # Opened once, asked twice with the same Idempotency-Key: one case, one replay.
        body = intake(customer=CUSTOMER)
        key = {"Idempotency-Key": "metrics-e2e-1"}
        first = await api.post("/cases", json=body, headers=AGENT | key)
        again = await api.post("/cases", json=body, headers=AGENT | key)
        assert first.status_code == 201 and again.headers.get("Idempotent-Replayed") == "true", again.text
        number = first.json()["number"]
        await post(api, f"/cases/{number}/triage", TRIAGE, AGENT)
        # Nobody accepts it for three days: the respond clock warns, breaches and climbs.
        await env.fast_forward(env.client.get_workflow_handle(number), timedelta(days=3))
        gauges = samples((await api.get("/metrics")).text)
        assert total(gauges, "aftersales_open_cases", stage="triaged", sla_state="breached") == 1, gauges
        seen = set(gauges)
        await post(api, f"/cases/{number}/accept", None, HANDLER)
        await post(api, f"/cases/{number}/plan", PLAN, HANDLER)
        gauges = samples((await api.get("/metrics")).text)
        assert total(gauges, "aftersales_approvals_waiting", grade="P2") == 1, gauges
        seen |= set(gauges)
        await post(api, f"/cases/{number}/approve", {}, HEAD)
        await wait_for_stage(api, number, "awaiting_feedback", AGENT)
        await post(api, f"/cases/{number}/result-told", {"channel": "phone", "summary": "refunded"}, AGENT)
        await post(api, f"/cases/{number}/feedback", {"score": 5}, AGENT)
        await wait_for_stage(api, number, "closed", AGENT)
        timeline = await _timeline(api, number)
        outbox = await _drained_outbox(api)

        worker_text = (await api.get(worker_metrics)).text
        api_text = (await api.get("/metrics")).text

    worker, served = samples(worker_text), samples(api_text)
    # The declared names (tests/support/observability.py, what deploy/ may query) are all there.
    assert sorted(WORKER - set(worker)) == [], sorted(worker)
    # (the case's gauges were seen while it was open: a closed case leaves them empty)
    assert sorted(API - seen - set(served)) == [], sorted(seen | set(served))

    kinds = Counter(event["kind"] for event in timeline)
    assert kinds["sla_breached"] >= 1, kinds  # the test is about something happening
    for kind, count in kinds.items():
        assert total(worker, "aftersales_transitions_total", kind=kind) == count, kind
    assert total(worker, "aftersales_transitions_total") == len(timeline)
    assert total(worker, "aftersales_cases_opened_total") == 1
    assert total(worker, "aftersales_cases_opened_total", channel="phone") == 1
    for kind, name in [
        ("sla_warning", "aftersales_sla_warnings_total"),
        ("sla_breached", "aftersales_sla_breaches_total"),
        ("sla_escalated", "aftersales_sla_escalations_total"),
    ]:
        events = [e for e in timeline if e["kind"] == kind]
        assert total(worker, name) == len(events), name
        for event in events:
            labels = {"clock": event["data"]["clock"], "priority": "P2", "department": "quality"}
            if kind == "sla_escalated":
                labels["rung"] = str(event["data"]["escalation_level"])
            assert total(worker, name, **labels) >= 1, (name, labels)
    assert total(worker, "aftersales_notifications_delivered_total") == outbox
    assert total(worker, "aftersales_notification_delivery_failures_total") == 0

    # The API: two POST /cases by their route template, one of them replayed; the case is closed.
    assert total(served, "http_requests_total", handler="/cases", method="POST", status="2xx") == 2
    assert total(served, "http_requests_total", handler="/cases/{number}/triage", method="POST") == 1
    assert total(served, "aftersales_idempotent_replays_total") == 1
    assert total(served, "aftersales_open_cases") == 0
    assert total(served, "aftersales_outbox_notifications", status="pending") == 0
    assert total(served, "aftersales_outbox_oldest_pending_age_seconds") == 0
    backlog = {labels["type"]: value for labels, value in served["aftersales_task_queue_backlog"]}
    assert backlog == {"workflow": 0, "activity": 0}, served["aftersales_task_queue_backlog"]
    assert {labels["task_queue"] for labels, _ in served["aftersales_task_queue_backlog"]} == {task_queue}
    assert not any(number in labels.get("handler", "") for labels, _ in served["http_requests_total"])

    assert personal_labels(worker_text, prefix) == [] and personal_labels(api_text, prefix) == []


async def _timeline(api: httpx.AsyncClient, number: str) -> list[dict[str, Any]]:
    response = await api.get(f"/cases/{number}/timeline", headers=AGENT)
    assert response.status_code == 200, response.text
    body = response.json()
    return body["events"] if isinstance(body, dict) else body


async def _drained_outbox(api: httpx.AsyncClient) -> int:
    """Wait until the dispatcher delivered every notification; how many it delivered."""
    import asyncio

    for _ in range(300):
        gauges = samples((await api.get("/metrics")).text)
        if total(gauges, "aftersales_outbox_notifications", status="pending") == 0 and not total(
            gauges, "aftersales_outbox_notifications", status="sending"
        ):
            break
        await asyncio.sleep(0.1)
    response = await api.get("/ops/notifications", params={"status": "delivered", "limit": 500}, headers=HEAD)
    assert response.status_code == 200, response.text
    body = response.json()
    items = body["items"] if isinstance(body, dict) else body
    return len(items)
