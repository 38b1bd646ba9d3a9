"""Carrying out approved resolutions through the payment gateway adapter: the original
route first, the alternative when it fails, a follow-up task for a person when both
fail, never a second refund. The workflow runs on the real dev server and worker; the
payment gateway is a double behind the interface the webhook integration implements."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, ClassVar

import httpx
import pytest
from temporalio.testing import WorkflowEnvironment

from api.app import create_app
from core.settings import Settings
from delivery import signing
from delivery.resolutions import RouteFailed, RouteUnavailable, WebhookExecutor
from domain.case import LedgerReceipt, ResolutionType
from domain.records import ResolutionOrder
from store.cases import CaseStore
from store.db import session_factory
from tests.conftest import Database
from tests.support.api import post
from tests.support.payments import Payments, ScriptedGateway, approved_with
from tests.support.people import AGENT, HANDLER, HEAD, PLAN, SUPERVISOR, TRIAGE, intake
from tests.support.receiver import receiver
from tests.support.waiting import wait_for_event, wait_for_stage
from tests.support.workers import in_process_worker


async def approved(api: httpx.AsyncClient, resolution: dict[str, Any] | None = None, **order: Any) -> tuple[str, int]:
    """A case driven to approval; returns its number and the approval's sequence number."""
    body = intake(order={"number": "ORD-778812", "paid_amount": "899.00", "currency": "CNY", **order})
    number = (await post(api, "/cases", body, AGENT))["number"]
    await post(api, f"/cases/{number}/triage", TRIAGE, AGENT)
    await post(api, f"/cases/{number}/accept", None, HANDLER)
    await post(api, f"/cases/{number}/plan", PLAN | ({"resolution": resolution} if resolution else {}), HANDLER)
    approval = await post(api, f"/cases/{number}/approve", {"comment": "ok"}, HEAD)
    return number, approval["seq"]


async def test_a_refund_is_paid_on_the_original_route(payments: Payments, database: Database) -> None:
    number, seq = await approved(payments.api, payment_route="alipay")
    await wait_for_stage(payments.api, number, "awaiting_feedback", AGENT)
    assert payments.gateway.calls.count((number, "original")) == 1
    assert (number, "alternative") not in payments.gateway.calls
    (paid,) = payments.gateway.paid_for(number)
    assert (paid.payment_route, paid.refund_kind, paid.amount) == ("alipay", "full", Decimal("899.00"))
    (entry,) = await database.store.ledger(number)
    assert (entry.route, entry.idempotency_key, entry.refund_kind) == ("original", f"{number}:{seq}:original", "full")
    assert (entry.amount, entry.reference, entry.status) == (
        Decimal("899.00"),
        f"PAY-{number}:{seq}:original",
        "executed",
    )
    executed = await wait_for_event(database, number, "resolution_executed")
    assert executed.data["route"] == "original"
    kinds = [e.kind for e in await database.store.timeline(number)]
    assert "execution_route_failed" not in kinds and "follow_up_task_created" not in kinds


class _DiesAfterTheLedgerWrite(CaseStore):
    """The ledger entry is committed, then the activity dies before Temporal hears of it
    (a worker killed inside `execute_resolution`): once per case."""

    died: ClassVar[set[str]] = set()

    async def record_resolution(self, order: ResolutionOrder) -> LedgerReceipt:
        receipt = await super().record_resolution(order)
        if order.number not in self.died:
            self.died.add(order.number)
            raise ConnectionResetError("worker lost after the ledger write")
        return receipt


async def test_an_activity_that_dies_after_paying_does_not_pay_again(
    env: WorkflowEnvironment, database: Database
) -> None:
    """Issue 12 §3: the retry finds the resolution in the ledger and asks the gateway nothing."""
    gateway = ScriptedGateway()
    queue = f"pays-once-{database.backend}"
    store = _DiesAfterTheLedgerWrite(database.store.sessions, database.prefix)
    settings = Settings(task_queue=queue, database_url=database.url, case_number_prefix=database.prefix)
    app = create_app(settings, temporal=env.client, sessions=session_factory(database.engine))
    async with (
        in_process_worker(env.client, store, queue, executor=gateway, workflow_failure_exception_types=[Exception]),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://aftersales.test") as api,
    ):
        number, seq = await approved(api, payment_route="alipay")
        await wait_for_stage(api, number, "awaiting_feedback", AGENT)
    assert number in store.died  # the first attempt did die after paying
    assert gateway.charges == Counter({f"{number}:{seq}:original": 1})
    (entry,) = await database.store.ledger(number)
    assert entry.reference == f"PAY-{number}:{seq}:original"


