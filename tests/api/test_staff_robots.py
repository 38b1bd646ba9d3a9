"""Staff alerts to group robots: real cases' alerts go through the real outbox dispatcher to a
local stand-in for WeCom, DingTalk and Feishu that checks formats and signatures as the
platforms do (tests/support/robots.py). On SQLite and PostgreSQL."""

from __future__ import annotations

import json
import logging
import re
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlalchemy import select
from temporalio.testing import WorkflowEnvironment

from core.settings import Settings
from delivery.notify import DeliveryFailed, RetrySchedule, dispatcher_from_settings
from delivery.robots import StaffRobots, load_robots
from delivery.robots.dingtalk import DingTalkRobot
from delivery.robots.feishu import FeishuRobot
from delivery.robots.message import Alert, compose
from delivery.robots.router import staff_target
from delivery.robots.wecom import WeComRobot
from store.db import session_factory
from store.models import DeliveryAttemptRow
from store.outbox import OutboundNotification
from tests.conftest import Database
from tests.support.api import open_and_triage, post
from tests.support.outbox import dispatching, row, with_status
from tests.support.people import HANDLER, PLAN, SUPERVISOR
from tests.support.receiver import eventually
from tests.support.robots import (
    DINGTALK_SECRET,
    DINGTALK_TOKEN,
    FEISHU_HOOK,
    FEISHU_SECRET,
    WECOM_KEY,
    Platforms,
    robot_platforms,
)
from tests.support.waiting import wait_for_event
from workflows.case import CaseWorkflow

SHANGHAI = ZoneInfo("Asia/Shanghai")
CONSOLE = "https://aftersales.example.com/console"
# What the intake in tests/support/people.py says about the customer: never in an alert.
PERSONAL = ("张三丰", "138", "0013 8000", "8000", "leaking", "cracked", "ORD-778812", "SN-0042")


def robots_toml(platforms: Platforms, routes: str) -> str:
    return f"""
console_url = "{CONSOLE}"
[robots.quality-wecom]
kind = "wecom"
webhook = "{platforms.wecom}"
[robots.quality-ding]
kind = "dingtalk"
webhook = "{platforms.dingtalk}"
secret = "{DINGTALK_SECRET}"
format = "markdown"
[robots.heads-feishu]
kind = "feishu"
webhook = "{platforms.feishu}"
secret = "{FEISHU_SECRET}"
{routes}
"""


QUALITY_ROUTES = """
[routes.quality]
handler = ["quality-wecom"]
supervisor = ["quality-ding"]
head = ["heads-feishu", "quality-ding"]
"""


class Others:
    """The adapter every notification that is no staff alert still goes to."""

    def __init__(self) -> None:
        self.topics: list[tuple[str, str]] = []

    async def deliver(self, notification: OutboundNotification) -> None:
        self.topics.append((notification.recipient, notification.topic))


def router(database: Database, toml: str, others: Others) -> StaffRobots:
    """Built as the worker builds it: Settings(ROBOTS=...) -> dispatcher_from_settings."""
    settings = Settings(database_url=database.url, robots=toml, notify_adapter="log")
    adapter = dispatcher_from_settings(settings, session_factory(database.engine)).adapter
    assert isinstance(adapter, StaffRobots)
    adapter._other = others  # noqa: SLF001 - see what is left for the other adapter
    return adapter


async def proposed_plan(api: httpx.AsyncClient) -> str:
    """A P2 quality case whose plan waits for the head's approval (approval_requested -> head)."""
    case = await open_and_triage(api, priority="P2")
    number = case["number"]
    await post(api, f"/cases/{number}/accept", None, HANDLER)
    await post(api, f"/cases/{number}/plan", PLAN, HANDLER)
    return number


def assert_nothing_personal(platforms: Platforms) -> None:
    for kind in ("wecom", "dingtalk", "feishu"):
        for text in platforms.texts(kind):
            # Less the case numbers: a session's 138th case is no phone number.
            said = re.sub(r"[A-Z]{2}-\d{8}-\d{6}", "<case>", text)
            assert not [p for p in PERSONAL if p in said], text


