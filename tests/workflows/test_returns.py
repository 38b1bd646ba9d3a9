"""Returns and repairs step by step, and an exchange offer nobody answers, on the real dev
server and worker through the API: logistics and the warehouse report each step (with a
real API key for the warehouse), each step has a deadline on the business calendar, and
the return is settled by a refund on the payment routes (or an exchange); a failed
quality check goes to a supervisor. The payment gateway and the stock service are the
doubles of tests/support/payments.py, behind the adapters' interfaces."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
from pydantic import ValidationError
from temporalio.testing import WorkflowEnvironment

from api.app import create_app
from core.settings import Settings
from domain.case import Role
from domain.sla import Target
from store.apikeys import ApiKeyStore
from store.db import session_factory
from tests.conftest import Database
from tests.support.api import calendar_of, post
from tests.support.payments import ScriptedGateway, ScriptedStock
from tests.support.people import (
    AGENT,
    HANDLER,
    HEAD,
    LOGISTICS,
    PLAN,
    SUPERVISOR,
    TRIAGE,
    intake,
)
from tests.support.waiting import wait_for_event, wait_for_stage
from tests.support.workers import in_process_worker
from workflows.case import CaseWorkflow

WORKING_DAY = timedelta(hours=9)


@dataclass
class Desk:
    api: httpx.AsyncClient
    gateway: ScriptedGateway
    stock: ScriptedStock
    warehouse: dict[str, str]  # the headers of a real warehouse API key


@pytest.fixture(scope="module")
async def desk(env: WorkflowEnvironment, database: Database, worker: str) -> AsyncIterator[Desk]:
    gateway, stock = ScriptedGateway(), ScriptedStock()
    queue = f"returns-{database.backend}"
    sessions = session_factory(database.engine)
    settings = Settings(task_queue=queue, database_url=database.url, case_number_prefix=database.prefix)
    app = create_app(settings, temporal=env.client, sessions=sessions)
    # As `aftersales apikey create --role warehouse --name wms-east` issues it.
    issued = await ApiKeyStore(sessions).create(Role.WAREHOUSE, name="wms-east")
    async with (
        in_process_worker(env.client, database.store, queue, executor=gateway, stock=stock, workflow_failure_exception_types=[Exception]),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://aftersales.test") as api,
    ):  # fmt: skip
        yield Desk(api, gateway, stock, {"X-API-Key": issued.key})


RETURN = {"type": "return", "amount": "899.00", "currency": "CNY", "detail": "the customer sends the kettle back"}
REPAIR = {"type": "repair", "detail": "new base seal at the repair centre"}


async def approved(desk: Desk, resolution: dict[str, Any], sku: str = "KETTLE-1L") -> tuple[str, int]:
    """A P2 case planned with `resolution` and approved; its number and the approval's seq."""
    api = desk.api
    product = {"sku": sku, "model": "K1", "batch": "B2026-10", "serial_number": "SN-0042"}
    number = (await post(api, "/cases", intake(product=product), AGENT))["number"]
    await post(api, f"/cases/{number}/triage", TRIAGE, AGENT)
    await post(api, f"/cases/{number}/accept", None, HANDLER)
    await post(api, f"/cases/{number}/plan", PLAN | {"resolution": resolution}, HANDLER)
    approval = await post(api, f"/cases/{number}/approve", {"comment": "ok"}, HEAD)
    return number, approval["seq"]


async def step(
    desk: Desk, number: str, name: str, who: dict[str, str], body: dict[str, Any] | None = None, key: str | None = None
) -> httpx.Response:
    headers = who | ({"Idempotency-Key": key} if key else {})
    return await desk.api.post(f"/cases/{number}/return-steps/{name}", json=body, headers=headers)


async def done(
    desk: Desk, number: str, name: str, who: dict[str, str], body: dict[str, Any] | None = None
) -> dict[str, Any]:
    response = await step(desk, number, name, who, body)
    assert response.status_code == 200, response.text
    return response.json()


async def live(desk: Desk, number: str) -> dict[str, Any]:
    return (await desk.api.get(f"/cases/{number}", headers=AGENT)).json()["live"]


