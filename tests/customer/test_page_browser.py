"""The survey answered on the customer page in headless Chromium at a phone's size, against the real
worker and Temporal dev server: a 5 closes the case, a 2 reopens it; nothing loads from elsewhere."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from tests.customer.conftest import CustomerSite
from tests.support.api import drive_to_feedback, open_and_triage
from tests.support.browser import offline_page, serving
from tests.support.people import AGENT

PHONE = {"width": 390, "height": 844}
# A phone set to Chinese (headless Chromium says en-US by itself).
CHINESE = {"Accept-Language": "zh-CN,zh;q=0.9"}


async def _awaiting_feedback(site: CustomerSite) -> tuple[str, dict[str, Any]]:
    number = (await open_and_triage(site.client))["number"]
    await drive_to_feedback(site.client, number)
    return number, (await site.client.get(f"/cases/{number}", headers=AGENT)).json()["live"]


def _promised(live: dict[str, Any]) -> str | None:
    """What the page promises: the earliest running customer promise, in the business timezone."""
    dues = [
        datetime.fromisoformat(c["due_at"])
        for name, c in live["clocks"].items()
        if name in ("first_reply", "resolution", "result") and c["state"] == "running"
    ]
    if live.get("next_update_at"):
        dues.append(datetime.fromisoformat(live["next_update_at"]))
    return f"{min(dues).astimezone(ZoneInfo('Asia/Shanghai')):%Y-%m-%d %H:%M} (Asia/Shanghai)" if dues else None


async def _closing_events(site: CustomerSite, number: str) -> list[tuple[str, Any, str]]:
    timeline = (await site.client.get(f"/cases/{number}/timeline", headers=AGENT)).json()
    return [(e["kind"], e["data"].get("score"), e["actor_id"]) for e in timeline if e["kind"] in ("closed", "reopened")]


async def test_a_survey_answered_on_a_phone_closes_the_case(site: CustomerSite) -> None:
    from playwright.async_api import expect

    number, live = await _awaiting_feedback(site)
    token = site.token(number, "survey")
    async with serving(site.app) as base, offline_page() as (page, refused):
        await page.set_viewport_size(PHONE)
        await page.set_extra_http_headers(CHINESE)
        response = await page.goto(f"{base}/c/{token}")
        assert response is not None and response.status == 200
        await expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
        await expect(page.locator("#survey h2")).to_have_text("请为本次服务打分")
        await expect(page.locator("#case-number")).to_have_text(number)
        await expect(page.locator("#stage")).to_have_text("已处理完毕，期待您的评价。")
        promised = _promised(live)
        if promised is not None:
            await expect(page.locator("#promised")).to_have_text(promised)
        # The app's own stylesheet is applied, and the page fits the phone's width.
        header = await page.evaluate("getComputedStyle(document.querySelector('header')).backgroundColor")
        assert header == "rgb(47, 111, 179)"
        assert await page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]

        await page.locator(".scores label", has_text="5").click()
        await page.fill("#comment", "师傅很专业")
        await page.click("#survey button[type=submit]")
        await expect(page.locator("#message")).to_have_text("已收到您的回复，谢谢！")
        await expect(page.locator("#stage")).to_have_text("已结案，感谢您的耐心。")
        await expect(page.locator("#survey")).to_have_count(0)

        # The same link again (a second tap on the message): received once, no second form.
        await page.goto(f"{base}/c/{token}")
        await expect(page.locator("#message")).to_have_text("此链接的回复已经收到，无需再次提交。")
        await expect(page.locator("#survey")).to_have_count(0)
    assert refused == []
    detail = (await site.client.get(f"/cases/{number}", headers=AGENT)).json()
    assert detail["live"]["stage"] == "closed"
    assert await _closing_events(site, number) == [("closed", 5, "customer-page")]


async def test_a_score_of_two_on_the_page_reopens_the_case(site: CustomerSite) -> None:
    from playwright.async_api import expect

    number, _ = await _awaiting_feedback(site)
    token = site.token(number, "survey")
    async with serving(site.app) as base, offline_page() as (page, refused):
        await page.set_viewport_size(PHONE)
        await page.set_extra_http_headers(CHINESE)
        await page.goto(f"{base}/c/{token}")
        await page.click("#lang")  # English, by choice
        await expect(page.locator("html")).to_have_attribute("lang", "en")
        await expect(page.locator("#survey h2")).to_have_text("How satisfied are you with our service?")
        await page.locator(".scores label", has_text="2").click()
        await page.fill("#comment", "The kettle still leaks")
        await page.click("#survey button[type=submit]")
        await expect(page.locator("#message")).to_have_text("We have received your answer. Thank you!")
        await expect(page.locator("#stage")).to_have_text("It is reopened; we are looking at it again.")
    assert refused == []
    assert (await site.client.get(f"/cases/{number}", headers=AGENT)).json()["live"]["stage"] == "reopened"
    assert await _closing_events(site, number) == [("reopened", 2, "customer-page")]


async def test_an_expired_link_in_the_browser_says_so_and_names_the_hotline(site: CustomerSite) -> None:
    from datetime import timedelta

    from playwright.async_api import expect

    number, _ = await _awaiting_feedback(site)
    async with serving(site.app) as base, offline_page() as (page, refused):
        await page.set_viewport_size(PHONE)
        await page.set_extra_http_headers(CHINESE)
        response = await page.goto(f"{base}/c/{site.token(number, 'survey', timedelta(minutes=-5))}")
        assert response is not None and response.status == 410
        await expect(page.locator("#message")).to_have_text(
            f"此链接已过期。如需帮助，请致电客服热线 {site.settings.customer_hotline}。"
        )
        await expect(page.locator("form")).to_have_count(0)
    assert refused == []
    assert (await site.client.get(f"/cases/{number}", headers=AGENT)).json()["live"]["stage"] == "awaiting_feedback"
