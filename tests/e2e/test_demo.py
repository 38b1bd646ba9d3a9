"""`aftersales demo`: realistic cases through the real API and worker, a deterministic mix."""

from __future__ import annotations

import asyncio
import re
import time
from collections import Counter
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import delete, select
from temporalio.testing import WorkflowEnvironment

from api.app import create_app
from cli.demo import BREACHING, FATES, FINAL_STAGE, demo_credentials, plan_demo, run_demo
from core.settings import Settings
from store.apikeys import ApiKeyStore
from store.db import session_factory
from store.models import CalendarVersionRow, CaseCategoryRow, CaseRow, SlaPolicyVersionRow
from tests.conftest import Database
from tests.support.people import AGENT, intake

PREFIX = {"sqlite": "DEMQ", "postgresql": "DEMP"}


@pytest.fixture(scope="module")
async def demo_api(env: WorkflowEnvironment, database: Database, worker: str) -> AsyncIterator[httpx.AsyncClient]:
    settings = Settings(task_queue=worker, database_url=database.url, case_number_prefix=PREFIX[database.backend])
    app = create_app(settings, temporal=env.client, sessions=session_factory(database.engine))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://aftersales.test") as client:
        yield client
    # Other tests expect new cases on the built-in policy: drop the demo's uploads.
    async with database.engine.begin() as connection:
        await connection.execute(delete(SlaPolicyVersionRow))
        await connection.execute(delete(CalendarVersionRow))


async def rows_when_settled(database: Database, numbers: dict[str, str], timeout: float = 20) -> dict[str, CaseRow]:
    """The demo's case rows once each is recorded in the stage its fate leaves it in."""
    deadline = time.monotonic() + timeout
    while True:
        async with database.engine.connect() as connection:
            rows = {
                row.number: row for row in await connection.execute(select(CaseRow).where(CaseRow.number.in_(numbers)))
            }
        stages = {number: row.stage for number, row in rows.items()}
        unsettled = {n: stages.get(n) for n, fate in numbers.items() if stages.get(n) != FINAL_STAGE[fate]}
        if not unsettled:
            return rows
        assert time.monotonic() < deadline, f"not settled after {timeout}s: {unsettled}"
        await asyncio.sleep(0.2)


async def policy_in_force(api: httpx.AsyncClient) -> dict:
    """The SLA policy a case opened now is pinned to."""
    number = (await api.post("/cases", json=intake(), headers=AGENT)).json()["number"]
    return (await api.get(f"/cases/{number}", headers=AGENT)).json()["live"]["policy"]


def test_the_plan_is_deterministic_and_covers_every_fate() -> None:
    assert plan_demo(30, 7) == plan_demo(30, 7)
    assert plan_demo(30, 7) != plan_demo(30, 8)
    assert [case.fate for case in plan_demo(12, 3)] == FATES  # a small demo shows every kind of case
    assert Counter(case.fate for case in plan_demo(36, 3)) == Counter(FATES * 3)
    for case in plan_demo(60, 5):
        # Only the breaching cases are in the slice the demo policy shortens.
        assert ((case.channel, case.tier) == ("marketplace", "vip")) == (case.fate in BREACHING)