async def test_a_full_return_with_warehouse_signals_ends_in_a_refund(desk: Desk, database: Database) -> None:
    number, seq = await approved(desk, RETURN)
    authorised = await wait_for_event(database, number, "return_authorised")
    calendar = await calendar_of(desk.api, number)
    # Logistics has one working day to issue a label or book the pickup.
    assert authorised.data["next"] == {
        "steps": ["label_issued", "pickup_booked"],
        "due_at": calendar.add(authorised.at, WORKING_DAY).isoformat(),
    }
    assert (authorised.data["resolution"], authorised.data["after_return"]) == ("return", "refund")
    state = await live(desk, number)
    assert (state["stage"], state["waiting_for"]) == ("executing", "logistics to issue a return label or book a pickup")
    assert datetime.fromisoformat(state["returns"]["due_at"]) == calendar.add(authorised.at, WORKING_DAY)
    assert (await database.store.get_case(number)).next_deadline == calendar.add(authorised.at, WORKING_DAY)
    outbox = [(o.recipient, o.topic) for o in await database.store.outbox(number)]
    assert ("customer", "return_instructions") in outbox and ("logistics", "return_step_expected") in outbox
    assert await database.store.ledger(number) == [] and desk.gateway.paid_for(number) == []

    # Logistics books the pickup; a retry with the same key replays, another key is refused.
    pickup = {"tracking_number": "SF1234567890", "note": "courier collects tomorrow morning"}
    booked = await step(desk, number, "pickup_booked", LOGISTICS, pickup, key="pickup-1")
    assert booked.status_code == 200, booked.text
    assert booked.json()["waiting_for"] == "the warehouse to receive the parcel"
    replayed = await step(desk, number, "pickup_booked", LOGISTICS, pickup, key="pickup-1")
    assert (replayed.status_code, replayed.headers.get("Idempotent-Replayed")) == (200, "true")
    again = await step(desk, number, "pickup_booked", LOGISTICS, pickup, key="pickup-2")
    assert again.status_code == 409 and "already recorded" in again.json()["detail"]

    # The warehouse (with its API key) receives, checks and restocks the item.
    await done(desk, number, "parcel_received", desk.warehouse)
    checked = await done(
        desk, number, "quality_checked", desk.warehouse, {"passed": True, "note": "seal intact, unused"}
    )
    assert checked["waiting_for"] == "the warehouse to restock the item"
    restocked = await done(desk, number, "restocked", desk.warehouse)
    assert restocked["waiting_for"] == "the refund to be carried out"

    detail = await wait_for_stage(desk.api, number, "awaiting_feedback", AGENT)
    assert detail["live"]["returns"] is None  # settled; the steps stay on the timeline
    # The refund, once, on the original route, keyed by the approval.
    (entry,) = await database.store.ledger(number)
    assert (entry.resolution_type, entry.amount, entry.route, entry.refund_kind) == (
        "refund",
        Decimal("899.00"),
        "original",
        "full",
    )
    assert entry.idempotency_key == f"{number}:{seq}:original"
    assert [o.type.value for o in desk.gateway.paid_for(number)] == ["refund"]

    timeline = await database.store.timeline(number)
    kinds = [e.kind for e in timeline]
    assert kinds[kinds.index("plan_approved"):] == [
        "plan_approved", "return_authorised", "pickup_booked", "parcel_received", "quality_checked", "restocked",
        "resolution_executed",
    ]  # fmt: skip
    steps = {e.kind: e for e in timeline}
    # Each step's timestamp and who sent it is on the record.
    assert (steps["pickup_booked"].actor_id, steps["pickup_booked"].actor_role) == ("tms-courier", "logistics")
    assert steps["pickup_booked"].data["tracking_number"] == "SF1234567890"
    assert (steps["parcel_received"].actor_id, steps["parcel_received"].actor_role) == ("wms-east", "warehouse")
    assert steps["quality_checked"].data["passed"] is True
    ats = [
        steps[k].at for k in ("return_authorised", "pickup_booked", "parcel_received", "quality_checked", "restocked")
    ]
    assert ats == sorted(ats) and len(set(ats)) == len(ats)
    # Each step's deadline counts from the step before it: receipt within two working days of the pickup.
    assert (
        steps["pickup_booked"].data["next"]["due_at"]
        == calendar.add(steps["pickup_booked"].at, 2 * WORKING_DAY).isoformat()
    )
    assert steps["restocked"].data["late"] is False
    assert steps["resolution_executed"].data["route"] == "original"
    outbox = [(o.recipient, o.topic) for o in await database.store.outbox(number)]
    assert ("warehouse", "return_step_expected") in outbox
    assert outbox.count(("customer", "return_progress")) == 4
    assert ("customer", "result_and_survey") in outbox


