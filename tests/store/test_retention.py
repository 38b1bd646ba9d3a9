"""Personal data of cases archived longer than the keeping period is anonymised, daily, by a schedule."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import inspect, select, text, update
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment
from typer.testing import CliRunner

from core.settings import Settings
from core.temporal_setup import ensure_retention_schedule
from domain.case import SYSTEM_ACTOR, Actor, CaseIntake, Category, ResolutionType, Role, Stage
from domain.lifecycle import EventKind
from domain.records import CaseSnapshot, Notification, ResolutionOrder, Transition
from domain.retention import (
    ANONYMISED,
    ANONYMISED_EVENT,
    IDEMPOTENCY_KEY_DAYS,
    RetentionPolicy,
    RetentionReport,
    retention_cutoff,
    scrub,
)  # fmt: skip
from domain.sla import SlaState
from store.files import LocalStorage
from store.models import CaseAttachmentRow, CaseRow, IdempotencyKeyRow, OutboxRow, TimelineEventRow
from tests.conftest import Database
from tests.support.databases import own_database
from tests.support.people import intake
from tests.support.workers import in_process_worker
from workflows.retention import RetentionWorkflow

AGENT = Actor(id="agent-li", role=Role.AGENT)
SECRETS = ("Canary", "13912340001", "canary@example.com", "leaking since", "call me", "Zhang's flat")


def test_cutoff_is_calendar_years_and_scrubbing_twice_changes_nothing() -> None:
    assert retention_cutoff(datetime(2028, 2, 29, tzinfo=UTC), 3) == datetime(2025, 2, 28, tzinfo=UTC)
    once = scrub({"intake": intake(), "data": {"text": "x", "categories": ["logistics"], "amount": "5.00"}})
    assert scrub(once) == once
    assert once["data"] == {"text": ANONYMISED, "categories": ["logistics"], "amount": "5.00"}
    CaseIntake.model_validate(once["intake"])  # still a valid intake, just without the person


def _snapshot(stage: Stage) -> CaseSnapshot:
    return CaseSnapshot(
        stage=stage, categories=[Category.PRODUCT_QUALITY], priority=None, department=None, assignee=None,
        reopen_count=0, escalation_level=0, sla_state=SlaState.ON_TRACK, next_deadline=None, outcome=None,
        closed_at=None, policy_version="p", calendar_version="c",
    )  # fmt: skip


async def _seed(db: Database, number: str, archived_at: datetime, files: LocalStorage | None = None) -> None:
    """A case with personal data in every place the record keeps it, archived at `archived_at`;
    with `files`, a photo the customer uploaded on the customer page, kept there."""
    case = CaseIntake.model_validate(
        intake(
            customer={
                "name": "Canary Zhang",
                "phone": "+86 139 1234 0001",
                "email": "canary@example.com",
                "tier": "vip",
            },
            description="Kettle leaking since Monday, call me on 13912340001",
        )
    )
    at = archived_at - timedelta(days=10)
    steps = [
        Transition(number=number, seq=1, kind=EventKind.RECEIVED, at=at, actor=AGENT, snapshot=_snapshot(Stage.RECEIVED),
                   intake=case, received_at=at, data={"channel": "phone"}),
        Transition(number=number, seq=2, kind=EventKind.INFO_REQUESTED, at=at, actor=AGENT,
                   snapshot=_snapshot(Stage.AWAITING_CUSTOMER), data={"question": "Is it Zhang's flat on 5th street?"},
                   notifications=[Notification(recipient="customer", topic="info_request", body={"question": "call me"})]),
        Transition(number=number, seq=3, kind=EventKind.ARCHIVED, at=at, actor=SYSTEM_ACTOR,
                   snapshot=_snapshot(Stage.ARCHIVED), archive={"intake": case.model_dump(mode="json"), "open_question": "call me"}),
    ]  # fmt: skip
    for step in steps:
        assert await db.store.record_transition(step)
    await db.store.record_resolution(
        ResolutionOrder(
            key=f"{number}:9", number=number, type=ResolutionType.REFUND, amount="899.00", currency="CNY", at=at
        )
    )
    async with db.store.sessions.begin() as session:
        await session.execute(update(CaseRow).where(CaseRow.number == number).values(archived_at=archived_at))
        if files is not None:
            key = f"{number}/att-{number[-6:]}.jpg"
            await files.put(key, b"a photo of Canary Zhang's kettle", "image/jpeg")
            session.add(CaseAttachmentRow(
                case_number=number, reference=f"att-{number[-6:]}", kind="photo", content_type="image/jpeg",
                size=32, sha256="0" * 64, storage_key=key, uploaded_at=at,
            ))  # fmt: skip


async def _record(db: Database, number: str) -> dict[str, Any]:
    async with db.store.sessions() as session:
        row = await session.get(CaseRow, number)
        events = (
            await session.execute(select(TimelineEventRow).where(TimelineEventRow.case_number == number))
        ).scalars()
        outbox = (await session.execute(select(OutboxRow).where(OutboxRow.case_number == number))).scalars()
        return {
            "row": {c.name: getattr(row, c.key) for c in CaseRow.__table__.columns},
            "timeline": [(e.seq, e.kind, e.actor_id, e.data) for e in sorted(events, key=lambda e: e.seq)],
            "outbox": [m.body for m in outbox],
            "ledger": [(e.amount, e.resolution_type) for e in await db.store.ledger(number)],
            "categories": (await db.store.categories([number]))[number],
            "attachments": list(
                (
                    await session.execute(
                        select(CaseAttachmentRow.reference).where(CaseAttachmentRow.case_number == number)
                    )
                ).scalars()
            ),
        }


@pytest.fixture
async def retention_db(database: Database, tmp_path: Path):  # noqa: ANN201
    async with own_database(database, tmp_path, prefix="RT" + database.backend[0].upper()) as db:
        yield db


@pytest.fixture
def uploads(tmp_path: Path) -> LocalStorage:
    """Where the customer page kept the uploads (the worker's retention job deletes from it)."""
    return LocalStorage(tmp_path / "uploads")


@pytest.fixture
async def retention_worker(env: WorkflowEnvironment, retention_db: Database, uploads: LocalStorage):  # noqa: ANN201
    task_queue = f"retention-{uuid.uuid4().hex[:8]}"
    async with in_process_worker(env.client, retention_db.store, task_queue, files=uploads):
        yield task_queue


async def test_cases_archived_past_the_period_are_anonymised_once(
    client: Client, retention_db: Database, retention_worker: str, uploads: LocalStorage
) -> None:
    now = datetime.now(UTC)
    expired = retention_cutoff(now, 3) - timedelta(days=1)  # 3 years + 1 day ago
    p = retention_db.prefix
    old, older, recent = f"{p}-20231101-000001", f"{p}-20231102-000002", f"{p}-20241101-000003"
    await _seed(retention_db, old, expired, uploads)
    await _seed(retention_db, older, expired - timedelta(days=30))
    await _seed(retention_db, recent, retention_cutoff(now, 2), uploads)  # 2 years ago
    before = {n: await _record(retention_db, n) for n in (old, older, recent)}
    assert [f.parent.name for f in uploads.files()] == [old, recent]

    async def run() -> int:
        report = await client.execute_workflow(
            RetentionWorkflow.run, RetentionPolicy(years=3, batch_size=1),  # batches of one: the loop is exercised
            id=f"retention-{uuid.uuid4().hex[:8]}", task_queue=retention_worker,
        )  # fmt: skip
        return report.anonymised

    assert await run() == 2
    after = {n: await _record(retention_db, n) for n in (old, older, recent)}
    assert after[recent] == before[recent]  # 2 years: untouched
    # The expired case's photo is gone from the store and from the record; the recent one's stays.
    assert [f.parent.name for f in uploads.files()] == [recent]
    assert (after[old]["attachments"], after[recent]["attachments"]) == ([], [f"att-{recent[-6:]}"])
    for number in (old, older):
        record, was = after[number], before[number]
        text = repr(record)
        assert not [s for s in SECRETS if s in text], text
        row = record["row"]
        assert (row["customer_name"], row["customer_phone"], row["customer_email"], row["description"]) == (
            ANONYMISED, None, None, ANONYMISED,
        )  # fmt: skip
        # What reports need stays: number, dates, categories, amounts, tier, SKU, the timeline's shape.
        for kept in (
            "number",
            "received_at",
            "archived_at",
            "paid_amount",
            "currency",
            "sku",
            "customer_tier",
            "channel",
            "stage",
        ):
            assert row[kept] == was["row"][kept], kept
        assert record["ledger"] == was["ledger"] and record["categories"] == was["categories"] == ["product_quality"]
        assert [e[:2] for e in record["timeline"][:3]] == [e[:2] for e in was["timeline"]]
        # ...and the record says what happened, with no personal data in it.
        seq, kind, actor, data = record["timeline"][-1]
        assert (seq, kind, actor) == (4, ANONYMISED_EVENT, "retention")
        assert data["retention_years"] == 3 and {"customer.phone", "uploaded files"} <= set(data["removed"])

    assert await run() == 0  # a second run changes nothing more
    assert {n: await _record(retention_db, n) for n in (old, older, recent)} == after


async def _stored_answer(db: Database, number: str, key: str, made_at: datetime, answer: dict[str, Any]) -> None:
    """An Idempotency-Key of `number` with its stored answer, made at `made_at`."""
    await db.store.claim_key("agent-li", key, "hash", lock_seconds=60, number=number)
    await db.store.complete_key("agent-li", key, 200, answer)
    async with db.store.sessions.begin() as session:
        await session.execute(
            update(IdempotencyKeyRow).where(IdempotencyKeyRow.key == key).values(created_at=made_at, claimed_at=made_at)
        )


async def _every_table(db: Database) -> dict[str, str]:
    """Every table the database has (read from it, not from our models: a new table is searched
    too), each as the text of all its rows."""
    async with db.engine.connect() as connection:
        names = await connection.run_sync(lambda sync: inspect(sync).get_table_names())
        return {name: repr((await connection.execute(text(f'SELECT * FROM "{name}"'))).all()) for name in names}


async def test_after_the_run_no_table_holds_the_anonymised_customer_and_old_keys_expire(
    client: Client, retention_db: Database, retention_worker: str, uploads: LocalStorage
) -> None:
    now = datetime.now(UTC)
    p = retention_db.prefix
    old, open_case = f"{p}-20231101-000001", f"{p}-20261101-000002"
    await _seed(retention_db, old, retention_cutoff(now, 3) - timedelta(days=1), uploads)
    # A recent key of the expired case, its answer quoting the customer (as an info request's would).
    quoting = {"number": old, "open_question": "Is it Zhang's flat? call me on 13912340001", "customer": "Canary Zhang"}
    await _stored_answer(retention_db, old, "archived-case-key", now - timedelta(days=2), quoting)
    await retention_db.store.record_transition(
        Transition(number=open_case, seq=1, kind=EventKind.RECEIVED, at=now, actor=AGENT, snapshot=_snapshot(Stage.RECEIVED),
                   intake=CaseIntake.model_validate(intake()), received_at=now, data={"channel": "phone"})
    )  # fmt: skip
    answer = {"number": open_case, "stage": "received"}
    await _stored_answer(
        retention_db, open_case, "stale-key", now - timedelta(days=IDEMPOTENCY_KEY_DAYS, hours=1), answer
    )
    await _stored_answer(retention_db, open_case, "fresh-key", now - timedelta(days=IDEMPOTENCY_KEY_DAYS - 1), answer)
    tables = await _every_table(retention_db)
    assert {"cases", "timeline_events", "outbox", "idempotency_keys"} <= set(tables)
    assert "Canary" in tables["idempotency_keys"]  # the search can find what it looks for

    report = await client.execute_workflow(
        RetentionWorkflow.run,
        RetentionPolicy(years=3),
        id=f"retention-{uuid.uuid4().hex[:8]}",
        task_queue=retention_worker,
    )
    assert report.anonymised == 1
    # The expired case's key went with its personal data; of the open case's, the one past the period.
    async with retention_db.store.sessions() as session:
        keys = (await session.execute(select(IdempotencyKeyRow.key, IdempotencyKeyRow.case_number))).all()
    assert sorted(keys) == [("fresh-key", open_case)]
    leaks = {name: [s for s in SECRETS if s in rows] for name, rows in (await _every_table(retention_db)).items()}
    assert {name: found for name, found in leaks.items() if found} == {}
    assert uploads.files() == []  # nor the file store


async def test_the_schedule_is_created_idempotently_and_triggering_it_runs_the_workflow(
    client: Client, retention_db: Database, retention_worker: str
) -> None:
    schedule_id = f"retention-test-{uuid.uuid4().hex[:8]}"
    options = {"schedule_id": schedule_id, "task_queue": retention_worker, "years": 3, "timezone": "Asia/Shanghai"}
    assert await ensure_retention_schedule(client, **options) == "created"
    assert await ensure_retention_schedule(client, **options | {"years": 4}) == "updated"
    handle = client.get_schedule_handle(schedule_id)
    try:
        description = await handle.describe()
        action = description.schedule.action
        assert action.workflow == "RetentionWorkflow" and action.task_queue == retention_worker
        assert description.schedule.spec.time_zone_name == "Asia/Shanghai"
        assert description.info.next_action_times  # daily, from now on

        await _seed(
            retention_db,
            f"{retention_db.prefix}-20201101-000001",
            retention_cutoff(datetime.now(UTC), 4) - timedelta(days=1),
        )
        await handle.trigger()
        deadline = time.monotonic() + 30
        while not (await handle.describe()).info.recent_actions:
            assert time.monotonic() < deadline, "the schedule never started its workflow"
            await asyncio.sleep(0.2)
        started = (await handle.describe()).info.recent_actions[-1].action
        run = client.get_workflow_handle(
            started.workflow_id, run_id=started.first_execution_run_id, result_type=RetentionReport
        )
        assert (await run.result()).anonymised == 1
    finally:
        await handle.delete()


def test_temporal_setup_creates_then_updates_the_schedule(
    env: WorkflowEnvironment, monkeypatch: pytest.MonkeyPatch
) -> None:
    import cli.app as cli
    from cli import common as cli_common

    schedule_id = f"retention-cli-{uuid.uuid4().hex[:8]}"
    settings = Settings(
        temporal_address=env.client.service_client.config.target_host, retention_schedule_id=schedule_id
    )
    monkeypatch.setattr(cli_common, "get_settings", lambda: settings)
    first = CliRunner().invoke(cli.app, ["temporal", "setup"])
    assert first.exit_code == 0, first.output
    assert f"retention schedule {schedule_id} created" in first.output
    again = CliRunner().invoke(cli.app, ["temporal", "setup"])
    assert f"retention schedule {schedule_id} updated" in again.output  # it exists: setup found it
