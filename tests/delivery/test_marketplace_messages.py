"""Customer messages on the marketplace: a case that answers a Taobao refund is told on the
refund itself first (taobao.refund.message.add, on a fake TOP router that checks signatures),
once, whatever the retries; a refusal falls through to SMS; a case from elsewhere never uses it;
Douyin, which has no such call, is not offered it."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime

import httpx
from pydantic import SecretStr

from channels.base import BuyerMessaging
from channels.douyin.adapter import DouyinAdapter
from channels.taobao.adapter import TaobaoAdapter
from channels.taobao.top import TopClient
from core.settings import Settings
from delivery.customer import CustomerMessenger
from delivery.marketplace import MarketplaceChannel
from delivery.sms import SmsChannel
from domain.marketplace import Platform, PlatformEvent, PlatformStep
from store.channels import ChannelStore
from store.db import session_factory
from store.messages import MessageStore
from store.outbox import OutboundNotification
from tests.conftest import Database
from tests.delivery.test_sms import KEY_ID, SECRET, SHANGHAI, Clock, _Nobody, _status, texts, tonight
from tests.support.api import post
from tests.support.outbox import dispatching, row
from tests.support.people import AGENT, intake
from tests.support.receiver import eventually, receiver
from tests.support.taobao import APP_KEY, APP_SECRET, SESSION, FakeTop, fake_top
from worker import buyer_messages

CUSTOMER = {"name": "张三丰", "phone": "+86 138 0013 8000", "tier": "normal"}


def messenger(database: Database, top: FakeTop, sms: SmsChannel, now: Clock) -> CustomerMessenger:
    """As worker.py composes it: the adapter's sender handed in, the delivery side importing no channel."""
    sessions = session_factory(database.engine)
    adapter = TaobaoAdapter(TopClient(top.url, APP_KEY, APP_SECRET, SESSION))
    platform = MarketplaceChannel({"taobao": adapter.send_buyer_message}, ChannelStore(sessions).after_sale_of)
    return CustomerMessenger(MessageStore(sessions), _Nobody(), [sms], SHANGHAI, now=now, marketplace=platform)


async def taobao_case(api: httpx.AsyncClient, database: Database, top: FakeTop) -> tuple[str, str]:
    """A case linked to a Taobao refund, as the intake links one (store/channels.py)."""
    number = (await post(api, "/cases", intake(customer=CUSTOMER), AGENT))["number"]
    refund_id = str(10**17 + secrets.randbelow(10**17))  # a refund id of this test's own
    top.add_refund(refund_id, tid="4000000000001", fee="89.00")
    event = PlatformEvent(
        platform=Platform.TAOBAO, message_id=f"m-{refund_id}", topic="taobao_refund_RefundCreated",
        step=PlatformStep.REQUESTED, after_sale_id=refund_id, occurred_at=datetime.now(UTC),
    )  # fmt: skip
    assert await ChannelStore(session_factory(database.engine)).link(event, number, datetime.now(UTC)) == number
    return number, refund_id


async def test_a_marketplace_case_is_told_on_the_refund_once_and_not_by_sms(
    api: httpx.AsyncClient, database: Database
) -> None:
    async with fake_top() as top, receiver() as provider:
        number, refund_id = await taobao_case(api, database, top)
        sms = SmsChannel(provider.url, KEY_ID, SECRET)
        clock = Clock(tonight(10, 32))
        platform_messenger = messenger(database, top, sms, clock)
        async with dispatching(database, platform_messenger, number, now=clock):
            await eventually(lambda: _status(database, number, "acknowledgement", "delivered", "sent"), what="sent")
        # A retry of the same row (its outcome lost) finds the sent attempt and posts nothing again.
        found = await row(database, number, "acknowledgement")
        assert found is not None
        again = OutboundNotification(
            found.id, number, found.seq, found.recipient, found.topic, found.body, found.created_at, attempt=2
        )
        await platform_messenger.deliver(again)
        calls = top.calls_of("taobao.refund.message.add")
    assert top.buyer_messages == [{"refund_id": refund_id, "content": f"您的售后申请已受理，单号{number}。我们会尽快处理并告知进展。"}]  # fmt: skip
    assert len(calls) == 1 and calls[0]["session"] == SESSION
    assert "张三丰" not in calls[0]["content"] and "138 0013" not in calls[0]["content"]
    assert texts(provider) == []  # the buyer reads the platform: no SMS as well
    timeline = (await api.get(f"/cases/{number}/timeline", headers=AGENT)).json()
    assert [d["text"] for d in timeline[0]["deliveries"]] == ["已通过平台消息告知客户 10:32"]
    assert [d["text_en"] for d in timeline[0]["deliveries"]] == ["customer told by platform message at 10:32"]


