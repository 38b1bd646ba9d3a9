"""What an operator sees in Temporal UI: search attributes kept current at every
transition, never personal data, a case that says in words what it waits for,
and visibility queries that find cases by them."""

from __future__ import annotations

import asyncio
import re
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.api.sdk.v1 import WorkflowMetadata
from temporalio.client import WorkflowHandle
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from domain import search_attributes as sa
from domain.calendar import BusinessCalendar
from tests.conftest import Database, app_settings
from tests.support.api import post
from tests.support.days import ordinary_tuesday_morning, start_case_at
from tests.support.people import AGENT, HANDLER, HEAD, PLAN, TRIAGE, handler, intake
from tests.support.waiting import wait_for_event, wait_for_stage, wait_until_settled
from workflows.case import CaseWorkflow

CUSTOMER = {"name": "欧阳娜娜", "phone": "+86 139 0000 1234", "email": "nana.ouyang@example.com", "tier": "vip"}
ORDER = {"number": "ORD-SECRET-4711", "paid_amount": "899.00", "currency": "CNY"}
DESCRIPTION = "Kettle from 欧阳娜娜 at Room 1203: the base cracked and it leaks."
# Nothing a customer told us may reach a search attribute, the workflow id, its summary or details.
PERSONAL = [
    "欧阳",
    "娜娜",
    "Ouyang",
    "nana",
    "139 0000",
    "1234",
    "ORD-SECRET",
    "4711",
    "Room 1203",
    "cracked",
    "SN-0042",
]


async def attributes(handle: WorkflowHandle) -> dict[str, Any]:
    """Every search attribute of ours, by name (None when unset)."""
    typed = (await handle.describe()).typed_search_attributes
    return {key.name: typed.get(key) for key in sa.ALL}


async def current_details(handle: WorkflowHandle) -> str:
    """What Temporal UI shows as the case's current details (the SDK's built-in metadata query)."""
    metadata = await handle.query("__temporal_workflow_metadata", result_type=WorkflowMetadata)
    return metadata.current_details


async def next_deadline(api: httpx.AsyncClient, number: str) -> datetime | None:
    detail = (await api.get(f"/cases/{number}", headers=AGENT)).json()
    value = detail["sla"]["next_deadline"]
    return datetime.fromisoformat(value) if value else None


def no_personal_data(*texts: Any) -> None:
    for text in texts:
        for secret in PERSONAL:
            assert secret.casefold() not in str(text).casefold(), f"{secret!r} leaked into {text!r}"


async def expect(api: httpx.AsyncClient, handle: WorkflowHandle, waiting_for: str, **expected: Any) -> dict[str, Any]:
    """The search attributes hold `expected` (by attribute name), NextDeadline the live SLA's
    next deadline, and the current details name the stage and what the case waits for."""
    # Upserts land when the workflow task completes, which can be after its local activity wrote
    # the row a test waited for (seen in CI on a loaded machine).
    await wait_until_settled(handle)
    found = await attributes(handle)
    for name, value in expected.items():
        assert found[name] == value, f"{name}: {found[name]!r} != {value!r} (all: {found})"
    assert found["NextDeadline"] == await next_deadline(api, handle.id)
    details = await current_details(handle)
    assert details.startswith(f"**{found['CaseStage']}**: waiting for {waiting_for}."), details
    no_personal_data(found, details)
    return found