async def test_steps_out_of_order_from_the_wrong_system_or_without_their_details_are_refused(
    desk: Desk, database: Database
) -> None:
    number, _ = await approved(desk, RETURN)
    await wait_for_event(database, number, "return_authorised")

    early = await step(desk, number, "restocked", desk.warehouse)
    assert early.status_code == 409, early.text
    problem = early.json()
    assert problem["title"] == "Action not allowed now"
    assert problem["expected"] == ["label_issued", "pickup_booked"]
    assert "expected next: label_issued or pickup_booked" in problem["detail"]
    # The warehouse does not book couriers; a handler may not report steps at all.
    wrong = await step(desk, number, "pickup_booked", desk.warehouse, {"tracking_number": "SF1"})
    assert wrong.status_code == 403 and wrong.json()["required_role"] == "logistics"
    assert (await step(desk, number, "pickup_booked", HANDLER, {"tracking_number": "SF1"})).status_code == 403
    # 422 naming the field: a pickup without its tracking number, a result on another step, an unknown step.
    untracked = await step(desk, number, "pickup_booked", LOGISTICS)
    assert untracked.status_code == 422 and [e["field"] for e in untracked.json()["errors"]] == ["tracking_number"]
    label = {"tracking_number": "YT0001", "passed": True}
    assert [e["field"] for e in (await step(desk, number, "label_issued", LOGISTICS, label)).json()["errors"]] == [
        "passed"
    ]
    unknown = await step(desk, number, "teleported", LOGISTICS)
    assert unknown.status_code == 422 and [e["field"] for e in unknown.json()["errors"]] == ["path.step"]
    assert (await step(desk, number, "quality_checked", desk.warehouse)).status_code == 422  # needs `passed`

    await done(desk, number, "label_issued", LOGISTICS, {"tracking_number": "YT0001"})
    # The other way to ship is no longer expected; the next step is the receipt.
    late_pickup = await step(desk, number, "pickup_booked", LOGISTICS, {"tracking_number": "SF2"})
    assert late_pickup.status_code == 409 and late_pickup.json()["expected"] == ["parcel_received"]
    assert (
        (await step(desk, number, "repaired", desk.warehouse))
        .json()["detail"]
        .startswith("a return has no repaired step")
    )
    kinds = [e.kind for e in await database.store.timeline(number)]
    assert kinds[-2:] == ["return_authorised", "label_issued"]

    # A case without a return under way refuses every step.
    refund, _ = await approved(desk, PLAN["resolution"])
    await wait_for_stage(desk.api, refund, "awaiting_feedback", AGENT)
    assert (await step(desk, refund, "parcel_received", desk.warehouse)).status_code == 409


