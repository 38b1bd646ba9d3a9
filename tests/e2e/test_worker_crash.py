"""The worker is SIGKILLed at random points while 30 cases run their whole life, and
restarted each time: every case still reaches its satisfied close (it archives a week
later, after the fix check), with each event recorded once,
one ledger entry for its one approved refund, and one payment at the payment gateway
(a real HTTP receiver behind the webhook adapter, counting payments per idempotency key).

Then `aftersales dev` as a whole is killed while several people act at once (issue 13):
the record must equal what each workflow's history committed, on both databases."""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest
from temporalio.testing import WorkflowEnvironment

from api.app import create_app
from core.settings import Settings
from core.temporal_client import connect
from store.db import session_factory
from tests.conftest import Database
from tests.support.durability import (
    DevProcess,
    WorkerProcess,
    act,
    assert_nothing_lost_or_doubled,
    assert_record_is_the_workflow,
    committed_transitions,
    run_lifecycle,
)
from tests.support.people import AGENT, HANDLER, PLAN, TRIAGE, intake, person
from tests.support.receiver import receiver
from workflows.case import CaseWorkflow

CASES = 30
SEED = 20261123
CONCURRENCY = 30
STAGGER = 0.4  # seconds between two cases' starts


async def test_cases_survive_worker_kills(env: WorkflowEnvironment, database: Database, tmp_path: Path) -> None:
    if database.backend != "postgresql":
        pytest.skip("run on PostgreSQL, the production database; SQLite survives restarts in test_dev_server_restarts")
    async with contextlib.AsyncExitStack() as stack:
        try:
            await _survive_worker_kills(env, database, tmp_path, stack)
        except Exception as failure:
            # The histories die with the session's server: keep them to replay the failure.
            kept = await keep_histories(env, f"crash-{database.backend}", tmp_path / "histories")
            failure.add_note(f"the {kept} cases' histories: {tmp_path / 'histories'}")
            raise


async def keep_histories(env: WorkflowEnvironment, task_queue: str, directory: Path) -> int:
    directory.mkdir(parents=True, exist_ok=True)
    kept = 0
    async for execution in env.client.list_workflows(f"TaskQueue = '{task_queue}'"):
        history = await env.client.get_workflow_handle(execution.id, run_id=execution.run_id).fetch_history()
        (directory / f"{execution.id}.json").write_text(history.to_json())
        kept += 1
    return kept