async def test_an_approval_waiting_reaches_the_heads_robots_signed_in_chinese_then_english(
    api: httpx.AsyncClient, database: Database, caplog: pytest.LogCaptureFixture
) -> None:
    number = await proposed_plan(api)
    others = Others()
    caplog.set_level(logging.INFO, logger="httpx")
    async with (
        robot_platforms() as platforms,
        dispatching(database, router(database, robots_toml(platforms, QUALITY_ROUTES), others), number),
    ):
        delivered = await eventually(lambda: with_status(database, number, "approval_requested", "delivered"))
        await eventually(lambda: ("customer", "acknowledgement") in others.topics, what="customer ack elsewhere")

    assert (delivered.recipient, delivered.attempts) == ("head", 1)
    # The head rung of quality: Feishu (text, signed in the body) and DingTalk (markdown, signed in the URL).
    (feishu,) = platforms.accepted["feishu"]
    assert feishu["msg_type"] == "text" and set(feishu) == {"timestamp", "sign", "msg_type", "content"}
    assert abs(int(feishu["timestamp"]) - time.time()) < 60
    zh, en, link = feishu["content"]["text"].split("\n")
    assert zh.startswith(f"【方案待审批】工单 {number} · 优先级 P2 · 质量部")
    assert zh.endswith("通知 售后负责人")
    assert en.startswith(f"[Plan awaiting approval] case {number} · P2 · quality")
    assert link == f"{CONSOLE}/cases/{number}"
    (ding,) = platforms.accepted["dingtalk"]
    assert ding["msgtype"] == "markdown" and ding["markdown"]["title"] == f"方案待审批 {number}"
    assert f"[查看工单 Open case]({CONSOLE}/cases/{number})" in ding["markdown"]["text"]
    assert platforms.accepted["wecom"] == []  # the handler rung heard nothing of it
    assert platforms.refused == {"wecom": [], "dingtalk": [], "feishu": []}
    # Staff alerts do not also go to the other adapter; the customer's messages do.
    assert ("head", "approval_requested") not in others.topics
    assert_nothing_personal(platforms)
    # httpx logs each request's URL: the robots' keys, tokens, signatures and hook ids are hidden.
    requests = [r.getMessage() for r in caplog.records if r.name == "httpx" and "HTTP Request" in r.getMessage()]
    assert any("/robot/send?access_token=***&timestamp=" in line and "&sign=***" in line for line in requests)
    assert any("/open-apis/bot/v2/hook/***" in line for line in requests)
    for secret in (DINGTALK_TOKEN, FEISHU_HOOK, ding_sign(platforms)):
        assert not any(secret in line for line in requests), secret


def ding_sign(platforms: Platforms) -> str:
    """The sign DingTalk received (as sent, URL-encoded)."""
    return platforms.signs[0]


async def test_a_rate_limited_robot_is_retried_and_the_others_are_not_sent_it_twice(
    api: httpx.AsyncClient, database: Database
) -> None:
    number = await proposed_plan(api)
    async with robot_platforms() as platforms:
        platforms.busy["feishu"] = 1  # 11232: Feishu's flow control
        async with dispatching(database, router(database, robots_toml(platforms, QUALITY_ROUTES), Others()), number):
            delivered = await eventually(lambda: with_status(database, number, "approval_requested", "delivered"))
    assert delivered.attempts == 2
    assert platforms.refused["feishu"] == [(11232, "rate limited")]
    assert len(platforms.accepted["feishu"]) == 1
    assert len(platforms.accepted["dingtalk"]) == 1  # accepted on the first attempt, not sent again


