"""`aftersales demo --cases N`: realistic cases driven through the real HTTP API.

A mix of channels, categories, priorities, customer tiers and descriptions
(Chinese and English); some walked to a satisfied close (they archive after the
fix check a week later; withdrawn ones at once), some reopened by a low score,
some left waiting at various stages, some breached. Everything goes through the
API, as the agents, handlers and supervisors would, so Temporal UI, the lists and
the report fill up as in real use. The same `--seed` gives the same cases.

Breaches need time to pass. So that a newcomer sees them within a minute, the
demo briefly puts a demo SLA policy in force: the policy in force (read from the
first demo case) plus short around-the-clock targets (`breach_after`, 45 s by
default) for one slice of cases, VIP customers writing through a marketplace.
The breaching cases are opened in that slice while it is in force; once they have
breached, the policy in force before is uploaded again under a new version name,
so every later case is back on the usual targets. Only run this against a demo or
development installation: any other open VIP marketplace case is re-planned onto
the short targets too while the demo policy is in force. `--no-breaches` skips it
(cases then breach only when their real deadlines pass).
"""

from __future__ import annotations

import asyncio
import random
import time
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from importlib import resources
from pathlib import Path
from typing import Any

import httpx

from domain.case import Category, Department, Role
from domain.triage import DEFAULT_ROUTING
from store.apikeys import ApiKeyStore, ensure_keys

# The people the demo acts as, each with an API key of their own (`demo_credentials`).
AGENTS = ["agent-li", "agent-chen", "agent-emma"]
SUPERVISOR = "supervisor-zhao"
HEAD = "head-sun"
ADMIN = "admin-demo"
WAREHOUSE, LOGISTICS = "wms-demo", "tms-demo"  # the systems that report return and repair steps
PEOPLE: dict[str, tuple[str, Role, Department | None]] = {
    **{name: (name, Role.AGENT, None) for name in AGENTS},
    SUPERVISOR: (SUPERVISOR, Role.SUPERVISOR, None),
    HEAD: (HEAD, Role.HEAD, None),
    ADMIN: (ADMIN, Role.ADMIN, None),
    WAREHOUSE: (WAREHOUSE, Role.WAREHOUSE, None),
    LOGISTICS: (LOGISTICS, Role.LOGISTICS, None),
    **{
        f"handler-{d.value.replace('_', '-')}": (f"handler-{d.value.replace('_', '-')}", Role.HANDLER, d)
        for d in Department
    },
}
Credentials = Mapping[str, Mapping[str, str]]  # person -> the headers they send


async def demo_credentials(keys: ApiKeyStore, path: Path) -> dict[str, dict[str, str]]:
    """An API key per demo person, kept in `path` and reused by the next demo."""
    return {name: {"X-API-Key": key} for name, key in (await ensure_keys(keys, path, PEOPLE)).items()}


# The slice the demo policy makes breach quickly; no other demo case is in it.
BREACH_TIER, BREACH_CHANNEL = "vip", "marketplace"
CHANNELS = ["phone", "chat", "email", "social", "web_form", "wechat", "in_store", "marketplace"]

# Fates, in the order a small demo gets them: the first twelve cover every kind.
CLOSED = "closed"
AWAITING_APPROVAL = "awaiting_approval"
REOPENED = "reopened"
AWAITING_CUSTOMER = "awaiting_customer"
BREACHED_AWAITING_APPROVAL = "breached_awaiting_approval"
IN_HANDLING = "in_handling"
CLOSED_AFTER_REOPEN = "closed_after_reopen"
AWAITING_FEEDBACK = "awaiting_feedback"
BREACHED_UNACCEPTED = "breached_unaccepted"
TRIAGED = "triaged"
RECEIVED = "received"
WITHDRAWN = "withdrawn"
FATES = [
    CLOSED, AWAITING_APPROVAL, REOPENED, AWAITING_CUSTOMER, BREACHED_AWAITING_APPROVAL, IN_HANDLING,
    CLOSED_AFTER_REOPEN, AWAITING_FEEDBACK, BREACHED_UNACCEPTED, TRIAGED, RECEIVED, WITHDRAWN,
]  # fmt: skip
BREACHING = {BREACHED_AWAITING_APPROVAL, BREACHED_UNACCEPTED}
# The stage each fate leaves its case in: a satisfied case stays closed until its fix check a
# week later, a withdrawn one is archived by the workflow at once.
FINAL_STAGE = {
    CLOSED: "closed", AWAITING_APPROVAL: "plan_proposed", REOPENED: "reopened",
    AWAITING_CUSTOMER: "awaiting_customer", BREACHED_AWAITING_APPROVAL: "plan_proposed",
    IN_HANDLING: "in_handling", CLOSED_AFTER_REOPEN: "closed", AWAITING_FEEDBACK: "awaiting_feedback",
    BREACHED_UNACCEPTED: "triaged", TRIAGED: "triaged", RECEIVED: "received", WITHDRAWN: "archived",
}  # fmt: skip


