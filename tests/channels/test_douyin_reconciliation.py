"""Douyin reconciliation through the real Temporal Schedule (triggered): an after-sale whose push
was lost is found through afterSale/List and gets its one case; a message the API recorded but
never applied (it stopped after answering the platform) is applied by the run's sweep."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from temporalio.testing import WorkflowEnvironment

from channels.douyin.adapter import DouyinAdapter
from core.temporal_setup import ensure_reconcile_schedule
from domain.marketplace import Platform
from domain.reconciliation import ReconcileReport
from tests.channels.conftest import Marketplace
from tests.channels.test_douyin_channel import detail, platform_clock, sale, to_second
from tests.support.douyin import APP_KEY, APP_SECRET
from tests.support.receiver import eventually
from worker import configured_platforms


async def reconcile(market: Marketplace, env: WorkflowEnvironment, name: str, runs: int = 1) -> list[ReconcileReport]:
    """Create the schedule as `aftersales` does, trigger it `runs` times, and read each run's report."""
    settings = market.intake._settings
    assert configured_platforms(settings, listing=True) == [Platform.DOUYIN]  # Douyin alone makes a schedule
    schedule_id = f"reconcile-{settings.task_queue}-{name}"
    created = await ensure_reconcile_schedule(
        env.client, schedule_id=schedule_id, task_queue=settings.task_queue,
        platforms=configured_platforms(settings, listing=True), every_minutes=10, window_minutes=30,
    )  # fmt: skip
    assert created == "created"
    handle = env.client.get_schedule_handle(schedule_id)
    reports = []
    try:
        for _ in range(runs):
            seen = len((await handle.describe()).info.recent_actions)
            await handle.trigger()
            action = await eventually(lambda seen=seen: _ran(handle, seen), timeout=30, what="a reconciliation run")
            run = env.client.get_workflow_handle(
                action.workflow_id, run_id=action.first_execution_run_id, result_type=ReconcileReport
            )
            reports.append(await run.result())
    finally:
        await handle.delete()
    return reports


async def _ran(handle: Any, seen: int) -> Any:
    actions = (await handle.describe()).info.recent_actions
    return actions[-1].action if len(actions) > seen else None


async def test_a_lost_push_is_repaired_by_the_schedule_once(douyin: Marketplace, env: WorkflowEnvironment) -> None:
    market, fake = douyin, douyin.fake
    lost = sale(amount_cents=6600)
    deadline = to_second(datetime.now(UTC) + timedelta(hours=30))
    fake.apply(lost, datetime.now(UTC) - timedelta(minutes=3), deadline)  # on the platform; its push never came

    first, second = await reconcile(market, env, lost.after_sale_id, runs=2)
    (repair,) = first.platforms
    assert (repair.platform, repair.listed, repair.opened, repair.updated) == (
        Platform.DOUYIN, 1, [lost.after_sale_id], [],
    )  # fmt: skip
    assert "douyin: 1 listed, 1 opened, 0 updated" in first.summary()
    assert (second.platforms[0].listed, second.repaired) == (1, 0)  # the overlapping window repeats nothing
    assert [c.method for c in fake.calls].count("afterSale.List") == 2
    (call,) = [c for c in fake.calls if c.method == "afterSale.List"][:1]
    assert call.signed and call.param["page"] == 0 and call.param["size"] == 100
    assert call.param["update_end_time"] - call.param["update_start_time"] == 30 * 60

    number = await market.case_of(lost.after_sale_id)
    assert [m["state"] for m in await market.channels.messages("douyin", lost.after_sale_id)] == ["applied"]
    case = await detail(market, number)
    live = case["live"]
    assert live["intake"]["channel"] == "marketplace" and live["intake"]["order"]["paid_amount"] == "66.00"
    assert (live["platform"]["after_sale_id"], live["platform"]["status"]) == (lost.after_sale_id, "6")
    clock = platform_clock(case)  # the listed deadline runs the platform clock
    assert datetime.fromisoformat(clock["due_at"]) == deadline
    assert clock["target"].startswith("由平台设定") and "set by the platform" in clock["target"]


async def test_a_recorded_message_never_applied_is_applied_by_the_run(
    douyin: Marketplace, env: WorkflowEnvironment
) -> None:
    # The API recorded the push and answered the platform, then stopped before acting on it.
    market, fake = douyin, douyin.fake
    stranded = sale()
    message = fake.message(
        200, stranded, apply_time=int(datetime.now(UTC).timestamp())
    )  # not listed: only the sweep sees it
    (event,) = DouyinAdapter(APP_KEY, APP_SECRET, fake.api_url).parse(json.dumps([message]).encode())
    assert (await market.intake.record(event)).applied is False
    assert await market.channels.case_of("douyin", stranded.after_sale_id) is None

    (report,) = await reconcile(market, env, stranded.after_sale_id)
    assert report.unapplied_applied >= 1 and report.unapplied_error is None
    assert stranded.after_sale_id not in report.platforms[0].opened
    assert f"{report.unapplied_applied} recorded messages applied" in report.summary()
    number = await market.case_of(stranded.after_sale_id, timeout=1)
    assert [m["state"] for m in await market.channels.messages("douyin", stranded.after_sale_id)] == ["applied"]
    assert (await detail(market, number))["live"]["platform"]["status"] == "6"