async def test_a_missed_receipt_deadline_is_recorded_and_the_supervisor_told(
    desk: Desk, database: Database, env: WorkflowEnvironment
) -> None:
    number, _ = await approved(desk, RETURN)
    await wait_for_event(database, number, "return_authorised")
    booked = await done(desk, number, "pickup_booked", LOGISTICS, {"tracking_number": "SF9876543210"})
    pickup = await wait_for_event(database, number, "pickup_booked")
    calendar = await calendar_of(desk.api, number)
    due = calendar.add(pickup.at, 2 * WORKING_DAY)
    assert datetime.fromisoformat(booked["returns"]["due_at"]) == due
    handle = env.client.get_workflow_handle_for(CaseWorkflow.run, number)

    await env.fast_forward(handle, due - pickup.at - timedelta(minutes=1))
    assert "return_step_overdue" not in [e.kind for e in await database.store.timeline(number)]
    await env.fast_forward(handle, timedelta(minutes=2))
    overdue = await wait_for_event(database, number, "return_step_overdue")
    assert timedelta(0) <= overdue.at - due < timedelta(seconds=5)
    assert overdue.data == {
        "resolution": "return", "leg": "receipt", "expected": ["parcel_received"], "due_at": due.isoformat(),
        "responsible_role": "warehouse", "escalated_to": "supervisor",
    }  # fmt: skip
    assert (overdue.actor_id, overdue.actor_role) == ("aftersales", "system")
    outbox = [(o.seq, o.recipient, o.topic) for o in await database.store.outbox(number)]
    assert (overdue.seq, "supervisor", "return_step_overdue") in outbox
    assert (overdue.seq, "warehouse", "return_step_overdue") in outbox
    # The case keeps waiting for the parcel, visibly, and records the miss once.
    state = await live(desk, number)
    assert (state["stage"], state["waiting_for"]) == ("executing", "the warehouse to receive the parcel")
    assert state["returns"]["overdue"] is True
    # Missed, the step is no longer the next deadline (README: the earliest still running);
    # the miss shows as a breach instead, on the record and the live SLA alike.
    record = await database.store.get_case(number)
    assert record.sla_state == "breached"
    assert record.next_deadline is None or record.next_deadline > overdue.at
    sla = (await desk.api.get(f"/cases/{number}", headers=SUPERVISOR)).json()["sla"]
    assert sla["state"] == "breached"
    assert (sla["next_deadline"] and datetime.fromisoformat(sla["next_deadline"])) == record.next_deadline
    await env.fast_forward(handle, 2 * timedelta(days=1))
    assert [e.kind for e in await database.store.timeline(number)].count("return_step_overdue") == 1

    # The warehouse phoned the arrival in: a supervisor records the step by hand.
    received = await done(desk, number, "parcel_received", SUPERVISOR, {"note": "arrived, scanner was down"})
    assert received["returns"]["overdue"] is False  # the inspection's own deadline runs now
    arrival = await wait_for_event(database, number, "parcel_received")
    assert arrival.data["late"] is True and arrival.data["due_at"] == due.isoformat()
    assert (arrival.actor_id, arrival.actor_role) == ("supervisor-zhao", "supervisor")


async def test_a_failed_quality_check_opens_a_follow_up_task_instead_of_a_refund(
    desk: Desk, database: Database
) -> None:
    api = desk.api
    number, seq = await approved(desk, RETURN)
    await wait_for_event(database, number, "return_authorised")
    await done(desk, number, "pickup_booked", LOGISTICS, {"tracking_number": "SF555"})
    await done(desk, number, "parcel_received", desk.warehouse)
    failed = await done(
        desk, number, "quality_checked", desk.warehouse, {"passed": False, "note": "base cut open, not our defect"}
    )
    assert failed["follow_up"]["reason"] == "the returned item failed the quality check: base cut open, not our defect"
    assert failed["stage"] == "executing" and "follow-up task" in failed["waiting_for"]
    task = await wait_for_event(database, number, "follow_up_task_created")
    assert (task.data["assigned_to"], task.data["resolution"]) == ("supervisor", "return")
    outbox = [(o.recipient, o.topic) for o in await database.store.outbox(number)]
    assert ("supervisor", "follow_up_task") in outbox
    # No restock, no refund: the flow stopped for a person.
    refused = await step(desk, number, "restocked", desk.warehouse)
    assert refused.status_code == 409 and "failed the quality check" in refused.json()["detail"]
    assert await database.store.ledger(number) == [] and desk.gateway.paid_for(number) == []

    completion = {"reference": "RETURNED-TO-CUSTOMER-88", "note": "item sent back to the customer, no refund"}
    settled = await post(api, f"/cases/{number}/follow-up/complete", completion, SUPERVISOR)
    assert (settled["stage"], settled["follow_up"], settled["returns"]) == ("awaiting_feedback", None, None)
    (entry,) = await database.store.ledger(number)
    assert (entry.resolution_type, entry.route, entry.amount, entry.reference) == (
        "return",
        "manual",
        None,
        "RETURNED-TO-CUSTOMER-88",
    )
    assert entry.idempotency_key == f"{number}:{seq}:manual"
    assert desk.gateway.paid_for(number) == []


