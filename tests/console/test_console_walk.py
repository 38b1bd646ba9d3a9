"""A case walked through the console by clicking only: agent → handler → head → agent, on both
databases, with the real worker and Temporal server; and the reopen path after a score of 2."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
from playwright.async_api import Page, expect

from domain.case import Actor, Department, Role
from tests.conftest import Database
from tests.support.api import post
from tests.support.console import Console
from tests.support.people import AGENT, AGENT_ACTOR, HANDLER_ACTOR, HEAD_ACTOR, intake

SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
STAGE = "h1 .stage"


async def _open(api: httpx.AsyncClient) -> str:
    return (await post(api, "/cases", intake(), AGENT))["number"]


async def _stage_is(page: Page, stage: str, *, reload_for: float = 0) -> None:
    """The page's stage; with `reload_for`, reload until the workflow got there (execution runs by itself)."""
    if reload_for:
        for _ in range(int(reload_for * 2)):
            if await page.locator(STAGE).get_attribute("data-stage") == stage:
                break
            await page.wait_for_timeout(500)
            await page.reload()
    await expect(page.locator(STAGE)).to_have_attribute("data-stage", stage)


async def _act(page: Page, slug: str) -> None:
    await page.locator(f"#action-{slug} button[type=submit]").click()
    await page.wait_for_load_state()


async def _triage(page: Page) -> None:
    await page.select_option("#action-triage-department", "quality")
    await _act(page, "triage")


async def _on_case(console: Console, actor: Actor, number: str) -> Page:
    """`actor`'s browser on the case's page."""
    page = await console.person(actor)
    await page.goto(console.url(f"/console/cases/{number}"))
    return page


async def _triaged(api: httpx.AsyncClient, console: Console) -> str:
    """A case opened through the API and triaged to quality by the agent in the console."""
    number = await _open(api)
    await _triage(await _on_case(console, AGENT_ACTOR, number))
    return number


async def _accepted(api: httpx.AsyncClient, console: Console) -> tuple[str, Page]:
    """A triaged case the quality handler accepted, and the handler's page on it."""
    number = await _triaged(api, console)
    handler = await _on_case(console, HANDLER_ACTOR, number)
    await _act(handler, "accept")
    return number, handler


async def _to_awaiting_feedback(console: Console, number: str) -> Page:
    agent = await console.person(AGENT_ACTOR)
    await agent.goto(console.url(f"/console/cases/{number}"))
    await expect(agent.locator("[data-fact=customer]")).to_contain_text("张三丰 · +86 138 0013 8000")
    link = agent.locator("a[data-temporal-ui]")
    await expect(link).to_have_attribute("href", re.compile(f"/namespaces/default/workflows/{number}$"))
    await _triage(agent)
    await _stage_is(agent, "triaged")

    handler = await console.person(HANDLER_ACTOR)
    await handler.goto(console.url(f"/console/cases/{number}"))
    await expect(handler.locator("[data-fact=customer]")).to_contain_text("张** · *******8000")  # masked for handlers
    await _act(handler, "accept")
    await _stage_is(handler, "in_handling")
    await handler.fill("#action-plan-root_cause", "Batch B2026-10 base seal defect")
    await handler.fill("#action-plan-measures", "full refund\nquality check of batch B2026-10")
    await handler.select_option("#action-plan-resolution-type", "refund")
    await handler.fill("#action-plan-resolution-amount", "899.00")
    await _act(handler, "plan")
    await _stage_is(handler, "plan_proposed")

    head = await console.person(HEAD_ACTOR)
    await head.goto(console.url(f"/console/cases/{number}"))
    await expect(head.locator("[data-fact=plan]")).to_contain_text("899.00")
    await _act(head, "approve")
    await _stage_is(head, "awaiting_feedback", reload_for=20)

    await agent.goto(console.url(f"/console/cases/{number}"))
    await agent.select_option("#action-tell-result-channel", "phone")
    await agent.fill("#action-tell-result-summary", "Refunded in full")
    await _act(agent, "tell-result")
    await _stage_is(agent, "awaiting_feedback")
    await expect(agent.locator("#action-tell-result")).to_have_count(0)
    return agent


