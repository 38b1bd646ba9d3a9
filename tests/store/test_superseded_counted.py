"""Issue 13 meets issue 16: an event a re-run workflow task replaces was counted in
`aftersales_transitions_total` when first written, and its replacement is counted there too.
The events moved to `superseded_events` are counted apart, by their kind, so the counters less
the superseded ones are what the timeline holds. Through the `record_transition` activity, as
the worker runs it, read back from a Prometheus endpoint. On SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from temporalio.testing import ActivityEnvironment

from activities.case import CaseActivities
from domain.case import Actor, CaseIntake, Role, Stage
from domain.lifecycle import EventKind
from domain.records import Transition
from tests.conftest import Database
from tests.store.test_store import AT, _transition
from tests.support.observability import samples, serving_counters, total
from tests.support.people import intake

SUPERSEDED = "aftersales_transitions_superseded_total"


@pytest.fixture
def scrape(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """This test's counters on an endpoint of their own; the URL to scrape."""
    with serving_counters(monkeypatch) as url:
        yield url


async def test_a_replaced_event_is_counted_as_superseded_by_its_kind(database: Database, scrape: str) -> None:
    store = database.store
    activities = CaseActivities(store)
    run = ActivityEnvironment().run

    async def record(t: Transition) -> bool:
        return (await run(activities.record_transition, t)).written

    number = await store.next_case_number("20261123")
    received = _transition(
        number, 1, EventKind.RECEIVED, Stage.RECEIVED, intake=CaseIntake.model_validate(intake()), received_at=AT
    )
    supervisor = Actor(id="supervisor-zhao", role=Role.SUPERVISOR)
    # A workflow task wrote seq 2 and 3 and never committed ...
    approved = _transition(
        number, 2, EventKind.PLAN_APPROVED, Stage.EXECUTING, actor=supervisor, at=AT.replace(minute=5)
    )
    note = _transition(number, 3, EventKind.NOTE_ADDED, Stage.EXECUTING, at=AT.replace(minute=5))
    # ... its re-run took seq 2 for a rejection.
    rejected = _transition(
        number, 2, EventKind.PLAN_REJECTED, Stage.IN_HANDLING, actor=supervisor, at=AT.replace(minute=6)
    )
    assert [await record(t) for t in (received, approved, note, rejected)] == [True, True, True, True]
    assert await record(rejected) is False  # the activity's retry
    assert await record(approved) is False  # the lost task's late write

    async with httpx.AsyncClient() as http:
        found = samples((await http.get(scrape)).text)
    assert total(found, SUPERSEDED) == 2
    assert total(found, SUPERSEDED, kind="plan_approved") == 1
    assert total(found, SUPERSEDED, kind="note_added") == 1
    assert total(found, "aftersales_transitions_total") == 4
    timeline = await store.timeline(number)
    assert [e.kind for e in timeline] == ["received", "plan_rejected"]
    assert total(found, "aftersales_transitions_total") - total(found, SUPERSEDED) == len(timeline)
    for kind in ("received", "plan_approved", "note_added", "plan_rejected"):
        recorded = total(found, "aftersales_transitions_total", kind=kind) - total(found, SUPERSEDED, kind=kind)
        assert recorded == sum(e.kind == kind for e in timeline), kind


async def test_no_replacement_counts_nothing_as_superseded(database: Database, scrape: str) -> None:
    store = database.store
    activities = CaseActivities(store)
    number = await store.next_case_number("20261123")
    received = _transition(
        number, 1, EventKind.RECEIVED, Stage.RECEIVED, intake=CaseIntake.model_validate(intake()), received_at=AT
    )
    note = _transition(number, 2, EventKind.NOTE_ADDED, Stage.RECEIVED)
    await ActivityEnvironment().run(activities.record_transitions, [received, note])
    await ActivityEnvironment().run(activities.record_transitions, [received, note])  # a retry
    async with httpx.AsyncClient() as http:
        found = samples((await http.get(scrape)).text)
    assert total(found, "aftersales_transitions_total") == 2
    assert total(found, SUPERSEDED) == 0