async def test_search_attributes_and_details_follow_every_transition(
    api: httpx.AsyncClient, database: Database, env: WorkflowEnvironment, worker: str
) -> None:
    body = intake(channel="wechat", customer=CUSTOMER, order=ORDER, description=DESCRIPTION)
    opened = await post(api, "/cases", body, AGENT)
    assert re.fullmatch(rf"{database.prefix}-\d{{8}}-\d{{6}}", opened["number"])  # the workflow id: no personal data
    description = await env.client.get_workflow_handle(opened["number"]).describe()
    summary = await description.static_summary()
    assert summary == f"After-sales case {opened['number']} from wechat (vip customer)"
    no_personal_data(opened["number"], summary, description.search_attributes)
    # The same customer's case, received on a Tuesday morning on plain office hours, goes
    # through every transition: the timers it waits on depend on the working hours ahead.
    # (Carried out on the eve of a long holiday, the result's first warning would fall after
    # the survey window closes, and the survey would be the next timer.)
    tuesday = ordinary_tuesday_morning(datetime.now(UTC))
    number, handle = await start_case_at(env, database, worker, tuesday, BusinessCalendar(), body)
    assert re.fullmatch(rf"{database.prefix}-\d{{8}}-\d{{6}}", number)
    no_personal_data(number, (await handle.describe()).search_attributes)
    unchanging = {"Channel": "wechat", "CustomerTier": "vip"}

    received = await expect(
        api, handle, "triage by an agent", CaseStage="received", CasePriority=None, Department=None,
        SlaState="on_track", EscalationLevel=0, ReopenCount=0, Assignee=None, **unchanging,
    )  # fmt: skip
    assert received["CaseCategory"] in (None, [])  # suggested, not decided yet
    assert received["NextDeadline"] is not None  # the first reply
    assert "Next timer: SLA first reply warning at 75%" in await current_details(handle)

    await post(api, f"/cases/{number}/triage", TRIAGE | {"categories": ["product_quality", "service"]}, AGENT)
    await expect(
        api, handle, "a quality handler to accept", CaseStage="triaged", CasePriority="P2",
        CaseCategory=["product_quality", "service"], Department="quality", SlaState="on_track", Assignee=None,
        **unchanging,
    )  # fmt: skip

    await post(api, f"/cases/{number}/accept", None, HANDLER)
    await expect(
        api, handle, "handler handler-wang to propose a solution plan", CaseStage="in_handling",
        Assignee="handler-wang", Department="quality", SlaState="on_track", **unchanging,
    )  # fmt: skip

    await post(api, f"/cases/{number}/info-requests", {"question": "A photo of the base, please?"}, HANDLER)
    paused = await expect(
        api, handle, "the customer's answer", CaseStage="awaiting_customer", SlaState="paused",
        Assignee="handler-wang", **unchanging,
    )  # fmt: skip
    assert paused["NextDeadline"] is None  # every clock waits on the customer

    await post(api, f"/cases/{number}/customer-replies", {"text": "Photo attached"}, AGENT)
    await expect(
        api, handle, "handler handler-wang to propose a solution plan", CaseStage="in_handling", SlaState="on_track"
    )

    await post(api, f"/cases/{number}/plan", PLAN, HANDLER)
    planned = await expect(
        api, handle, "approval by the after-sales head", CaseStage="plan_proposed", CasePriority="P2",
        Assignee="handler-wang", SlaState="on_track", EscalationLevel=0, **unchanging,
    )  # fmt: skip
    assert planned["NextDeadline"] is not None  # resolution
    # The details name the next deadline and the next timer: the VIP customer's progress
    # update (every 12 calendar hours) or the approval deadline's first warning (75 % of 4
    # working hours), whichever comes first at the hour the test runs.
    details = await current_details(handle)
    assert re.search(r"Next timer: (progress update to the customer|SLA approval P2 warning at 75%) due ", details), (
        details
    )
    assert "Next deadline: " in details

    approved = await post(api, f"/cases/{number}/approve", {}, HEAD)
    assert approved["stage"] == "executing"
    assert (await attributes(handle))["CaseStage"] in ("executing", "awaiting_feedback")
    await wait_for_stage(api, number, "awaiting_feedback", AGENT)
    feedback = await expect(
        api,
        handle,
        "the customer's satisfaction score",
        CaseStage="awaiting_feedback",
        SlaState="on_track",
        **unchanging,
    )
    # The survey window is not an SLA deadline; telling the customer the result is (1 working day).
    result_due = (await handle.query(CaseWorkflow.state)).clocks["result"].due_at
    assert feedback["NextDeadline"] == result_due
    assert "Next timer: SLA result P2 warning at 75%" in await current_details(handle)

    await post(api, f"/cases/{number}/feedback", {"score": 2, "comment": "still leaking"}, AGENT)
    await expect(
        api, handle, "triage by an agent (reopened)", CaseStage="reopened", ReopenCount=1, Assignee=None, **unchanging
    )
    details = await current_details(handle)
    assert "Reopened 1 time(s)." in details
    assert "Call-back to the customer open (survey score 2), due " in details
    await post(api, f"/cases/{number}/call-back/complete", {"outcome": "apologised"}, AGENT)

    await post(api, f"/cases/{number}/triage", TRIAGE | {"priority": "P1"}, AGENT)
    await expect(api, handle, "a quality handler to accept", CaseStage="triaged", CasePriority="P1", ReopenCount=1)
    await post(api, f"/cases/{number}/accept", None, HANDLER)
    await post(api, f"/cases/{number}/plan", PLAN, HANDLER)
    await post(api, f"/cases/{number}/approve", {}, HEAD)
    await wait_for_stage(api, number, "awaiting_feedback", AGENT)
    closed = await post(api, f"/cases/{number}/feedback", {"score": 5}, AGENT)
    assert closed["stage"] == "closed"
    ask_on = (
        (datetime.fromisoformat(closed["closed_at"]) + timedelta(days=7)).astimezone(ZoneInfo("Asia/Shanghai")).date()
    )
    await expect(
        api, handle, f"the fix check on {ask_on}", CaseStage="closed", ReopenCount=1, NextDeadline=None, **unchanging
    )
    assert "Next timer: fix check to the customer due " in await current_details(handle)

    await env.fast_forward(handle, timedelta(days=7, minutes=1))
    await wait_for_event(database, number, "fix_check_sent")
    await post(api, f"/cases/{number}/fix-check", {"held": True}, AGENT)
    await handle.result()
    final = await attributes(handle)
    assert final | {"NextDeadline": None} == {
        "CaseStage": "archived", "CasePriority": "P1", "CaseCategory": ["product_quality"], "Department": "quality",
        "SlaState": "on_track", "EscalationLevel": 0, "ReopenCount": 1, "NextDeadline": None,
        "Assignee": "handler-wang", "Channel": "wechat", "CustomerTier": "vip",
        "PlatformAfterSale": None,  # set only on a marketplace case (tests/channels/)
    }  # fmt: skip
    assert final["NextDeadline"] is None
    no_personal_data(final)