async def test_a_case_is_walked_from_intake_to_closed_by_clicking(
    api: httpx.AsyncClient, database: Database, console: Console
) -> None:
    number = await _open(api)
    agent = await _to_awaiting_feedback(console, number)
    await agent.fill("#action-feedback-score", "5")
    await _act(agent, "feedback")
    await _stage_is(agent, "closed")
    kinds = [event.kind for event in await database.store.timeline(number)]
    assert kinds[:2] == ["received", "triaged"] and "plan_approved" in kinds and kinds[-1] == "closed", kinds
    assert [e.resolution_type for e in await database.store.ledger(number)] == ["refund"]
    assert console.refused == []  # every asset came from the app


async def test_a_score_of_2_reopens_the_case_for_triage_again(
    api: httpx.AsyncClient, database: Database, console: Console
) -> None:
    number = await _open(api)
    agent = await _to_awaiting_feedback(console, number)
    await agent.fill("#action-feedback-score", "2")
    await _act(agent, "feedback")
    await _stage_is(agent, "reopened")
    await expect(agent.locator("#action-call-back")).to_have_count(1)  # the unhappy customer is called back
    await _triage(agent)
    await _stage_is(agent, "triaged")


async def test_a_refusal_is_shown_next_to_the_field_it_names(api: httpx.AsyncClient, console: Console) -> None:
    number = await _open(api)
    agent = await console.person(AGENT_ACTOR)
    await agent.goto(console.url(f"/console/cases/{number}"))
    await agent.select_option("#action-triage-priority", "P4")  # below the suggestion, with no reason
    await _triage(agent)
    error = agent.locator('#action-triage [data-field="override_reason"] [data-error-for="override_reason"]')
    await expect(error).to_contain_text("override_reason")
    await _stage_is(agent, "received")


async def test_a_double_clicked_approve_approves_once(
    api: httpx.AsyncClient, database: Database, console: Console
) -> None:
    number, handler = await _accepted(api, console)
    await handler.fill("#action-plan-root_cause", "seal defect")
    await handler.fill("#action-plan-measures", "refund")
    await handler.select_option("#action-plan-resolution-type", "refund")
    await handler.fill("#action-plan-resolution-amount", "899.00")
    await _act(handler, "plan")
    head = await console.person(HEAD_ACTOR)
    await head.goto(console.url(f"/console/cases/{number}"))
    # The same form sent twice at once, as a double click on a page without its script would.
    statuses = await head.evaluate(
        """async () => {
            const form = document.querySelector('#action-approve');
            const send = () => fetch(form.action, {method: 'POST', body: new FormData(form), redirect: 'manual'});
            const answers = await Promise.all([send(), send()]);
            return answers.map(a => a.status);
        }"""
    )
    assert len(statuses) == 2
    await head.reload()
    await _stage_is(head, "awaiting_feedback", reload_for=20)
    kinds = [event.kind for event in await database.store.timeline(number)]
    assert kinds.count("plan_approved") == 1, kinds
    assert len(await database.store.ledger(number)) == 1


async def test_a_handler_of_another_department_gets_the_404_page(api: httpx.AsyncClient, console: Console) -> None:
    number = await _triaged(api, console)
    other = await console.person(Actor(id="handler-zhou", role=Role.HANDLER, department=Department.LOGISTICS))
    answer = await other.goto(console.url(f"/console/cases/{number}"))
    assert answer is not None and answer.status == 404
    await expect(other.locator("h1")).to_have_text("找不到工单")
    own = await console.person(HANDLER_ACTOR)
    assert (await own.goto(console.url(f"/console/cases/{number}"))).status == 200  # type: ignore[union-attr]


async def test_the_inbox_shows_a_case_opened_through_the_api_within_2_s(
    api: httpx.AsyncClient, console: Console
) -> None:
    agent = await console.person(AGENT_ACTOR)
    await expect(agent.locator("h1")).to_have_text("待办")
    number = await _open(api)
    await expect(agent.locator(f'tr[data-case="{number}"]')).to_be_visible(timeout=2000)
    await expect(agent.locator(f'tr[data-case="{number}"]')).to_contain_text("待分派")


async def test_both_languages_render_and_the_main_pages_are_photographed(
    api: httpx.AsyncClient, database: Database, console: Console
) -> None:
    number = await _open(api)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for locale, inbox_title, language in (("zh-CN", "待办", "zh"), ("en-US", "Inbox", "en")):
        agent = await console.person(AGENT_ACTOR, locale=locale)
        await expect(agent.locator("h1")).to_have_text(inbox_title)
        await expect(agent.locator(f'tr[data-case="{number}"]')).to_be_visible()
        if database.backend == "sqlite":
            await agent.screenshot(path=SCREENSHOTS / f"inbox-{language}.png", full_page=True)
        await agent.goto(console.url(f"/console/cases/{number}"))
        text = await agent.locator("body").inner_text()
        assert "action:" not in text and "in_handling" not in text and "first_reply" not in text, text
        if database.backend == "sqlite":
            await agent.screenshot(path=SCREENSHOTS / f"case-{language}.png", full_page=True)
    sign_in = await console.browser.new_page(locale="en-US")
    await sign_in.goto(console.url("/console/sign-in"))
    await expect(sign_in.locator("h1")).to_have_text("Sign in")
    if database.backend == "sqlite":
        await sign_in.screenshot(path=SCREENSHOTS / "sign-in-en.png")


