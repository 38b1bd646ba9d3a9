"""Customer SMS through a provider's signed HTTP API (a fake provider that checks the signatures),
kept to the segment limit with the link instead of long text; quiet hours hold an SMS update until
08:00 in the customer's timezone (not a P1 one) on a pinned clock; an opt-out recorded through
the API is honoured and on the timeline."""

from __future__ import annotations

import json
import secrets
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import httpx

from delivery import signing
from delivery.customer import CustomerMessenger
from delivery.email import EmailChannel
from delivery.sms import SmsChannel, fit, segments
from store.db import session_factory
from store.messages import MessageStore
from tests.conftest import Database
from tests.support.api import post
from tests.support.devrun import free_port
from tests.support.outbox import dispatching, row
from tests.support.people import AGENT, OVERRIDE_REASON, TRIAGE, intake
from tests.support.receiver import Receiver, eventually, receiver

SHANGHAI = ZoneInfo("Asia/Shanghai")
KEY_ID, SECRET = "shop-42", "sms-provider-test-secret"
LINK = "https://aftersales.example/c/Zm9vYmFy"


@dataclass
class Clock:
    """The dispatcher's and the messenger's `now`, moved by the test."""

    at: datetime

    def __call__(self) -> datetime:
        return self.at


def tonight(hour: int, minute: int = 0) -> datetime:
    """Today at hh:mm in Shanghai: the test never depends on the hour it runs."""
    return datetime.now(SHANGHAI).replace(hour=hour, minute=minute, second=0, microsecond=0)


def texts(provider: Receiver) -> list[dict]:
    """What the provider accepted, each request checked: signed with our secret, recent, with our key id."""
    sent = []
    for request in provider.requests:
        assert signing.verify(SECRET, request.headers, request.body), "bad signature"
        assert request.headers["x-api-key"] == KEY_ID
        sent.append(json.loads(request.body))
    return sent


@asynccontextmanager
async def sms_dispatching(
    database: Database, number: str, now: Callable[[], datetime]
) -> AsyncIterator[tuple[Receiver, CustomerMessenger]]:
    async with receiver() as provider:
        sms = SmsChannel(provider.url, KEY_ID, SECRET, max_segments=2)
        messenger = CustomerMessenger(
            MessageStore(session_factory(database.engine)), _Nobody(), [sms], SHANGHAI, now=now
        )
        async with dispatching(database, messenger, number, now=now):
            yield provider, messenger


class _Nobody:
    async def deliver(self, notification: object) -> None:
        """Staff notifications: not what these tests look at."""


def test_a_long_text_keeps_to_two_segments_and_keeps_the_link_whole() -> None:
    question = "请提供" + "包装、底座和电源线的照片，" * 20
    sms = fit(question, LINK, 2, "【售后服务】")
    assert segments(sms) == 2 and len(sms) <= 134
    assert sms.startswith("【售后服务】请提供") and sms.endswith("… " + LINK)
    short = fit("您的申请已结案。", None, 1, "【售后服务】")
    assert short == "【售后服务】您的申请已结案。" and segments(short) == 1
    assert segments("a" * 160) == 1 and segments("a" * 161) == 2 and segments("中" * 70) == 1


async def test_an_sms_reaches_the_provider_signed_and_a_wrong_signature_would_not_verify(
    api: httpx.AsyncClient, database: Database
) -> None:
    case = await post(api, "/cases", intake(), AGENT)
    number = case["number"]
    async with sms_dispatching(database, number, Clock(tonight(10, 32))) as (provider, _):
        await eventually(lambda: _status(database, number, "acknowledgement", "delivered", "sent"), what="texted")
    (ack,) = texts(provider)
    assert ack["to"] == "+86 138 0013 8000"
    assert ack["text"] == f"【售后服务】您的售后申请已受理，单号{number}。我们会尽快处理并告知进展。"
    assert ack["reference"] == f"{number}:1:customer:acknowledgement"
    (request,) = provider.requests
    assert not signing.verify("another secret", request.headers, request.body)
    timeline = (await api.get(f"/cases/{number}/timeline", headers=AGENT)).json()
    assert timeline[0]["deliveries"][0]["text"] == "已通过短信告知客户 10:32"
    assert timeline[0]["deliveries"][0]["text_en"] == "customer told by SMS at 10:32"


