"""Handling rules of issue 4 through the API against the real worker: approval by grade,
the approval deadline, a second rejection sent to the head, the compensation cap,
the reopen limit and duplicates."""

from __future__ import annotations

from datetime import datetime, timedelta
from uuid import uuid4

import httpx
from temporalio.testing import WorkflowEnvironment

from tests.conftest import Database
from tests.support.api import drive_to_feedback, open_and_triage, post
from tests.support.people import AGENT, HANDLER, HEAD, OVERRIDE_REASON, PLAN, SUPERVISOR, handler, intake, person
from tests.support.waiting import wait_for_event, wait_for_stage
from workflows.case import CaseWorkflow

LEAD = person("lead-zhou", "supervisor")  # a second module lead


async def planned(api: httpx.AsyncClient, priority: str, plan: dict | None = None) -> str:
    case = await open_and_triage(api, priority=priority)
    number = case["number"]
    await post(api, f"/cases/{number}/accept", None, HANDLER)
    await post(api, f"/cases/{number}/plan", plan or PLAN, HANDLER)
    return number


async def test_p1_and_p2_plans_need_the_head_p3_and_p4_a_module_lead(api: httpx.AsyncClient) -> None:
    for priority in ("P1", "P2"):
        number = await planned(api, priority)
        detail = (await api.get(f"/cases/{number}", headers=AGENT)).json()
        assert detail["live"]["waiting_for"] == "approval by the after-sales head"
        refused = await api.post(f"/cases/{number}/approve", json={}, headers=SUPERVISOR)
        assert refused.status_code == 403, refused.text
        problem = refused.json()
        assert problem["required_role"] == "head"
        assert f"for a {priority} case the plan needs approval by the after-sales head" in problem["detail"]
        approved = await post(api, f"/cases/{number}/approve", {}, HEAD)
        assert approved["stage"] == "executing"

    for priority in ("P3", "P4"):
        number = await planned(api, priority)
        detail = (await api.get(f"/cases/{number}", headers=AGENT)).json()
        assert detail["live"]["waiting_for"] == "approval by a module lead"
        approved = await post(api, f"/cases/{number}/approve", {}, SUPERVISOR)
        assert approved["stage"] == "executing"


async def test_second_rejection_sends_the_plan_to_the_head(api: httpx.AsyncClient, database: Database) -> None:
    number = await planned(api, "P3")
    await post(api, f"/cases/{number}/reject", {"reason": "root cause not shown"}, SUPERVISOR)
    await post(api, f"/cases/{number}/plan", PLAN, HANDLER)
    assert [e.kind for e in await database.store.timeline(number)].count("approval_escalated") == 0
    await post(api, f"/cases/{number}/reject", {"reason": "still no root cause"}, LEAD)
    escalated = await wait_for_event(database, number, "approval_escalated")
    assert escalated.data == {"to": "head", "rejections": 2, "reason": "rejected again"}
    outbox = [(o.seq, o.recipient, o.topic) for o in await database.store.outbox(number)]
    assert (escalated.seq, "head", "approval_escalated") in outbox

    await post(api, f"/cases/{number}/plan", PLAN, HANDLER)
    refused = await api.post(f"/cases/{number}/approve", json={}, headers=SUPERVISOR)
    assert refused.status_code == 403
    assert "after a second rejection the plan needs approval by the after-sales head" in refused.json()["detail"]
    assert (await post(api, f"/cases/{number}/approve", {}, HEAD))["stage"] == "executing"


async def test_approval_deadline_escalates_when_it_passes(
    api: httpx.AsyncClient, database: Database, env: WorkflowEnvironment
) -> None:
    number = await planned(api, "P1")
    live = (await api.get(f"/cases/{number}", headers=AGENT)).json()["live"]
    clock = live["clocks"]["approval"]
    started, due = datetime.fromisoformat(clock["started_at"]), datetime.fromisoformat(clock["due_at"])
    assert due - started == timedelta(hours=2)  # P1 runs around the clock
    handle = env.client.get_workflow_handle_for(CaseWorkflow.run, number)

    await env.fast_forward(handle, due - started + timedelta(minutes=1))
    breach = await wait_for_event(database, number, "sla_breached")
    assert breach.data["clock"] == "approval"
    assert datetime.fromisoformat(breach.data["due_at"]) == due
    assert breach.data["escalated_to"] == "supervisor"
    assert (await post(api, f"/cases/{number}/approve", {}, HEAD))["stage"] == "executing"
    state = await handle.query(CaseWorkflow.state)
    approval = state.clocks["approval"]
    assert approval.state == "met" and approval.breached_at == breach.at  # met late: the miss stays on record