@dataclass(frozen=True)
class Scenario:
    category: str
    priorities: tuple[str, ...]
    sku: str
    model: str
    price: str
    zh: str
    en: str
    demands: tuple[str, ...]
    resolution: str  # refund, exchange, repair, explanation, compensation, return
    root_cause: str
    question: str  # what the handler asks the customer


def _scenarios() -> list[Scenario]:
    """The stories, kept as data in demo_scenarios.toml beside this module."""
    text = resources.files("cli").joinpath("demo_scenarios.toml").read_text(encoding="utf-8")
    rows = tomllib.loads(text)["scenario"]
    return [
        Scenario(**row | {"priorities": tuple(row["priorities"]), "demands": tuple(row["demands"])}) for row in rows
    ]


SCENARIOS = _scenarios()

NAMES_ZH = ["王芳", "李娜", "张伟", "刘洋", "陈静", "杨磊", "赵敏", "黄强", "周杰", "吴霞"]
NAMES_EN = ["Emily Carter", "James Wong", "Sofia Rossi", "Liam Brown", "Mia Schneider", "Noah Kim"]


@dataclass
class PlannedCase:
    index: int
    fate: str
    scenario: Scenario
    channel: str
    tier: str
    priority: str
    language: str  # zh or en
    customer: dict[str, Any]
    order_number: str
    rejected_first: bool  # the supervisor sends the first plan back
    score: int  # the satisfaction score the customer gives (first answer)

    @property
    def description(self) -> str:
        return self.scenario.zh if self.language == "zh" else self.scenario.en


@dataclass
class DemoResult:
    cases: dict[str, str] = field(default_factory=dict)  # number -> fate
    demo_policy: str | None = None
    restored_policy: str | None = None
    breached: list[str] = field(default_factory=list)
    not_breached: list[str] = field(default_factory=list)


def plan_demo(cases: int, seed: int) -> list[PlannedCase]:
    """The cases the demo opens and what becomes of each: a pure function of (cases, seed)."""
    rng = random.Random(seed)
    fates: list[str] = []
    while len(fates) < cases:
        block = list(FATES)
        if fates:  # the first block keeps its order so that a small demo covers the most
            rng.shuffle(block)
        fates += block
    planned = []
    offset = rng.randrange(len(CHANNELS))
    for index, fate in enumerate(fates[:cases]):
        scenario = rng.choice(SCENARIOS)
        if fate in BREACHING:
            channel, tier = BREACH_CHANNEL, BREACH_TIER
        else:
            channel = CHANNELS[(offset + index) % len(CHANNELS)]
            tier = "vip" if rng.random() < 0.25 else "normal"
            if (channel, tier) == (BREACH_CHANNEL, BREACH_TIER):
                tier = "normal"
        language = "zh" if rng.random() < 0.6 else "en"
        name = rng.choice(NAMES_ZH if language == "zh" else NAMES_EN)
        customer: dict[str, Any] = {"name": name, "tier": tier}
        if channel == "email" or language == "en":
            customer["email"] = f"customer{rng.randrange(10_000, 99_999)}@example.com"
        if channel != "email":
            customer["phone"] = f"+86 13{rng.randrange(0, 10)} {rng.randrange(1000, 9999)} {rng.randrange(1000, 9999)}"
        planned.append(
            PlannedCase(
                index=index,
                fate=fate,
                scenario=scenario,
                channel=channel,
                tier=tier,
                priority=rng.choice(scenario.priorities),
                language=language,
                customer=customer,
                order_number=f"ORD-{rng.randrange(100_000, 999_999)}",
                rejected_first=rng.random() < 0.3,
                score=rng.choice([4, 5, 5])
                if fate != REOPENED and fate != CLOSED_AFTER_REOPEN
                else rng.choice([1, 2, 3]),
            )
        )
    return planned