async def test_quiet_hours_hold_an_sms_update_until_eight_and_not_a_p1_one(
    api: httpx.AsyncClient, database: Database
) -> None:
    clock = Clock(tonight(22, 30))
    quiet = (await post(api, "/cases", intake(), AGENT))["number"]
    async with sms_dispatching(database, quiet, clock) as (provider, _):
        urgent = (await post(api, "/cases", intake(), AGENT))["number"]  # after the backlog was parked
        # The acknowledgement answers the customer's own contact: it goes at any hour.
        await eventually(lambda: len(provider.requests) == 2, what="both acknowledgements texted")
        await post(api, f"/cases/{quiet}/triage", TRIAGE | {"override_reason": OVERRIDE_REASON}, AGENT)
        await post(api, f"/cases/{urgent}/triage", TRIAGE | {"priority": "P1"}, AGENT)
        await eventually(lambda: len(provider.requests) == 3, what="the P1 update texted at night")
        held = await eventually(lambda: _status(database, quiet, "progress", "pending", "deferred"), what="held")
        assert [t["reference"].split(":")[0] for t in texts(provider)][-1] == urgent
        eight = tonight(8) + timedelta(days=1)
        assert held.next_attempt_at == eight.astimezone(UTC)
        assert held.attempts == 0  # holding is no failed attempt
        # 07:59: still held. 08:00: sent.
        clock.at = eight - timedelta(minutes=1)
        await _settle()
        assert len(provider.requests) == 3
        clock.at = eight
        await eventually(lambda: _status(database, quiet, "progress", "delivered", "sent"), what="texted at 08:00")
    progress = texts(provider)[-1]
    assert progress["reference"] == f"{quiet}:{held.seq}:customer:progress"
    assert progress["text"].startswith(f"【售后服务】您的申请{quiet}：已分派。")
    timeline = (await api.get(f"/cases/{quiet}/timeline", headers=AGENT)).json()
    (triaged,) = [e for e in timeline if e["seq"] == held.seq]
    assert [d["text"] for d in triaged["deliveries"]] == ["免打扰时段，短信暂缓发送 22:30", "已通过短信告知客户 08:00"]


async def test_an_opt_out_recorded_through_the_api_is_honoured_on_every_case_of_that_customer(
    api: httpx.AsyncClient, database: Database
) -> None:
    # A phone of this test's own: the opt-out holds for every case of that customer in the session's database.
    phone = f"+86 139 {secrets.randbelow(10**4):04d} {secrets.randbelow(10**4):04d}"
    first = (await post(api, "/cases", intake(customer={"name": "张三丰", "phone": phone}), AGENT))["number"]
    answer = await api.post(
        f"/cases/{first}/opt-outs", json={"channel": "sms", "reason": "客户来电要求"}, headers=AGENT
    )
    assert answer.status_code == 201, answer.text
    assert answer.json() == {"channel": "sms", "recorded": True}
    again = await api.post(f"/cases/{first}/opt-outs", json={"channel": "sms"}, headers=AGENT)
    assert (again.status_code, again.json()["recorded"]) == (200, False)
    no_mail = await api.post(f"/cases/{first}/opt-outs", json={"channel": "email"}, headers=AGENT)
    assert no_mail.status_code == 422 and no_mail.json()["field"] == "channel"
    bad = await api.post(f"/cases/{first}/opt-outs", json={"channel": "fax"}, headers=AGENT)
    assert bad.status_code == 422 and "channel" in bad.text
    # The same customer (their phone written differently) on a new case.
    written_otherwise = phone.replace("+86 ", "").replace(" ", "")
    second = (await post(api, "/cases", intake(customer={"name": "张三丰", "phone": written_otherwise}), AGENT))[
        "number"
    ]
    async with sms_dispatching(database, second, Clock(tonight(10))) as (provider, _):
        await eventually(lambda: _status(database, second, "acknowledgement", "delivered", "opted_out"), what="done")
    assert provider.requests == []
    timeline = (await api.get(f"/cases/{second}/timeline", headers=AGENT)).json()
    assert timeline[0]["deliveries"][0]["text"] == "客户已退订短信，未发送 10:00"
    # The phone itself is stored nowhere in the opt-outs.
    async with database.engine.connect() as connection:
        stored = (await connection.exec_driver_sql("SELECT * FROM opt_outs")).all()
    assert stored and not any(written_otherwise in str(r) or phone in str(r) for r in stored)