async def test_timers_and_activities_are_labelled_in_words(
    api: httpx.AsyncClient, database: Database, env: WorkflowEnvironment
) -> None:
    case = await post(api, "/cases", intake(), AGENT)
    number = case["number"]
    await post(api, f"/cases/{number}/triage", TRIAGE, AGENT)
    handle = env.client.get_workflow_handle_for(CaseWorkflow.run, number)
    converter = env.client.data_converter
    timers, activities = [], []
    async for event in handle.fetch_history_events():
        if not event.HasField("user_metadata") or not event.user_metadata.HasField("summary"):
            continue
        (summary,) = await converter.decode([event.user_metadata.summary])
        if event.event_type == EventType.EVENT_TYPE_TIMER_STARTED:
            timers.append(summary)
        elif event.event_type in (EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED, EventType.EVENT_TYPE_MARKER_RECORDED):
            activities.append(summary)  # local activities are labelled on their markers
    assert activities[:3] == ["suggest category and department", "record received", "record triaged"]
    assert timers, "the case waits on a labelled timer"
    # e.g. "SLA first reply warning at 75% due 2026-11-23T19:30+08:00"
    label = re.compile(r"(SLA [a-z ]+( P\d)? .+|progress update to the customer) due \d{4}-\d\d-\d\dT\d\d:\d\d\+08:00")
    assert all(label.fullmatch(timer) for timer in timers), timers
    no_personal_data(*timers, *activities)


async def wait_until_listed(env: WorkflowEnvironment, query: str, number: str, timeout: float = 15) -> list[str]:
    """Visibility is eventually consistent: poll the query until the case shows up."""
    deadline = time.monotonic() + timeout
    while True:
        found = [execution.id async for execution in env.client.list_workflows(query)]
        if number in found:
            return found
        assert time.monotonic() < deadline, f"{query!r} did not list {number} after {timeout}s: {found}"
        await asyncio.sleep(0.2)