async def test_a_return_settled_by_an_exchange_sends_the_item_in_stock(desk: Desk, database: Database) -> None:
    number, seq = await approved(desk, RETURN | {"after_return": "exchange", "amount": None})
    authorised = await wait_for_event(database, number, "return_authorised")
    assert authorised.data["after_return"] == "exchange"
    await done(desk, number, "label_issued", LOGISTICS, {"tracking_number": "YT777"})
    await done(desk, number, "parcel_received", desk.warehouse)
    await done(desk, number, "quality_checked", desk.warehouse, {"passed": True})
    await done(desk, number, "restocked", desk.warehouse)
    await wait_for_stage(desk.api, number, "awaiting_feedback", AGENT)
    (entry,) = await database.store.ledger(number)
    assert (entry.resolution_type, entry.item_sku, entry.idempotency_key) == (
        "exchange",
        "KETTLE-1L",
        f"{number}:{seq}",
    )


async def test_a_return_plan_above_the_price_or_an_after_return_on_another_resolution_is_refused(desk: Desk) -> None:
    api = desk.api
    number = (await post(api, "/cases", intake(), AGENT))["number"]
    await post(api, f"/cases/{number}/triage", TRIAGE, AGENT)
    await post(api, f"/cases/{number}/accept", None, HANDLER)
    too_much = await api.post(
        f"/cases/{number}/plan", json=PLAN | {"resolution": RETURN | {"amount": "900.00"}}, headers=HANDLER
    )
    assert too_much.status_code == 422 and too_much.json()["field"] == "resolution.amount"
    misplaced = PLAN | {"resolution": {"type": "refund", "amount": "10.00", "after_return": "exchange"}}
    refused = await api.post(f"/cases/{number}/plan", json=misplaced, headers=HANDLER)
    assert refused.status_code == 422, refused.text
    assert refused.json()["errors"] == [
        {"field": "resolution.after_return", "message": "Value error, after_return applies to a return only"}
    ]


async def test_a_repair_goes_out_is_repaired_and_comes_back(desk: Desk, database: Database) -> None:
    number, seq = await approved(desk, REPAIR)
    authorised = await wait_for_event(database, number, "return_authorised")
    assert (authorised.data["resolution"], authorised.data["after_return"]) == ("repair", None)
    assert authorised.data["legs"] == ["shipment", "receipt", "repair", "ship_back"]
    await done(desk, number, "label_issued", LOGISTICS, {"tracking_number": "YT100"})
    received = await done(desk, number, "parcel_received", desk.warehouse)
    assert received["waiting_for"] == "the repair centre to repair the item"
    calendar = await calendar_of(desk.api, number)
    arrival = await wait_for_event(database, number, "parcel_received")
    assert arrival.data["next"]["due_at"] == calendar.add(arrival.at, 5 * WORKING_DAY).isoformat()
    wrong = await step(desk, number, "quality_checked", desk.warehouse, {"passed": True})
    assert wrong.status_code == 409 and wrong.json()["detail"].startswith("a repair has no quality_checked step")
    await done(desk, number, "repaired", desk.warehouse, {"note": "base seal replaced"})
    assert (await step(desk, number, "shipped_back", LOGISTICS)).status_code == 422  # needs the tracking number
    shipped = await done(desk, number, "shipped_back", LOGISTICS, {"tracking_number": "YT200"})
    assert shipped["waiting_for"] == "the repair to be carried out"

    await wait_for_stage(desk.api, number, "awaiting_feedback", AGENT)
    (entry,) = await database.store.ledger(number)
    assert (entry.resolution_type, entry.route, entry.idempotency_key) == ("repair", None, f"{number}:{seq}")
    kinds = [e.kind for e in await database.store.timeline(number)]
    assert kinds[kinds.index("plan_approved"):] == [
        "plan_approved", "return_authorised", "label_issued", "parcel_received", "repaired", "shipped_back",
        "resolution_executed",
    ]  # fmt: skip
    assert desk.gateway.paid_for(number)[0].type.value == "repair"