async def test_a_refused_original_route_falls_back_to_the_alternative(payments: Payments, database: Database) -> None:
    resolution = {"type": "refund", "amount": "120.00", "currency": "CNY", "refund_kind": "price_difference"}
    number, seq = await approved_with(payments, resolution, refuse=["original"])
    await wait_for_stage(payments.api, number, "awaiting_feedback", AGENT)
    assert [c for c in payments.gateway.calls if c[0] == number] == [(number, "original"), (number, "alternative")]
    (entry,) = await database.store.ledger(number)
    assert (entry.route, entry.idempotency_key) == ("alternative", f"{number}:{seq}:alternative")
    assert (entry.amount, entry.refund_kind) == (Decimal("120.00"), "price_difference")
    timeline = await database.store.timeline(number)
    (failed,) = [e for e in timeline if e.kind == "execution_route_failed"]
    assert (failed.data["route"], failed.data["next_route"]) == ("original", "alternative")
    assert "declined" in failed.data["reason"]
    executed = [e for e in timeline if e.kind == "resolution_executed"]
    assert [e.data["route"] for e in executed] == ["alternative"]
    assert failed.seq < executed[0].seq


async def test_an_unreachable_original_route_is_retried_then_the_alternative_pays(
    payments: Payments, database: Database
) -> None:
    resolution = {"type": "refund", "amount": "15.00", "currency": "CNY", "refund_kind": "shipping_fee"}
    number, _ = await approved_with(payments, resolution, unreachable=["original"])
    await wait_for_stage(payments.api, number, "awaiting_feedback", AGENT, timeout=30)
    # route_attempts=2: the original route was tried twice, then given up.
    assert [c for c in payments.gateway.calls if c[0] == number] == [(number, "original")] * 2 + [
        (number, "alternative")
    ]
    (entry,) = await database.store.ledger(number)
    assert (entry.route, entry.refund_kind, entry.amount) == ("alternative", "shipping_fee", Decimal("15.00"))
    (failed,) = [e for e in await database.store.timeline(number) if e.kind == "execution_route_failed"]
    assert "unreachable after 2 attempts" in failed.data["reason"]


async def test_both_routes_failing_open_a_follow_up_task_and_pay_nothing(
    payments: Payments, database: Database
) -> None:
    api = payments.api
    number, seq = await approved_with(payments, PLAN["resolution"], refuse=["original", "alternative"])
    task = await wait_for_event(database, number, "follow_up_task_created")
    assert "could not be carried out on any route" in task.data["reason"]
    assert [r["route"] for r in task.data["failed_routes"]] == ["original", "alternative"]
    assert task.data["assigned_to"] == "supervisor"
    # Exactly zero executed refunds: nothing paid, nothing in the ledger.
    assert payments.gateway.paid_for(number) == []
    assert await database.store.ledger(number) == []
    # The case waits, visibly, for a person: live state, record and outbox say so.
    detail = (await api.get(f"/cases/{number}", headers=AGENT)).json()
    assert detail["live"]["stage"] == "executing"
    assert "follow-up task" in detail["live"]["waiting_for"]
    assert detail["live"]["follow_up"]["reason"] == task.data["reason"]
    assert (await database.store.get_case(number)).stage == "executing"
    outbox = [(o.recipient, o.topic) for o in await database.store.outbox(number)]
    assert ("supervisor", "follow_up_task") in outbox
    # Operators find it among the stuck cases, for that reason.
    stuck = (await api.get("/ops/stuck", params={"limit": 500}, headers=SUPERVISOR)).json()
    (row,) = [item for item in stuck["items"] if item["number"] == number]
    assert "follow_up_task" in row["reasons"] and row["stage"] == "executing"
    kinds = [e.kind for e in await database.store.timeline(number)]
    assert "resolution_executed" not in kinds
    assert kinds.count("execution_route_failed") == 2
    calls = [c for c in payments.gateway.calls if c[0] == number]
    assert calls == [(number, "original"), (number, "alternative")]

    # A handler may not close the task; a supervisor records the refund made by hand.
    refused = await api.post(f"/cases/{number}/follow-up/complete", json={"reference": "BANK-1"}, headers=HANDLER)
    assert refused.status_code == 403
    done = await post(
        api,
        f"/cases/{number}/follow-up/complete",
        {"reference": "BANK-TRANSFER-77", "note": "paid by bank transfer"},
        SUPERVISOR,
    )
    assert (done["stage"], done["follow_up"]) == ("awaiting_feedback", None)
    (entry,) = await database.store.ledger(number)
    assert (entry.route, entry.reference, entry.idempotency_key) == (
        "manual",
        "BANK-TRANSFER-77",
        f"{number}:{seq}:manual",
    )
    again = await api.post(f"/cases/{number}/follow-up/complete", json={"reference": "BANK-2"}, headers=SUPERVISOR)
    assert again.status_code == 409
    assert len(await database.store.ledger(number)) == 1
    stuck = (await api.get("/ops/stuck", params={"limit": 500}, headers=SUPERVISOR)).json()
    assert all("follow_up_task" not in item["reasons"] for item in stuck["items"] if item["number"] == number)
    assert payments.gateway.paid_for(number) == []


