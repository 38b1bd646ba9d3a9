"""Taobao refunds end to end: TMC messages from a fake TMC server (WebSocket, signed connect,
confirmations) and a fake TOP router, through the real consumer and intake, to cases run by a
real worker on the Temporal dev server, read back through the API.

- a refund message becomes a marketplace case carrying the platform's deadline;
- a consumer killed after recording but before confirming: TMC delivers again, one case;
- approving a refund the platform will not agree through the API (over the per-call cap, or
  asking for the merchant's SMS code) becomes a person's task with the platform's words;
- the reconciliation Schedule, triggered, opens the case of a refund whose message was lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from temporalio.testing import WorkflowEnvironment

from api.app import create_app
from channels.taobao import adapter_from_settings
from channels.taobao.consumer import TmcConsumer
from channels.taobao.run import consumer_from_settings, intake_from
from channels.taobao.top import BEIJING, top_time
from core.settings import Settings
from core.temporal_setup import ensure_reconcile_schedule
from domain.marketplace import IntakeResult, Platform, PlatformEvent
from domain.reconciliation import ReconcileReport
from store.channels import ChannelStore
from store.db import session_factory
from tests.conftest import Database
from tests.support.devrun import REPO
from tests.support.people import SUPERVISOR, TEST_JWT_SECRET
from tests.support.receiver import eventually
from tests.support.taobao import APP_KEY, APP_SECRET, SESSION, FakeTmc, FakeTop, fake_tmc, fake_top
from tests.support.workers import in_process_worker
from workflows.reconciliation import MarketplaceReconciliationWorkflow


@dataclass
class Shop:
    settings: Settings
    tmc: FakeTmc
    top: FakeTop
    api: httpx.AsyncClient
    channels: ChannelStore
    env: WorkflowEnvironment

    def consumer(self, intake: Any = None) -> TmcConsumer:
        sessions = self.channels._sessions
        consumer = consumer_from_settings(self.settings, self.env.client, sessions)
        if intake is not None:
            consumer._intake = intake
        return consumer

    async def case_of(self, refund_id: str) -> str:
        """The refund's case as staff look it up (GET /channels/taobao/after-sales/{id})."""

        async def found() -> str | None:
            answer = await self.api.get(f"/channels/taobao/after-sales/{refund_id}", headers=SUPERVISOR)
            return answer.json()["case_number"] if answer.status_code == 200 else None

        return await eventually(found, what=f"a case for refund {refund_id}")

    async def live(self, number: str) -> dict[str, Any]:
        answer = await self.api.get(f"/cases/{number}", headers=SUPERVISOR)
        assert answer.status_code == 200, answer.text
        return answer.json()


def refund_id() -> str:
    return str(random.randrange(10**14, 10**15))


def created(top: FakeTop, rid: str, fee: str = "128.00", **options: Any) -> dict[str, Any]:
    """A refund on the platform and the content of its RefundCreated message."""
    record = top.add_refund(rid, tid=f"9{rid}", fee=fee, **options)
    return {
        "refund_id": int(rid), "tid": int(record["tid"]), "oid": int(record["tid"]), "refund_fee": fee,
        "bill_type": "refund_bill", "refund_phase": "onsale", "modified": record["modified"], "buyer_nick": "张**",
    }  # fmt: skip


@contextlib.asynccontextmanager
async def running(consumer: TmcConsumer) -> AsyncIterator[asyncio.Task[None]]:
    task = asyncio.create_task(consumer.run())
    try:
        yield task
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


@pytest.fixture
async def shop(env: WorkflowEnvironment, database: Database) -> AsyncIterator[Shop]:
    async with fake_top() as top, fake_tmc() as tmc:
        task_queue = f"taobao-{database.backend}"
        settings = Settings(
            task_queue=task_queue, database_url=database.url, case_number_prefix=database.prefix,
            jwt_secret=TEST_JWT_SECRET, rate_limit="", taobao_app_key=APP_KEY, taobao_app_secret=APP_SECRET,
            taobao_session=SESSION, taobao_api_url=top.url, taobao_tmc_url=tmc.url,
        )  # fmt: skip
        sessions = session_factory(database.engine)
        marketplaces = {Platform.TAOBAO: adapter_from_settings(settings)}
        async with in_process_worker(
            env.client, database.store, task_queue, marketplaces=marketplaces,
            intake=intake_from(settings, env.client, sessions), workflow_failure_exception_types=[Exception],
        ):  # fmt: skip
            app = create_app(settings, temporal=env.client, sessions=sessions)
            async with httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://aftersales.test"
            ) as api:
                yield Shop(settings, tmc, top, api, ChannelStore(sessions), env)