async def test_a_fresh_dispatcher_retrying_a_partial_delivery_skips_the_robots_that_took_it(
    api: httpx.AsyncClient, database: Database
) -> None:
    """One dispatcher sends the alert to DingTalk and fails on Feishu, then stops; another process's
    dispatcher (nothing in memory) retries the row: Feishu hears it once, DingTalk is not sent it again."""
    number = await proposed_plan(api)
    async with robot_platforms() as platforms:
        platforms.busy["feishu"] = 1  # 11232: Feishu's flow control, once
        toml = robots_toml(platforms, QUALITY_ROUTES)
        slow = RetrySchedule(max_attempts=3, base=timedelta(hours=1), ceiling=timedelta(hours=1))
        async with dispatching(database, router(database, toml, Others()), number, slow):
            first = await eventually(lambda: _failed_once(database, number), what="the first attempt failed on Feishu")
        assert len(platforms.accepted["dingtalk"]) == 1 and platforms.accepted["feishu"] == []
        assert "feishu robot heads-feishu" in (first.last_error or "")
        # Another dispatcher, its clock past the row's backoff.
        later = lambda: datetime.now(UTC) + timedelta(hours=2)  # noqa: E731
        async with dispatching(database, router(database, toml, Others()), number, slow, now=later):
            delivered = await eventually(lambda: with_status(database, number, "approval_requested", "delivered"))
    assert delivered.attempts == 2
    assert len(platforms.accepted["feishu"]) == 1
    assert len(platforms.accepted["dingtalk"]) == 1  # taken on the first attempt, not resent by the second process
    robots = await _robot_attempts(database, delivered.id)
    assert robots == [("heads-feishu", 1, "failed"), ("quality-ding", 1, "sent"), ("heads-feishu", 2, "sent")]
    # Robot rows are staff alerts: the customer's delivery list on the timeline does not show them.
    timeline = (await api.get(f"/cases/{number}/timeline", headers=HANDLER)).json()
    assert not [d for event in timeline for d in event.get("deliveries") or [] if d["channel"] == "robot"]


async def _failed_once(database: Database, number: str):  # noqa: ANN202 - OutboxRow | None
    found = await row(database, number, "approval_requested")
    return found if found is not None and found.attempts == 1 and found.last_error else None


async def _robot_attempts(database: Database, outbox_id: int) -> list[tuple[str | None, int, str]]:
    async with session_factory(database.engine)() as session:
        rows = await session.scalars(
            select(DeliveryAttemptRow).where(DeliveryAttemptRow.outbox_id == outbox_id).order_by(DeliveryAttemptRow.id)
        )
        return [(r.robot, r.attempt, r.result) for r in rows]


async def test_stale_signatures_are_refused_by_the_platforms_and_the_row_fails_without_secrets(
    api: httpx.AsyncClient, database: Database
) -> None:
    number = await proposed_plan(api)
    two_hours_ago = lambda: time.time() - 2 * 3600  # noqa: E731 - a clock two hours behind
    async with robot_platforms() as platforms:
        config = load_robots(robots_toml(platforms, QUALITY_ROUTES))
        robots = {
            "heads-feishu": FeishuRobot("heads-feishu", platforms.feishu, secret=FEISHU_SECRET, clock=two_hours_ago),
            "quality-ding": DingTalkRobot(
                "quality-ding", platforms.dingtalk, secret=DINGTALK_SECRET, clock=two_hours_ago
            ),
        }
        sessions = session_factory(database.engine)
        adapter = StaffRobots(config, sessions, Others(), zone=SHANGHAI, robots=robots)
        async with dispatching(database, adapter, number):
            failed = await eventually(lambda: with_status(database, number, "approval_requested", "failed"))
    assert platforms.accepted == {"wecom": [], "dingtalk": [], "feishu": []}
    assert {code for code, _ in platforms.refused["feishu"]} == {19021}
    assert {message for _, message in platforms.refused["dingtalk"]} == {"invalid timestamp"}
    assert "feishu robot heads-feishu: HTTP 200, code 19021" in failed.last_error
    assert "dingtalk robot quality-ding: HTTP 200, errcode 310000 invalid timestamp" in failed.last_error
    for secret in (FEISHU_SECRET, DINGTALK_SECRET, DINGTALK_TOKEN, FEISHU_HOOK, WECOM_KEY):
        assert secret not in failed.last_error


async def test_an_alert_no_robot_is_configured_for_is_recorded_unrouted_once(
    api: httpx.AsyncClient, database: Database
) -> None:
    number = await proposed_plan(api)
    logistics_only = '[routes.logistics]\nhead = ["heads-feishu"]'
    async with robot_platforms() as platforms:
        async with dispatching(database, router(database, robots_toml(platforms, logistics_only), Others()), number):
            unrouted = await eventually(lambda: with_status(database, number, "approval_requested", "unrouted"))
    assert unrouted.attempts == 1 and unrouted.sent_at is None
    assert unrouted.last_error == "no group robot for department quality at rung head (ROBOTS routes)"
    assert platforms.accepted == {"wecom": [], "dingtalk": [], "feishu": []}
    listed = await api.get("/ops/notifications", params={"status": "unrouted", "limit": 500}, headers=SUPERVISOR)
    assert listed.status_code == 200, listed.text
    assert [n["topic"] for n in listed.json() if n["case_number"] == number] == ["approval_requested"]


