"""A case driven around the whole loop through the real API, worker and dev server."""

from __future__ import annotations

from datetime import timedelta

import httpx
from temporalio.testing import WorkflowEnvironment

from tests.conftest import Database
from tests.support.people import AGENT, HANDLER, HEAD, PLAN, TRIAGE, intake
from tests.support.waiting import wait_for_event, wait_for_stage
from workflows.case import CaseWorkflow


async def test_case_runs_from_receipt_to_archive(
    api: httpx.AsyncClient, database: Database, env: WorkflowEnvironment
) -> None:
    created = await api.post("/cases", json=intake(), headers=AGENT)
    assert created.status_code == 201, created.text
    case = created.json()
    number = case["number"]
    assert case["stage"] == "received"
    assert case["suggestion"]["categories"][0] == "product_quality"
    assert created.headers["location"] == f"/cases/{number}"

    steps = [
        ("triage", TRIAGE, AGENT, "triaged"),
        ("accept", None, HANDLER, "in_handling"),
        ("notes", {"text": "Asked the warehouse for the batch record"}, HANDLER, "in_handling"),
        ("info-requests", {"question": "Is the crack on the base or the lid?"}, HANDLER, "awaiting_customer"),
        ("customer-replies", {"text": "On the base"}, AGENT, "in_handling"),
        ("plan", PLAN, HANDLER, "plan_proposed"),
        ("reject", {"reason": "Also offer a replacement"}, HEAD, "in_handling"),
        ("plan", PLAN, HANDLER, "plan_proposed"),
        ("approve", {"comment": "ok"}, HEAD, "executing"),
    ]
    for action, body, who, stage in steps:
        response = await api.post(f"/cases/{number}/{action}", json=body, headers=who)
        assert response.status_code == 200, f"{action}: {response.text}"
        assert response.json()["stage"] == stage, action

    # The workflow carries out the approved resolution by itself, right after approval.
    detail = await wait_for_stage(api, number, "awaiting_feedback", AGENT)
    told = {"channel": "phone", "summary": "Refunded in full", "follow_up": "We call in a week"}
    assert (await api.post(f"/cases/{number}/result-told", json=told, headers=AGENT)).status_code == 200
    feedback = await api.post(f"/cases/{number}/feedback", json={"score": 5}, headers=AGENT)
    assert feedback.status_code == 200, feedback.text
    assert feedback.json()["stage"] == "closed"
    assert detail["live"]["assignee"] == "handler-wang"

    # A week after closing the customer is asked whether the fix held; "yes" archives the case.
    await env.fast_forward(env.client.get_workflow_handle_for(CaseWorkflow.run, number), timedelta(days=7, minutes=1))
    await wait_for_event(database, number, "fix_check_sent")
    held = await api.post(f"/cases/{number}/fix-check", json={"held": True}, headers=AGENT)
    assert held.status_code == 200, held.text
    await wait_for_stage(api, number, "archived", AGENT, source="record")
    timeline = (await api.get(f"/cases/{number}/timeline", headers=AGENT)).json()
    kinds = [event["kind"] for event in timeline]
    assert kinds == [
        "received",
        "triaged",
        "accepted",
        "note_added",
        "info_requested",
        "sla_paused",  # the plan and resolution clocks wait with the customer
        "customer_replied",
        "sla_resumed",
        "plan_proposed",
        "plan_rejected",
        "plan_proposed",
        "plan_approved",
        "resolution_executed",
        "result_told",
        "closed",
        "fix_check_sent",
        "fix_confirmed",
        "archived",
    ]
    assert [event["seq"] for event in timeline] == list(range(1, len(timeline) + 1))
    assert timeline[9]["data"]["reason"] == "Also offer a replacement"
    assert timeline[11]["actor_id"] == "head-sun"  # a P2 plan is approved by the after-sales head

    ledger = await database.store.ledger(number)
    assert [(entry.resolution_type, str(entry.amount)) for entry in ledger] == [("refund", "899.00")]
    outbox = await database.store.outbox(number)
    assert (outbox[0].recipient, outbox[0].topic) == ("customer", "acknowledgement")
    assert ("customer", "result_and_survey") in [(o.recipient, o.topic) for o in outbox]
