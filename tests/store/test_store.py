"""The record under at-least-once activities: a retried write changes nothing."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from domain.case import SYSTEM_ACTOR, Actor, CaseIntake, ResolutionType, Role, Stage
from domain.lifecycle import EventKind
from domain.records import CaseSnapshot, Notification, ResolutionOrder, Transition
from domain.sla import SlaState
from tests.conftest import Database
from tests.support.people import intake

AT = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)


def _transition(number: str, seq: int, kind: EventKind, stage: Stage, **extra) -> Transition:
    snapshot = CaseSnapshot(
        stage=stage,
        categories=[],
        priority=None,
        department=None,
        assignee=None,
        reopen_count=0,
        escalation_level=0,
        sla_state=SlaState.ON_TRACK,
        next_deadline=None,
        outcome=None,
        closed_at=None,
        policy_version="test-policy",
        calendar_version="test-calendar",
    )
    return Transition(
        number=number, seq=seq, kind=kind, snapshot=snapshot, **({"actor": SYSTEM_ACTOR, "at": AT} | extra)
    )


async def test_a_retried_transition_writes_one_event_one_row_and_one_message(database: Database) -> None:
    store = database.store
    number = await store.next_case_number("20261123")
    received = _transition(
        number,
        1,
        EventKind.RECEIVED,
        Stage.RECEIVED,
        intake=CaseIntake.model_validate(intake()),
        received_at=AT,
        notifications=[Notification(recipient="customer", topic="acknowledgement")],
    )
    assert await store.record_transition(received) is True
    assert await store.record_transition(received) is False
    note = _transition(number, 2, EventKind.NOTE_ADDED, Stage.RECEIVED, actor=Actor(id="agent-li", role=Role.AGENT))
    assert await store.record_transition(note) is True
    assert await store.record_transition(note) is False
    # A late retry of an older event must not roll the case row back.
    assert await store.record_transition(received) is False

    timeline = await store.timeline(number)
    assert [(e.seq, e.kind, e.actor_id) for e in timeline] == [
        (1, "received", "aftersales"),
        (2, "note_added", "agent-li"),
    ]
    assert [(o.recipient, o.topic) for o in await store.outbox(number)] == [("customer", "acknowledgement")]
    row = await store.get_case(number)
    assert (row.last_seq, row.received_at, row.customer_name) == (2, AT, "张三丰")


async def test_a_different_event_at_a_recorded_seq_replaces_what_a_lost_task_wrote(database: Database) -> None:
    """Issue 13: a workflow task wrote seq 2 (approved) and seq 3 with local activities and
    died before committing; the re-run of the task took seq 2 for a rejection. The rejection
    is recorded, not taken for a repeat; the approval and what followed it leave the timeline
    for the audit table, with their notifications not yet sent; one already sent stays listed."""
    store = database.store
    number = await store.next_case_number("20261123")
    supervisor = Actor(id="supervisor-zhao", role=Role.SUPERVISOR)
    await store.record_transition(
        _transition(
            number, 1, EventKind.RECEIVED, Stage.RECEIVED, intake=CaseIntake.model_validate(intake()), received_at=AT
        )
    )
    lost = AT.replace(minute=5)
    approved = _transition(
        number, 2, EventKind.PLAN_APPROVED, Stage.EXECUTING, actor=supervisor, at=lost,
        notifications=[Notification(recipient="employee:handler-wang", topic="plan_approved"),
                       Notification(recipient="customer", topic="progress", body={"stage": "executing"})],
    )  # fmt: skip
    assert await store.record_transition(approved) is True
    assert await store.record_transition(_transition(number, 3, EventKind.NOTE_ADDED, Stage.EXECUTING, at=lost)) is True
    [progress] = [o for o in await store.outbox(number) if o.topic == "progress"]
    async with store.sessions.begin() as session:  # the dispatcher sent one of them already
        (await session.get(type(progress), progress.id)).status = "delivered"

    rejected = _transition(
        number, 2, EventKind.PLAN_REJECTED, Stage.IN_HANDLING, actor=Actor(id="supervisor-qian", role=Role.SUPERVISOR),
        at=AT.replace(minute=6), notifications=[Notification(recipient="employee:handler-wang", topic="plan_rejected")],
    )  # fmt: skip
    assert await store.record_transition(rejected) is True
    assert await store.record_transition(rejected) is False  # its own retry is a repeat
    assert await store.record_transition(approved) is False  # the lost task's late write changes nothing

    timeline = await store.timeline(number)
    assert [(e.seq, e.kind, e.actor_id) for e in timeline] == [
        (1, "received", "aftersales"),
        (2, "plan_rejected", "supervisor-qian"),
    ]
    row = await store.get_case(number)
    assert (row.stage, row.last_seq) == ("in_handling", 2)
    assert sorted((o.seq, o.topic, o.status) for o in await store.outbox(number)) == [
        (2, "plan_rejected", "pending"), (2, "progress", "delivered"),
    ]  # fmt: skip
    audit = await store.superseded(number)
    assert [(a.seq, a.kind, a.actor_id, a.replaced_by is not None) for a in audit] == [
        (2, "plan_approved", "supervisor-zhao", True), (3, "note_added", "aftersales", False),
    ]  # fmt: skip
    assert sorted((n["topic"], n["status"]) for n in audit[0].notifications) == [
        ("plan_approved", "pending"),
        ("progress", "delivered"),
    ]


async def test_a_retried_resolution_moves_money_once(database: Database) -> None:
    store = database.store
    number = await store.next_case_number("20261123")
    await store.record_transition(
        _transition(
            number, 1, EventKind.RECEIVED, Stage.RECEIVED, intake=CaseIntake.model_validate(intake()), received_at=AT
        )
    )
    order = ResolutionOrder(
        key=f"{number}:9", number=number, type=ResolutionType.REFUND, amount=Decimal("899.00"), currency="CNY", at=AT
    )
    first = await store.record_resolution(order)
    again = await store.record_resolution(order)
    assert first == again
    assert (first.amount, first.executed_at) == (Decimal("899.00"), AT)
    assert [(e.idempotency_key, e.amount) for e in await store.ledger(number)] == [(order.key, Decimal("899.00"))]


async def test_case_numbers_count_up_per_day(database: Database) -> None:
    store = database.store
    # Synthetic days long past that no case and no other test ever numbers under.
    first = await store.next_case_number("19990101")
    second = await store.next_case_number("19990101")
    other_day = await store.next_case_number("19990102")
    assert first.endswith("-19990101-000001") and second.endswith("-19990101-000002")
    assert other_day.endswith("-19990102-000001")