async def test_a_refund_message_becomes_a_case_with_the_platforms_deadline(shop: Shop) -> None:
    rid = refund_id()
    deadline = (datetime.now(BEIJING) + timedelta(days=2)).replace(microsecond=0)
    content = created(shop.top, rid, deadline=deadline)
    async with running(shop.consumer()):
        message = await shop.tmc.publish("taobao_refund_RefundCreated", content)
        await shop.tmc.wait_confirmed(message)
    number = await shop.case_of(rid)
    case = await shop.live(number)
    live = case["live"]
    assert live["intake"]["channel"] == "marketplace"
    assert live["intake"]["order"] == live["intake"]["order"] | {"number": f"9{rid}", "paid_amount": "128.00"}
    assert live["platform"]["platform"] == "taobao" and live["platform"]["after_sale_id"] == rid
    assert datetime.fromisoformat(live["platform"]["deadline"]) == deadline
    # The API's SLA view shows the platform's deadline as the `platform` clock, running for the merchant.
    [clock] = [c for c in case["sla"]["clocks"] if c["name"] == "platform"]
    assert datetime.fromisoformat(clock["due_at"]) == deadline and clock["state"] == "running"
    assert "张**" not in json.dumps(case)  # the buyer's nickname stays on the platform
    assert shop.tmc.deliveries[message] == 1


async def test_a_consumer_killed_before_confirming_gets_the_message_again_and_one_case(shop: Shop) -> None:
    rid = refund_id()
    recorded = asyncio.Event()

    class RecordsThenDies:
        """The intake, then a process that dies before the confirmation leaves."""

        def __init__(self, intake: Any) -> None:
            self._intake = intake

        async def take_event(self, event: PlatformEvent) -> IntakeResult:
            result = await self._intake.take_event(event)
            recorded.set()
            await asyncio.Event().wait()  # never confirms
            return result

    first = shop.consumer()
    first._intake = RecordsThenDies(first._intake)
    async with running(first) as task:
        message = await shop.tmc.publish("taobao_refund_RefundCreated", created(shop.top, rid))
        await asyncio.wait_for(recorded.wait(), 30)
        task.cancel()  # killed
    assert message not in shop.tmc.confirmed
    number = await shop.case_of(rid)

    async with running(shop.consumer()):
        await shop.tmc.wait_confirmed(message)
    assert shop.tmc.deliveries[message] == 2
    assert await shop.channels.case_of("taobao", rid) == number
    assert [m["state"] for m in await shop.channels.messages("taobao", rid)] == ["applied"]
    timeline = (await shop.api.get(f"/cases/{number}/timeline", headers=SUPERVISOR)).json()
    assert [e["kind"] for e in timeline].count("received") == 1


async def test_aftersales_tmc_killed_before_its_confirmation_arrives_leaves_one_case(
    shop: Shop, env: WorkflowEnvironment, database: Database, tmp_path: Path
) -> None:
    """`aftersales tmc` as a process, SIGKILLed once the message is recorded; its confirmation
    never reached TMC. The next process gets the message again and confirms it; one case."""
    rid = refund_id()
    log = tmp_path / "tmc.log"
    environment = _process_environment(shop, env, database)
    async with tmc_process(shop, environment, log) as process:
        content = created(shop.top, rid)
        shop.tmc.lose_confirm.add(shop.tmc.next_id)
        message = await shop.tmc.publish("taobao_refund_RefundCreated", content)
        number = await shop.case_of(rid)
        process.kill()
    assert message not in shop.tmc.confirmed and shop.tmc.deliveries[message] == 1
    async with tmc_process(shop, environment, log):
        try:
            await shop.tmc.wait_confirmed(message)
        except TimeoutError:
            raise AssertionError(f"not confirmed: {log.read_text()[-3000:]}") from None
    assert shop.tmc.deliveries[message] == 2
    assert await shop.channels.case_of("taobao", rid) == number
    assert [m["state"] for m in await shop.channels.messages("taobao", rid)] == ["applied"]
    timeline = (await shop.api.get(f"/cases/{number}/timeline", headers=SUPERVISOR)).json()
    assert [e["kind"] for e in timeline].count("received") == 1
    assert "(seen before)" in log.read_text()  # the second process knew the message