async def test_the_head_names_departments_and_the_assisting_handler_contributes(
    api: httpx.AsyncClient, database: Database, console: Console
) -> None:
    number = await _triaged(api, console)
    head = await _on_case(console, HEAD_ACTOR, number)
    await head.select_option("#action-departments-lead", "quality")
    await head.locator('#action-departments input[name="assisting"][value="logistics"]').check()
    await head.fill("#action-departments-request", "Was the parcel dropped in transit?")
    await _act(head, "departments")
    await expect(head.locator("#action-departments [role=alert]")).to_have_count(0)
    zhou = await console.person(Actor(id="handler-zhou", role=Role.HANDLER, department=Department.LOGISTICS))
    await zhou.goto(console.url(f"/console/cases/{number}"))
    forms = await zhou.locator("form[data-action]").evaluate_all("all => all.map(f => f.dataset.action)")
    assert forms == ["contribute"], forms  # an assisting department contributes, nothing else
    await zhou.fill("#action-contribute-summary", "Box crushed at the hub")
    await _act(zhou, "contribute")
    await expect(zhou.locator("form[data-action=contribute]")).to_have_count(0)
    kinds = [event.kind for event in await database.store.timeline(number)]
    assert "departments_named" in kinds and "contribution_received" in kinds, kinds


async def test_a_plan_over_the_cap_and_a_missing_field_are_refused_by_name(
    api: httpx.AsyncClient, console: Console
) -> None:
    _, handler = await _accepted(api, console)
    await handler.fill("#action-plan-measures", "compensate")
    await handler.select_option("#action-plan-resolution-type", "compensation")
    await handler.fill("#action-plan-resolution-amount", "5000.00")
    await _act(handler, "plan")  # the form's own check: no root cause
    await expect(handler.locator('[data-error-for="root_cause"]')).to_have_text("此项必填。")
    await expect(handler.locator("#action-plan-resolution-amount")).to_have_value("5000.00")  # kept as typed
    await handler.fill("#action-plan-root_cause", "seal defect")
    await _act(handler, "plan")  # the case's own check: over the compensation cap
    await expect(handler.locator('[data-error-for="resolution.amount"]')).to_contain_text("exceeds")
    await _stage_is(handler, "in_handling")


async def test_a_supervisor_finds_a_p3_plan_in_the_inbox_and_approves_it(
    api: httpx.AsyncClient, database: Database, console: Console
) -> None:
    number = await _open(api)
    agent = await console.person(AGENT_ACTOR)
    await agent.goto(console.url(f"/console/cases/{number}"))
    await agent.select_option("#action-triage-priority", "P3")
    await agent.fill("#action-triage-override_reason", "cosmetic crack, no leak")
    await _triage(agent)
    await _stage_is(agent, "triaged")
    handler = await console.person(HANDLER_ACTOR)
    await handler.goto(console.url("/console/"))
    await expect(handler.locator(f'tr[data-case="{number}"]')).to_contain_text("待认领")
    await handler.locator(f'tr[data-case="{number}"] a').click()
    await _act(handler, "accept")
    await handler.fill("#action-plan-root_cause", "seal defect")
    await handler.fill("#action-plan-measures", "refund")
    await handler.select_option("#action-plan-resolution-type", "refund")
    await handler.fill("#action-plan-resolution-amount", "899.00")
    await _act(handler, "plan")
    supervisor = await console.person(Actor(id="supervisor-zhao", role=Role.SUPERVISOR))
    row = supervisor.locator(f'tr[data-case="{number}"]')
    await expect(row).to_contain_text("待审批", timeout=3000)
    await row.locator("a").click()
    await _act(supervisor, "approve")
    await _stage_is(supervisor, "awaiting_feedback", reload_for=20)
    approved = [e for e in await database.store.timeline(number) if e.kind == "plan_approved"]
    assert [e.actor_id for e in approved] == ["supervisor-zhao"]