async def _survive_worker_kills(
    env: WorkflowEnvironment, database: Database, tmp_path: Path, stack: contextlib.AsyncExitStack
) -> None:
    task_queue = f"crash-{database.backend}"
    gateway = await stack.enter_async_context(receiver())
    # A real gateway: the first request with an idempotency key pays, a repeat of the key
    # (a retried activity) answers with the same payment.
    gateway.respond = lambda body, seen: (200, {"reference": f"PSP-{body['idempotency_key']}"})
    worker = WorkerProcess(
        address=env.client.service_client.config.target_host,
        namespace=env.client.namespace,
        task_queue=task_queue,
        database_url=database.url,
        directory=tmp_path,
    )
    worker.environment |= {
        "EXECUTION_ADAPTER": "webhook", "EXECUTION_WEBHOOK_URL": gateway.url, "EXECUTION_WEBHOOK_SECRET": "crash-test-secret",
    }  # fmt: skip
    settings = Settings(task_queue=task_queue, database_url=database.url, case_number_prefix=database.prefix)
    app = create_app(settings, temporal=env.client, sessions=session_factory(database.engine))
    chance = random.Random(SEED)
    actions = 0
    next_kill = chance.randint(15, 30)
    restarting = asyncio.Lock()
    background: set[asyncio.Task[None]] = set()

    async def kill_and_restart(delay: float) -> None:
        # A little after an action: the worker is often mid-task or mid-activity then.
        await asyncio.sleep(delay)
        async with restarting:
            await worker.kill()
            worker.start()

    async def after_action() -> None:
        nonlocal actions, next_kill
        actions += 1
        if actions >= next_kill:
            next_kill = actions + chance.randint(15, 30)
            task = asyncio.create_task(kill_and_restart(chance.uniform(0, 0.3)))
            background.add(task)
            task.add_done_callback(background.discard)

    gate = asyncio.Semaphore(CONCURRENCY)

    async def one(index: int) -> str:
        # Staggered, so that at any moment cases are at every stage of their life.
        await asyncio.sleep(index * STAGGER)
        async with gate:
            return await run_lifecycle(api, database.store, f"crash-{database.backend}-{index}", after_action)

    started = time.monotonic()
    worker.start()
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://aftersales.test", timeout=300
        ) as api:
            numbers = await asyncio.gather(*(one(i) for i in range(CASES)))
        await asyncio.gather(*background)
        assert worker.kills >= 6, f"only {worker.kills} kills"
        for number in numbers:
            await assert_nothing_lost_or_doubled(database.store, env.client, number)
            # Exactly one payment per case: one idempotency key, paid once (repeats of the key
            # are retries the gateway answers with the same payment), and it is the ledger's.
            asked = [json.loads(r.body) for r in gateway.requests if json.loads(r.body)["case_number"] == number]
            payments = Counter(body["idempotency_key"] for body in asked)
            assert len(payments) == 1, (number, payments)
            [(key, _)] = payments.items()
            [entry] = await database.store.ledger(number)
            assert (entry.idempotency_key, entry.reference) == (key, f"PSP-{key}"), number
    finally:
        for task in background:
            task.cancel()
        await worker.stop()
    print(f"{CASES} cases, {worker.kills} kills, {time.monotonic() - started:.1f}s")


# Issue 13: several people act on cases at once and `aftersales dev` (Temporal, worker, API)
# is killed a seeded moment later; after a restart, whatever the crash cut short, the record
# is exactly what each workflow's history committed, and a later action is never taken for a
# repeat of one that was lost.
APPROVALS = 10
DEV_KILL_SEEDS = [13, 1301, 20261201]
P3_TRIAGE = TRIAGE | {"priority": "P3"}  # a module lead (supervisor) approves P3 plans
ZHAO, QIAN = person("supervisor-zhao", "supervisor"), person("supervisor-qian", "supervisor")


