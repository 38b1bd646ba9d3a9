"""`aftersales rekey-phones`: after PHONE_LOOKUP_KEY changes, every stored phone is hashed again
under the new key, so a case is found by phone again; cases without a phone stay without a hash;
a second run changes nothing. On SQLite and PostgreSQL, through the real command."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

import cli.app as cli
from cli import common as cli_common
from core.settings import Settings
from domain.case import SYSTEM_ACTOR, CaseIntake, Stage
from domain.lifecycle import EventKind
from domain.phone import DEVELOPMENT_LOOKUP_KEY, phone_lookup_hash
from domain.records import CaseSnapshot, Transition
from domain.sla import SlaState
from store.cases import CaseStore
from store.models import CaseRow
from store.phone_rekey import rekey_phones
from tests.conftest import Database
from tests.support.databases import own_database
from tests.support.people import intake

AT = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
NEW_KEY = "a-rotated-phone-lookup-key-of-32-characters"
PHONES = ["+86 139 1234 0001", "+86 139 1234 0002", "+86 139 1234 0003", None]


async def _received(store: CaseStore, phone: str | None) -> str:
    number = await store.next_case_number("20261123")
    customer = {"name": "王小明", "tier": "normal"} | ({"phone": phone} if phone else {"email": "w@example.cn"})
    snapshot = CaseSnapshot(
        stage=Stage.RECEIVED, categories=[], priority=None, department=None, assignee=None, reopen_count=0,
        escalation_level=0, sla_state=SlaState.ON_TRACK, next_deadline=None, outcome=None, closed_at=None,
        policy_version="test-policy", calendar_version="test-calendar",
    )  # fmt: skip
    received = Transition(
        number=number, seq=1, kind=EventKind.RECEIVED, snapshot=snapshot, actor=SYSTEM_ACTOR, at=AT,
        intake=CaseIntake.model_validate(intake(customer=customer)), received_at=AT,
    )  # fmt: skip
    assert await store.record_transition(received) is True
    return number


async def _hashes(db: Database) -> dict[str, str | None]:
    async with db.store.sessions() as session:
        rows = await session.execute(select(CaseRow.number, CaseRow.customer_phone_hash))
        return {number: found for number, found in rows}


async def test_the_command_rehashes_every_phone_under_the_new_key(
    database: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with own_database(database, tmp_path, prefix="K" + database.backend[0].upper()) as db:
        numbers = [await _received(db.store, phone) for phone in PHONES]
        before = await _hashes(db)
        assert before[numbers[0]] == phone_lookup_hash(PHONES[0], DEVELOPMENT_LOOKUP_KEY)
        monkeypatch.setattr(cli_common, "get_settings", lambda: Settings(database_url=db.url, phone_lookup_key=NEW_KEY))
        ran = await asyncio.to_thread(CliRunner().invoke, cli.app, ["rekey-phones"])
        assert ran.exit_code == 0, ran.output
        assert "3 cases' phone look-up re-hashed" in ran.output
        after = await _hashes(db)
        for number, phone in zip(numbers, PHONES, strict=True):
            assert after[number] == phone_lookup_hash(phone, NEW_KEY.encode()), number
        assert after[numbers[0]] != before[numbers[0]] and after[numbers[3]] is None
        # Found by phone under the new key, as the API's store finds it.
        rotated = CaseStore(db.store.sessions, phone_key=NEW_KEY.encode())
        assert rotated.phone_lookup("13912340002") == after[numbers[1]]
        # Again: nothing left to change; a small batch walks every row the same.
        assert await rekey_phones(db.store.sessions, NEW_KEY.encode(), batch=1) == 0
        assert await rekey_phones(db.store.sessions, DEVELOPMENT_LOOKUP_KEY, batch=2) == 3
        assert await _hashes(db) == before
