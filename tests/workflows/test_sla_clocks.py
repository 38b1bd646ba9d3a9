"""SLA clocks on business time, on the real dev server with time skipped per case:
exact due instants around a holiday, pauses, update cadence, extensions, re-planning."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from temporalio.testing import WorkflowEnvironment

from core.calendar_sources import china_calendar
from domain.calendar import BusinessCalendar, apply_calendar_file
from domain.case import Actor, CaseIntake, Priority, Role
from domain.sla import ClockName, Replan, SlaPolicy, Target
from domain.state import CaseStart
from tests.conftest import Database
from tests.support.api import calendar_of, open_and_triage, post
from tests.support.days import friday_before_holiday, ordinary_tuesday_morning, start_case_at
from tests.support.people import AGENT, HANDLER, HEAD, PLAN, SUPERVISOR, TRIAGE, intake
from tests.support.waiting import wait_for_event
from workflows.case import CaseWorkflow

SHANGHAI = ZoneInfo("Asia/Shanghai")


def local(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=SHANGHAI)


def due_of(case: dict[str, Any], clock: str) -> datetime:
    return datetime.fromisoformat(case["clocks"][clock]["due_at"])


async def test_p2_case_received_friday_1730_before_a_holiday(
    api: httpx.AsyncClient, database: Database, env: WorkflowEnvironment, worker: str
) -> None:
    # The next Friday whose fortnight the published calendar leaves ordinary; the company
    # closes on the Monday after it (a calendar file declares it).
    now = datetime.now(UTC)
    years = [now.year, now.year + 1]
    friday = friday_before_holiday(now, china_calendar(years))
    day = friday.date()

    def on(days: int, at: str) -> datetime:
        return local(f"{day + timedelta(days=days)}T{at}")

    monday = day + timedelta(days=3)
    calendar = apply_calendar_file(f'[holidays]\n{monday} = "Company holiday"\n', china_calendar(years))
    received = friday
    number = await database.store.next_case_number(day.strftime("%Y%m%d"))
    start = CaseStart(
        number=number,
        intake=CaseIntake.model_validate(intake()),
        received_at=received,
        received_by=Actor(id="agent-li", role=Role.AGENT),
        calendar=calendar,
    )
    # The case starts on the virtual Friday: its workflow is delayed until then and time skipped.
    delay = received - datetime.now(UTC)
    handle = await env.client.start_workflow(CaseWorkflow.run, start, id=number, task_queue=worker, start_delay=delay)
    await env.fast_forward(handle, delay)
    await wait_for_event(database, number, "received")

    case = await post(api, f"/cases/{number}/triage", TRIAGE | {"priority": "P2"}, AGENT)
    # First reply: 30 calendar minutes. Respond: 4 working hours, 0.5 on Friday, the rest on
    # Tuesday (Monday is the holiday). Plan: 2 working days = 18 h, 0.5 + 9 Tuesday + 8.5
    # Wednesday. Resolution: 5 working days = 45 h, 0.5 + 4 x 9 to the next Friday's
    # close, then 8.5 h on the Monday after.
    assert (await handle.query(CaseWorkflow.state)).clocks[ClockName.FIRST_REPLY].met_at is not None
    assert due_of(case, "first_reply") == on(0, "18:00")
    assert due_of(case, "respond") == on(4, "12:30")
    assert due_of(case, "plan") == on(5, "17:30")
    assert due_of(case, "resolution") == on(10, "17:30")

    # Warnings at 75 % (33.75 h: the next Friday 15:15) and 90 % (40.5 h: Monday 13:00).
    await post(api, f"/cases/{number}/accept", None, HANDLER)
    await post(api, f"/cases/{number}/plan", PLAN, HANDLER)
    # Sent back at once, so the approval deadline is met and only the resolution runs.
    await post(api, f"/cases/{number}/reject", {"reason": "offer an exchange too"}, HEAD)
    await env.fast_forward(handle, on(10, "17:29") - received)
    warnings = [e for e in await database.store.timeline(number) if e.kind == "sla_warning"]
    assert [(w.data["clock"], w.data["fraction"]) for w in warnings] == [("resolution", 0.75), ("resolution", 0.9)]
    assert timedelta(0) <= warnings[0].at - on(7, "15:15") < timedelta(seconds=5)
    assert timedelta(0) <= warnings[1].at - on(10, "13:00") < timedelta(seconds=5)
    assert "sla_breached" not in [e.kind for e in await database.store.timeline(number)]


async def test_a_pause_for_the_customer_moves_the_deadline_by_the_paused_business_time(
    api: httpx.AsyncClient, database: Database, env: WorkflowEnvironment, worker: str
) -> None:
    # Paused from a Tuesday morning to the Thursday afternoon on plain office hours, whatever
    # today is: the pause holds 8 + 9 + 6 working hours. (From a Friday evening, or in a long
    # holiday, the same 2 days 5 hours hold none, and the deadline would not move at all.)
    received = ordinary_tuesday_morning(datetime.now(UTC))
    number, handle = await start_case_at(env, database, worker, received, BusinessCalendar())
    case = await post(api, f"/cases/{number}/triage", TRIAGE | {"priority": "P3"}, AGENT)
    calendar = await calendar_of(api, case["number"])
    assert calendar == BusinessCalendar()
    before = due_of(case, "resolution")
    await post(api, f"/cases/{number}/accept", None, HANDLER)
    asked = await post(api, f"/cases/{number}/info-requests", {"question": "Which colour?"}, HANDLER)
    assert asked["clocks"]["resolution"]["state"] == "paused"
    sla = await handle.query(CaseWorkflow.sla)
    assert sla.state == "paused" and next(c for c in sla.clocks if c.name == "resolution").paused

    await env.fast_forward(handle, timedelta(days=2, hours=5))
    replied = await post(api, f"/cases/{number}/customer-replies", {"text": "Red"}, AGENT)
    clock = replied["clocks"]["resolution"]
    pause = clock["pauses"][0]
    paused_for = calendar.between(
        datetime.fromisoformat(pause["started_at"]), datetime.fromisoformat(pause["ended_at"])
    )
    assert timedelta(hours=23) <= paused_for < timedelta(hours=23, minutes=1)
    assert clock["state"] == "running"
    assert calendar.between(before, datetime.fromisoformat(clock["due_at"])) == paused_for
    kinds = [e.kind for e in await database.store.timeline(number)]
    assert kinds[-4:] == ["info_requested", "sla_paused", "customer_replied", "sla_resumed"]


async def test_progress_updates_at_the_policy_cadence(
    api: httpx.AsyncClient, database: Database, env: WorkflowEnvironment
) -> None:
    # P1: every 12 hours around the clock.
    p1 = (await open_and_triage(api, priority="P1"))["number"]
    # A VIP's normal case: also every 12 hours.
    vip_case = await post(api, "/cases", intake(customer={"name": "王五", "tier": "vip"}), AGENT)
    vip = (await post(api, f"/cases/{vip_case['number']}/triage", TRIAGE | {"priority": "P3"}, AGENT))["number"]
    # Anyone else's: once a working day (9 business hours).
    normal = await open_and_triage(api, priority="P3")
    for number in (p1, vip):
        handle = env.client.get_workflow_handle_for(CaseWorkflow.run, number)
        await post(api, f"/cases/{number}/accept", None, HANDLER)
        # With the plan in and sent back (the approval deadline met), no deadline (and no
        # delay notice) falls within the next day.
        await post(api, f"/cases/{number}/plan", PLAN, HANDLER)
        await post(api, f"/cases/{number}/reject", {"reason": "offer an exchange too"}, HEAD)
        accepted_at = (await handle.query(CaseWorkflow.state)).updated_at
        await env.fast_forward(handle, timedelta(hours=25))
        updates = [e.at for e in await database.store.timeline(number) if e.kind == "progress_update"]
        assert len(updates) == 2, number
        assert timedelta(hours=12) <= updates[0] - accepted_at < timedelta(hours=12, seconds=5)
        assert timedelta(hours=12) <= updates[1] - updates[0] < timedelta(hours=12, seconds=5)
        outbox = [(o.recipient, o.topic) for o in await database.store.outbox(number)]
        # Triaged, in handling, plan proposed, back in handling, then the two updates.
        assert outbox.count(("customer", "progress")) == 6

    state = await env.client.get_workflow_handle_for(CaseWorkflow.run, normal["number"]).query(CaseWorkflow.state)
    calendar = await calendar_of(api, normal["number"])
    assert calendar.between(state.updated_at, state.next_update_at) == timedelta(hours=9)


async def test_a_deadline_is_extended_within_the_limit_with_the_customer_told(
    api: httpx.AsyncClient, database: Database, env: WorkflowEnvironment
) -> None:
    case = await open_and_triage(api, priority="P3")
    number = case["number"]
    calendar = await calendar_of(api, case["number"])
    before = due_of(case, "resolution")
    # A complex P3 case may take up to 7 working days: 3 + 4.
    too_long = await api.post(
        f"/cases/{number}/extensions",
        json={"clock": "resolution", "extra": "PT37H", "reason": "Parts from the supplier"},
        headers=SUPERVISOR,
    )
    assert too_long.status_code == 422
    assert "63 h business time" in too_long.json()["detail"]
    refused = await api.post(
        f"/cases/{number}/extensions", json={"clock": "resolution", "extra": "PT36H", "reason": "x"}, headers=HANDLER
    )
    assert refused.status_code == 403

    extended = await post(
        api,
        f"/cases/{number}/extensions",
        {"clock": "resolution", "extra": "PT36H", "reason": "Parts from the supplier"},
        SUPERVISOR,
    )
    after = due_of(extended, "resolution")
    assert calendar.between(before, after) == timedelta(hours=36)
    event = await wait_for_event(database, number, "deadline_extended")
    assert (event.actor_id, event.data["reason"]) == ("supervisor-zhao", "Parts from the supplier")
    assert datetime.fromisoformat(event.data["due_at"]) == after
    notices = [o for o in await database.store.outbox(number) if o.topic == "deadline_extended"]
    assert [(n.recipient, n.body["due_at"]) for n in notices] == [("customer", after.isoformat())]

    # A missed deadline can no longer be extended: it had to be announced in advance.
    handle = env.client.get_workflow_handle_for(CaseWorkflow.run, number)
    respond_due = due_of(case, "respond")  # 8 working hours from receipt
    await env.fast_forward(handle, respond_due - datetime.fromisoformat(case["received_at"]) + timedelta(minutes=1))
    await wait_for_event(database, number, "sla_breached")
    late = await api.post(
        f"/cases/{number}/extensions", json={"clock": "respond", "extra": "PT1H", "reason": "late"}, headers=SUPERVISOR
    )
    assert late.status_code == 409
    assert "respond deadline is breached" in late.json()["detail"]


async def test_replanning_applies_a_new_policy_to_open_clocks(
    api: httpx.AsyncClient, database: Database, env: WorkflowEnvironment
) -> None:
    case = await open_and_triage(api, priority="P2")
    number = case["number"]
    calendar = await calendar_of(api, case["number"])
    received = datetime.fromisoformat(case["received_at"])
    policy = SlaPolicy(version="2026-12-faster")
    policy.targets[Priority.P2][ClockName.RESOLUTION] = Target(budget=timedelta(hours=27))
    handle = env.client.get_workflow_handle_for(CaseWorkflow.run, number)
    await handle.signal(CaseWorkflow.replan, Replan(policy=policy))

    event = await wait_for_event(database, number, "sla_replanned")
    assert event.data["policy_version"] == "2026-12-faster"
    state = await handle.query(CaseWorkflow.state)
    assert state.policy.version == "2026-12-faster"
    assert calendar.between(received, state.clocks[ClockName.RESOLUTION].due_at) == timedelta(hours=27)
    assert datetime.fromisoformat(event.data["due_at"]["resolution"]) == state.clocks[ClockName.RESOLUTION].due_at
    row = await database.store.get_case(number)
    assert row.policy_version == "2026-12-faster"