async def test_a_visibility_query_finds_a_breached_case_waiting_for_approval(
    api: httpx.AsyncClient, database: Database, env: WorkflowEnvironment
) -> None:
    case = await post(api, "/cases", intake(), AGENT)
    number = case["number"]
    await post(api, f"/cases/{number}/triage", TRIAGE | {"priority": "P2", "department": "logistics"}, AGENT)
    await post(api, f"/cases/{number}/accept", None, handler("logistics"))
    planned = await post(api, f"/cases/{number}/plan", PLAN, handler("logistics"))
    query = 'SlaState = "breached" AND CaseStage = "plan_proposed"'
    assert number not in [execution.id async for execution in env.client.list_workflows(query)]

    # Nobody approves: the approval deadline (4 working hours for P2) is missed.
    handle = env.client.get_workflow_handle_for(CaseWorkflow.run, number)
    due = datetime.fromisoformat(planned["clocks"]["approval"]["due_at"])
    await env.fast_forward(handle, due - datetime.fromisoformat(planned["updated_at"]) + timedelta(minutes=1))
    breach = await wait_for_event(database, number, "sla_breached")
    assert breach.data["clock"] == "approval"

    listed = await wait_until_listed(env, query, number)
    for other in listed:  # whatever else the query finds matches it too
        found = await attributes(env.client.get_workflow_handle(other))
        assert (found["SlaState"], found["CaseStage"]) == ("breached", "plan_proposed")
    found = await attributes(handle)
    assert (found["EscalationLevel"], found["Department"], found["CasePriority"]) == (1, "logistics", "P2")
    # The README's other queries find it as well.
    await wait_until_listed(env, 'Department = "logistics" AND SlaState = "breached"', number)
    await wait_until_listed(env, 'EscalationLevel >= 1 AND CasePriority = "P2"', number)
    details = await current_details(handle)
    assert details.startswith("**plan_proposed**: waiting for approval by the after-sales head.")
    assert "**Approval deadline missed** at " in details
    assert "escalated to supervisor (level 1)" in details
    assert "escalation to head due" in details
    # The missed approval shows as the breach; the next deadline is the earliest one still
    # running (the resolution's), the same in Temporal UI, the record and the API (issue 12).
    running = [c["due_at"] for c in planned["clocks"].values() if c["state"] == "running" and c["name"] != "approval"]
    upcoming = min(datetime.fromisoformat(d) for d in running)
    assert upcoming > breach.at
    assert f"Next deadline: {upcoming.astimezone(ZoneInfo('Asia/Shanghai')).isoformat(timespec='minutes')}" in details
    assert found["NextDeadline"] == upcoming
    assert (await database.store.get_case(number)).next_deadline == upcoming
    assert await next_deadline(api, number) == upcoming


async def test_the_readme_queries_are_valid_visibility_queries(env: WorkflowEnvironment) -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    section = readme.split("### Finding stuck cases", 1)[1].split("\n### ", 1)[0]
    queries = re.findall(r"^\| [^|]+ \| `(.+)` \|$", section, flags=re.MULTILINE)
    assert len(queries) >= 9, queries
    for query in queries:
        async for _ in env.client.list_workflows(query, limit=1):  # a malformed query raises here
            pass
    with pytest.raises(RPCError):  # which is what the loop above would do
        async for _ in env.client.list_workflows('NoSuchAttribute = "x"', limit=1):
            pass


async def test_the_details_link_back_to_the_case_in_the_console(
    env: WorkflowEnvironment, database: Database, worker: str
) -> None:
    """An operator reading a case in Temporal UI is one click from its page in the console,
    where people act on it; without CONSOLE_PUBLIC_URL the details carry no link."""
    from api.app import create_app
    from core.settings import Settings
    from store.db import session_factory

    console = "https://aftersales.example.com/console"
    settings = app_settings(database, worker, console_public_url=console)
    app = create_app(settings, temporal=env.client, sessions=session_factory(database.engine))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://aftersales.test") as api:
        number = (await post(api, "/cases", intake(channel="wechat"), AGENT))["number"]
    details = await current_details(env.client.get_workflow_handle(number))
    assert f"[在售后工作台打开 · Open in the Aftersales console]({console}/cases/{number})" in details
    with pytest.raises(ValueError, match="console_public_url"):
        Settings(console_public_url="https://aftersales.example.com/console/")  # a trailing slash: a broken link