async def test_a_breach_reaches_the_departments_group_robot_with_the_due_minute_in_shanghai(
    api: httpx.AsyncClient, database: Database, env: WorkflowEnvironment
) -> None:
    """The issue's "done": a real case breaches (time skipped on the dev server) and the quality
    department's supervisors hear it on DingTalk; its handlers heard the 75 % and 90 % warnings on WeCom."""
    case = await open_and_triage(api, priority="P2")
    number = case["number"]
    respond_due = datetime.fromisoformat(case["clocks"]["respond"]["due_at"])
    async with robot_platforms() as platforms:
        async with dispatching(database, router(database, robots_toml(platforms, QUALITY_ROUTES), Others()), number):
            handle = env.client.get_workflow_handle_for(CaseWorkflow.run, number)
            received = datetime.fromisoformat(case["received_at"])
            await env.fast_forward(handle, respond_due - received + timedelta(minutes=1))
            await wait_for_event(database, number, "sla_breached")
            breach = await eventually(lambda: with_status(database, number, "sla_breached", "delivered"))
            await eventually(lambda: len(platforms.accepted["wecom"]) >= 2, what="both warnings on WeCom")
            # The customer's apology goes to the other adapter, as before.
            await eventually(lambda: with_status(database, number, "delay_notice", "delivered"))
    assert breach.recipient == "supervisor"
    due = f"{respond_due.astimezone(SHANGHAI):%Y-%m-%d %H:%M} (Asia/Shanghai)"
    (ding,) = platforms.accepted["dingtalk"]
    text = ding["markdown"]["text"]
    assert ding["markdown"]["title"] == f"SLA 已超时 {number}"
    assert f"优先级 P2 · 质量部 · 接单响应截止 {due} · 通知 主管" in text
    assert f"[SLA breached] case {number} · P2 · quality · respond due {due} · to supervisor" in text
    warnings = [body["text"]["content"].split("\n")[0] for body in platforms.accepted["wecom"]]
    assert [w.split("】")[0] for w in warnings] == ["【SLA 预警（已用 75%）", "【SLA 预警（已用 90%）"]
    assert all(f"接单响应截止 {due}" in w and "通知 处理人" in w for w in warnings)
    assert platforms.accepted["feishu"] == []
    assert_nothing_personal(platforms)


@pytest.mark.parametrize(
    ("document", "named"),
    [
        (
            '[robots.a]\nkind = "wechat"\nwebhook = "https://x.test/h"',
            "robots.a.kind: Input should be 'wecom', 'dingtalk' or 'feishu'",
        ),
        ('[robots.a]\nkind = "wecom"\nwebhook = "ftp://x.test/h"', "robots.a.webhook: must be an http(s) URL"),
        ('[robots.a]\nkind = "wecom"\nwebhook = "https://x.test/h"\nsecret = "s"', "a wecom robot takes no secret"),
        (
            '[robots.a]\nkind = "feishu"\nwebhook = "https://x.test/h"\ncolour = "red"',
            "robots.a.colour: Extra inputs are not permitted",
        ),
        (
            '[robots.a]\nkind = "wecom"\nwebhook = "https://x.test/h"\n[routes.qualty]\nhead = ["a"]',
            "routes.qualty: unknown department",
        ),
        (
            '[robots.a]\nkind = "wecom"\nwebhook = "https://x.test/h"\n[routes.quality]\nboss = ["a"]',
            "routes.quality.boss: unknown rung; known: agent, handler, supervisor, head",
        ),
        (
            '[robots.a]\nkind = "wecom"\nwebhook = "https://x.test/h"\n[routes."*"]\nhead = ["b"]',
            "routes.*.head: robot 'b' is not defined under [robots]",
        ),
        ("[robots.a\nkind = 1", "ROBOTS: not valid TOML"),
        ('{"robots": {}}', "robots: Dictionary should have at least 1 item"),
    ],
)
def test_a_wrong_robots_setting_stops_the_dispatcher_naming_the_key(document: str, named: str) -> None:
    settings = Settings(robots=document, database_url="sqlite+aiosqlite:///:memory:")
    with pytest.raises(ValueError, match="ROBOTS") as refused:
        dispatcher_from_settings(settings, session_factory_for_nothing())
    assert named in str(refused.value)


