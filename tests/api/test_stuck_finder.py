"""The stuck-case finder (`GET /ops/stuck`, `aftersales cases stuck`) lists exactly the
stuck cases of a seeded set, with the right reasons, on SQLite and PostgreSQL.

Other tests' cases share the database, so this module opens its cases through an
app whose case numbers carry a prefix of their own (STKQ / STKP) and asserts on those.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment
from typer.testing import CliRunner

from api.app import create_app
from core.settings import Settings
from domain.records import ResolutionOrder
from services.stuck import format_duration
from store.cases import CaseStore
from store.db import session_factory
from tests.conftest import Database
from tests.support.api import drive_to_feedback, post
from tests.support.people import AGENT, HANDLER, HEAD, PLAN, SUPERVISOR, TRIAGE, handler, intake
from tests.support.waiting import wait_for_event
from tests.support.workers import in_process_worker
from workflows.case import CaseWorkflow

PREFIX = {"sqlite": "STKQ", "postgresql": "STKP"}
UI = "http://temporal-ui.test:8233"


class LedgerDown(CaseStore):
    """The ledger refuses every resolution: the execution activity fails again and again."""

    async def record_resolution(self, order: ResolutionOrder) -> Any:
        raise RuntimeError("ledger service unavailable (503)")


@dataclass
class Apps:
    settings: Settings
    api: httpx.AsyncClient  # the normal worker
    failing: httpx.AsyncClient  # same database and prefix, a worker whose ledger is down


@pytest.fixture(scope="module")
async def apps(env: WorkflowEnvironment, database: Database, worker: str) -> AsyncIterator[Apps]:
    prefix = PREFIX[database.backend]
    sessions = session_factory(database.engine)
    settings = Settings(task_queue=worker, database_url=database.url, case_number_prefix=prefix, temporal_ui_url=UI)
    failing_queue = f"stuck-ledger-down-{database.backend}"
    failing_settings = settings.model_copy(update={"task_queue": failing_queue})
    transport = httpx.ASGITransport(app=create_app(settings, temporal=env.client, sessions=sessions))
    failing_transport = httpx.ASGITransport(app=create_app(failing_settings, temporal=env.client, sessions=sessions))
    async with (
        in_process_worker(env.client, LedgerDown(sessions, prefix), failing_queue),
        httpx.AsyncClient(transport=transport, base_url="http://aftersales.test") as api,
        httpx.AsyncClient(transport=failing_transport, base_url="http://aftersales.test") as failing,
    ):
        yield Apps(settings, api, failing)


async def open_triaged(api: httpx.AsyncClient, **triage: Any) -> dict[str, Any]:
    case = await post(api, "/cases", intake(), AGENT)
    return await post(api, f"/cases/{case['number']}/triage", TRIAGE | triage, AGENT)


async def fast_forward_past(env: WorkflowEnvironment, database: Database, case: dict[str, Any], clock: str) -> None:
    handle = env.client.get_workflow_handle_for(CaseWorkflow.run, case["number"])
    due = datetime.fromisoformat(case["clocks"][clock]["due_at"])
    await env.fast_forward(handle, due - datetime.fromisoformat(case["received_at"]) + timedelta(minutes=1))
    await wait_for_event(database, case["number"], "sla_breached")


async def wait_for_attempts(handle: WorkflowHandle, attempts: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while True:
        pending = (await handle.describe()).raw_description.pending_activities
        if any(activity.attempt >= attempts for activity in pending):
            return
        assert time.monotonic() < deadline, (
            f"{handle.id}: no activity at attempt {attempts} after {timeout}s: {pending}"
        )
        await asyncio.sleep(0.2)


async def stuck(api: httpx.AsyncClient, prefix: str, **params: Any) -> dict[str, dict[str, Any]]:
    response = await api.get("/ops/stuck", params={"limit": 500, **params}, headers=SUPERVISOR)
    assert response.status_code == 200, response.text
    page = response.json()
    assert page["total"] <= 500, "the seeded cases might be cut off"
    return {item["number"]: item for item in page["items"] if item["number"].startswith(prefix + "-")}


async def test_the_stuck_finder_lists_exactly_the_stuck_cases_of_a_seeded_set(
    apps: Apps, database: Database, env: WorkflowEnvironment
) -> None:
    api, prefix = apps.api, apps.settings.case_number_prefix
    # Idle: handled, then nothing happens (the threshold below makes it "too long").
    idle = await open_triaged(api, priority="P4", categories=["size_fit"], department="sales")
    await post(api, f"/cases/{idle['number']}/accept", None, handler("sales"))
    (accepted,) = [e for e in await database.store.timeline(idle["number"]) if e.kind == "accepted"]
    await asyncio.sleep(3)  # every other case moves at least 3 s later

    breached = await open_triaged(api, priority="P1", department="logistics")  # nobody accepts it in 2 h
    await fast_forward_past(env, database, breached, "respond")

    breached_approval = await open_triaged(api, priority="P1")
    await post(api, f"/cases/{breached_approval['number']}/accept", None, HANDLER)
    planned = await post(api, f"/cases/{breached_approval['number']}/plan", PLAN, HANDLER)
    # Nobody approves it within the 2 h a P1 plan's approval may take.
    await fast_forward_past(env, database, planned | {"received_at": planned["updated_at"]}, "approval")

    approval = await open_triaged(api, priority="P3")
    await post(api, f"/cases/{approval['number']}/accept", None, HANDLER)
    await post(api, f"/cases/{approval['number']}/plan", PLAN, HANDLER)

    fresh = await open_triaged(api, priority="P3")
    awaiting_feedback = await open_triaged(api, priority="P3")
    await drive_to_feedback(api, awaiting_feedback["number"])
    closed = await open_triaged(api, priority="P3")
    await drive_to_feedback(api, closed["number"])
    # Closed as satisfied: it waits a week for the fix check, and is not stuck meanwhile.
    assert (await post(api, f"/cases/{closed['number']}/feedback", {"score": 5}, AGENT))["stage"] == "closed"

    failing = await open_triaged(apps.failing, priority="P3")
    failing_handle = env.client.get_workflow_handle_for(CaseWorkflow.run, failing["number"])
    try:
        await post(apps.failing, f"/cases/{failing['number']}/accept", None, HANDLER)
        await post(apps.failing, f"/cases/{failing['number']}/plan", PLAN, HANDLER)
        await post(apps.failing, f"/cases/{failing['number']}/approve", {}, SUPERVISOR)
        await env.fast_forward(failing_handle, timedelta(seconds=30))  # through the retry backoff
        await wait_for_attempts(failing_handle, 3)

        # Sitting in one stage longer than (just under) the time the idle case has.
        threshold = datetime.now(UTC) - accepted.at - timedelta(seconds=1.5)
        found = await stuck(api, prefix, in_stage_longer_than_hours=threshold.total_seconds() / 3600)
        reasons = {number: set(item["reasons"]) for number, item in found.items()}
        assert reasons == {
            idle["number"]: {"in_stage_too_long"},
            breached["number"]: {"breached"},
            breached_approval["number"]: {"breached", "awaiting_approval"},
            approval["number"]: {"awaiting_approval"},
            failing["number"]: {"activity_failing"},
        }
        not_stuck = {fresh["number"], awaiting_feedback["number"], closed["number"]}
        assert not not_stuck & set(found)

        row = found[idle["number"]]
        where = (row["stage"], row["priority"], row["department"], row["assignee"])
        assert where == ("in_handling", "P4", "sales", "handler-wang")
        assert datetime.fromisoformat(row["in_stage_since"]) == accepted.at
        assert timedelta(seconds=threshold.total_seconds()) < _duration(row["waited"]) < timedelta(minutes=5)
        assert row["temporal_ui"] == f"{UI}/namespaces/default/workflows/{idle['number']}"
        assert row["next_deadline"] is not None and row["failing_activity"] is None

        row = found[breached_approval["number"]]
        assert (row["stage"], row["sla_state"], row["escalation_level"]) == ("plan_proposed", "breached", 1)
        row = found[breached["number"]]
        assert (row["stage"], row["priority"], row["department"]) == ("triaged", "P1", "logistics")
        row = found[failing["number"]]
        assert row["stage"] == "executing"
        assert row["failing_activity"].startswith("execute_resolution, attempt ")
        assert "ledger service unavailable (503)" in row["failing_activity"]
        # Breached cases first, the highest escalation first.
        order = [number for number in found]
        assert order.index(breached["number"]) < order.index(approval["number"])

        # With the default threshold (24 h) the idle case is not stuck yet.
        default = await stuck(api, prefix)
        assert set(default) == set(found) - {idle["number"]}
        assert set(default[failing["number"]]["reasons"]) == {"activity_failing"}

        # The same list in the terminal.
        table = await asyncio.to_thread(_cli_stuck, apps.settings, env, database)
        for number in default:
            assert number in table
        assert f"{UI}/namespaces/default/workflows/{breached['number']}" in table
        assert "execute_resolution, attempt" in table
        assert idle["number"] not in table and fresh["number"] not in table
    finally:
        await failing_handle.terminate("test over: the ledger stays down")


async def test_only_supervisors_head_and_admin_see_it_and_the_limit_is_bounded(apps: Apps) -> None:
    assert (await apps.api.get("/ops/stuck", headers=AGENT)).status_code == 403
    assert (await apps.api.get("/ops/stuck", headers=HANDLER)).status_code == 403
    assert (await apps.api.get("/ops/stuck", params={"limit": 1}, headers=HEAD)).status_code == 200
    refused = await apps.api.get("/ops/stuck", params={"limit": 501}, headers=SUPERVISOR)
    assert refused.status_code == 422
    assert (
        await apps.api.get("/ops/stuck", params={"in_stage_longer_than_hours": 0}, headers=SUPERVISOR)
    ).status_code == 422
    one = (await apps.api.get("/ops/stuck", params={"limit": 1}, headers=SUPERVISOR)).json()
    assert len(one["items"]) <= 1 and one["limit"] == 1


def test_durations_read_like_a_person_wrote_them() -> None:
    assert [format_duration(timedelta(seconds=s)) for s in (12, 125, 3 * 3600 + 7 * 60, 2 * 86400 + 5 * 3600)] == [
        "12 s", "2 min", "3 h 7 min", "2 d 5 h",
    ]  # fmt: skip
    assert format_duration(timedelta(seconds=-5)) == "0 s"


def _duration(iso: str) -> timedelta:
    """pydantic's ISO 8601 durations, e.g. `PT3.5S`, `P1DT2H`."""
    from pydantic import TypeAdapter

    return TypeAdapter(timedelta).validate_python(iso)


