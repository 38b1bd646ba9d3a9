"""Uploading a new SLA policy or calendar re-plans exactly the open cases it affects."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

import httpx
import pytest
from temporalio.testing import WorkflowEnvironment

from tests.conftest import Database
from tests.support.api import calendar_of, drive_to_feedback, open_and_triage, post
from tests.support.people import ADMIN, AGENT, intake
from tests.support.waiting import wait_for_event

pytestmark = pytest.mark.usefixtures("built_in_rules_afterwards")


async def test_a_new_policy_replans_only_the_open_cases_it_changes(
    api: httpx.AsyncClient, database: Database, env: WorkflowEnvironment
) -> None:
    p2 = await open_and_triage(api, priority="P2")
    p4 = await open_and_triage(api, priority="P4")
    finished = (await open_and_triage(api, priority="P2"))["number"]
    await drive_to_feedback(api, finished)
    # Closed as satisfied (it archives after the fix check a week later): finished for re-planning.
    assert (await post(api, f"/cases/{finished}/feedback", {"score": 5}, AGENT))["stage"] == "closed"

    state = (await api.get(f"/cases/{p2['number']}", headers=AGENT)).json()["live"]
    policy = state["policy"] | {"version": f"faster-p2-{uuid.uuid4().hex[:6]}"}
    policy["targets"]["P2"]["resolution"]["budget"] = "PT27H"  # 3 working days instead of 5

    refused = await api.post("/admin/sla-policies", json=policy, headers=AGENT)
    assert refused.status_code == 403
    uploaded = await api.post("/admin/sla-policies", json=policy, headers=ADMIN)
    assert uploaded.status_code == 201, uploaded.text
    change = uploaded.json()
    assert change["created"] is True
    # The open P2 case changes; the P4 case's targets are the same; the closed case is done.
    assert p2["number"] in change["replanned"]
    assert p4["number"] not in change["replanned"]
    assert finished not in change["replanned"]

    event = await wait_for_event(database, p2["number"], "sla_replanned")
    assert event.data["policy_version"] == policy["version"]
    calendar = await calendar_of(api, p2["number"])
    received = datetime.fromisoformat(p2["received_at"])
    assert calendar.between(received, datetime.fromisoformat(event.data["due_at"]["resolution"])) == timedelta(hours=27)
    assert "sla_replanned" not in [e.kind for e in await database.store.timeline(p4["number"])]

    # New cases are pinned to the new version; uploading it again changes nothing.
    fresh = await post(api, "/cases", intake(), AGENT)
    assert fresh["policy_version"] == policy["version"]
    again = (await api.post("/admin/sla-policies", json=policy, headers=ADMIN)).json()
    assert (again["created"], p2["number"] in again["replanned"]) == (False, False)
    clash = await api.post("/admin/sla-policies", json=policy | {"warn_at": [0.5]}, headers=ADMIN)
    assert clash.status_code == 409


async def test_a_calendar_file_with_a_new_holiday_moves_open_deadlines(
    api: httpx.AsyncClient, database: Database, env: WorkflowEnvironment
) -> None:
    case = await open_and_triage(api, priority="P3")
    number = case["number"]
    due = datetime.fromisoformat(case["clocks"]["resolution"]["due_at"])
    calendar = await calendar_of(api, number)
    # Close the first working day on or after tomorrow that the deadline still depends on.
    day = calendar.local_date(datetime.fromisoformat(case["received_at"])) + timedelta(days=1)
    while not calendar.is_working_day(day):
        day += timedelta(days=1)
    version = f"holiday-{uuid.uuid4().hex[:6]}"
    toml = f'version = "{version}"\n[holidays]\n{day.isoformat()} = "Company day"\n'
    bad = await api.post("/admin/calendars", json={"toml": "[holidays\n"}, headers=ADMIN)
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "toml"
    uploaded = await api.post("/admin/calendars", json={"toml": toml}, headers=ADMIN)
    assert uploaded.status_code == 201, uploaded.text
    assert number in uploaded.json()["replanned"]

    event = await wait_for_event(database, number, "sla_replanned")
    assert event.data["calendar_version"] == version
    moved = datetime.fromisoformat(event.data["due_at"]["resolution"])
    assert calendar.between(due, moved) == timedelta(hours=9)  # one working day later
    row = await database.store.get_case(number)
    assert row.calendar_version == version