def test_a_robots_file_is_read_and_a_missing_one_is_named(tmp_path: Path) -> None:
    missing = tmp_path / "robots.toml"
    with pytest.raises(ValueError, match=r"ROBOTS: cannot read .*robots.toml"):
        load_robots(str(missing))
    missing.write_text('[robots.a]\nkind = "wecom"\nwebhook = "https://x.test/h"\n[routes."*"]\nhead = ["a"]')
    assert load_robots(str(missing)).robots_for("sales", "head") == ["a"]
    as_json = tmp_path / "robots.json"
    as_json.write_text(
        json.dumps({"robots": {"a": {"kind": "dingtalk", "webhook": "https://x.test/h", "secret": "  "}}})
    )
    with pytest.raises(ValueError, match=r"ROBOTS \(robots.json\): robots.a: Value error|secret is empty"):
        load_robots(str(as_json))


def session_factory_for_nothing():  # noqa: ANN201 - never used: the configuration is refused first
    from sqlalchemy.ext.asyncio import async_sessionmaker

    return async_sessionmaker()


def test_the_readme_example_is_a_valid_robots_setting() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    section = readme.split("#### Staff alerts", 1)[1]
    example = section.split("```toml\n", 1)[1].split("```", 1)[0]
    config = load_robots(example)
    assert config.robots_for("quality", "supervisor") == ["quality-leads"]
    assert config.robots_for("quality", "head") == ["after-sales-heads"]  # from "*"
    assert config.robots_for(None, "handler") == []


async def test_the_platforms_refuse_a_wrong_secret_or_key_and_the_robot_says_which_code() -> None:
    alert = Alert(
        title="SLA 已超时 AS-1",
        text="【SLA 已超时】工单 AS-1\n[SLA breached] case AS-1",
        markdown="**AS-1**",
        level="breach",
    )
    async with robot_platforms() as platforms:
        wrong = [
            (FeishuRobot("f", platforms.feishu, secret="not-the-secret"), "code 19021"),
            (DingTalkRobot("d", platforms.dingtalk, secret="SECnot-the-secret"), "errcode 310000 sign not match"),
            (WeComRobot("w", platforms.wecom.replace(WECOM_KEY, "another-key")), "errcode 93000"),
        ]
        for robot, code in wrong:
            with pytest.raises(DeliveryFailed, match=code):
                await robot.send(alert)
        for robot in (
            FeishuRobot("f", platforms.feishu, secret=FEISHU_SECRET, markdown=True),
            DingTalkRobot("d", platforms.dingtalk, secret=DINGTALK_SECRET),
            WeComRobot("w", platforms.wecom, markdown=True),
        ):
            await robot.send(alert)
    assert platforms.accepted["feishu"][0]["card"]["header"]["template"] == "red"
    assert platforms.accepted["dingtalk"][0]["text"]["content"] == alert.text
    assert platforms.accepted["wecom"][0] == {"msgtype": "markdown", "markdown": {"content": "**AS-1**"}}


@pytest.mark.parametrize(
    ("recipient", "target"),
    [
        ("department:quality", ("quality", "handler")),
        ("employee:handler-wang", (None, "handler")),  # the case's department
        ("supervisor:logistics", ("logistics", "supervisor")),
        ("supervisor", (None, "supervisor")),
        ("head", (None, "head")),
        ("agent", (None, "agent")),
        ("customer", None),
        ("warehouse", None),  # a system reporting return steps, not a person: its own adapter
    ],
)
def test_who_an_alert_is_for_chooses_the_department_and_rung(recipient: str, target: tuple | None) -> None:
    assert staff_target(recipient) == target


def test_an_alert_for_a_case_already_gone_still_says_what_it_can() -> None:
    alert = compose(
        "sla_escalated", "AS-20261201-0001", {"clock": "plan"}, None,
        rung="head", department=None, zone=SHANGHAI, console_url=None,
    )  # fmt: skip
    assert alert.text == (
        "【SLA 超时升级】工单 AS-20261201-0001 · 优先级 - · 未分诊 · 通知 售后负责人\n"
        "[SLA escalated] case AS-20261201-0001 · - · not triaged · to head"
    )