async def test_the_worker_consumes_tmc_when_taobao_is_configured(
    shop: Shop, env: WorkflowEnvironment, database: Database, tmp_path: Path
) -> None:
    """`aftersales worker` with TAOBAO_APP_KEY set runs the consumer beside its polling."""
    rid = refund_id()
    log = tmp_path / "worker.log"
    environment = _process_environment(shop, env, database) | {"TASK_QUEUE": f"{shop.settings.task_queue}-process"}
    async with tmc_process(shop, environment, log, "worker"):
        message = await shop.tmc.publish("taobao_refund_RefundCreated", created(shop.top, rid))
        await shop.tmc.wait_confirmed(message)
        number = await shop.case_of(rid)
        # The worker process itself runs the case (its own task queue): the case answers through the API.
        assert (await shop.live(number))["live"]["platform"]["after_sale_id"] == rid
    assert "consuming Taobao TMC messages" in log.read_text()


def _process_environment(shop: Shop, env: WorkflowEnvironment, database: Database) -> dict[str, str]:
    return {
        "DATABASE_URL": database.url, "TASK_QUEUE": shop.settings.task_queue, "CASE_NUMBER_PREFIX": database.prefix,
        "TEMPORAL_ADDRESS": env.client.service_client.config.target_host, "TEMPORAL_NAMESPACE": env.client.namespace,
        "TAOBAO_APP_KEY": APP_KEY, "TAOBAO_APP_SECRET": APP_SECRET, "TAOBAO_SESSION": SESSION,
        "TAOBAO_API_URL": shop.top.url, "TAOBAO_TMC_URL": shop.tmc.url,
    }  # fmt: skip


@contextlib.asynccontextmanager
async def tmc_process(
    shop: Shop, environment: dict[str, str], log: Path, command: str = "tmc"
) -> AsyncIterator[asyncio.subprocess.Process]:
    """`python -m cli <command>` until the block ends (SIGKILL), once it has connected to the fake TMC."""
    connects = shop.tmc.connects
    with open(log, "ab") as out:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "cli", command, cwd=REPO, env=os.environ | environment, stdout=out, stderr=out
        )
    try:
        await eventually(
            lambda: shop.tmc.connects > connects or process.returncode is not None, timeout=60, what="aftersales tmc"
        )
        assert process.returncode is None, log.read_text()[-3000:]
        yield process
    finally:
        if process.returncode is None:
            process.kill()
        await process.wait()


@pytest.mark.parametrize("limit", ["batch cap", "sms"])
async def test_a_refund_over_the_platforms_limit_becomes_a_persons_task(shop: Shop, limit: str) -> None:
    rid = refund_id()
    fee = "6500.00" if limit == "batch cap" else "3000.00"
    shop.top.sms_over = Decimal("2000")
    async with running(shop.consumer()):
        message = await shop.tmc.publish("taobao_refund_RefundCreated", created(shop.top, rid, fee=fee))
        await shop.tmc.wait_confirmed(message)
    number = await shop.case_of(rid)
    answer = await shop.api.post(
        f"/cases/{number}/platform-decisions", json={"kind": "approve_refund"}, headers=SUPERVISOR
    )
    assert answer.status_code in (200, 202), answer.text
    task = await eventually(lambda: _task(shop, number), what="the platform task")
    if limit == "batch cap":
        assert task["platform_code"] == "over_batch_cap" and "6000" in task["platform_message"]
        assert shop.top.calls_of("taobao.rp.refunds.agree") == []
    else:
        assert task["platform_code"] == "sms_verification_required" and "短信验证码" in task["platform_message"]
        assert len(shop.top.calls_of("taobao.rp.refunds.agree")) == 1
    assert shop.top.refunds[rid]["status"] == "WAIT_SELLER_AGREE"  # nothing agreed behind the person's back
    timeline = (await shop.api.get(f"/cases/{number}/timeline", headers=SUPERVISOR)).json()
    assert "platform_decision_refused" in [e["kind"] for e in timeline]


async def _task(shop: Shop, number: str) -> dict[str, Any] | None:
    live = (await shop.live(number))["live"]
    return (live.get("platform") or {}).get("task")