class DemoError(RuntimeError):
    pass


class _Driver:
    def __init__(self, api: httpx.AsyncClient, credentials: Credentials, echo: Callable[[str], None]) -> None:
        self.api = api
        self.credentials = credentials
        self.echo = echo

    async def call(self, method: str, path: str, who: str, body: Any = None) -> dict[str, Any]:
        response = await self.api.request(method, path, json=body, headers=dict(self.credentials[who]))
        if response.status_code not in (200, 201):
            raise DemoError(f"{method} {path}: {response.status_code} {response.text}")
        return response.json()

    async def live(self, number: str) -> dict[str, Any]:
        return await self.call("GET", f"/cases/{number}", AGENTS[0])

    async def wait_for(self, number: str, check: Callable[[dict[str, Any]], bool], what: str, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while True:
            if check(await self.live(number)):
                return True
            if time.monotonic() >= deadline:
                self.echo(f"  {number}: still not {what} after {timeout:.0f} s")
                return False
            await asyncio.sleep(0.2)


def _handler(case: PlannedCase) -> str:
    department = DEFAULT_ROUTING[Category(case.scenario.category)].value
    return f"handler-{department.replace('_', '-')}"


def _plan(case: PlannedCase) -> dict[str, Any]:
    scenario = case.scenario
    resolution: dict[str, Any] = {"type": scenario.resolution}
    price = Decimal(scenario.price)
    if scenario.resolution == "refund":
        resolution["amount"] = str(price)
    elif scenario.resolution == "compensation":
        resolution["amount"] = str((price * Decimal("0.3")).quantize(Decimal("0.01")))
    return {
        "root_cause": scenario.root_cause,
        "measures": [f"{scenario.resolution} for the customer", "share the finding with the supplier"],
        "owner": _handler(case),
        "prevention": f"Check added for: {scenario.root_cause.lower()}",
        "resolution": resolution,
    }


async def _open(driver: _Driver, case: PlannedCase) -> str:
    agent = AGENTS[case.index % len(AGENTS)]
    scenario = case.scenario
    intake = {
        "channel": case.channel,
        "customer": case.customer,
        "order": {"number": case.order_number, "paid_amount": scenario.price, "currency": "CNY"},
        "product": {"sku": scenario.sku, "model": scenario.model, "batch": f"B2026-{case.index % 12 + 1:02d}"},
        "description": case.description,
        "demands": list(scenario.demands),
        "evidence": [{"kind": "photo", "uri": f"s3://evidence/demo/{case.order_number}.jpg"}],
    }
    opened = await driver.call("POST", "/cases", agent, intake)
    return opened["number"]


async def _triage(driver: _Driver, case: PlannedCase, number: str) -> dict[str, Any]:
    category = case.scenario.category
    decision = {
        # A complaint about the service on top of the problem itself, now and then.
        "categories": [category] + (["service"] if case.index % 5 == 4 and category != "service" else []),
        "priority": case.priority,
        "department": DEFAULT_ROUTING[Category(category)].value,
        "note": _say(case, "分诊完成", "triaged"),
    }
    # Lowering the suggested priority needs the agent's reason (422 without one).
    suggested = ((await driver.live(number)).get("live") or {}).get("suggestion") or {}
    if suggested.get("priority") and case.priority > suggested["priority"]:  # "P3" > "P2": less urgent
        decision["override_reason"] = _say(
            case, "核实后影响有限，按常规处理", "checked with the customer: limited impact"
        )
    return await driver.call("POST", f"/cases/{number}/triage", AGENTS[case.index % len(AGENTS)], decision)


def _say(case: PlannedCase, zh: str, en: str) -> str:
    return zh if case.language == "zh" else en


async def _to_plan(driver: _Driver, case: PlannedCase, number: str) -> None:
    handler = _handler(case)
    await driver.call("POST", f"/cases/{number}/accept", handler)
    await driver.call(
        "POST", f"/cases/{number}/notes", handler, {"text": "Contacted the customer, checking the order."}
    )
    await driver.call("POST", f"/cases/{number}/plan", handler, _plan(case))


async def _approve_and_execute(driver: _Driver, case: PlannedCase, number: str) -> None:
    """The plan proposed, maybe sent back once, approved and carried out."""
    approver = HEAD if case.priority in ("P1", "P2") else SUPERVISOR  # approval by grade
    if case.rejected_first:
        await driver.call(
            "POST", f"/cases/{number}/reject", approver, {"reason": "Offer the customer a faster option first."}
        )
        await driver.call("POST", f"/cases/{number}/plan", _handler(case), _plan(case))
    await driver.call("POST", f"/cases/{number}/approve", approver, {"comment": _say(case, "同意", "approved")})
    await _return_steps(driver, case, number)
    await driver.wait_for(
        number, lambda d: (d.get("live") or {}).get("stage") == "awaiting_feedback", "awaiting feedback", 30
    )


def _steps(case: PlannedCase) -> list[tuple[str, str, dict[str, Any] | None]]:
    """What logistics and the warehouse report for a return or repair, in order (domain/returns.py)."""
    tracking = case.order_number.removeprefix("ORD-")
    if case.scenario.resolution == "repair":
        return [
            ("label_issued", LOGISTICS, {"tracking_number": f"YT{tracking}"}),
            ("parcel_received", WAREHOUSE, None),
            ("repaired", WAREHOUSE, {"note": case.scenario.root_cause}),
            ("shipped_back", LOGISTICS, {"tracking_number": f"SF{tracking}"}),
        ]
    if case.scenario.resolution == "return":
        return [
            ("pickup_booked", LOGISTICS, {"tracking_number": f"SF{tracking}"}),
            ("parcel_received", WAREHOUSE, None),
            ("quality_checked", WAREHOUSE, {"passed": True}),
            ("restocked", WAREHOUSE, None),
        ]
    return []


async def _return_steps(driver: _Driver, case: PlannedCase, number: str) -> None:
    steps = _steps(case)
    if steps and await driver.wait_for(
        number, lambda d: (d.get("live") or {}).get("returns") is not None, "authorised", 30
    ):
        for step, system, body in steps:
            await driver.call("POST", f"/cases/{number}/return-steps/{step}", system, body)


async def _drive(driver: _Driver, case: PlannedCase) -> str:
    number = await _open(driver, case)
    fate = case.fate
    if fate == RECEIVED:
        return number
    await _triage(driver, case, number)
    agent = AGENTS[case.index % len(AGENTS)]
    if fate in (TRIAGED, BREACHED_UNACCEPTED):
        return number
    if fate == WITHDRAWN:
        reason = _say(case, "客户已自行解决", "Solved it myself")
        await driver.call("POST", f"/cases/{number}/withdraw", agent, {"reason": reason})
        return number
    if fate in (AWAITING_APPROVAL, BREACHED_AWAITING_APPROVAL):
        await _to_plan(driver, case, number)
        return number
    handler = _handler(case)
    await driver.call("POST", f"/cases/{number}/accept", handler)
    if fate == IN_HANDLING:
        return number
    await driver.call("POST", f"/cases/{number}/info-requests", handler, {"question": case.scenario.question})
    if fate == AWAITING_CUSTOMER:
        return number
    await driver.call(
        "POST", f"/cases/{number}/customer-replies", agent, {"text": _say(case, "照片已上传。", "Photo uploaded.")}
    )
    await driver.call("POST", f"/cases/{number}/plan", handler, _plan(case))
    await _approve_and_execute(driver, case, number)
    if fate == AWAITING_FEEDBACK:
        return number
    await _tell_result(driver, case, number, agent)
    comment = _say(case, "还是有问题", "Still not fixed") if case.score <= 3 else _say(case, "谢谢", "Thanks")
    await driver.call("POST", f"/cases/{number}/feedback", agent, {"score": case.score, "comment": comment})
    if fate == CLOSED_AFTER_REOPEN:  # called back, handled again, and this time the customer is satisfied
        outcome = _say(case, "已致电客户道歉，重新处理", "Called the customer back; handling it again")
        await driver.call("POST", f"/cases/{number}/call-back/complete", agent, {"outcome": outcome})
        await _triage(driver, case, number)
        await _to_plan(driver, case, number)
        await _approve_and_execute(driver, case, number)
        await _tell_result(driver, case, number, agent)
        satisfied = {"score": 5, "comment": _say(case, "解决了", "Resolved now")}
        await driver.call("POST", f"/cases/{number}/feedback", agent, satisfied)
    return number


async def _tell_result(driver: _Driver, case: PlannedCase, number: str, agent: str) -> None:
    """The agent tells the customer the result and what follow-up to expect (within a working day)."""
    told = {
        "channel": case.channel,
        "summary": _say(case, "已按方案处理完毕", "Carried out as planned"),
        "follow_up": _say(case, "一周后回访", "We check back in a week"),
    }
    await driver.call("POST", f"/cases/{number}/result-told", agent, told)


def _demo_policy(policy: dict[str, Any], version: str, breach_after: timedelta) -> dict[str, Any]:
    short = {"budget": breach_after.total_seconds(), "business": False}
    overrides = [
        {"clock": clock, "tier": BREACH_TIER, "channel": BREACH_CHANNEL, "target": short}
        for clock in ("first_reply", "respond", "plan", "resolution")
    ]
    return policy | {"version": version, "overrides": list(policy.get("overrides", [])) + overrides}


async def run_demo(
    api: httpx.AsyncClient,
    cases: int,
    *,
    credentials: Credentials,
    seed: int = 7,
    breaches: bool = True,
    breach_after: timedelta = timedelta(seconds=45),
    echo: Callable[[str], None] = lambda line: None,
) -> DemoResult:
    """Open and drive `cases` cases through the API at `api` (an httpx client with its base URL)."""
    driver = _Driver(api, credentials, echo)
    planned = plan_demo(cases, seed)
    result = DemoResult()
    quick = [case for case in planned if not (breaches and case.fate in BREACHING)]
    slow = [case for case in planned if breaches and case.fate in BREACHING]
    for case in quick:
        number = await _drive(driver, case)
        result.cases[number] = case.fate
        echo(f"  {number}  {case.fate:<27} {case.priority} {case.channel:<11} {case.scenario.category}")
    if not slow:
        return result

    # The policy in force, as pinned on a case opened just now.
    if not result.cases:  # every demo case breaches: open one plain case to read it
        plain = plan_demo(1, seed)[0]
        result.cases[await _open(driver, plain)] = RECEIVED
    policy = (await driver.live(next(iter(result.cases))))["live"]["policy"]
    stamp = datetime.now(UTC).strftime("%Y%m%d%H%M%S")
    demo_version = f"demo-{stamp}"
    restored_version = f"{policy['version'][:30]}-restored-{stamp}"
    echo(f"Demo SLA policy {demo_version}: VIP marketplace cases breach after {breach_after.total_seconds():g} s")
    await driver.call("POST", "/admin/sla-policies", ADMIN, _demo_policy(policy, demo_version, breach_after))
    result.demo_policy = demo_version
    try:
        for case in slow:
            number = await _drive(driver, case)
            result.cases[number] = case.fate
            echo(f"  {number}  {case.fate:<27} {case.priority} {case.channel:<11} {case.scenario.category}")
        echo("Waiting for the breaches...")
        timeout = breach_after.total_seconds() + 60
        for number, fate in result.cases.items():
            if fate in BREACHING:
                breached = await driver.wait_for(
                    number, lambda d: (d.get("sla") or {}).get("state") == "breached", "breached", timeout
                )
                (result.breached if breached else result.not_breached).append(number)
    finally:
        await driver.call("POST", "/admin/sla-policies", ADMIN, policy | {"version": restored_version})
        result.restored_policy = restored_version
        echo(f"SLA policy back as before ({restored_version})")
    return result