async def test_a_failing_email_falls_through_to_sms_and_both_attempts_are_on_the_timeline(
    api: httpx.AsyncClient, database: Database
) -> None:
    customer = {"name": "张三丰", "phone": "+86 138 0013 8000", "email": "zhang@example.cn"}
    number = (await post(api, "/cases", intake(channel="email", customer=customer), AGENT))["number"]
    dead_smtp = EmailChannel("127.0.0.1", free_port(), "service@shop.example", timeout=2)  # nothing listens
    async with receiver() as provider:
        sms = SmsChannel(provider.url, KEY_ID, SECRET)
        store = MessageStore(session_factory(database.engine))
        messenger = CustomerMessenger(store, _Nobody(), [sms, dead_smtp], SHANGHAI, now=Clock(tonight(9, 5)))
        async with dispatching(database, messenger, number):
            await eventually(lambda: _status(database, number, "acknowledgement", "delivered", "sent"), what="sent")
    assert [t["reference"] for t in texts(provider)] == [f"{number}:1:customer:acknowledgement"]
    timeline = (await api.get(f"/cases/{number}/timeline", headers=AGENT)).json()
    # An e-mail case tries e-mail first, whatever the configured order.
    assert [d["text"] for d in timeline[0]["deliveries"]] == [
        "邮件发送失败 09:05，稍后重试",
        "已通过短信告知客户 09:05",
    ]
    assert "zhang@" not in str(timeline[0]["deliveries"])


async def _status(database: Database, number: str, topic: str, status: str, attempt_result: str):  # noqa: ANN202
    found = await row(database, number, topic)
    if found is None or found.status != status:
        return None
    attempts = await MessageStore(session_factory(database.engine)).attempts(number)
    return found if any(a.topic == topic and a.result == attempt_result for a in attempts) else None


async def _settle() -> None:
    import asyncio

    await asyncio.sleep(0.5)  # several dispatcher polls (every 0.05 s)


def test_the_settings_choose_the_channels_and_refuse_an_incomplete_sms_provider() -> None:
    import pytest

    from core.settings import Settings
    from delivery.customer import messenger_from_settings
    from delivery.notify import LogNotifier

    staff = LogNotifier()
    sessions = session_factory(None)  # never opened here
    assert messenger_from_settings(Settings(), sessions, staff, datetime.now) is staff
    sms = {"sms_provider_url": "http://127.0.0.1:9/send", "sms_api_key": KEY_ID, "sms_api_secret": SECRET}
    both = messenger_from_settings(Settings(customer_channels="email, sms", **sms), sessions, staff, datetime.now)
    assert isinstance(both, CustomerMessenger)
    assert [type(c) for c in both.channels] == [EmailChannel, SmsChannel]
    assert both.quiet is not None and [t.hour for t in both.quiet] == [21, 8]
    with pytest.raises(ValueError, match="SMS_PROVIDER_URL"):
        messenger_from_settings(Settings(customer_channels="sms"), sessions, staff, datetime.now)
    with pytest.raises(ValueError, match="unknown channels fax"):
        Settings(customer_channels="email,fax")


def test_quiet_hours_end_at_eight_in_the_customers_own_timezone() -> None:
    from datetime import time

    from delivery.customer import quiet_hours, quiet_until

    hours = quiet_hours("21:00-08:00")
    assert hours == (time(21), time(8)) and quiet_hours("") is None
    berlin = ZoneInfo("Europe/Berlin")
    evening = datetime(2027, 3, 27, 21, 0, tzinfo=berlin)  # the night the clocks go forward
    assert quiet_until(evening, berlin, hours) == datetime(2027, 3, 28, 8, 0, tzinfo=berlin).astimezone(UTC)
    early = datetime(2027, 3, 28, 7, 59, tzinfo=berlin)
    assert quiet_until(early, berlin, hours) == datetime(2027, 3, 28, 8, 0, tzinfo=berlin).astimezone(UTC)
    assert quiet_until(datetime(2027, 3, 28, 8, 0, tzinfo=berlin), berlin, hours) is None
    assert quiet_until(datetime(2027, 3, 27, 20, 59, tzinfo=berlin), berlin, hours) is None
    # 22:30 in Shanghai is 15:30 in Berlin: not quiet there.
    assert quiet_until(datetime(2027, 3, 27, 22, 30, tzinfo=SHANGHAI), berlin, hours) is None
