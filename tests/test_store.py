"""The record under at-least-once activities: a retried write changes nothing."""

from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal

from domain.case import SYSTEM_ACTOR, Actor, CaseIntake, ResolutionType, Role, Stage
from domain.lifecycle import EventKind
from domain.records import CaseSnapshot, Notification, ResolutionOrder, Transition
from domain.sla import SlaState
from tests.conftest import Database
from tests.people import intake

AT = datetime(2026, 11, 23, 2, 0, tzinfo=timezone.utc)


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
    return Transition(number=number, seq=seq, kind=kind, at=AT, snapshot=snapshot, **({"actor": SYSTEM_ACTOR} | extra))


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
    assert [(e.seq, e.kind, e.actor_id) for e in timeline] == [(1, "received", "aftersales"), (2, "note_added", "agent-li")]
    assert [(o.recipient, o.topic) for o in await store.outbox(number)] == [("customer", "acknowledgement")]
    row = await store.get_case(number)
    assert (row.last_seq, row.received_at, row.customer_name) == (2, AT, "张三丰")


async def test_a_retried_resolution_moves_money_once(database: Database) -> None:
    store = database.store
    number = await store.next_case_number("20261123")
    await store.record_transition(
        _transition(number, 1, EventKind.RECEIVED, Stage.RECEIVED, intake=CaseIntake.model_validate(intake()), received_at=AT)
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