async def test_a_case_without_an_open_follow_up_refuses_completion(payments: Payments) -> None:
    number, _ = await approved(payments.api)
    await wait_for_stage(payments.api, number, "awaiting_feedback", AGENT)
    refused = await payments.api.post(f"/cases/{number}/follow-up/complete", json={"reference": "X"}, headers=HEAD)
    assert refused.status_code == 409, refused.text
    assert refused.json()["title"] == "Action not allowed now" and refused.json()["case"] == number


async def test_a_refund_kind_on_another_resolution_or_above_the_price_is_refused(payments: Payments) -> None:
    api = payments.api
    number = (await post(api, "/cases", intake(), AGENT))["number"]
    await post(api, f"/cases/{number}/triage", TRIAGE, AGENT)
    await post(api, f"/cases/{number}/accept", None, HANDLER)
    repair = PLAN | {"resolution": {"type": "repair", "refund_kind": "full"}}
    refused = await api.post(f"/cases/{number}/plan", json=repair, headers=HANDLER)
    assert refused.status_code == 422, refused.text
    assert refused.json()["errors"] == [
        {"field": "resolution.refund_kind", "message": "Value error, refund_kind applies to a refund only"}
    ]
    too_much = PLAN | {"resolution": {"type": "refund", "amount": "900.00", "refund_kind": "coupon_share"}}
    refused = await api.post(f"/cases/{number}/plan", json=too_much, headers=HANDLER)
    assert refused.status_code == 422, refused.text
    assert refused.json()["title"] == "Invalid plan" and refused.json()["field"] == "resolution.amount"
    assert refused.json()["detail"] == "refund of 900.00 exceeds the 899.00 paid for the order"


# ---- exchanges: stock first, then the customer's choice when it is out -----------------

EXCHANGE = {"type": "exchange", "detail": "same kettle, new batch"}


async def test_an_exchange_in_stock_sends_the_same_item(payments: Payments, database: Database) -> None:
    number, seq = await approved_with(payments, EXCHANGE)
    await wait_for_stage(payments.api, number, "awaiting_feedback", AGENT)
    (entry,) = await database.store.ledger(number)
    assert (entry.resolution_type, entry.item_sku, entry.route, entry.amount) == ("exchange", "KETTLE-1L", None, None)
    assert entry.idempotency_key == f"{number}:{seq}"
    kinds = [e.kind for e in await database.store.timeline(number)]
    assert "exchange_out_of_stock" not in kinds


async def out_of_stock_case(payments: Payments, database: Database) -> str:
    # Only this SKU is out of stock, whatever order the tests run in.
    payments.stock.out["KETTLE-2L"] = ["KETTLE-2L-V2", "KETTLE-1.2L"]
    number, _ = await approved_with(payments, EXCHANGE, sku="KETTLE-2L")
    offer = await wait_for_event(database, number, "exchange_out_of_stock")
    assert (offer.data["sku"], offer.data["similar"], offer.data["refund_amount"]) == (
        "KETTLE-2L", ["KETTLE-2L-V2", "KETTLE-1.2L"], "899.00"
    )  # fmt: skip
    paused = await wait_for_event(database, number, "sla_paused")
    assert "resolution" in paused.data["clocks"]
    detail = (await payments.api.get(f"/cases/{number}", headers=AGENT)).json()
    assert detail["live"]["stage"] == "executing"
    assert detail["live"]["waiting_for"] == "the customer's choice: a similar item or a refund"
    assert detail["live"]["clocks"]["resolution"]["state"] == "paused"
    assert await database.store.ledger(number) == []
    outbox = [(o.recipient, o.topic) for o in await database.store.outbox(number)]
    assert ("customer", "exchange_out_of_stock") in outbox
    return number


