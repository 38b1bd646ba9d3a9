"""Finding a case by phone in Chromium (the phone typed another way, never in a URL; results paged
and exported as CSV), the monthly report's tables as CSV, the stuck cases page, and a failed
notification sent again from its page, once."""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest

from console.auth import DEV_PEOPLE
from console.routes import find
from delivery.notify import WebhookNotifier
from store.outbox import OutboxStore
from tests.support.desk import Desk
from tests.support.devrun import free_port
from tests.support.outbox import dispatching, with_status
from tests.support.people import AGENT as AGENT_HEADERS
from tests.support.people import intake
from tests.support.receiver import eventually
from tests.support.waiting import wait_for_stage

SUPERVISOR = DEV_PEOPLE["supervisor"]
AGENT = DEV_PEOPLE["agent"]


async def _open_case(desk: Desk, **overrides: object) -> str:
    answer = await desk.api.post("/cases", json=intake(**overrides), headers=AGENT_HEADERS)
    assert answer.status_code == 201, answer.text
    number = answer.json()["number"]
    await wait_for_stage(desk.api, number, "received", AGENT_HEADERS, "record")
    return number


async def test_find_by_phone_pages_through_and_exports_csv(
    desk: Desk, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(find, "PAGE_SIZE", 1)
    digits = f"137{secrets.randbelow(10**8):08d}"
    customer = {"name": "李雷", "phone": f"+86 {digits[:3]} {digits[3:7]} {digits[7:]}", "tier": "normal"}
    older = await _open_case(desk, customer=customer)
    newer = await _open_case(desk, customer=customer)
    await desk.sign_in(SUPERVISOR)

    page = desk.page
    await page.click(".pages a[data-page=find]")
    await page.fill("#find-phone", f"0086-{digits}")
    await page.click("#find button[name=offset][value='0']")
    await page.wait_for_selector("[data-total]")
    assert await page.get_attribute("[data-total]", "data-total") == "2"
    assert await page.locator("tr[data-case]").evaluate_all("rows => rows.map(r => r.dataset.case)") == [newer]
    shown = await page.inner_text(f"tr[data-case='{newer}']")
    assert "*******" + digits[-4:] in shown and digits not in shown
    assert digits not in page.url and digits[-8:] not in page.url

    await page.click("button[data-page=next]")
    await page.wait_for_selector(f"tr[data-case='{older}']")
    assert await page.locator("tr[data-case]").count() == 1

    async with page.expect_download() as download_info:
        await page.click("#find-csv")
    saved = tmp_path / "cases.csv"
    await (await download_info.value).save_as(saved)
    text = saved.read_text(encoding="utf-8")
    assert text.startswith("\ufeffnumber,stage,priority,categories,department,")
    lines = text.splitlines()
    assert [line.split(",")[0] for line in lines[1:]] == [newer, older]
    assert f"*******{digits[-4:]}" in lines[1] and digits not in text and "李雷" not in text


async def test_the_report_tables_download_as_csv_and_the_stuck_page_links_to_temporal_ui(
    desk: Desk, tmp_path: Path
) -> None:
    await _open_case(desk)
    await desk.sign_in(SUPERVISOR)
    page = desk.page
    await page.click(".pages a[data-page=report]")
    assert "月度质量报告" in await page.inner_text("article.report h1")
    async with page.expect_download() as download_info:
        await page.click("a[data-csv=channels]")
    saved = tmp_path / "channels.csv"
    await (await download_info.value).save_as(saved)
    head, *rows = saved.read_text(encoding="utf-8").lstrip("\ufeff").splitlines()
    assert head == "渠道 Channel,工单数 Cases"
    assert any(row.startswith("电话 phone,") and int(row.split(",")[1]) >= 1 for row in rows), rows

    await page.click(".pages a[data-page=stuck]")
    assert await page.inner_text("h1") == "卡住的工单"
    for link in await page.locator("a[data-temporal-ui]").evaluate_all("links => links.map(a => a.href)"):
        assert "/namespaces/default/workflows/" in link

    await desk.sign_in(AGENT)

    page = desk.page
    assert await page.locator(".pages a[data-page=stuck]").count() == 0
    assert (await page.goto(f"{desk.base}/console/stuck")).status == 403  # type: ignore[union-attr]


async def test_a_failed_notification_is_sent_again_once_from_its_page(desk: Desk) -> None:
    number = await _open_case(desk)
    down = f"http://127.0.0.1:{free_port()}/hook"
    async with dispatching(desk.database, WebhookNotifier(down, "secret", timeout=2), number):
        failed = await eventually(
            lambda: with_status(desk.database, number, "acknowledgement", "failed"), what="acknowledgement failed"
        )
    await desk.sign_in(SUPERVISOR)
    page = desk.page
    await page.click(".pages a[data-page=notifications]")
    row = page.locator(f"tr[data-notification='{failed.id}']")
    assert number in await row.inner_text()
    csrf = await page.get_attribute(f"tr[data-notification='{failed.id}'] input[name=csrf_token]", "value")

    await page.click(f"button[data-retry='{failed.id}']")
    await page.wait_for_selector("[data-result=retried]")
    assert await page.locator(f"tr[data-notification='{failed.id}']").count() == 0
    outbox = OutboxStore(desk.database.store.sessions)
    assert ((await outbox.get(failed.id)).status, (await outbox.get(failed.id)).attempts) == ("pending", 0)  # type: ignore[union-attr]

    # The same button's form sent a second time acts no more.
    again = await page.request.post(
        f"{desk.base}/console/notifications/{failed.id}/retry", form={"csrf_token": csrf or ""}, max_redirects=0
    )
    assert again.status == 303 and again.headers["location"].endswith("result=not_failed")
    await page.goto(desk.base + again.headers["location"])
    assert "已不是失败状态" in await page.inner_text("[data-result=not_failed]")
