"""Brief answers (issue 19 §4): a caller that reads the case elsewhere asks for `CaseBrief`, and the
case keeps only that in its history; every other caller still gets the whole view."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.testing import WorkflowEnvironment

from api.prefer import preferences
from core.answer_form import brief_answers
from domain.case import Note, TriageDecision
from domain.state import CaseBrief
from services.case_actions import send_action
from tests.conftest import Database, app_settings
from tests.support.api import post
from tests.support.people import AGENT, AGENT_ACTOR, HANDLER, TRIAGE, intake
from workflows.case import CaseWorkflow

BRIEF_FIELDS = set(CaseBrief.model_fields)
DECISION = TriageDecision.model_validate(TRIAGE)


async def _answers(env: WorkflowEnvironment, number: str) -> list[dict[str, Any]]:
    """Every update's answer as the history keeps it, in order."""
    history = await env.client.get_workflow_handle(number).fetch_history()
    found = []
    for event in history.events:
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_COMPLETED:
            payloads = event.workflow_execution_update_completed_event_attributes.outcome.success.payloads
            found.append(json.loads(payloads[0].data))
    return found


async def test_an_api_caller_preferring_minimal_gets_the_brief_answer_and_the_history_keeps_only_it(
    api: httpx.AsyncClient, database: Database, env: WorkflowEnvironment, worker: str
) -> None:
    number = (await post(api, "/cases", intake(), AGENT))["number"]
    minimal = {**AGENT, "Prefer": 'return="minimal"'}
    response = await api.post(f"/cases/{number}/triage", json=TRIAGE, headers=minimal)
    assert response.status_code == 200, response.text
    assert response.headers["Preference-Applied"] == "return=minimal"
    brief = response.json()
    assert set(brief) == BRIEF_FIELDS
    assert brief["number"] == number and brief["stage"] == "triaged" and brief["seq"] >= 2
    # Without the preference, the next action answers with the whole view, as before.
    view = await post(api, f"/cases/{number}/accept", None, HANDLER)
    assert view["clocks"] and view["seq"] > brief["seq"]
    _receipt, triaged, accepted = await _answers(env, number)
    assert set(triaged) == BRIEF_FIELDS and len(json.dumps(triaged)) < 100
    assert "clocks" in accepted and len(json.dumps(accepted)) > 3 * len(json.dumps(triaged))
    # What the detail page reads is the whole case, whichever answer was given.
    detail = (await api.get(f"/cases/{number}", headers=AGENT)).json()
    assert detail["live"]["stage"] == "in_handling"


async def test_a_repeated_minimal_action_replays_its_brief_answer(
    api: httpx.AsyncClient, database: Database, env: WorkflowEnvironment, worker: str
) -> None:
    number = (await post(api, "/cases", intake(), AGENT))["number"]
    headers = {**AGENT, "Prefer": "return=minimal", "Idempotency-Key": "brief-triage-1"}
    first = await api.post(f"/cases/{number}/triage", json=TRIAGE, headers=headers)
    again = await api.post(f"/cases/{number}/triage", json=TRIAGE, headers=headers)
    assert first.status_code == again.status_code == 200
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == first.json() and set(first.json()) == BRIEF_FIELDS
    assert len(await _answers(env, number)) == 2  # the receipt and one triage


async def test_the_console_sends_actions_for_brief_answers(
    api: httpx.AsyncClient, database: Database, env: WorkflowEnvironment, worker: str
) -> None:
    # The console redirects to the case page after an action: it never reads the answer.
    number = (await post(api, "/cases", intake(), AGENT))["number"]
    settings = app_settings(database, worker)
    answer = await send_action(env.client, settings, number, AGENT_ACTOR, CaseWorkflow.triage, [DECISION], None)
    assert isinstance(answer, CaseBrief) and answer.stage == "triaged"
    assert set((await _answers(env, number))[-1]) == BRIEF_FIELDS


async def test_concurrent_updates_each_answer_in_the_form_their_caller_asked(
    api: httpx.AsyncClient, database: Database, env: WorkflowEnvironment, worker: str
) -> None:
    number = (await post(api, "/cases", intake(), AGENT))["number"]
    await post(api, f"/cases/{number}/triage", TRIAGE, AGENT)
    await post(api, f"/cases/{number}/accept", None, HANDLER)  # notes are taken from handling on
    handle = env.client.get_workflow_handle(number)

    async def note(text: str, brief: bool) -> Any:
        # Sent together: the case takes them one by one under its lock, each handler awaiting.
        # Read as plain JSON (so by the update's name), to see which form each answer took.
        send = handle.execute_update("add_note", args=[AGENT_ACTOR, Note(text=text)], result_type=dict)
        if brief:
            with brief_answers():
                return await send
        return await send

    wishes = [i % 2 == 0 for i in range(6)]
    answers = await asyncio.gather(*(note(f"note {i}", brief) for i, brief in enumerate(wishes)))
    for brief, got in zip(wishes, answers, strict=True):
        assert (set(got) == BRIEF_FIELDS) is brief, got
        assert ("clocks" in got) is not brief


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, set()),
        ("return=minimal", {"return=minimal"}),
        ('Respond-Async, return="minimal"; x=1', {"respond-async", "return=minimal"}),
        ("return=representation", {"return=representation"}),
        (" , ;", set()),
    ],
)
def test_prefer_header_is_read_as_rfc_7240_writes_it(header: str | None, expected: set[str]) -> None:
    assert preferences(header) == expected


async def test_a_case_opened_preferring_minimal_answers_briefly_from_its_receipt(
    api: httpx.AsyncClient, database: Database, env: WorkflowEnvironment, worker: str
) -> None:
    response = await api.post("/cases", json=intake(), headers={**AGENT, "Prefer": "return=minimal"})
    assert response.status_code == 201, response.text
    brief = response.json()
    assert set(brief) == BRIEF_FIELDS and brief["stage"] == "received" and brief["seq"] >= 1
    assert response.headers["Location"] == f"/cases/{brief['number']}"
    assert response.headers["Preference-Applied"] == "return=minimal"
    assert set((await _answers(env, brief["number"]))[0]) == BRIEF_FIELDS
    # Without the preference the receipt is the view, as the API has always answered.
    view = await post(api, "/cases", intake(), AGENT)
    assert "clocks" in view and "clocks" in (await _answers(env, view["number"]))[0]