async def test_compensation_over_the_cap_is_refused_naming_the_cap(api: httpx.AsyncClient, database: Database) -> None:
    case = await open_and_triage(api, priority="P3")
    number = case["number"]
    await post(api, f"/cases/{number}/accept", None, HANDLER)
    # 30 % of the 899.00 paid is 269.70.
    over = PLAN | {"resolution": {"type": "compensation", "amount": "269.71", "currency": "CNY", "detail": "coupon"}}
    refused = await api.post(f"/cases/{number}/plan", json=over, headers=HANDLER)
    assert refused.status_code == 422, refused.text
    problem = refused.json()
    assert problem["field"] == "resolution.amount"
    assert (problem["cap"], problem["cap_percent"]) == ("269.70", "30")
    assert "exceeds the cap of 30% of the price paid (269.70 CNY)" in problem["detail"]
    assert "plan_proposed" not in [e.kind for e in await database.store.timeline(number)]

    at_cap = PLAN | {"resolution": {"type": "compensation", "amount": "269.70", "currency": "CNY", "detail": "coupon"}}
    assert (await post(api, f"/cases/{number}/plan", at_cap, HANDLER))["stage"] == "plan_proposed"


async def test_third_reopen_sends_the_case_to_the_head(api: httpx.AsyncClient, database: Database) -> None:
    case = await open_and_triage(api, priority="P3")
    number = case["number"]
    for reopen in (1, 2, 3):
        await drive_to_feedback(api, number)
        await post(api, f"/cases/{number}/feedback", {"score": 2, "comment": "still broken"}, AGENT)
        kinds = [e.kind for e in await database.store.timeline(number)]
        assert kinds.count("reopen_limit_reached") == (1 if reopen == 3 else 0)
        if reopen < 3:
            await post(
                api,
                f"/cases/{number}/triage",
                {
                    "categories": ["product_quality"],
                    "priority": "P3",
                    "department": "quality",
                    "override_reason": OVERRIDE_REASON,
                },
                AGENT,
            )

    reached = await wait_for_event(database, number, "reopen_limit_reached")
    assert reached.data == {"reopen_count": 3, "limit": 3}
    assert ("head", "reopen_limit_reached") in [(o.recipient, o.topic) for o in await database.store.outbox(number)]
    live = (await api.get(f"/cases/{number}", headers=AGENT)).json()["live"]
    assert live["waiting_for"] == "the after-sales head (reopened 3 times)"
    triage = {
        "categories": ["product_quality"],
        "priority": "P2",
        "department": "quality",
        "override_reason": OVERRIDE_REASON,
    }
    refused = await api.post(f"/cases/{number}/triage", json=triage, headers=AGENT)
    assert refused.status_code == 403
    assert "the after-sales head triages this case" in refused.json()["detail"]
    assert (await post(api, f"/cases/{number}/triage", triage, HEAD))["stage"] == "triaged"


async def test_duplicate_closes_and_links_to_the_original(api: httpx.AsyncClient, database: Database) -> None:
    original = (await open_and_triage(api, priority="P3"))["number"]
    duplicate = (await post(api, "/cases", intake(channel="email"), AGENT))["number"]

    marked = await post(api, f"/cases/{duplicate}/duplicate", {"original": original, "note": "same kettle"}, AGENT)
    assert marked["stage"] == "closed" and marked["outcome"] == "duplicate" and marked["duplicate_of"] == original
    detail = await wait_for_stage(api, duplicate, "archived", AGENT, "record")
    assert detail["record"]["outcome"] == "duplicate"

    link = await wait_for_event(database, original, "duplicate_linked")
    assert link.data == {"duplicate": duplicate}
    assert (link.actor_id, link.actor_role) == ("agent-li", "agent")
    state = await api.get(f"/cases/{original}", headers=AGENT)
    assert state.json()["live"]["duplicates"] == [duplicate]
    assert state.json()["live"]["stage"] == "triaged"  # the original carries on

    # Neither itself, nor an unknown case, nor a case that is no longer open.
    other = (await post(api, "/cases", intake(), AGENT))["number"]
    itself = await api.post(f"/cases/{other}/duplicate", json={"original": other}, headers=AGENT)
    assert itself.status_code == 422 and itself.json()["field"] == "original"
    unknown = await api.post(f"/cases/{other}/duplicate", json={"original": "SQ-20200101-999999"}, headers=AGENT)
    assert unknown.status_code == 422 and unknown.json()["field"] == "original"
    archived = await api.post(f"/cases/{other}/duplicate", json={"original": duplicate}, headers=AGENT)
    assert archived.status_code == 409
    assert f"case {duplicate} is archived" in archived.json()["detail"]
    assert (await api.get(f"/cases/{other}", headers=AGENT)).json()["live"]["stage"] == "received"


