"""Customer e-mail: a real case's messages go through the real outbox dispatcher to a real local
SMTP server (aiosmtpd), rendered from the zh-CN templates, threaded per case; a retry re-sends
the same Message-ID; each attempt is on the case's timeline."""

from __future__ import annotations

from zoneinfo import ZoneInfo

import httpx

from core.settings import Settings
from delivery.customer import CustomerMessenger
from delivery.email import EmailChannel
from delivery.notify import LogNotifier
from services.customer_links import verify
from store.db import session_factory
from store.messages import MessageStore
from tests.conftest import Database
from tests.support.api import post
from tests.support.outbox import dispatching
from tests.support.people import AGENT, HANDLER, OVERRIDE_REASON, TRIAGE, intake
from tests.support.receiver import eventually
from tests.support.smtp import smtp_sink
from worker import customer_links

CUSTOMER = {"name": "张三丰", "email": "zhang.sanfeng@example.cn", "tier": "normal"}


LINKS = Settings(customer_link_secret="customer-link-test-secret", customer_link_base_url="https://shop.example")


def messenger(database: Database, port: int) -> CustomerMessenger:
    email = EmailChannel("127.0.0.1", port, "售后服务 <service@shop.example>", timeout=5)
    return CustomerMessenger(
        MessageStore(session_factory(database.engine)), LogNotifier(), [email], ZoneInfo("Asia/Shanghai"),
        link=customer_links(LINKS),  # as the worker plugs the customer page's links in
    )  # fmt: skip


async def test_a_cases_mails_arrive_in_chinese_in_one_thread(api: httpx.AsyncClient, database: Database) -> None:
    case = await post(api, "/cases", intake(channel="email", customer=CUSTOMER), AGENT)
    number = case["number"]
    with smtp_sink() as sink:
        async with dispatching(database, messenger(database, sink.port), number):
            await eventually(lambda: sink.received, what="acknowledgement mailed")
            await post(api, f"/cases/{number}/triage", TRIAGE | {"override_reason": OVERRIDE_REASON}, AGENT)
            await post(api, f"/cases/{number}/accept", {}, HANDLER)
            await post(api, f"/cases/{number}/info-requests", {"question": "请拍一张底座裂缝的照片。"}, HANDLER)
            await eventually(
                lambda: any("请补充信息" in m["Subject"] for m in sink.received), what="information request mailed"
            )
    ack, *later = sink.received
    assert ack["To"] == CUSTOMER["email"]
    assert ack["Subject"] == f"我们已收到您的售后申请 {number}"
    text = ack.get_content()
    assert f"您的售后申请已受理，服务单号 {number}" in text
    root = ack["Message-ID"]
    assert root == f"<{number}@shop.example>"
    # Every later mail answers the thread root, each under an id of its own.
    assert later and all(m["In-Reply-To"] == root and m["References"] == root for m in later)
    assert len({m["Message-ID"] for m in sink.received}) == len(sink.received)
    (question,) = [m for m in later if "请补充信息" in m["Subject"]]
    assert "请拍一张底座裂缝的照片。" in question.get_content()
    # The question carries the customer page's signed link for this case and purpose; the others none.
    (link,) = [w.removeprefix("请点击链接：") for w in question.get_content().split() if "/c/" in w]
    assert link.startswith("https://shop.example/c/")
    claims = verify(link.rsplit("/", 1)[1], LINKS)
    assert (claims.case_number, claims.purpose) == (number, "info_request")
    assert "/c/" not in ack.get_content()
    # Nothing internal: no staff ids, no complaint text, no name.
    for mail in sink.received:
        body = mail.get_content()
        assert "handler-wang" not in body and "agent-li" not in body
        assert "kettle is leaking" not in body and "张三丰" not in body
    # Each attempt is on the case's timeline.
    timeline = (await api.get(f"/cases/{number}/timeline", headers=AGENT)).json()
    told = [d for event in timeline for d in event["deliveries"]]
    assert {"channel": "email", "result": "sent", "topic": "acknowledgement"}.items() <= told[0].items()
    assert told[0]["text"].startswith("已通过邮件告知客户 ")
    assert told[0]["text_en"].startswith("customer told by e-mail at ")


async def test_a_retry_resends_the_same_message_id_and_one_mail_arrives(
    api: httpx.AsyncClient, database: Database
) -> None:
    case = await post(api, "/cases", intake(channel="email", customer=CUSTOMER | {"language": "en"}), AGENT)
    number = case["number"]
    with smtp_sink() as sink:
        sink.answer = lambda message, seen: "451 4.3.0 try again later" if seen == 0 else None
        async with dispatching(database, messenger(database, sink.port), number):
            await eventually(lambda: sink.received, what="accepted on the retry")
            await eventually(lambda: _sent(database, number), what="the attempt recorded")
    (refused,), (accepted,) = sink.refused, sink.received
    assert refused["Message-ID"] == accepted["Message-ID"] == f"<{number}@shop.example>"
    assert accepted["Subject"] == f"We have received your after-sales request {number}"  # the case's language
    attempts = await MessageStore(session_factory(database.engine)).attempts(number)
    assert [(a.channel, a.result, a.attempt) for a in attempts] == [("email", "failed", 1), ("email", "sent", 2)]
    assert "451" in (attempts[0].detail or "") and "zhang.sanfeng" not in (attempts[0].detail or "")


async def _sent(database: Database, number: str) -> bool:
    return any(a.result == "sent" for a in await MessageStore(session_factory(database.engine)).attempts(number))