async def test_the_reconciliation_schedule_repairs_what_lost_messages_left_behind(shop: Shop) -> None:
    # One refund whose RefundClosed was lost (its case still waits for the merchant), one never pushed at all.
    pushed = refund_id()
    async with running(shop.consumer()):
        await shop.tmc.wait_confirmed(await shop.tmc.publish("taobao_refund_RefundCreated", created(shop.top, pushed)))
    pushed_case = await shop.case_of(pushed)
    shop.top._set(pushed, "CLOSED")
    rid = refund_id()
    shop.top.add_refund(rid, tid=f"9{rid}", fee="66.00", deadline=datetime.now(BEIJING) + timedelta(hours=30))
    schedule_id = f"reconcile-{shop.settings.task_queue}-{rid}"
    options = {
        "schedule_id": schedule_id, "task_queue": shop.settings.task_queue, "platforms": [Platform.TAOBAO],
        "every_minutes": 10, "window_minutes": 30,
    }  # fmt: skip
    assert await ensure_reconcile_schedule(shop.env.client, **options) == "created"
    handle = shop.env.client.get_schedule_handle(schedule_id)
    try:
        reports = []
        for _ in range(2):  # the second run finds nothing left to repair
            seen = len((await handle.describe()).info.recent_actions)
            await handle.trigger()
            description = await eventually(
                lambda seen=seen: _ran(handle, seen), timeout=30, what="a reconciliation run"
            )
            run = shop.env.client.get_workflow_handle(
                description.workflow_id, run_id=description.first_execution_run_id, result_type=ReconcileReport
            )
            reports.append(await run.result())
    finally:
        await handle.delete()
    first, second = reports
    assert (first.platforms[0].opened, first.platforms[0].updated, first.repaired) == ([rid], [pushed], 2)
    assert (second.platforms[0].listed, second.repaired) == (2, 0)  # the overlapping window repeats nothing
    assert "1 opened, 1 updated" in first.summary()
    closed = (await shop.live(pushed_case))["live"]["platform"]
    assert (closed["status"], closed["step"]) == ("CLOSED", "closed")
    number = await shop.case_of(rid)
    live = (await shop.live(number))["live"]
    assert live["platform"]["after_sale_id"] == rid and live["intake"]["channel"] == "marketplace"
    assert description.workflow_id.startswith(schedule_id)
    assert (await run.describe()).workflow_type == MarketplaceReconciliationWorkflow.__name__


async def _ran(handle: Any, seen: int) -> Any:
    actions = (await handle.describe()).info.recent_actions
    return actions[-1].action if len(actions) > seen else None


async def test_a_refund_closed_before_its_created_message_leaves_one_closed_case(shop: Shop) -> None:
    rid = refund_id()
    opened = created(shop.top, rid)
    closed = opened | {"modified": top_time(datetime.now(BEIJING) + timedelta(minutes=5))}
    shop.top._set(rid, "CLOSED")
    async with running(shop.consumer()):
        late = await shop.tmc.publish("taobao_refund_RefundClosed", closed)
        await shop.tmc.wait_confirmed(late)
        early = await shop.tmc.publish("taobao_refund_RefundCreated", opened)
        await shop.tmc.wait_confirmed(early)
    number = await shop.case_of(rid)
    platform = (await shop.live(number))["live"]["platform"]
    assert (platform["status"], platform["step"]) == ("CLOSED", "closed")  # the older message moved nothing back
    assert [m["state"] for m in await shop.channels.messages("taobao", rid)] == ["applied", "applied"]


async def test_an_approved_refund_is_agreed_on_taobao_and_confirmed_by_its_next_message(shop: Shop) -> None:
    rid = refund_id()
    content = created(shop.top, rid)
    async with running(shop.consumer()):
        await shop.tmc.wait_confirmed(await shop.tmc.publish("taobao_refund_RefundCreated", content))
        number = await shop.case_of(rid)
        answer = await shop.api.post(
            f"/cases/{number}/platform-decisions", json={"kind": "approve_refund"}, headers=SUPERVISOR
        )
        assert answer.status_code in (200, 202), answer.text
        [agreed] = shop.top.calls_of("taobao.rp.refunds.agree")
        assert agreed["refund_infos"].startswith(f"{rid}|12800|")
        assert shop.top.refunds[rid]["status"] == "SUCCESS"
        success = content | {"modified": shop.top.refunds[rid]["modified"]}
        await shop.tmc.wait_confirmed(await shop.tmc.publish("taobao_refund_RefundSuccess", success))

    async def kinds() -> list[str]:
        timeline = (await shop.api.get(f"/cases/{number}/timeline", headers=SUPERVISOR)).json()
        return [e["kind"] for e in timeline]

    await eventually(lambda: _has(kinds(), "platform_decision_confirmed"), what="the platform's confirmation")
    found = await kinds()
    assert found.index("platform_decision_sent") < found.index("platform_decision_confirmed")
    assert (await shop.live(number))["live"]["platform"]["status"] == "SUCCESS"


async def _has(kinds: Any, kind: str) -> bool:
    return kind in await kinds
