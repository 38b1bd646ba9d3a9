"""Multi-department cases (issue 4) through the API against the real worker: the head names a
lead and assisting departments, each contributes by its own deadline (one late), the plan
waits for every contribution or for the lead's waiver, and handlers of assisting departments
see and act on the case while others do not."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
from temporalio.testing import WorkflowEnvironment

from store.ops import OpsStore, StuckReason
from tests.conftest import Database
from tests.support.api import calendar_of, open_and_triage, post
from tests.support.people import AGENT, HANDLER, HEAD, OTHER_HANDLER, PLAN, SUPERVISOR, handler
from tests.support.waiting import wait_for_event, wait_for_stage
from workflows.case import CaseWorkflow

REPAIR_HANDLER = handler("rnd_repair", "handler-feng")
SALES_HANDLER = handler("sales", "handler-han")  # a department with no part in the case

NAMING = {
    "lead": "quality",
    "assisting": [
        {"department": "logistics", "request": "Was the parcel dropped in transit?", "due_in_hours": 4},
        {"department": "rnd_repair", "request": "Does the base seal fail under heat?"},
    ],
    "reason": "defect or transport damage: both must be ruled out",
}


async def _stuck_reasons(database: Database, number: str) -> list[StuckReason]:
    ops = OpsStore(database.store.sessions)
    [case] = await ops.open_cases([number], now=datetime.now(UTC), in_stage_longer_than=timedelta(days=365))
    return case.reasons


def _contribution(case: dict, department: str) -> dict:
    return next(c for c in case["contributions"] if c["department"] == department)


async def test_one_late_contribution_then_the_plan_goes_on_to_approval(
    api: httpx.AsyncClient, database: Database, env: WorkflowEnvironment
) -> None:
    number = (await open_and_triage(api, priority="P2"))["number"]
    await post(api, f"/cases/{number}/accept", None, HANDLER)

    # Only the head names departments.
    refused = await api.post(f"/cases/{number}/departments", json=NAMING, headers=SUPERVISOR)
    assert refused.status_code == 403, refused.text
    named = await post(api, f"/cases/{number}/departments", NAMING, HEAD | {"Idempotency-Key": "name-1"})
    assert (named["department"], named["lead_department"], named["assignee"]) == ("quality", "quality", "handler-wang")
    assert named["stage"] == "in_handling"  # the lead was the case's department already
    # A repeat with the same key changes nothing.
    again = await api.post(f"/cases/{number}/departments", json=NAMING, headers=HEAD | {"Idempotency-Key": "name-1"})
    assert again.status_code == 200 and again.headers["Idempotent-Replayed"] == "true"

    event = await wait_for_event(database, number, "departments_named")
    requested = datetime.fromisoformat(_contribution(named, "logistics")["requested_at"])
    assert event.at == requested
    calendar = await calendar_of(api, number)
    logistics_due = datetime.fromisoformat(_contribution(named, "logistics")["due_at"])
    repair_due = datetime.fromisoformat(_contribution(named, "rnd_repair")["due_at"])
    # The head's override (4 h) and the P2 default (one working day) on the case's business calendar.
    assert calendar.between(requested, logistics_due) == timedelta(hours=4)
    assert calendar.between(requested, repair_due) == timedelta(hours=9)
    assert logistics_due == calendar.add(requested, timedelta(hours=4))
    assert event.data["lead"] == "quality" and event.data["reason"] == NAMING["reason"]
    assert [(a["department"], datetime.fromisoformat(a["due_at"])) for a in event.data["assisting"]] == [
        ("logistics", logistics_due),
        ("rnd_repair", repair_due),
    ]
    assert (event.actor_id, event.actor_role) == ("head-sun", "head")
    outbox = [(o.seq, o.recipient, o.topic) for o in await database.store.outbox(number)]
    assert (event.seq, "department:logistics", "contribution_requested") in outbox
    assert (event.seq, "department:rnd_repair", "contribution_requested") in outbox
    assert len([o for o in await database.store.outbox(number) if o.topic == "contribution_requested"]) == 2

    # The plan waits for both.
    blocked = await api.post(f"/cases/{number}/plan", json=PLAN, headers=HANDLER)
    assert blocked.status_code == 409, blocked.text
    assert blocked.json()["pending_departments"] == ["logistics", "rnd_repair"]
    assert f"POST /cases/{number}/contributions/{{department}}/waive" in blocked.json()["detail"]

    # Logistics contributes in time.
    finding = {"summary": "No drop recorded; parcel intact at hand-over", "findings": "scan log attached"}
    keyed = OTHER_HANDLER | {"Idempotency-Key": "logistics-finding"}
    on_time = await post(api, f"/cases/{number}/contributions/logistics", finding, keyed)
    replayed = await api.post(f"/cases/{number}/contributions/logistics", json=finding, headers=keyed)
    assert replayed.status_code == 200 and replayed.json() == on_time
    # The same key for another department's contribution is another request: refused.
    reused = await api.post(f"/cases/{number}/contributions/rnd_repair", json=finding, headers=keyed)
    assert reused.status_code == 422 and reused.json()["title"] == "Idempotency key reused"
    logistics = _contribution(on_time, "logistics")
    assert (logistics["status"], logistics["late"], logistics["contributed_by"]) == ("received", False, "handler-zhou")
    received = await wait_for_event(database, number, "contribution_received")
    assert received.data["department"] == "logistics" and received.data["on_time"] is True
    assert received.data["still_outstanding"] == ["rnd_repair"]
    assert (received.seq, "employee:handler-wang", "contribution_received") in [
        (o.seq, o.recipient, o.topic) for o in await database.store.outbox(number)
    ]
    twice = await api.post(f"/cases/{number}/contributions/logistics", json={"summary": "again"}, headers=OTHER_HANDLER)
    assert twice.status_code == 409 and "no contribution from logistics is outstanding" in twice.json()["detail"]

    # R&D misses its deadline: the overdue notice falls at the due instant, to its supervisor.
    handle = env.client.get_workflow_handle_for(CaseWorkflow.run, number)
    now = (await handle.query(CaseWorkflow.state)).updated_at
    await env.fast_forward(handle, repair_due - now - timedelta(minutes=1))
    assert "contribution_overdue" not in [e.kind for e in await database.store.timeline(number)]
    await env.fast_forward(handle, timedelta(minutes=2))
    overdue = await wait_for_event(database, number, "contribution_overdue")
    assert timedelta(0) <= overdue.at - repair_due < timedelta(seconds=5)
    assert overdue.data["department"] == "rnd_repair" and datetime.fromisoformat(overdue.data["due_at"]) == repair_due
    assert (overdue.actor_id, overdue.actor_role) == ("aftersales", "system")
    assert (overdue.seq, "supervisor:rnd_repair", "contribution_overdue") in [
        (o.seq, o.recipient, o.topic) for o in await database.store.outbox(number)
    ]
    live = (await api.get(f"/cases/{number}", headers=AGENT)).json()["live"]
    assert _contribution(live, "rnd_repair")["status"] == "overdue"
    # Operators find the case waiting on an overdue contribution.
    assert StuckReason.CONTRIBUTION_OVERDUE in await _stuck_reasons(database, number)

    still = await api.post(f"/cases/{number}/plan", json=PLAN, headers=HANDLER)
    assert still.status_code == 409 and still.json()["pending_departments"] == ["rnd_repair"]
    assert "waiting for contributions from rnd_repair" in still.json()["detail"]

    # The late contribution is taken, and marked late.
    late = await post(
        api, f"/cases/{number}/contributions/rnd_repair", {"summary": "Seal softens above 95 °C"}, REPAIR_HANDLER
    )
    repair = _contribution(late, "rnd_repair")
    assert (repair["status"], repair["late"]) == ("received", True)
    late_event = [e for e in await database.store.timeline(number) if e.kind == "contribution_received"][-1]
    assert (late_event.data["department"], late_event.data["late"], late_event.data["on_time"]) == (
        "rnd_repair",
        True,
        False,
    )
    assert [e.kind for e in await database.store.timeline(number)].count("contribution_overdue") == 1
    assert StuckReason.CONTRIBUTION_OVERDUE not in await _stuck_reasons(database, number)

    # Every contribution in: the lead proposes, the head approves, the case carries on.
    proposed = await post(api, f"/cases/{number}/plan", PLAN, HANDLER)
    assert proposed["stage"] == "plan_proposed"
    await post(api, f"/cases/{number}/approve", {}, HEAD)
    await wait_for_stage(api, number, "awaiting_feedback", AGENT)
    kinds = [e.kind for e in await database.store.timeline(number)]
    assert kinds.index("departments_named") < kinds.index("contribution_overdue") < kinds.index("plan_proposed")


async def test_the_lead_goes_on_without_a_missing_contribution(api: httpx.AsyncClient, database: Database) -> None:
    number = (await open_and_triage(api, priority="P3", department="customer_service"))["number"]
    naming = {"lead": "quality", "assisting": [{"department": "logistics", "request": "Courier's damage report?"}]}
    moved = await post(api, f"/cases/{number}/departments", naming, HEAD)
    # A new lead takes the case from its own queue.
    assert (moved["stage"], moved["department"], moved["assignee"]) == ("triaged", "quality", None)
    event = await wait_for_event(database, number, "departments_named")
    assert (event.data["from_department"], event.data["lead"]) == ("customer_service", "quality")
    assert (event.seq, "department:quality", "case_assigned") in [
        (o.seq, o.recipient, o.topic) for o in await database.store.outbox(number)
    ]
    await post(api, f"/cases/{number}/accept", None, HANDLER)

    # Only the lead handler (or a supervisor or the head) waives; not the assisting department.
    waiver = {"reason": "the courier does not answer; the photos settle it"}
    refused = await api.post(f"/cases/{number}/contributions/logistics/waive", json=waiver, headers=OTHER_HANDLER)
    assert refused.status_code == 403, refused.text
    waived = await post(api, f"/cases/{number}/contributions/logistics/waive", waiver, HANDLER)
    logistics = _contribution(waived, "logistics")
    assert (logistics["status"], logistics["waived_by"], logistics["waiver_reason"]) == (
        "waived",
        "handler-wang",
        waiver["reason"],
    )
    event = await wait_for_event(database, number, "contribution_waived")
    assert event.data["department"] == "logistics" and event.data["reason"] == waiver["reason"]
    assert (event.seq, "department:logistics", "contribution_waived") in [
        (o.seq, o.recipient, o.topic) for o in await database.store.outbox(number)
    ]
    # Nothing is outstanding any more: no late contribution, and the plan goes ahead.
    gone = await api.post(f"/cases/{number}/contributions/logistics", json={"summary": "late"}, headers=OTHER_HANDLER)
    assert gone.status_code == 409
    assert (await post(api, f"/cases/{number}/plan", PLAN, HANDLER))["stage"] == "plan_proposed"


async def test_assisting_handlers_see_and_act_others_do_not(api: httpx.AsyncClient, database: Database) -> None:
    number = (await open_and_triage(api, priority="P3"))["number"]
    await post(api, f"/cases/{number}/departments", NAMING, HEAD)
    await wait_for_event(database, number, "departments_named")

    # The logistics handler reads the case, its timeline and finds it in their list.
    assert (await api.get(f"/cases/{number}", headers=OTHER_HANDLER)).status_code == 200
    timeline = await api.get(f"/cases/{number}/timeline", headers=OTHER_HANDLER)
    assert [e["kind"] for e in timeline.json()] == ["received", "triaged", "departments_named"]
    listed = (await api.get("/cases", params={"limit": 100}, headers=OTHER_HANDLER)).json()
    assert number in [item["number"] for item in listed["items"]]

    # A sales handler learns nothing: the same 404 as for a case that does not exist.
    for method, path, body in [
        ("GET", f"/cases/{number}", None),
        ("GET", f"/cases/{number}/timeline", None),
        ("POST", f"/cases/{number}/contributions/sales", {"summary": "not mine"}),
        ("POST", f"/cases/{number}/contributions/logistics", {"summary": "not mine"}),
    ]:
        response = await api.request(method, path, json=body, headers=SALES_HANDLER)
        assert response.status_code == 404, (path, response.text)
        assert response.json()["detail"] == f"no case {number}"
    sales = (await api.get("/cases", params={"limit": 100}, headers=SALES_HANDLER)).json()
    assert number not in [item["number"] for item in sales["items"]]

    # An assisting handler contributes for their own department only, and does nothing else
    # (tests/api/test_access.py walks every other action).
    other = await api.post(f"/cases/{number}/contributions/rnd_repair", json={"summary": "x"}, headers=OTHER_HANDLER)
    assert other.status_code == 403 and other.json()["department"] == "rnd_repair"
    taken = await api.post(f"/cases/{number}/accept", headers=OTHER_HANDLER)
    assert taken.status_code == 403 and taken.json()["reason"] == "assisting_department", taken.text
    # A department never asked has nothing to contribute.
    unasked = await api.post(f"/cases/{number}/contributions/sales", json={"summary": "x"}, headers=SUPERVISOR)
    assert unasked.status_code == 409

    # Bad input names the field, without echoing it.
    itself = await api.post(
        f"/cases/{number}/departments",
        json={"lead": "quality", "assisting": [{"department": "quality", "request": "secret-ish text"}]},
        headers=HEAD,
    )
    assert itself.status_code == 422
    assert [e["field"] for e in itself.json()["errors"]] == ["assisting"]
    assert "secret-ish text" not in itself.text
    # Asking a department again while its contribution is outstanding is refused.
    twice = await api.post(
        f"/cases/{number}/departments",
        json={"lead": "quality", "assisting": [{"department": "logistics", "request": "again"}]},
        headers=HEAD,
    )
    assert twice.status_code == 422 and twice.json()["field"] == "assisting"

    # A new lead waits until the customer has answered: the open question stays with the handler who asked.
    await post(api, f"/cases/{number}/accept", None, HANDLER)
    await post(api, f"/cases/{number}/info-requests", {"question": "Was the kettle used on a gas stove?"}, HANDLER)
    moving = await api.post(
        f"/cases/{number}/departments",
        json={"lead": "sales", "assisting": [{"department": "operations", "request": "promotion terms?"}]},
        headers=HEAD,
    )
    assert moving.status_code == 409 and moving.json()["stage"] == "awaiting_customer"
    assert "name a new lead once it has answered" in moving.json()["detail"]
