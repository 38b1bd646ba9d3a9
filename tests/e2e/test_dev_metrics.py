"""`aftersales dev --worker-metrics-port` serves the worker's metrics beside the API's /metrics,
and prints where both are."""

from __future__ import annotations

import time
from pathlib import Path

import httpx

from tests.support.devrun import DevRun, free_port
from tests.support.observability import samples, total
from tests.support.people import intake


def test_dev_serves_the_worker_metrics_on_the_port_asked_for(tmp_path: Path) -> None:
    port = free_port()
    with DevRun(tmp_path, extra=["--worker-metrics-port", str(port)]) as run:
        assert f"worker: http://127.0.0.1:{port}/metrics" in run.output()
        keys = run.keys()
        with run.client() as api:
            opened = api.post("/cases", json=intake(), headers={"X-API-Key": keys["agent"]})
            assert opened.status_code == 201, opened.text
            served = samples(api.get("/metrics").text)
        for _ in range(100):  # the receipt is written by a local activity right after the start
            worker = samples(httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=30).text)
            if total(worker, "aftersales_cases_opened_total"):
                break
            time.sleep(0.1)
    assert total(served, "http_requests_total", handler="/cases", method="POST", status="2xx") == 1
    assert total(worker, "temporal_worker_task_slots_available", worker_type="WorkflowWorker") > 0
    # The case's receipt is written by the worker in the same process, counted on the worker's endpoint.
    assert total(worker, "aftersales_cases_opened_total", channel="phone") == 1
