"""Due items that a case finds due together (it woke late: a backlog of timers on a busy
worker, or a case received long after it arrived) are recorded in one write (patch
`coalesce-due-items`): the same timeline, outbox and case row as one by one."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from domain import search_attributes as sa
from domain.case import CaseIntake
from domain.due import WAKE_EARLY_BY, next_item
from domain.sla import ClockName, DueKind
from domain.state import CaseStart
from tests.conftest import Database
from tests.support.people import AGENT_ACTOR, intake
from tests.support.waiting import wait_for_event, wait_until_settled
from workflows.case import CaseWorkflow


async def local_activities(handle: WorkflowHandle) -> list[tuple[str, list]]:
    """(activity name, result) of each local activity in the case's history, in order."""
    found = []
    async for event in handle.fetch_history_events():
        marker = event.marker_recorded_event_attributes
        if event.HasField("marker_recorded_event_attributes") and marker.marker_name == "core_local_activity":
            name = json.loads(marker.details["data"].payloads[0].data)["activity_type"]
            result = (
                json.loads(marker.details["result"].payloads[0].data) if marker.details["result"].payloads else None
            )
            found.append((name, result))
    return found


async def test_a_case_received_after_its_first_reply_deadline_records_warnings_and_breach_together(
    database: Database, env: WorkflowEnvironment, worker: str
) -> None:
    # Entered two days after the customer called: by receipt, both warnings and the
    # first-reply deadline are past.
    received = datetime.now(UTC) - timedelta(days=2)
    number = await database.store.next_case_number(received.strftime("%Y%m%d"))
    start = CaseStart(
        number=number, intake=CaseIntake.model_validate(intake()), received_at=received, received_by=AGENT_ACTOR
    )
    handle = await env.client.start_workflow(CaseWorkflow.run, start, id=number, task_queue=worker)
    await wait_for_event(database, number, "sla_breached")

    state = await handle.query(CaseWorkflow.state)
    due = state.clocks[ClockName.FIRST_REPLY].due_at
    events = await database.store.timeline(number)
    assert [(e.seq, e.kind) for e in events] == [
        (1, "received"), (2, "sla_warning"), (3, "sla_warning"), (4, "sla_breached")
    ]  # fmt: skip
    warnings, breach = events[1:3], events[3]
    assert [w.data["fraction"] for w in warnings] == [0.75, 0.9]
    assert {e.data["due_at"] for e in events[1:]} == {due.isoformat()}
    assert breach.data["escalated_to"] == "supervisor" and breach.data["escalation_level"] == 1
    # Recorded together: one instant, one write.
    assert len({e.at for e in events[1:]}) == 1
    await wait_until_settled(handle)
    assert [name for name, _ in await local_activities(handle)] == [
        "suggest_triage", "record_transition", "record_transitions"
    ]  # fmt: skip
    assert [r["kind"] for r in (await local_activities(handle))[-1][1]] == [
        "sla_warning",
        "sla_warning",
        "sla_breached",
    ]

    outbox = [(o.seq, o.recipient, o.topic) for o in await database.store.outbox(number)]
    assert outbox[-4:] == [
        (2, "agent", "sla_warning"), (3, "agent", "sla_warning"), (4, "supervisor", "sla_breached"), (4, "customer", "delay_notice")
    ]  # fmt: skip
    described = (await handle.describe()).typed_search_attributes
    assert (described.get(sa.SLA_STATE), described.get(sa.ESCALATION_LEVEL)) == ("breached", 1)
    # The only deadline is missed: it shows as the breach, and no deadline is still running.
    assert described.get(sa.NEXT_DEADLINE) is None
    row = await database.store.get_case(number)
    assert (row.sla_state, row.escalation_level, row.last_seq) == ("breached", 1, 4)
    assert row.next_deadline is None
    # The case then waits for the next rung of the ladder, in four hours.
    assert state.clocks[ClockName.FIRST_REPLY].next_climb_at is not None


async def timers(handle: WorkflowHandle) -> list[tuple[str, timedelta]]:
    """("started", length) and ("fired", 0) of each durable timer in the case's history, in order."""
    found: list[tuple[str, timedelta]] = []
    async for event in handle.fetch_history_events():
        if event.HasField("timer_started_event_attributes"):
            found.append(("started", event.timer_started_event_attributes.start_to_fire_timeout.ToTimedelta()))
        elif event.HasField("timer_fired_event_attributes"):
            found.append(("fired", timedelta(0)))
    return found


async def test_a_long_wait_wakes_a_minute_ahead_and_the_last_minute_is_set_afresh(
    database: Database, env: WorkflowEnvironment, worker: str
) -> None:
    # Temporal starts a timer when the task that set it completes: a task that completed seconds
    # after its clock (a busy worker) would fire the warning as late. The case sleeps to a minute
    # before the warning, then sets the last minute in a task that does nothing else.
    received = datetime.now(UTC)
    number = await database.store.next_case_number(received.strftime("%Y%m%d"))
    start = CaseStart(
        number=number, intake=CaseIntake.model_validate(intake()), received_at=received, received_by=AGENT_ACTOR
    )
    handle = await env.client.start_workflow(CaseWorkflow.run, start, id=number, task_queue=worker)
    await wait_for_event(database, number, "received")
    item = next_item(await handle.query(CaseWorkflow.state), contributions=False)
    assert item is not None and item.kind is DueKind.WARNING
    await wait_until_settled(handle)  # the timer starts when the receipt's task completes
    (first,) = await timers(handle)
    assert first[0] == "started"
    assert timedelta(0) <= (item.at - received - WAKE_EARLY_BY) - first[1] < timedelta(seconds=5)

    await env.fast_forward(handle, item.at - received + timedelta(seconds=5))
    warning = await wait_for_event(database, number, "sla_warning")
    # The time-skipping server fires skipped timers up to a second late; the timers' lengths below
    # are what this test is about (bench/deadline_lag.py --day measures the lag on a real server).
    assert timedelta(0) <= warning.at - item.at < timedelta(seconds=5)
    woke, last_minute = (await timers(handle))[1:3]
    assert woke == ("fired", timedelta(0))
    assert last_minute[0] == "started" and WAKE_EARLY_BY - timedelta(seconds=5) < last_minute[1] <= WAKE_EARLY_BY
    # Woken ahead, the case recorded nothing: the warning is its only write since receipt.
    assert [e.kind for e in await database.store.timeline(number)] == ["received", "sla_warning"]
