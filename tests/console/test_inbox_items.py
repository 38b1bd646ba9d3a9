"""The inbox items issue 15 §2 lists beyond the queues: the agent's call-backs due, and the
head's second rejections and department naming. Cases driven through the real API and worker;
the inbox read as the console reads it (services/inbox.py) from the record the worker writes."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime

import httpx
from playwright.async_api import expect

from domain.case import Actor
from services.inbox import InboxItem, inbox
from tests.conftest import Database
from tests.support.api import calendar_of, drive_to_feedback, open_and_triage, post
from tests.support.console import Console
from tests.support.people import AGENT, AGENT_ACTOR, HANDLER, HEAD, HEAD_ACTOR, PLAN, SUPERVISOR
from tests.support.waiting import wait_for_event


async def reasons(api: httpx.AsyncClient, database: Database, actor: Actor, number: str) -> list[str]:
    calendar = await calendar_of(api, number)
    items: list[InboxItem] = await inbox(database.store, actor, calendar, datetime.now(UTC))
    return [item.why for item in items if item.number == number]


async def until(
    api: httpx.AsyncClient, database: Database, actor: Actor, number: str, wanted: bool, why: str
) -> list[str]:
    """The case's inbox reasons once `why` is among them (wanted) or gone (not): the record
    is written by the worker a moment after the API answers."""
    deadline = time.monotonic() + 10
    while True:
        found = await reasons(api, database, actor, number)
        if (why in found) == wanted or time.monotonic() > deadline:
            return found
        await asyncio.sleep(0.2)


async def test_a_customer_waiting_for_a_call_back_is_in_the_agents_inbox_until_called(
    api: httpx.AsyncClient, database: Database
) -> None:
    number = (await open_and_triage(api))["number"]
    await drive_to_feedback(api, number)
    assert "call_back_due" not in await reasons(api, database, AGENT_ACTOR, number)

    await post(api, f"/cases/{number}/feedback", {"score": 2, "comment": "still leaking"}, AGENT)
    await wait_for_event(database, number, "call_back_task_created")
    found = await until(api, database, AGENT_ACTOR, number, True, "call_back_due")
    assert found.count("call_back_due") == 1, found
    assert "to_triage" in found  # a low score also reopens it: both are the agent's to do

    await post(api, f"/cases/{number}/call-back/complete", {"outcome": "called, replacement agreed"}, AGENT)
    await wait_for_event(database, number, "call_back_completed")
    assert "call_back_due" not in await until(api, database, AGENT_ACTOR, number, False, "call_back_due")


async def test_a_plan_rejected_twice_waits_on_the_heads_desk_as_a_second_rejection(
    api: httpx.AsyncClient, database: Database
) -> None:
    number = (await open_and_triage(api, priority="P3"))["number"]  # grade III: the supervisor approves
    await post(api, f"/cases/{number}/accept", None, HANDLER)
    for _ in range(2):
        await post(api, f"/cases/{number}/plan", PLAN, HANDLER)
        await post(api, f"/cases/{number}/reject", {"reason": "measures too vague"}, SUPERVISOR)
    await post(api, f"/cases/{number}/plan", PLAN, HANDLER)
    found = await until(api, database, HEAD_ACTOR, number, True, "second_rejection")
    assert found == ["second_rejection"]

    # A P1 plan on the head's desk by its grade is an ordinary approval.
    major = (await open_and_triage(api, priority="P1"))["number"]
    await post(api, f"/cases/{major}/accept", None, HANDLER)
    await post(api, f"/cases/{major}/plan", PLAN, HANDLER)
    assert await until(api, database, HEAD_ACTOR, major, True, "awaiting_approval") == ["awaiting_approval"]


async def test_a_case_needing_several_departments_waits_for_the_head_to_name_them(
    api: httpx.AsyncClient, database: Database
) -> None:
    single = (await open_and_triage(api))["number"]
    several = (await open_and_triage(api, categories=["product_quality", "logistics"]))["number"]
    assert await until(api, database, HEAD_ACTOR, several, True, "department_naming") == ["department_naming"]
    assert "department_naming" not in await reasons(api, database, HEAD_ACTOR, single)

    naming = {"lead": "quality", "assisting": [{"department": "logistics", "request": "Was the parcel dropped?"}]}
    await post(api, f"/cases/{several}/departments", naming, HEAD)
    await wait_for_event(database, several, "departments_named")
    assert "department_naming" not in await until(api, database, HEAD_ACTOR, several, False, "department_naming")


async def test_the_heads_inbox_and_the_case_page_say_it_in_chinese(api: httpx.AsyncClient, console: Console) -> None:
    """In the browser: the head's row names the work in Chinese, and the case page's "waiting for"
    is the catalog's sentence, not the workflow's English."""
    number = (await open_and_triage(api, categories=["product_quality", "logistics"]))["number"]
    head = await console.person(HEAD_ACTOR)
    row = head.locator(f'tr[data-case="{number}"]')
    await expect(row).to_contain_text("待指定牵头部门", timeout=5000)
    await head.goto(console.url(f"/console/cases/{number}"))
    waiting = head.locator("p.hint", has_text="质量部处理人受理")
    await expect(waiting).to_have_count(1)
    assert "handler to accept" not in await head.locator("body").inner_text()