@pytest.mark.parametrize("seed", DEV_KILL_SEEDS)
async def test_concurrent_actions_survive_killing_aftersales_dev(database: Database, tmp_path: Path, seed: int) -> None:
    chance = random.Random(seed)
    dev = DevProcess(
        data_dir=tmp_path / "aftersales", database_url=database.url, prefix=database.prefix, task_queue=f"kill-{seed}"
    )
    await dev.start()
    try:
        async with httpx.AsyncClient(base_url=dev.api_url, timeout=60) as api:

            async def to_plan(index: int) -> str:
                tag = f"kill-{seed}-{index}-{time.time_ns()}"
                number = (await act(api, "/cases", intake(), AGENT, f"{tag}-open"))["number"]
                for path, body, who in (
                    ("triage", P3_TRIAGE, AGENT),
                    ("accept", None, HANDLER),
                    ("plan", PLAN, HANDLER),
                ):
                    await act(api, f"/cases/{number}/{path}", body, who, f"{tag}-{path}")
                return number

            numbers = list(await asyncio.gather(*(to_plan(i) for i in range(APPROVALS))))

            # Once each, no retries: supervisor Zhao approves every plan while the handler adds
            # a note to some cases and supervisor Qian rejects others at the same moment.
            async def once(path: str, body: Any, who: dict[str, str]) -> None:
                with contextlib.suppress(httpx.HTTPError):
                    await api.post(
                        path, json=body, headers=who | {"Idempotency-Key": f"{path}-{seed}-{time.time_ns()}"}
                    )

            actions = []
            for i, number in enumerate(numbers):
                actions.append(once(f"/cases/{number}/approve", {"comment": "ok"}, ZHAO))
                if i % 3 == 1:
                    actions.append(once(f"/cases/{number}/notes", {"text": "customer called again"}, HANDLER))
                if i % 3 == 2:
                    actions.append(once(f"/cases/{number}/reject", {"reason": "amount unclear"}, QIAN))
            chance.shuffle(actions)
            fired = [asyncio.create_task(a) for a in actions]
            # The seeded point: once the record shows some of the decisions, a moment later;
            # other decisions are then between their write and their workflow task's end.
            await _record_moved(database.store, numbers, chance.randint(1, APPROVALS // 2))
            await asyncio.sleep(chance.uniform(0, 0.05))
            await dev.kill()
            await asyncio.gather(*fired)

        await dev.start()
        async with httpx.AsyncClient(base_url=dev.api_url, timeout=60) as api:
            client = await connect(Settings(temporal_address=dev.temporal_address))
            # Whatever the workflow did not commit is undone: a second supervisor decides the
            # plans still waiting, and a later kill during that must not lose it either.
            waiting = []
            for number in numbers:
                state = await client.get_workflow_handle_for(CaseWorkflow.run, number).query(CaseWorkflow.state)
                if state.stage.value == "plan_proposed":
                    waiting.append(number)

            async def decide(number: str) -> None:
                # A worker still catching up after the restart may answer 503 (the README's
                # contract): the same request with the same Idempotency-Key, until it acts once.
                deadline = time.monotonic() + 120
                while True:
                    response = await api.post(
                        f"/cases/{number}/reject",
                        json={"reason": "please revise"},
                        headers=QIAN | {"Idempotency-Key": f"second-{seed}-{number}"},
                    )
                    if response.status_code != 503:
                        break
                    assert time.monotonic() < deadline, response.text
                    await asyncio.sleep(1)
                # A decision still in flight from before the kill may get there first.
                assert response.status_code == 200 or response.json().get("title") == "Action not allowed now", (
                    response.text
                )
                if response.status_code != 200:
                    late.append(number)

            late: list[str] = []
            decided = [decide(n) for n in waiting]
            await asyncio.gather(*decided)
            for number in numbers:
                await _settled(database.store, client, number)
                await assert_record_is_the_workflow(database.store, client, number)
            print(
                f"seed {seed}: {len(waiting)} of {APPROVALS} plans still waiting after the kill, {len(late)} decided first by a decision from before it"
            )
    finally:
        await dev.stop()


async def _record_moved(store: Any, numbers: list[str], count: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while True:
        rows = [await store.get_case(n) for n in numbers]
        if sum(row is not None and row.last_seq > 4 for row in rows) >= count:
            return
        assert time.monotonic() < deadline, "no decision reached the record"
        await asyncio.sleep(0.01)


async def _settled(store: Any, client: Any, number: str, timeout: float = 120) -> None:
    """Bounded wait until the workflow rests, its history has every record activity completed and
    the record shows its last seq. A record activity whose worker was killed after it wrote the row
    but before it reported back is retried only once its 30 s start-to-close timeout has passed:
    until then the row and the workflow's state already show the event while the history still has
    the activity in flight, so the comparison waits for the history instead of failing on that window."""
    deadline = time.monotonic() + timeout
    while True:
        state = await client.get_workflow_handle_for(CaseWorkflow.run, number).query(CaseWorkflow.state)
        row = await store.get_case(number)
        resting = state.stage.value in ("in_handling", "awaiting_feedback")
        committed = [seq for seq, _ in await committed_transitions(client, number)]
        if resting and row is not None and row.last_seq == state.seq and committed == list(range(1, state.seq + 1)):
            return
        assert time.monotonic() < deadline, (
            f"{number}: workflow {state.stage.value} #{state.seq}, record {row and row.stage} #{row and row.last_seq},"
            f" history committed {committed}"
        )
        await asyncio.sleep(0.2)
