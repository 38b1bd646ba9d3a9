"""A long case continues as new and nothing of it is lost (issue 19 §5).

The case workflow continues as new when the server suggests it (workflows/case/workflow.py, the
main loop), carrying its state. The server suggests it past `limit.historyCount.suggestContinueAsNew`
events (4,096 by default, which only years of reopens reach): this module runs its own dev server
with the threshold lowered, so one case reopened a few times crosses the boundary more than once
with the same code and policies as in production. Across it the case keeps its number, its
timeline's sequence (the record's numbering goes on without a gap or a repeat), its clocks as they
stood, its pinned policy and calendar versions, and the action that was in flight when the server
suggested it (the run waits for every handler to finish before it continues)."""

from __future__ import annotations

import asyncio
import sysconfig
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from temporalio.client import WorkflowExecutionStatus
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import TimeSkippingConfig, WorkflowEnvironment

from api.app import create_app
from core.action_signing import ActionSigner
from core.settings import Settings
from domain import search_attributes
from domain.state import CaseStart
from store.db import session_factory
from tests.conftest import RECORD_HISTORIES, Database, _record_histories, app_settings
from tests.support.api import drive_to_feedback, open_and_triage, post
from tests.support.people import AGENT, HANDLER, OVERRIDE_REASON, PLAN
from tests.support.temporal_env import own_time_skipping_environment
from tests.support.workers import in_process_worker

TEMPORAL_CLI = Path(sysconfig.get_path("scripts")) / "temporal"
# Events after which the server suggests continuing as new: a case's first cycle (intake to feedback)
# takes about this many, so each reopen crosses it.
SUGGEST_AFTER_EVENTS = 60
REOPENS = 2


@pytest.fixture(scope="module")
async def short_history_env() -> AsyncIterator[WorkflowEnvironment]:
    environment = await own_time_skipping_environment(
        ts_config=TimeSkippingConfig(enabled=False),
        dev_server_existing_path=str(TEMPORAL_CLI),
        dev_server_extra_args=[
            "--dynamic-config-value",
            "frontend.WorkflowTimeSkippingEnabled=true",
            "--dynamic-config-value",
            f"limit.historyCount.suggestContinueAsNew={SUGGEST_AFTER_EVENTS}",
        ],
        search_attributes=search_attributes.ALL,
        data_converter=pydantic_data_converter,
        interceptors=[ActionSigner(Settings().action_keys()[0])],
    )
    yield environment
    if RECORD_HISTORIES:  # the continued cases join the baseline (scripts/record_histories.sh)
        await _record_histories(environment.client, Path(RECORD_HISTORIES))
    await environment.shutdown()


@pytest.fixture(scope="module")
async def long_api(short_history_env: WorkflowEnvironment, database: Database) -> AsyncIterator[httpx.AsyncClient]:
    queue = f"continue-as-new-{database.backend}"
    settings = app_settings(database, queue)
    app = create_app(settings, temporal=short_history_env.client, sessions=session_factory(database.engine))
    worker = in_process_worker(
        short_history_env.client, database.store, queue, workflow_failure_exception_types=[Exception]
    )
    async with worker, httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        yield client


async def _continued(env: WorkflowEnvironment, number: str) -> int:
    """How many times the case has continued as new: its runs followed back from the current one
    through their histories (visibility, which lists runs, trails them under load)."""
    count, run_id = 0, None
    while True:
        history = await env.client.get_workflow_handle(number, run_id=run_id).fetch_history()
        previous = history.events[0].workflow_execution_started_event_attributes.continued_execution_run_id
        if not previous:
            return count
        count, run_id = count + 1, previous


async def _current_run(env: WorkflowEnvironment, number: str) -> str:
    description = await env.client.get_workflow_handle(number).describe()
    assert description.status is WorkflowExecutionStatus.RUNNING, description.status
    return description.run_id


async def _live(api: httpx.AsyncClient, number: str) -> dict:
    return (await api.get(f"/cases/{number}", headers=AGENT)).json()["live"]


def _assert_timeline_numbered_on(timeline: list, live: dict) -> None:
    # The record's timeline numbers on across the runs: 1..n, no gap, no repeat; the live state agrees.
    assert [e.seq for e in timeline] == list(range(1, len(timeline) + 1))
    assert live["seq"] == len(timeline)


async def test_a_case_reopened_again_and_again_continues_as_new_and_keeps_everything(
    long_api: httpx.AsyncClient, short_history_env: WorkflowEnvironment, database: Database
) -> None:
    api, env = long_api, short_history_env
    number = (await open_and_triage(api, priority="P3"))["number"]
    pinned = {k: (await _live(api, number))[k]["version"] for k in ("policy", "calendar")}
    triage = {"categories": ["product_quality"], "priority": "P3", "department": "quality"}
    for _ in range(REOPENS):
        await drive_to_feedback(api, number)
        await post(api, f"/cases/{number}/feedback", {"score": 2, "comment": "still broken"}, AGENT)
        await post(api, f"/cases/{number}/triage", triage | {"override_reason": OVERRIDE_REASON}, AGENT)
    crossed = await _continued(env, number)
    assert crossed >= 1  # the reopens crossed the boundary

    # In handling, clocks running: what the case holds now must come through the next boundary as it is.
    await post(api, f"/cases/{number}/accept", None, HANDLER)
    before = await _live(api, number)
    due = (await api.get(f"/cases/{number}", headers=AGENT)).json()["sla"]["next_deadline"]
    assert due is not None
    assert "running" in {clock["state"] for clock in before["clocks"].values()}, before["clocks"]
    run = await _current_run(env, number)
    # Notes four at a time until the server suggests ending the run: the run waits for the handlers
    # in flight, and every note is answered and recorded once, whichever run took it.
    sent = 0
    while await _current_run(env, number) == run:
        assert sent < 80, "the server never suggested continuing as new"
        notes = [{"text": f"customer called again ({sent + i})"} for i in range(4)]
        answers = await asyncio.gather(*(api.post(f"/cases/{number}/notes", json=n, headers=HANDLER) for n in notes))
        assert [a.status_code for a in answers] == [200] * 4, [a.text for a in answers]
        sent += 4

    assert await _continued(env, number) > crossed
    after = await _live(api, number)
    assert after["number"] == number and after["reopen_count"] == REOPENS
    assert {k: after[k]["version"] for k in ("policy", "calendar")} == pinned
    assert after["clocks"] == before["clocks"]
    assert (await api.get(f"/cases/{number}", headers=AGENT)).json()["sla"]["next_deadline"] == due
    timeline = await database.store.timeline(number)
    _assert_timeline_numbered_on(timeline, after)
    assert [e.kind for e in timeline].count("reopened") == REOPENS
    assert sorted(e.data["text"] for e in timeline if e.kind == "note_added") == sorted(
        f"customer called again ({i})" for i in range(sent)
    )
    # The new run started from the state the last one carried, not from a fresh intake.
    history = await env.client.get_workflow_handle(number).fetch_history()
    carried = CaseStart.model_validate_json(
        history.events[0].workflow_execution_started_event_attributes.input.payloads[0].data
    )
    assert carried.state is not None and carried.state.number == number and carried.state.seq > 1

    # And the case goes on in the new run.
    assert (await post(api, f"/cases/{number}/plan", PLAN, HANDLER))["stage"] == "plan_proposed"
    _assert_timeline_numbered_on(await database.store.timeline(number), await _live(api, number))
