"""A link in a customer message lives as long as the window it opens: the survey link dies when
the case's survey clock runs out, the information request's when the customer-reply window closes;
past it the page says the link expired and names the hotline. And the page speaks the case's
language unless the customer chose another with the toggle."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from delivery.customer import CustomerMessenger
from delivery.sms import Sms, SmsChannel
from delivery.windows import LinkWindows
from services.customer_links import issue_link, verify
from store.db import session_factory
from store.messages import MessageStore
from store.outbox import OutboundNotification
from tests.conftest import Database
from tests.customer.conftest import HOTLINE, CustomerSite
from tests.support.api import drive_to_feedback, open_and_triage, post
from tests.support.people import AGENT, HANDLER, intake

SURVEY_WINDOW = timedelta(hours=72)  # the built-in policy's survey clock, around the clock
REPLY_WINDOW = timedelta(hours=48)


class _Phone(SmsChannel):
    """The SMS provider stand-in: keeps each text as the customer's phone shows it."""

    def __init__(self) -> None:
        super().__init__("http://127.0.0.1:9/unused", "key", "secret")
        self.texts: list[str] = []

    async def send(self, sms: Sms) -> None:
        self.texts.append(sms.text)


class _Nobody:
    async def deliver(self, notification: object) -> None:
        """Staff notifications: not what these tests look at."""


async def _link_sent(
    site: CustomerSite, database: Database, number: str, seq: int, topic: str, asked_at: datetime, body: dict
) -> str:
    """The link in the SMS the messenger sends for an event that happened at `asked_at`."""
    phone = _Phone()
    messenger = CustomerMessenger(
        MessageStore(session_factory(database.engine)), _Nobody(), [phone], ZoneInfo("Asia/Shanghai"),
        quiet=None, link=lambda n, p, e: issue_link(n, p, e, site.settings),
        windows=LinkWindows(None, REPLY_WINDOW),
    )  # fmt: skip
    notification = OutboundNotification(
        id=0, case_number=number, seq=seq, recipient="customer", topic=topic, body=body, created_at=asked_at,
        attempt=1,
    )  # fmt: skip
    await messenger.deliver(notification)
    (text,) = phone.texts
    found = re.search(r"/c/(\S+)", text)
    assert found, text
    return found.group(1)


async def test_a_survey_link_expires_when_the_survey_window_closes(site: CustomerSite, database: Database) -> None:
    case = await open_and_triage(site.client)
    number = case["number"]
    await drive_to_feedback(site.client, number)
    now = datetime.now(UTC).replace(microsecond=0)
    body = {"resolution": "refund"}
    fresh_at, stale_at = now - timedelta(hours=1), now - SURVEY_WINDOW - timedelta(minutes=5)
    fresh = await _link_sent(site, database, number, 9001, "result_and_survey", fresh_at, body)
    stale = await _link_sent(site, database, number, 9002, "result_and_survey", stale_at, body)

    assert verify(fresh, site.settings).expires_at == fresh_at + SURVEY_WINDOW  # not a flat fortnight
    opened = await site.client.get(f"/c/{fresh}")
    assert opened.status_code == 200 and 'name="score"' in opened.text
    expired = await site.client.get(f"/c/{stale}")
    assert expired.status_code == 410
    assert "此链接已过期" in expired.text and HOTLINE in expired.text
    assert 'name="score"' not in expired.text


async def test_an_information_request_link_expires_with_the_reply_window(
    site: CustomerSite, database: Database
) -> None:
    case = await open_and_triage(site.client)
    number = case["number"]
    await post(site.client, f"/cases/{number}/accept", None, HANDLER)
    await post(site.client, f"/cases/{number}/info-requests", {"question": "请拍一张底座裂缝的照片"}, HANDLER)
    now = datetime.now(UTC).replace(microsecond=0)
    body = {"question": "请拍一张底座裂缝的照片"}
    fresh_at, stale_at = now - REPLY_WINDOW + timedelta(minutes=5), now - REPLY_WINDOW - timedelta(minutes=5)
    fresh = await _link_sent(site, database, number, 9001, "info_request", fresh_at, body)
    stale = await _link_sent(site, database, number, 9002, "info_request", stale_at, body)

    assert verify(fresh, site.settings).expires_at == fresh_at + REPLY_WINDOW
    opened = await site.client.get(f"/c/{fresh}")
    assert opened.status_code == 200 and 'name="text"' in opened.text
    expired = await site.client.get(f"/c/{stale}")
    assert expired.status_code == 410
    assert "此链接已过期" in expired.text and HOTLINE in expired.text


async def test_the_page_speaks_the_cases_language_unless_the_customer_chose(site: CustomerSite) -> None:
    english = intake(customer={"name": "Jane Doe", "phone": "+86 138 0013 8000", "language": "en"})
    number = (await post(site.client, "/cases", english, AGENT))["number"]
    chinese = (await post(site.client, "/cases", intake(), AGENT))["number"]
    browser_says_zh = {"accept-language": "zh-CN,zh;q=0.9"}
    site.client.cookies.clear()  # a browser that never chose

    page = await site.client.get(f"/c/{site.token(number, 'status')}", headers=browser_says_zh)
    assert page.status_code == 200 and '<html lang="en">' in page.text  # the case's language beats the header
    page = await site.client.get(f"/c/{site.token(chinese, 'status')}", headers={"accept-language": "en"})
    assert '<html lang="en">' in page.text  # no language on the case: the browser's preference

    chosen = await site.client.get(f"/c/{site.token(number, 'status')}?lang=zh", headers=browser_says_zh)
    assert '<html lang="zh-CN">' in chosen.text and chosen.cookies.get("cp_lang") == "zh"
    # The toggle's choice is remembered (the client keeps the cookie as a browser does) on the next
    # link this browser opens, over the case's language.
    later = await site.client.get(f"/c/{site.token(number, 'survey')}", headers=browser_says_zh)
    assert '<html lang="zh-CN">' in later.text
    site.client.cookies.clear()
