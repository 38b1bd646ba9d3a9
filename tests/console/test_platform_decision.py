"""The marketplace decision in Chromium: a Douyin after-sale pushed by the fake platform (tests/support/
douyin.py) becomes a case; its leading handler finds the decision form there and not on an ordinary
case, a refusal without its reason comes back naming the field with nothing sent, and the decision
reaches the platform through the case (the fake records the call, the case page shows it sent and
then confirmed)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from playwright.async_api import Page, expect
from temporalio.testing import WorkflowEnvironment

from channels.registry import adapters_from_settings
from console.auth import DEV_PEOPLE
from store.channels import ChannelStore
from store.db import session_factory
from tests.conftest import Database, app_settings
from tests.support.api import post
from tests.support.console import Console, console_running
from tests.support.douyin import APP_KEY, APP_SECRET, AfterSale, FakeDouyin, fake_douyin, new_after_sale_id
from tests.support.people import AGENT, TRIAGE, intake
from tests.support.receiver import eventually
from tests.support.waiting import wait_for_event, wait_for_stage
from tests.support.workers import in_process_worker

HANDLER = DEV_PEOPLE["handler"]  # quality, the department both cases are triaged to
REFUND_AFTER_SHIPPING = 1  # Douyin aftersale_type: money only, no goods come back
FORM = "#action-platform-decision"


@dataclass
class Shop:
    console: Console
    fake: FakeDouyin
    api: httpx.AsyncClient  # the same app as the API, to open and triage cases
    channels: ChannelStore


@pytest.fixture
async def shop(env: WorkflowEnvironment, database: Database) -> AsyncIterator[Shop]:
    queue = f"console-douyin-{database.backend}"
    async with fake_douyin(push_url="") as fake:
        douyin = {"douyin_app_key": APP_KEY, "douyin_app_secret": APP_SECRET, "douyin_api_url": fake.api_url}
        marketplaces = dict(adapters_from_settings(app_settings(database, queue, **douyin)))
        async with (
            in_process_worker(env.client, database.store, queue, marketplaces=marketplaces,
                         workflow_failure_exception_types=[Exception]),
            console_running(env, database, queue, **douyin) as console,
            httpx.AsyncClient(transport=httpx.ASGITransport(app=console.app), base_url="http://aftersales.test") as api,
        ):  # fmt: skip
            fake.push_url = console.url("/channels/douyin/events")  # the platform pushes to the served app
            yield Shop(console, fake, api, ChannelStore(session_factory(database.engine)))
        assert console.refused == [], f"the console asked for something off this machine: {console.refused}"


async def _marketplace_case(shop: Shop, database: Database) -> tuple[AfterSale, str]:
    """A Douyin refund the buyer applied for, its case triaged to quality."""
    after_sale_id = new_after_sale_id()
    sale = AfterSale(
        after_sale_id, "6" + after_sale_id[1:], "5" + after_sale_id[1:], REFUND_AFTER_SHIPPING, amount_cents=12990
    )
    now = datetime.now(UTC)
    response = await shop.fake.push(shop.fake.apply(sale, now, now + timedelta(hours=24)))
    assert response.json() == {"code": 0, "msg": "success"}
    number = await eventually(lambda: shop.channels.case_of("douyin", after_sale_id), what="the after-sale's case")
    await wait_for_event(database, number, "platform_message", timeout=15)
    await post(shop.api, f"/cases/{number}/triage", TRIAGE, AGENT)
    await wait_for_stage(shop.api, number, "triaged", AGENT)
    return sale, number


async def _ordinary_case(shop: Shop) -> str:
    number = (await post(shop.api, "/cases", intake(), AGENT))["number"]
    await wait_for_stage(shop.api, number, "received", AGENT)
    await post(shop.api, f"/cases/{number}/triage", TRIAGE, AGENT)
    await wait_for_stage(shop.api, number, "triaged", AGENT)
    return number


async def _on(page: Page, shop: Shop, number: str) -> None:
    answer = await page.goto(shop.console.url(f"/console/cases/{number}"))
    assert answer is not None and answer.status == 200


async def test_a_handler_decides_a_marketplace_after_sale_in_the_console(shop: Shop, database: Database) -> None:
    ordinary = await _ordinary_case(shop)
    sale, number = await _marketplace_case(shop, database)
    handler = await shop.console.person(HANDLER)

    # An ordinary case of the handler's own department: other forms, no platform decision, no card.
    await _on(handler, shop, ordinary)
    await expect(handler.locator("#action-accept")).to_be_visible()
    assert await handler.locator(FORM).count() == 0
    assert await handler.locator("[data-platform]").count() == 0

    # The marketplace case: the after-sale on its card, and the decisions that fit a refund-only request.
    await _on(handler, shop, number)
    await expect(handler.locator("[data-fact=after-sale]")).to_contain_text(f"抖店 · {sale.after_sale_id}")
    await expect(handler.locator("[data-fact=platform-step]")).to_contain_text("买家申请售后")
    await expect(handler.locator(FORM)).to_be_visible()
    options = await handler.locator(f"{FORM}-kind option").evaluate_all("os => os.map(o => o.value)")
    assert options == ["", "approve_refund", "refuse"]  # nothing comes back to authorise

    # A refusal without the reason the buyer is shown: refused at that field, nothing sent.
    await handler.select_option(f"{FORM}-kind", "refuse")
    await handler.locator(f"{FORM} button[type=submit]").click()
    await handler.wait_for_load_state()
    await expect(handler.locator(f'{FORM} [data-field=reason] [data-error-for="reason"]')).to_have_text("此项必填。")
    await expect(handler.locator(f"{FORM}-kind")).to_have_value("refuse")  # what was sent stays chosen
    assert shop.fake.operates(sale.after_sale_id) == []

    # With its reason the refusal goes through the case to the platform, once.
    reason = "商品已拆封影响二次销售 opened, cannot be resold"
    await handler.fill(f"{FORM}-reason", reason)
    await handler.locator(f"{FORM} button[type=submit]").click()
    await handler.wait_for_load_state()
    (call,) = shop.fake.operates(sale.after_sale_id)
    assert call.signed and call.param["type"] == 202  # refuse a refund-only request (afterSale/operate)
    assert call.param["items"][0]["reason"] == reason
    assert call.key is not None and call.key.startswith(f"{number}:refuse:")
    sent = await wait_for_event(database, number, "platform_decision_sent")
    assert sent.actor_id == HANDLER.id and sent.data["reason"] == reason

    # The platform's RefundRefused confirms it: the page says so, and the decision is no longer offered.
    await wait_for_event(database, number, "platform_decision_confirmed", timeout=15)
    await _on(handler, shop, number)
    decision = handler.locator("li[data-decision=refuse]")
    await expect(decision).to_have_attribute("data-confirmed", "yes")
    await expect(decision).to_contain_text("平台已确认")
    await expect(handler.locator("li[data-kind=platform_decision_sent]")).to_have_count(1)
    assert await handler.locator(FORM).count() == 0