async def test_an_unanswered_exchange_offer_is_reminded_then_refunded(
    desk: Desk, database: Database, env: WorkflowEnvironment
) -> None:
    desk.stock.out["KETTLE-3L"] = ["KETTLE-3L-V2"]
    number, _ = await approved(desk, {"type": "exchange", "detail": "same kettle"}, sku="KETTLE-3L")
    offer = await wait_for_event(database, number, "exchange_out_of_stock")
    calendar = await calendar_of(desk.api, number)
    remind_at = calendar.add(offer.at, 3 * WORKING_DAY)
    state = await live(desk, number)
    assert datetime.fromisoformat(state["exchange_offer"]["remind_at"]) == remind_at
    handle = env.client.get_workflow_handle_for(CaseWorkflow.run, number)

    await env.fast_forward(handle, remind_at - offer.at + timedelta(minutes=1))
    reminded = await wait_for_event(database, number, "exchange_choice_reminded")
    assert timedelta(0) <= reminded.at - remind_at < timedelta(seconds=5)
    default_at = calendar.add(reminded.at, 2 * WORKING_DAY)
    assert reminded.data["default_at"] == default_at.isoformat() and reminded.data["otherwise"] == "refund"
    outbox = [(o.recipient, o.topic) for o in await database.store.outbox(number)]
    assert ("customer", "exchange_choice_reminder") in outbox
    assert (await live(desk, number))["stage"] == "executing"

    await env.fast_forward(handle, default_at - reminded.at + timedelta(minutes=1))
    defaulted = await wait_for_event(database, number, "exchange_choice_defaulted")
    assert timedelta(0) <= defaulted.at - default_at < timedelta(seconds=5)
    assert (defaulted.data["option"], defaulted.data["refund_amount"]) == ("refund", "899.00")
    await wait_for_stage(desk.api, number, "awaiting_feedback", AGENT)
    (entry,) = await database.store.ledger(number)
    assert (entry.resolution_type, entry.amount, entry.route) == ("refund", Decimal("899.00"), "original")
    kinds = [e.kind for e in await database.store.timeline(number)]
    assert kinds[kinds.index("exchange_out_of_stock"):] == [
        "exchange_out_of_stock", "sla_paused", "exchange_choice_reminded", "exchange_choice_defaulted", "sla_resumed",
        "resolution_executed",
    ]  # fmt: skip
    outbox = [(o.recipient, o.topic) for o in await database.store.outbox(number)]
    assert ("customer", "exchange_choice_defaulted") in outbox and ("agent", "exchange_choice_defaulted") in outbox
    late = await desk.api.post(
        f"/cases/{number}/exchange-choice", json={"option": "similar_item", "sku": "KETTLE-3L-V2"}, headers=AGENT
    )
    assert late.status_code == 409


def test_return_and_exchange_offer_periods_are_settings_pinned_as_working_days(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RETURN_STEP_WORKING_DAYS", '{"receipt": 3}')
    monkeypatch.setenv("EXCHANGE_CHOICE_REMINDER_WORKING_DAYS", "1")
    rules = Settings().handling_rules()
    assert rules.return_deadlines["receipt"] == Target(budget=3 * WORKING_DAY, business=True)
    assert rules.return_deadlines["shipment"] == Target(budget=WORKING_DAY, business=True)  # the default
    assert rules.exchange_choice_reminder_after.budget == WORKING_DAY
    assert rules.exchange_choice_default_after.budget == 2 * WORKING_DAY
    with pytest.raises(ValidationError, match="unknown legs customs"):
        Settings(return_step_working_days={"customs": 2})
