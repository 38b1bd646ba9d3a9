"""The payment gateway and stock service doubles, and the `payments` fixture: a worker and API that
use them (registered for every test through `pytest_plugins` in tests/conftest.py)."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from temporalio.testing import WorkflowEnvironment

from api.app import create_app
from core.settings import Settings
from delivery.resolutions import ResolutionExecutor, RouteFailed, RouteUnavailable
from delivery.stock import StockService
from domain.case import StockCheck
from domain.records import ResolutionOrder
from store.db import session_factory
from tests.conftest import Database
from tests.support.api import post
from tests.support.people import AGENT, HANDLER, HEAD, PLAN, TRIAGE, intake
from tests.support.workers import in_process_worker


@dataclass
class ScriptedGateway:
    """The payment gateway double: told per case and route to refuse or to be unreachable."""

    refuse: set[tuple[str, str | None]] = field(default_factory=set)
    unreachable: set[tuple[str, str | None]] = field(default_factory=set)
    calls: list[tuple[str, str | None]] = field(default_factory=list)
    paid: list[ResolutionOrder] = field(default_factory=list)
    # Payments per idempotency key (the route key). This double pays every time it is asked,
    # as a gateway without deduplication would: more than one for a key is a double payment.
    charges: Counter[str] = field(default_factory=Counter)

    async def execute(self, order: ResolutionOrder) -> str | None:
        self.calls.append((order.number, order.route))
        if (order.number, order.route) in self.unreachable:
            raise RouteUnavailable(f"gateway timeout on the {order.route} route")
        if (order.number, order.route) in self.refuse:
            raise RouteFailed(f"{order.route} route declined: account closed")
        self.paid.append(order)
        self.charges[order.route_key] += 1
        return f"PAY-{order.route_key}"

    def paid_for(self, number: str) -> list[ResolutionOrder]:
        return [o for o in self.paid if o.number == number]


_GATEWAY_IS_AN_EXECUTOR: type[ResolutionExecutor] = ScriptedGateway  # same interface as WebhookExecutor


@dataclass
class ScriptedStock:
    """The stock service double: items listed in `out` are out of stock, with similar items."""

    out: dict[str, list[str]] = field(default_factory=dict)

    async def check(self, sku: str) -> StockCheck:
        if sku in self.out:
            return StockCheck(sku=sku, in_stock=False, similar=self.out[sku])
        return StockCheck(sku=sku, in_stock=True)


_STOCK_DOUBLE: type[StockService] = ScriptedStock


@dataclass
class Payments:
    api: httpx.AsyncClient
    gateway: ScriptedGateway
    stock: ScriptedStock


@pytest.fixture(scope="module")
async def payments(env: WorkflowEnvironment, database: Database, worker: str) -> AsyncIterator[Payments]:
    gateway = ScriptedGateway()
    stock = ScriptedStock()
    queue = f"execution-{database.backend}"
    settings = Settings(task_queue=queue, database_url=database.url, case_number_prefix=database.prefix)
    app = create_app(settings, temporal=env.client, sessions=session_factory(database.engine))
    async with (
        in_process_worker(
            env.client, database.store, queue, executor=gateway, route_attempts=2, stock=stock,
            workflow_failure_exception_types=[Exception],
        ),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://aftersales.test") as api,
    ):  # fmt: skip
        yield Payments(api, gateway, stock)


async def approved_with(
    payments: Payments,
    resolution: dict[str, Any],
    *,
    refuse=(),
    unreachable=(),
    sku: str = "KETTLE-1L",  # noqa: ANN001
) -> tuple[str, int]:
    """Opens and plans a case, scripts the gateway for its number, then approves it."""
    api = payments.api
    product = {"sku": sku, "model": "K1", "batch": "B2026-10", "serial_number": "SN-0042"}
    number = (await post(api, "/cases", intake(product=product), AGENT))["number"]
    await post(api, f"/cases/{number}/triage", TRIAGE, AGENT)
    await post(api, f"/cases/{number}/accept", None, HANDLER)
    await post(api, f"/cases/{number}/plan", PLAN | {"resolution": resolution}, HANDLER)
    payments.gateway.refuse |= {(number, route) for route in refuse}
    payments.gateway.unreachable |= {(number, route) for route in unreachable}
    approval = await post(api, f"/cases/{number}/approve", {"comment": "ok"}, HEAD)
    return number, approval["seq"]