async def test_a_refusal_on_the_platform_falls_through_to_sms(api: httpx.AsyncClient, database: Database) -> None:
    async with fake_top() as top, receiver() as provider:
        number, refund_id = await taobao_case(api, database, top)
        top.refuse_messages[refund_id] = ("isv.refund-status-not-support", "退款已关闭，不能留言")
        clock = Clock(tonight(10, 32))
        async with dispatching(database, messenger(database, top, SmsChannel(provider.url, KEY_ID, SECRET), clock), number, now=clock):  # fmt: skip
            await eventually(lambda: _status(database, number, "acknowledgement", "delivered", "sent"), what="sent")
        assert len(top.calls_of("taobao.refund.message.add")) == 1 and top.buyer_messages == []
    assert [t["reference"] for t in texts(provider)] == [f"{number}:1:customer:acknowledgement"]
    timeline = (await api.get(f"/cases/{number}/timeline", headers=AGENT)).json()
    assert [d["text"] for d in timeline[0]["deliveries"]] == [
        "平台消息发送失败 10:32，稍后重试",
        "已通过短信告知客户 10:32",
    ]


async def test_a_case_from_elsewhere_never_uses_the_platform(api: httpx.AsyncClient, database: Database) -> None:
    async with fake_top() as top, receiver() as provider:
        number = (await post(api, "/cases", intake(customer=CUSTOMER), AGENT))["number"]
        clock = Clock(tonight(10, 32))
        async with dispatching(database, messenger(database, top, SmsChannel(provider.url, KEY_ID, SECRET), clock), number, now=clock):  # fmt: skip
            await eventually(lambda: _status(database, number, "acknowledgement", "delivered", "sent"), what="sent")
        assert top.calls_of("taobao.refund.message.add") == []
    assert [t["reference"] for t in texts(provider)] == [f"{number}:1:customer:acknowledgement"]


async def test_taobao_cuts_a_long_message_to_400_bytes_without_breaking_a_character() -> None:
    async with fake_top() as top:
        top.add_refund("9001", tid="4000000000002", fee="1.00")
        adapter = TaobaoAdapter(TopClient(top.url, APP_KEY, APP_SECRET, SESSION))
        await adapter.send_buyer_message("9001", "受理" * 100, "k-1")
    (sent,) = top.buyer_messages
    assert sent["content"] == "受理" * 66 + "受"  # 133 characters of 3 bytes: 399 bytes


def test_only_platforms_that_can_post_on_an_after_sale_are_handed_to_the_messenger() -> None:
    settings = Settings(
        douyin_app_key="7000000000000000001", douyin_app_secret=SecretStr("s"),
        taobao_app_key=APP_KEY, taobao_app_secret=SecretStr(APP_SECRET),
    )  # fmt: skip
    assert sorted(buyer_messages(settings)) == ["taobao"]
    assert not isinstance(DouyinAdapter("k", "s", "http://unused"), BuyerMessaging)
    assert isinstance(TaobaoAdapter(TopClient("http://unused", "k", "s", "t")), BuyerMessaging)


async def test_a_message_asking_by_link_goes_by_sms_even_for_a_marketplace_case(
    api: httpx.AsyncClient, database: Database
) -> None:
    """An information request carries the customer page's link, which the platform's message does not."""
    async with fake_top() as top, receiver() as provider:
        number, _ = await taobao_case(api, database, top)
        clock = Clock(tonight(10, 32))
        asking = OutboundNotification(
            0, number, 99, "customer", "info_request", {"question": "请拍一张底座裂缝的照片"}, clock.at, attempt=1
        )
        await messenger(database, top, SmsChannel(provider.url, KEY_ID, SECRET), clock).deliver(asking)
        assert top.calls_of("taobao.refund.message.add") == []
    (sent,) = texts(provider)
    assert sent["reference"] == f"{number}:99:customer:info_request" and "底座裂缝" in sent["text"]


async def test_a_taobao_send_whose_answer_was_lost_is_not_posted_twice() -> None:
    """TOP keys nothing by our idempotency key: the adapter reads the refund's messages first."""
    async with fake_top() as top:
        top.add_refund("9002", tid="4000000000003", fee="1.00")
        adapter = TaobaoAdapter(TopClient(top.url, APP_KEY, APP_SECRET, SESSION))
        await adapter.send_buyer_message("9002", "您的售后申请已受理，单号AS-1。", "k-2")
        await adapter.send_buyer_message("9002", "您的售后申请已受理，单号AS-1。", "k-2")  # the retry
        await adapter.send_buyer_message("9002", "退款已完成，单号AS-1。", "k-3")
    assert [m["content"] for m in top.buyer_messages] == ["您的售后申请已受理，单号AS-1。", "退款已完成，单号AS-1。"]
    assert all(c["refund_phase"] == "onsale" for c in top.calls_of("taobao.refund.messages.get"))
