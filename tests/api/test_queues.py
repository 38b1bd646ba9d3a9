"""The supervisor's and the head's queues (issue 4): a case nobody claims in time escalates
to the supervisor queue, climbs to the head's, and leaves both once a handler takes it;
plans wait in the approver's queue. Real API, worker and dev server, time skipped per case."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import httpx
from temporalio.testing import WorkflowEnvironment

from tests.conftest import Database
from tests.support.api import drive_to_feedback, open_and_triage, post
from tests.support.payments import Payments, approved_with
from tests.support.people import ADMIN, AGENT, HANDLER, HEAD, OTHER_HANDLER, OVERRIDE_REASON, PLAN, SUPERVISOR
from tests.support.waiting import wait_for_event
from workflows.case import CaseWorkflow

RANK = {"P1": 1, "P2": 2, "P3": 3, "P4": 4, None: 5}


async def queue(api: httpx.AsyncClient, name: str, who: dict[str, str], limit: int = 100) -> list[dict[str, Any]]:
    """The whole queue, page by page through the cursor (bounded: the shared database holds
    other tests' cases too)."""
    items: list[dict[str, Any]] = []
    cursor = None
    for _ in range(50):
        params: dict[str, Any] = {"limit": limit} | ({"cursor": cursor} if cursor else {})
        response = await api.get(f"/queues/{name}", params=params, headers=who)
        assert response.status_code == 200, response.text
        page = response.json()
        assert page["queue"] == name and len(page["items"]) <= limit
        items += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            assert len(items) == page["total"]
            return items
    raise AssertionError(f"{name} queue: more than 50 pages")


def entry(items: list[dict[str, Any]], number: str) -> dict[str, Any] | None:
    found = [item for item in items if item["number"] == number]
    assert len(found) <= 1, f"{number} listed {len(found)} times"
    return found[0] if found else None


async def test_an_unclaimed_case_escalates_to_the_supervisor_then_the_head_and_leaves_once_claimed(
    api: httpx.AsyncClient, database: Database, env: WorkflowEnvironment
) -> None:
    case = await open_and_triage(api, priority="P2")
    number = case["number"]
    respond_due = datetime.fromisoformat(case["clocks"]["respond"]["due_at"])
    received = datetime.fromisoformat(case["received_at"])
    assert entry(await queue(api, "supervisor", SUPERVISOR), number) is None

    # Nobody accepts it before the respond deadline (4 working hours for P2).
    handle = env.client.get_workflow_handle_for(CaseWorkflow.run, number)
    await env.fast_forward(handle, respond_due - received + timedelta(minutes=1))
    breach = await wait_for_event(database, number, "sla_breached")
    assert breach.data["clock"] == "respond"

    queued = entry(await queue(api, "supervisor", SUPERVISOR), number)
    assert queued is not None
    assert (queued["priority"], queued["department"], queued["stage"]) == ("P2", "quality", "triaged")
    assert (queued["escalation_level"], queued["escalated_to"], queued["sla_state"]) == (1, "supervisor", "breached")
    assert datetime.fromisoformat(queued["missed_deadline"]) == respond_due
    assert datetime.fromisoformat(queued["since"]) == breach.at
    (reason,) = queued["reasons"]
    assert reason["reason"] == "sla_escalated"
    assert (reason["clock"], reason["escalation_level"], reason["escalated_to"]) == ("respond", 1, "supervisor")
    assert datetime.fromisoformat(reason["missed_deadline"]) == respond_due
    assert datetime.fromisoformat(reason["since"]) == breach.at
    # The head's queue holds it only once it climbs there; the head and admins see the supervisor queue.
    assert entry(await queue(api, "head", HEAD), number) is None
    assert entry(await queue(api, "supervisor", HEAD), number) is not None
    assert entry(await queue(api, "supervisor", ADMIN), number) is not None

    # Still unclaimed 4 hours later: the ladder's next rung, the after-sales head.
    await env.fast_forward(handle, timedelta(hours=4))
    climbed = await wait_for_event(database, number, "sla_escalated")
    at_head = entry(await queue(api, "head", HEAD), number)
    assert at_head is not None
    assert (at_head["escalation_level"], at_head["escalated_to"]) == (2, "head")
    assert datetime.fromisoformat(at_head["since"]) == climbed.at
    (reason,) = at_head["reasons"]
    assert (reason["reason"], reason["clock"], reason["escalated_to"]) == ("sla_escalated", "respond", "head")
    assert datetime.fromisoformat(reason["missed_deadline"]) == respond_due
    # Escalated to the head is also "supervisor or above": still in the supervisor queue, since the breach.
    in_supervisor = entry(await queue(api, "supervisor", SUPERVISOR), number)
    assert in_supervisor is not None and datetime.fromisoformat(in_supervisor["since"]) == breach.at

    # A handler claims it: the respond deadline is met and the case leaves both queues.
    await post(api, f"/cases/{number}/accept", None, HANDLER)
    assert entry(await queue(api, "supervisor", SUPERVISOR), number) is None
    assert entry(await queue(api, "head", HEAD), number) is None


async def test_a_plan_waits_in_its_approvers_queue(api: httpx.AsyncClient, database: Database) -> None:
    minor = (await open_and_triage(api, priority="P3"))["number"]
    major = (await open_and_triage(api, priority="P1"))["number"]
    for number in (minor, major):
        await post(api, f"/cases/{number}/accept", None, HANDLER)
    proposed = await post(api, f"/cases/{minor}/plan", PLAN, HANDLER)
    await post(api, f"/cases/{major}/plan", PLAN, HANDLER)

    supervisor, head = await queue(api, "supervisor", SUPERVISOR), await queue(api, "head", HEAD)
    # Grade III is approved by a module lead (the supervisor), grade I by the head.
    waiting = entry(supervisor, minor)
    assert waiting is not None and entry(head, minor) is None
    assert [r["reason"] for r in waiting["reasons"]] == ["awaiting_approval"]
    assert waiting["reasons"][0]["since"] == waiting["since"]
    assert datetime.fromisoformat(waiting["since"]) == datetime.fromisoformat(proposed["updated_at"])
    assert waiting["missed_deadline"] is None
    assert entry(head, major) is not None and entry(supervisor, major) is None
    assert [r["reason"] for r in entry(head, major)["reasons"]] == ["awaiting_approval"]

    await post(api, f"/cases/{minor}/approve", {"comment": "ok"}, SUPERVISOR)
    assert entry(await queue(api, "supervisor", SUPERVISOR), minor) is None


async def test_a_case_reopened_too_often_waits_in_the_heads_queue_until_the_head_triages_it(
    api: httpx.AsyncClient, database: Database
) -> None:
    number = (await open_and_triage(api, priority="P3"))["number"]
    triage = {
        "categories": ["product_quality"],
        "priority": "P3",
        "department": "quality",
        "override_reason": OVERRIDE_REASON,
    }
    for reopen in (1, 2, 3):
        await drive_to_feedback(api, number)
        await post(api, f"/cases/{number}/feedback", {"score": 2, "comment": "still broken"}, AGENT)
        if reopen < 3:
            assert entry(await queue(api, "head", HEAD), number) is None  # an agent triages it again
            await post(api, f"/cases/{number}/triage", triage, AGENT)
    reached = await wait_for_event(database, number, "reopen_limit_reached")
    waiting = entry(await queue(api, "head", HEAD), number)
    assert waiting is not None and waiting["stage"] == "reopened"
    assert [r["reason"] for r in waiting["reasons"]] == ["reopen_limit"]
    assert datetime.fromisoformat(waiting["since"]) == reached.at
    await post(api, f"/cases/{number}/triage", triage, HEAD)
    assert entry(await queue(api, "head", HEAD), number) is None


async def test_a_resolution_no_route_could_carry_out_waits_in_the_supervisor_queue(
    payments: Payments,
    database: Database,
) -> None:
    number, _ = await approved_with(payments, PLAN["resolution"], refuse=["original", "alternative"])
    task = await wait_for_event(database, number, "follow_up_task_created")
    waiting = entry(await queue(payments.api, "supervisor", SUPERVISOR), number)
    assert waiting is not None and waiting["stage"] == "executing"
    assert [r["reason"] for r in waiting["reasons"]] == ["follow_up_task"]
    assert datetime.fromisoformat(waiting["since"]) == task.at
    await post(payments.api, f"/cases/{number}/follow-up/complete", {"reference": "BANK-TRANSFER-9"}, SUPERVISOR)
    assert entry(await queue(payments.api, "supervisor", SUPERVISOR), number) is None


async def test_queues_are_ordered_paged_and_closed_to_handlers_and_agents(api: httpx.AsyncClient) -> None:
    # At least three cases waiting for the head, so pages of two are really cut.
    for _ in range(3):
        number = (await open_and_triage(api, priority="P2"))["number"]
        await post(api, f"/cases/{number}/accept", None, HANDLER)
        await post(api, f"/cases/{number}/plan", PLAN, HANDLER)
    whole = await queue(api, "head", HEAD)
    paged = await queue(api, "head", HEAD, limit=2)
    assert [i["number"] for i in paged] == [i["number"] for i in whole]
    assert len(whole) >= 3
    # Most urgent first: priority, then the longest waiting.
    keys = [(RANK[i["priority"]], datetime.fromisoformat(i["since"]), i["number"]) for i in whole]
    assert keys == sorted(keys)

    by_department = (
        await api.get("/queues/head", params={"department": "logistics", "limit": 100}, headers=HEAD)
    ).json()
    assert {i["department"] for i in by_department["items"]} <= {"logistics"}

    bad = await api.get("/queues/supervisor", params={"cursor": "not-a-cursor"}, headers=SUPERVISOR)
    assert bad.status_code == 422
    assert [e["field"] for e in bad.json()["errors"]] == ["query.cursor"]
    for path, who in [
        ("/queues/supervisor", HANDLER), ("/queues/supervisor", OTHER_HANDLER), ("/queues/supervisor", AGENT),
        ("/queues/head", HANDLER), ("/queues/head", AGENT), ("/queues/head", SUPERVISOR),
    ]:  # fmt: skip
        refused = await api.get(path, headers=who)
        assert refused.status_code == 403, (path, refused.text)
        assert refused.json()["title"] == "Role not permitted"