def _cli_stuck(settings: Settings, env: WorkflowEnvironment, database: Database) -> str:
    import cli.app as cli
    from cli import common

    cli_settings = settings.model_copy(update={"temporal_address": env.client.service_client.config.target_host})
    original = common.get_settings
    common.get_settings = lambda: cli_settings
    try:
        result = CliRunner().invoke(cli.app, ["cases", "stuck", "--limit", "500"], env={"COLUMNS": "400"})
    finally:
        common.get_settings = original
    assert result.exit_code == 0, result.output
    return result.output


async def test_a_record_the_database_refuses_for_good_stops_retrying_and_is_listed(
    apps: Apps, env: WorkflowEnvironment, database: Database, worker: str
) -> None:
    """Issue 13 §2: a write the database refuses for good (there a NUL character on
    PostgreSQL; the models now refuse it before any database sees it, so the test database
    is given a rule that refuses one canary description). The receipt's write fails once, not
    for ever; the case is listed as stuck with the reason, and its history stays short."""
    from domain.case import CaseIntake
    from domain.state import CaseStart
    from tests.support.people import AGENT_ACTOR

    canary = "db-refuses-this"
    async with database.engine.begin() as connection:
        if database.backend == "postgresql":
            await connection.execute(text(
                f"ALTER TABLE cases ADD CONSTRAINT refuse_canary CHECK (position('{canary}' in description) = 0) NOT VALID"
            ))  # fmt: skip
        else:
            await connection.execute(text(
                f"CREATE TRIGGER refuse_canary BEFORE INSERT ON cases WHEN instr(NEW.description, '{canary}') > 0 "
                "BEGIN SELECT RAISE(ABORT, 'refused'); END"
            ))  # fmt: skip
    prefix = PREFIX[database.backend]
    received = datetime.now(UTC)
    number = await CaseStore(database.store.sessions, prefix).next_case_number(received.strftime("%Y%m%d"))
    clean = CaseIntake.model_validate(intake())
    start = CaseStart(
        number=number, intake=clean.model_copy(update={"description": f"leaking {canary} base"}), received_at=received,
        received_by=AGENT_ACTOR,
    )  # fmt: skip
    try:
        await _refused_and_listed(apps, env, database, worker, start, number, prefix)
    finally:
        async with database.engine.begin() as connection:
            if database.backend == "postgresql":
                await connection.execute(text("ALTER TABLE cases DROP CONSTRAINT refuse_canary"))
            else:
                await connection.execute(text("DROP TRIGGER refuse_canary"))


async def _refused_and_listed(
    apps: Apps, env: WorkflowEnvironment, database: Database, worker: str, start, number: str, prefix: str
) -> None:  # noqa: ANN001
    handle = await env.client.start_workflow(CaseWorkflow.run, start, id=number, task_queue=worker)
    deadline = time.monotonic() + 60
    while number not in (listed := await stuck(apps.api, prefix)):
        assert time.monotonic() < deadline, "the refused case never reached the stuck finder"
        await asyncio.sleep(0.5)
    item = listed[number]
    assert "record_refused" in item["reasons"], item
    refusal = "CheckViolationError" if database.backend == "postgresql" else "IntegrityError"
    assert refusal in item["failing_activity"] and "#1 received" in item["failing_activity"], item
    assert "leaking" not in item["failing_activity"]  # the refused text is never repeated
    await asyncio.sleep(3)  # a retry loop would keep adding events
    history = await handle.fetch_history()
    assert len(history.events) < 30, len(history.events)
    assert not (await handle.describe()).raw_description.pending_activities
    assert await database.store.get_case(number) is None  # nothing half-written