async def test_demo_drives_a_realistic_mix_through_the_api(
    demo_api: httpx.AsyncClient, database: Database, env: WorkflowEnvironment, tmp_path: Path
) -> None:
    before = await policy_in_force(demo_api)
    lines: list[str] = []
    credentials = await demo_credentials(ApiKeyStore(session_factory(database.engine)), tmp_path / "demo-keys.json")
    result = await run_demo(
        demo_api, 12, credentials=credentials, seed=11, breach_after=timedelta(seconds=4), echo=lines.append
    )

    assert len(result.cases) == 12
    assert Counter(result.cases.values()) == Counter(FATES)
    assert all(number.startswith(PREFIX[database.backend] + "-") for number in result.cases)
    assert sorted(result.breached) == sorted(n for n, fate in result.cases.items() if fate in BREACHING)
    assert result.not_breached == []
    assert any(result.demo_policy in line for line in lines)

    rows = await rows_when_settled(database, result.cases)
    stages = Counter(row.stage for row in rows.values())
    assert stages == Counter(
        {"closed": 2, "archived": 1, "plan_proposed": 2, "triaged": 2, "reopened": 1, "awaiting_customer": 1,
         "in_handling": 1, "awaiting_feedback": 1, "received": 1}
    )  # fmt: skip
    assert len({row.channel for row in rows.values()}) >= 4
    assert len({row.priority for row in rows.values() if row.priority}) >= 3
    assert {row.customer_tier for row in rows.values()} == {"normal", "vip"}
    breached = {n for n, row in rows.items() if row.sla_state == "breached"}
    assert breached == set(result.breached)
    assert {rows[n].stage for n in breached} == {"plan_proposed", "triaged"}  # one waits for approval
    reopened = {n for n, row in rows.items() if row.reopen_count}
    assert {result.cases[n] for n in reopened} == {"reopened", "closed_after_reopen"}
    outcomes = Counter(row.outcome for row in rows.values() if row.stage in ("closed", "archived"))
    assert outcomes == Counter({"satisfied": 2, "withdrawn": 1})
    descriptions = [row.description for row in rows.values()]
    assert any(re.search(r"[\u4e00-\u9fff]", d) for d in descriptions)
    assert any(re.fullmatch(r"[ -~]+", d) for d in descriptions)
    async with database.engine.connect() as connection:
        categories = set(
            (
                await connection.execute(select(CaseCategoryRow.category).where(CaseCategoryRow.case_number.in_(rows)))
            ).scalars()
        )
    assert len(categories) >= 4
    # Every action went through the API as a person: the timeline names who did what.
    kinds = Counter([e.kind for n in rows for e in await database.store.timeline(n)])
    for kind in (
        "triaged",
        "accepted",
        "plan_proposed",
        "plan_approved",
        "resolution_executed",
        "reopened",
        "info_requested",
        "customer_replied",
        "withdrawn",
        "sla_breached",
        "closed",
        "result_told",
        "call_back_task_created",
        "call_back_completed",
        "return_authorised",
        "repaired",
        "shipped_back",
    ):  # fmt: skip (a repair, step by step)
        assert kinds[kind] >= 1, kind

    # The policy in force before the demo is in force again, under a new version name.
    after = await policy_in_force(demo_api)
    assert after["version"] == result.restored_policy != before["version"]
    assert after | {"version": None} == before | {"version": None}
    breaching_row = rows[result.breached[0]]
    assert breaching_row.policy_version in (result.demo_policy, result.restored_policy)  # re-planned on restore


def test_the_demo_command_talks_to_the_api_url(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """`aftersales demo` hands its options to run_demo with a client for --api-url."""
    from typer.testing import CliRunner

    import cli.app as cli
    from cli import common, demo

    seen = {}

    async def fake(client: httpx.AsyncClient, cases: int, **options: object) -> demo.DemoResult:
        seen.update(base_url=str(client.base_url), cases=cases, **options)
        return demo.DemoResult(cases={"AS-20261123-000001": "closed"})

    async def keys(store: object, path: Path) -> dict[str, dict[str, str]]:
        seen.update(keys_file=path)
        return {"agent-li": {"X-API-Key": "ask_x"}}

    monkeypatch.setattr(demo, "run_demo", fake)
    monkeypatch.setattr(demo, "demo_credentials", keys)
    monkeypatch.setattr(common, "get_settings", lambda: Settings(data_dir=tmp_path))
    arguments = ["demo", "--cases", "5", "--seed", "3", "--api-url", "http://api.test:9000", "--no-breaches"]
    result = CliRunner().invoke(cli.app, arguments)
    assert result.exit_code == 0, result.output
    assert (seen["base_url"], seen["cases"], seen["seed"], seen["breaches"]) == ("http://api.test:9000", 5, 3, False)
    assert "1 cases opened through http://api.test:9000" in result.output
    assert seen["credentials"] == {"agent-li": {"X-API-Key": "ask_x"}}
    assert seen["keys_file"] == tmp_path / "demo-keys.json"