async def test_an_exchange_out_of_stock_sends_the_similar_item_the_customer_chose(
    payments: Payments, database: Database
) -> None:
    number = await out_of_stock_case(payments, database)
    api = payments.api
    not_offered = await api.post(
        f"/cases/{number}/exchange-choice", json={"option": "similar_item", "sku": "TOASTER"}, headers=AGENT
    )
    assert not_offered.status_code == 422, not_offered.text
    chosen = await post(
        api, f"/cases/{number}/exchange-choice", {"option": "similar_item", "sku": "KETTLE-1.2L"}, AGENT
    )
    assert chosen["exchange_choice"] == {"option": "similar_item", "sku": "KETTLE-1.2L"}
    await wait_for_stage(api, number, "awaiting_feedback", AGENT)
    (entry,) = await database.store.ledger(number)
    assert (entry.resolution_type, entry.item_sku) == ("exchange", "KETTLE-1.2L")
    kinds = [e.kind for e in await database.store.timeline(number)]
    assert kinds[kinds.index("exchange_out_of_stock"):] == [
        "exchange_out_of_stock", "sla_paused", "exchange_chosen", "sla_resumed", "resolution_executed"
    ]  # fmt: skip
    again = await api.post(f"/cases/{number}/exchange-choice", json={"option": "refund"}, headers=AGENT)
    assert again.status_code == 409


async def test_an_exchange_out_of_stock_becomes_a_refund_when_the_customer_prefers(
    payments: Payments, database: Database
) -> None:
    number = await out_of_stock_case(payments, database)
    await post(payments.api, f"/cases/{number}/exchange-choice", {"option": "refund"}, AGENT)
    await wait_for_stage(payments.api, number, "awaiting_feedback", AGENT)
    (entry,) = await database.store.ledger(number)
    assert (entry.resolution_type, entry.amount, entry.route, entry.refund_kind) == (
        "refund", Decimal("899.00"), "original", "full"
    )  # fmt: skip
    assert [o.type.value for o in payments.gateway.paid_for(number)] == ["refund"]


async def test_a_choice_without_an_offer_is_refused(payments: Payments) -> None:
    number, _ = await approved(payments.api)
    await wait_for_stage(payments.api, number, "awaiting_feedback", AGENT)
    refused = await payments.api.post(f"/cases/{number}/exchange-choice", json={"option": "refund"}, headers=AGENT)
    assert refused.status_code == 409, refused.text
    assert refused.json()["title"] == "Action not allowed now" and refused.json()["case"] == number
    invalid = await payments.api.post(
        f"/cases/{number}/exchange-choice", json={"option": "similar_item"}, headers=AGENT
    )
    assert invalid.status_code == 422, invalid.text
    assert invalid.json()["errors"] == [
        {"field": "sku", "message": "Value error, a similar_item choice names the sku, a refund does not"}
    ]


# ---- the real integration: the webhook adapter against a real local receiver ----------


def order(route: str) -> ResolutionOrder:
    return ResolutionOrder(
        key="AS-20261123-000042:12", number="AS-20261123-000042", type=ResolutionType.REFUND,
        amount=Decimal("899.00"), currency="CNY", at=datetime.now(UTC), route=route,
        refund_kind="full", payment_route="alipay",
    )  # fmt: skip


async def test_the_webhook_gateway_posts_signed_json_with_an_idempotency_key_per_route() -> None:
    async with receiver() as hook:
        hook.respond = lambda body, seen: (
            (402, {"error": "declined"}) if body["route"] == "original" else (200, {"reference": "PSP-9"})
        )
        gateway = WebhookExecutor(hook.url, "payments-secret")
        with pytest.raises(RouteFailed, match="HTTP 402"):
            await gateway.execute(order("original"))
        assert await gateway.execute(order("alternative")) == "PSP-9"
        hook.respond = lambda body, seen: (503, {})
        with pytest.raises(RouteUnavailable, match="HTTP 503"):
            await gateway.execute(order("alternative"))
    first, second, _ = hook.requests
    assert first.headers["idempotency-key"] == "AS-20261123-000042:12:original"
    assert second.headers["idempotency-key"] == "AS-20261123-000042:12:alternative"
    assert {r.headers["x-aftersales-resolution-key"] for r in hook.requests} == {"AS-20261123-000042:12"}
    for request in hook.requests:
        assert signing.verify("payments-secret", request.headers, request.body)
        assert not signing.verify("wrong-secret", request.headers, request.body)
        assert not signing.verify("payments-secret", request.headers, request.body + b" ")
    assert json.loads(second.body) == {
        "idempotency_key": "AS-20261123-000042:12:alternative", "resolution_key": "AS-20261123-000042:12",
        "case_number": "AS-20261123-000042", "type": "refund", "refund_kind": "full", "amount": "899.00",
        "currency": "CNY", "route": "alternative", "payment_route": "alipay", "sku": None,
    }  # fmt: skip


async def test_the_webhook_gateway_reports_an_unreachable_service_as_transient() -> None:
    from tests.support.devrun import free_port

    gateway = WebhookExecutor(f"http://127.0.0.1:{free_port()}/pay", "payments-secret", timeout=2)
    with pytest.raises(RouteUnavailable, match="ConnectError"):
        await gateway.execute(order("original"))
