"""The counters of what went wrong (issue 16, part 1), moved by real failures on the worker's side:
a refused payment route (`aftersales_execution_route_failures_total`) and a webhook that is down
(`aftersales_notification_delivery_failures_total`, each attempt, the last one `final`). The
counters are served by a Temporal runtime's Prometheus endpoint, as `WORKER_METRICS_PORT` makes
the worker serve them, and read back from it. On SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from delivery.notify import WebhookNotifier
from tests.conftest import Database
from tests.support.api import post
from tests.support.observability import samples, serving_counters, total
from tests.support.outbox import FAST, dispatching, with_status
from tests.support.payments import Payments, approved_with
from tests.support.people import AGENT, intake
from tests.support.processes import free_port
from tests.support.receiver import eventually
from tests.support.waiting import wait_for_stage


@pytest.fixture
def scrape(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """This test's counters on an endpoint of their own; the URL to scrape."""
    with serving_counters(monkeypatch) as url:
        yield url


async def test_a_refused_route_is_counted_by_resolution_and_route(payments: Payments, scrape: str) -> None:
    resolution = {"type": "refund", "amount": "120.00", "currency": "CNY", "refund_kind": "price_difference"}
    number, _ = await approved_with(payments, resolution, refuse=["original"])
    await wait_for_stage(payments.api, number, "awaiting_feedback", AGENT)
    async with httpx.AsyncClient() as http:
        found = samples((await http.get(scrape)).text)
    assert total(found, "aftersales_execution_route_failures_total") == 1
    assert total(found, "aftersales_execution_route_failures_total", resolution="refund", route="original") == 1
    assert total(found, "aftersales_transitions_total", kind="execution_route_failed") == 1


async def test_each_failed_delivery_is_counted_and_the_last_as_final(
    api: httpx.AsyncClient, database: Database, scrape: str
) -> None:
    case = await post(api, "/cases", intake(), AGENT)
    down = f"http://127.0.0.1:{free_port()}/hook"  # nothing listens there
    async with dispatching(database, WebhookNotifier(down, "a-secret", timeout=2), case["number"]):
        await eventually(
            lambda: with_status(database, case["number"], "acknowledgement", "failed"), what="acknowledgement failed"
        )
    async with httpx.AsyncClient() as http:
        found = samples((await http.get(scrape)).text)
    name = "aftersales_notification_delivery_failures_total"
    assert total(found, name, topic="acknowledgement", final="false") == FAST.max_attempts - 1
    assert total(found, name, topic="acknowledgement", final="true") == 1
    assert total(found, "aftersales_notifications_delivered_total") == 0
