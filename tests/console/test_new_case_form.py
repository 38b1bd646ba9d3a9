"""The new case form in Chromium: the triage suggestion follows the description as the agent
types, and a double click, a resent form or two sends at once open exactly one case."""

from __future__ import annotations

import asyncio
import secrets
import uuid

from console.auth import DEV_PEOPLE
from store.case_reads import CaseFilter
from tests.support.desk import Desk

AGENT = DEV_PEOPLE["agent"]
HANDLER = DEV_PEOPLE["handler"]
SUGGESTION = "#suggestion-body"


async def _cases_with_order(desk: Desk, order: str) -> list[str]:
    rows, _ = await desk.database.store.list_cases(CaseFilter(order_number=order), 10, 0)
    return [row.number for row in rows]


async def _fill_intake(desk: Desk, order: str) -> None:
    page = desk.page
    await page.select_option("#new-case-channel", "phone")
    await page.fill("#new-case-customer-name", "王小明")
    await page.fill("#new-case-customer-phone", "139 1234 5678")
    await page.fill("#new-case-order-number", order)
    await page.fill("#new-case-order-paid_amount", "299.00")
    await page.fill("#new-case-product-sku", "KETTLE-1L")


async def test_the_suggestion_follows_the_description_as_the_agent_types(desk: Desk) -> None:
    await desk.sign_in(AGENT)
    page = desk.page
    await page.click(".pages a[data-page=new-case]")
    assert await page.inner_text("h1") == "新建工单"
    order = f"ORD-FORM-{secrets.token_hex(4)}"
    await _fill_intake(desk, order)

    await page.click("#new-case-description")
    await page.keyboard.type("快递丢件，包裹一直未收到", delay=20)
    logistics = page.locator(f"{SUGGESTION} [data-category=logistics]")
    await logistics.wait_for()
    assert await page.inner_text(f"{SUGGESTION} [data-fact=suggested-priority]") == "P3"
    assert await page.inner_text(f"{SUGGESTION} [data-fact=suggested-department]") == "物流"

    await page.keyboard.type("，打开后水壶漏电冒烟", delay=20)
    priority = page.locator(f"{SUGGESTION} [data-fact=suggested-priority]", has_text="P1")
    await priority.wait_for()
    reasons = await page.inner_text(f"{SUGGESTION} .reasons")
    assert "safety hazard" in reasons and "冒烟" in reasons
    # Nothing was opened by the previews.
    assert await _cases_with_order(desk, order) == []


async def test_a_double_submit_opens_exactly_one_case(desk: Desk) -> None:
    await desk.sign_in(AGENT)
    page = desk.page
    await desk.open("/console/new-case")
    order = f"ORD-TWICE-{secrets.token_hex(4)}"
    await _fill_intake(desk, order)
    await page.fill("#new-case-description", "The kettle base cracked after two days")
    sent = await page.evaluate("Object.fromEntries(new FormData(document.getElementById('new-case')))")

    async with page.expect_navigation(url="**/console/cases/**"):
        await page.dblclick("#new-case button[type=submit]")
    number = page.url.rsplit("/", 1)[-1]
    assert (await page.inner_text("h1")).startswith(number)
    assert await _cases_with_order(desk, order) == [number]

    # The same form sent again (the browser's back and resend): the same case, no second one.
    again = await page.request.post(f"{desk.base}/console/new-case", form=sent, max_redirects=0)
    assert again.status == 303 and again.headers["location"] == f"/console/cases/{number}"
    assert await _cases_with_order(desk, order) == [number]

    # Two sends at the same moment with one key: the second waits for the first, one case.
    other = f"ORD-RACE-{secrets.token_hex(4)}"
    raced = sent | {"order.number": other, "idempotency_key": str(uuid.uuid4())}
    first, second = await asyncio.gather(
        *(page.request.post(f"{desk.base}/console/new-case", form=raced, max_redirects=0) for _ in range(2))
    )
    assert first.status == second.status == 303
    assert first.headers["location"] == second.headers["location"]
    assert [f"/console/cases/{n}" for n in await _cases_with_order(desk, other)] == [first.headers["location"]]


async def test_a_refused_field_is_named_and_a_handler_gets_no_form(desk: Desk) -> None:
    await desk.sign_in(AGENT)
    page = desk.page
    await desk.open("/console/new-case")
    await _fill_intake(desk, f"ORD-BAD-{secrets.token_hex(4)}")
    await page.fill("#new-case-customer-phone", "call me")
    await page.fill("#new-case-description", "broken")
    await page.click("#new-case button[type=submit]")
    error = page.locator("[data-error-for='customer.phone']")
    await error.wait_for()
    assert await page.locator("[data-field='customer.phone'] [data-error-for='customer.phone']").count() == 1

    await desk.sign_in(HANDLER)

    page = desk.page
    assert await page.locator(".pages a[data-page=new-case]").count() == 0
    answer = await page.goto(f"{desk.base}/console/new-case")
    assert answer is not None and answer.status == 403
    assert await page.inner_text("h1") == "无权访问"