async def test_a_simple_case_answered_at_first_contact_goes_straight_to_the_survey(
    api: httpx.AsyncClient, database: Database
) -> None:
    # An order of its own: an earlier case on the same order and product would make it a repeat
    # failure (suggested P2), and answering that at P4 needs an override_reason.
    question = intake(
        description="How do I descale the kettle?",
        demands=["explanation"],
        order={"number": f"ORD-{uuid4().hex[:10]}", "paid_amount": "99.00", "currency": "CNY"},
    )
    case = await post(api, "/cases", question, AGENT)
    assert case["suggestion"]["priority"] == "P3"
    number = case["number"]
    answer = {"categories": ["usage"], "article": "KB-DESCALE-1", "answer": "Boil 1:1 water and vinegar, rinse twice."}
    answered = await post(api, f"/cases/{number}/first-contact-answer", answer, AGENT)
    assert (answered["stage"], answered["categories"], answered["priority"]) == ("awaiting_feedback", ["usage"], "P4")
    assert answered["clocks"]["first_reply"]["state"] == "met"
    assert answered["clocks"]["survey"]["state"] == "running"
    event = await wait_for_event(database, number, "first_contact_resolved")
    assert event.data["article"] == "KB-DESCALE-1" and (event.actor_id, event.actor_role) == ("agent-li", "agent")
    assert ("customer", "answer_and_survey") in [(o.recipient, o.topic) for o in await database.store.outbox(number)]

    # Only at receipt: a triaged case is past first contact.
    later = (await open_and_triage(api, priority="P3"))["number"]
    refused = await api.post(f"/cases/{later}/first-contact-answer", json=answer, headers=AGENT)
    assert refused.status_code == 409 and refused.json()["stage"] == "triaged"

    await post(api, f"/cases/{number}/feedback", {"score": 5}, AGENT)
    detail = await wait_for_stage(api, number, "archived", AGENT, "record")
    assert detail["record"]["outcome"] == "satisfied"
    kinds = [e.kind for e in await database.store.timeline(number)]
    assert kinds == ["received", "first_contact_resolved", "closed", "archived"]


async def test_a_supervisor_reassigns_a_case_to_another_departments_queue_or_a_handler(
    api: httpx.AsyncClient, database: Database
) -> None:
    number = (await open_and_triage(api, priority="P3"))["number"]
    await post(api, f"/cases/{number}/accept", None, HANDLER)
    refused = await api.post(
        f"/cases/{number}/reassign", json={"department": "logistics", "reason": "x"}, headers=HANDLER
    )
    assert refused.status_code == 403

    # Wrongly routed: back to the logistics queue, where a logistics handler claims it.
    moved = await post(
        api, f"/cases/{number}/reassign", {"department": "logistics", "reason": "lost parcel, not a defect"}, SUPERVISOR
    )
    assert (moved["stage"], moved["department"], moved["assignee"]) == ("triaged", "logistics", None)
    event = await wait_for_event(database, number, "reassigned")
    assert event.data == {
        "from": {"department": "quality", "assignee": "handler-wang"},
        "to": {"department": "logistics", "assignee": None},
        "reason": "lost parcel, not a defect",
    }
    assert (event.seq, "department:logistics", "case_assigned") in [
        (o.seq, o.recipient, o.topic) for o in await database.store.outbox(number)
    ]
    assert (await api.get(f"/cases/{number}", headers=HANDLER)).status_code == 404  # quality no longer sees it
    accepted = await post(api, f"/cases/{number}/accept", None, handler("logistics", "handler-zhou"))
    assert accepted["assignee"] == "handler-zhou"

    # Straight to a named handler of the same department.
    given = await post(
        api, f"/cases/{number}/reassign", {"assignee": "handler-qian", "reason": "handler-zhou is on leave"}, SUPERVISOR
    )
    assert (given["stage"], given["department"], given["assignee"]) == ("in_handling", "logistics", "handler-qian")
    empty = await api.post(f"/cases/{number}/reassign", json={"reason": "nothing named"}, headers=SUPERVISOR)
    assert empty.status_code == 422 and empty.json()["field"] == "department"
