"""The monthly quality report: every figure against a hand-computed expectation on a
fixed data set, on SQLite and PostgreSQL; the JSON and HTML endpoints; the CLI; and
the page as headless Chromium (driven by Playwright) shows it, charts and all.

The data set is written straight through `CaseStore.record_transition`, in 2025-02
and 2025-03 (Asia/Shanghai), with case numbers `RPT-...`: other tests' cases are
received in 2026 and never fall into these months.
"""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

import cli.app as cli
from api.app import create_app
from cli import common as cli_common
from core.settings import Settings
from domain.case import Stage
from domain.lifecycle import EventKind
from domain.report import FCR_DEFINITION, Month, MonthlyReport
from store.db import session_factory
from store.reports import ReportStore
from tests.conftest import Database
from tests.support.browser import offline_page, serving
from tests.support.people import AGENT, HEAD, SUPERVISOR
from tests.support.reports import ADMIN, AGENT_ACTOR, ZONE, Script, at


# Instants are UTC; the month bounds are Asia/Shanghai (UTC+8):
#   2025-02 = [2025-01-31T16:00Z, 2025-02-28T16:00Z), 2025-03 = [2025-02-28T16:00Z, 2025-03-31T16:00Z).
def data_set() -> list[Script]:
    return [
        # ---- February ----
        Script("RPT-202502-001", "phone", "KETTLE-1L", "2025-02-10T02:00Z")
        .triage("2025-02-10T02:30Z", ["product_quality"], "P2", "quality")
        .accept("2025-02-10T03:00Z")
        .propose("2025-02-11T02:00Z")
        .approve("2025-02-11T03:00Z")
        .execute("2025-02-11T04:00Z")
        .feedback("2025-02-12T02:00Z", 5),
        # Received 23:59 on Feb 28 in Shanghai (February); triaged and accepted in March.
        Script("RPT-202502-002", "chat", "MUG-350", "2025-02-28T15:59Z")
        .triage("2025-02-28T16:29Z", ["service"], "P3", "customer_service")
        .accept("2025-03-01T02:00Z"),
        # ---- March ----
        Script("RPT-202503-001", "phone", "KETTLE-1L", "2025-03-03T02:00Z")
        .warn("2025-03-03T02:10Z", "first_reply")  # a warning is not a breach
        .triage("2025-03-03T02:15Z", ["product_quality"], "P2", "quality")
        .accept("2025-03-03T03:00Z")
        .propose("2025-03-04T02:00Z")
        .approve("2025-03-04T03:00Z")
        .execute("2025-03-04T04:00Z")
        .feedback("2025-03-05T02:00Z", 5),
        # Two cycles: first reply and plan missed, then reopened; cycle 2 misses the resolution.
        Script("RPT-202503-002", "chat", "KETTLE-1L", "2025-03-10T01:00Z")
        .breach("2025-03-10T01:30Z", "first_reply")
        .triage("2025-03-10T02:00Z", ["product_quality"], "P2", "quality")
        .accept("2025-03-10T03:00Z")
        .breach("2025-03-12T01:00Z", "plan")
        .propose("2025-03-12T05:00Z")
        .reject("2025-03-12T06:00Z")
        .propose("2025-03-12T08:00Z")
        .approve("2025-03-12T09:00Z")
        .execute("2025-03-12T10:00Z")
        .feedback("2025-03-13T02:00Z", 2)
        .triage("2025-03-13T03:00Z", ["product_quality"], "P2", "quality")
        .accept("2025-03-13T04:00Z")
        .breach("2025-03-20T02:00Z", "resolution")
        .propose("2025-03-20T05:00Z")
        .escalate("2025-03-20T06:00Z", "resolution")  # an escalation is not another breach
        .approve("2025-03-20T07:00Z")
        .execute("2025-03-21T02:00Z")
        .feedback("2025-03-22T02:00Z", 4, satisfied=True),
        # P3: no plan clock. A score of 4 with an explicit "not satisfied" reopens it.
        Script("RPT-202503-003", "email", "KETTLE-1L", "2025-03-15T00:00Z")
        .triage("2025-03-15T02:00Z", ["product_quality", "logistics"], "P3", "logistics")
        .accept("2025-03-15T04:00Z")
        .propose("2025-03-15T08:00Z")
        .approve("2025-03-15T09:00Z")
        .execute("2025-03-16T01:00Z")
        .feedback("2025-03-17T00:00Z", 4, satisfied=False),
        # Received 01:00 on March 1 in Shanghai (still Feb 28 in UTC): March.
        Script("RPT-202503-004", "phone", "TSHIRT-M", "2025-02-28T17:00Z")
        .breach("2025-02-28T17:30Z", "first_reply")
        .triage("2025-03-01T01:00Z", ["size_fit"], "P4", "sales")
        .breach("2025-03-04T01:00Z", "respond")
        .accept("2025-03-04T02:00Z")
        .withdraw("2025-03-05T00:00Z"),
        # Received and triaged late on March 31 in Shanghai; accepted on April 1 there.
        Script("RPT-202503-005", "wechat", "TSHIRT-M", "2025-03-31T15:00Z")
        .triage("2025-03-31T15:30Z", ["size_fit"], "P3", "sales")
        .accept("2025-03-31T17:00Z"),
        Script("RPT-202503-007", "in_store", "MUG-350", "2025-03-20T01:00Z").triage(
            "2025-03-20T01:30Z", ["service", "logistics"], "P3", "customer_service"
        ),
        Script("RPT-202503-008", "social", "MUG-350", "2025-03-21T01:00Z")
        .breach("2025-03-21T01:30Z", "first_reply")
        .triage("2025-03-21T03:00Z", ["service", "logistics"], "P4", "customer_service"),
        # Never triaged: no category, its first reply missed.
        Script("RPT-202503-009", "marketplace", "KETTLE-1L", "2025-03-25T01:00Z").breach(
            "2025-03-25T01:30Z", "first_reply"
        ),
        # 00:30 on April 1 in Shanghai: April, in no figure below.
        Script("RPT-202504-001", "phone", "KETTLE-1L", "2025-03-31T16:30Z").triage(
            "2025-03-31T16:45Z", ["product_quality"], "P2", "quality"
        ),
    ]


async def seed(database: Database) -> None:
    """Idempotent: a transition recorded before is not written again."""
    for script in data_set():
        for transition in script.transitions:
            await database.store.record_transition(transition)


def report_store(database: Database) -> ReportStore:
    return ReportStore(session_factory(database.engine))


# ---- pure parts ---------------------------------------------------------------------


def test_a_month_is_midnight_to_midnight_in_the_business_timezone() -> None:
    march = Month.parse("2025-03")
    assert march.bounds(ZONE) == (at("2025-02-28T16:00Z"), at("2025-03-31T16:00Z"))
    assert (str(march.previous()), str(Month.parse("2025-01").previous()), str(Month.parse("2025-12").next())) == (
        "2025-02",
        "2024-12",
        "2026-01",
    )
    for bad in ("2025-13", "2025-00", "2025-3", "25-03", "2025/03", "", "0000-01"):
        with pytest.raises(ValueError):
            Month.parse(bad)


# ---- every figure, on both databases ------------------------------------------------------


async def test_every_report_figure_matches_the_hand_computed_expectation(database: Database) -> None:
    await seed(database)
    report = await report_store(database).monthly(Month.parse("2025-03"), ZONE)
    march, february = report.current, report.previous
    assert (report.month, report.timezone, march.month, february.month) == ("2025-03", ZONE, "2025-03", "2025-02")
    assert (march.starts_at, march.ends_at) == (at("2025-02-28T16:00Z"), at("2025-03-31T16:00Z"))
    assert (str(march.first_day), str(march.last_day), str(february.first_day), str(february.last_day)) == (
        "2025-03-01",
        "2025-03-31",
        "2025-02-01",
        "2025-02-28",
    )

    # Received in March (Shanghai): 001, 002, 003, 004 (01:00 on Mar 1), 005 (23:00 on Mar 31), 007, 008, 009.
    # Not: 202502-002 (23:59 on Feb 28), 202504-001 (00:30 on Apr 1).
    assert march.cases_received == 8
    # logistics: 003, 007, 008; product_quality: 001, 002, 003; service: 007, 008; size_fit: 004, 005.
    assert [(c.category, c.cases, c.share) for c in march.categories] == [
        ("logistics", 3, 3 / 8),
        ("product_quality", 3, 3 / 8),
        ("service", 2, 2 / 8),
        ("size_fit", 2, 2 / 8),
    ]
    assert march.uncategorized == 1  # 009
    # product_quality x KETTLE-1L: 001, 002, 003; logistics/service x MUG-350: 007, 008; size_fit x TSHIRT-M:
    # 004, 005 (fourth, cut); logistics x KETTLE-1L: 003 only (does not recur).
    assert [(p.category, p.sku, p.cases) for p in march.top_problems] == [
        ("product_quality", "KETTLE-1L", 3),
        ("logistics", "MUG-350", 2),
        ("service", "MUG-350", 2),
    ]

    clocks = {c.clock: (c.on_time, c.missed, c.decided, c.rate) for c in march.on_time}
    # first_reply met on time by the first triage of 001, 003, 005 (23:30 on Mar 31), 007 and 202502-002
    # (00:29 on Mar 1); missed: 002, 004 (01:30 on Mar 1), 008, 009 (never triaged). 002's second triage
    # after the reopen meets no first-reply clock; 202504-001 is April.
    assert clocks["first_reply"] == (5, 4, 9, 5 / 9)
    # respond: accepted by 001, 002 (both cycles), 003, 202502-002 (Mar 1); missed: 004. 005 was accepted in April.
    assert clocks["respond"] == (5, 1, 6, 5 / 6)
    # plan (P1/P2 only): 001, and 002's second cycle (the first cycle's breach does not carry over);
    # missed: 002's first cycle (its two later proposals meet nothing). 003 is P3: no plan clock.
    assert clocks["plan"] == (2, 1, 3, 2 / 3)
    # resolution: 001, 002 cycle 1, 003; missed: 002 cycle 2 (breached, escalated, then executed).
    assert clocks["resolution"] == (3, 1, 4, 3 / 4)

    # Answers in March: 001 closed 5; 002 reopened 2; 002 closed 4 (satisfied); 003 reopened 4 + "not satisfied".
    assert march.satisfaction.model_dump() == {
        "answers": 4,
        "average_score": 15 / 4,
        "satisfied": 2,
        "satisfied_share": 0.5,
    }
    # No case of this data set was answered at first contact (see the May test below).
    assert march.first_contact_resolution.model_dump() == {
        "tracked": True,
        "cases": 0,
        "rate": 0.0,
        "note": FCR_DEFINITION,
    }
    # 002 and 003 of the 8 received were reopened; two reopenings happened in March.
    assert march.reopens.model_dump() == {"cases_received": 8, "reopened_cases": 2, "rate": 2 / 8, "reopen_events": 2}
    # First triage in March: 001 0.25 h, 002 1 h, 003 2 h, 004 8 h, 005 0.5 h, 007 0.5 h, 008 2 h,
    # 202502-002 0.5 h = 14.75 h over 8 cases.
    assert march.first_reply.model_dump() == {"cases": 8, "average_hours": 14.75 / 8, "average_minutes": 14.75 / 8 * 60}
    # First execution in March: 001 26 h, 002 57 h (its second execution does not count), 003 25 h = 108 h / 3.
    assert march.resolution.model_dump() == {"cases": 3, "average_hours": 36.0, "average_minutes": 2160.0}
    # Breaches: 002 first_reply, plan, resolution; 004 first_reply, respond; 008 and 009 first_reply.
    assert march.breaches == 7
    assert [(c.key, c.count) for c in march.breaches_by_department] == [(None, 4), ("quality", 2), ("sales", 1)]
    assert [(c.key, c.count) for c in march.breaches_by_role] == [("agent", 4), ("handler", 3)]
    assert [(c.key, c.count) for c in march.channels] == [
        ("phone", 2),
        ("chat", 1),
        ("email", 1),
        ("in_store", 1),
        ("marketplace", 1),
        ("social", 1),
        ("wechat", 1),
    ]

    # February: 202502-001 (all on time, closed with 5) and 202502-002 (its triage fell into March).
    assert february.cases_received == 2
    assert [(c.category, c.cases, c.share) for c in february.categories] == [
        ("product_quality", 1, 0.5),
        ("service", 1, 0.5),
    ]
    assert (february.uncategorized, february.top_problems) == (0, [])
    assert {c.clock: (c.on_time, c.missed, c.rate) for c in february.on_time} == {
        "first_reply": (1, 0, 1.0),
        "respond": (1, 0, 1.0),
        "plan": (1, 0, 1.0),
        "resolution": (1, 0, 1.0),
    }
    assert february.satisfaction.model_dump() == {
        "answers": 1,
        "average_score": 5.0,
        "satisfied": 1,
        "satisfied_share": 1.0,
    }
    assert february.reopens.model_dump() == {"cases_received": 2, "reopened_cases": 0, "rate": 0.0, "reopen_events": 0}
    assert (february.first_reply.model_dump(), february.resolution.model_dump()) == (
        {"cases": 1, "average_hours": 0.5, "average_minutes": 30.0},
        {"cases": 1, "average_hours": 26.0, "average_minutes": 1560.0},
    )
    assert (february.breaches, february.breaches_by_department, february.breaches_by_role) == (0, [], [])
    assert [(c.key, c.count) for c in february.channels] == [("chat", 1), ("phone", 1)]

    assert [(r.figure, r.current, r.previous, r.delta) for r in report.comparison] == [
        ("cases_received", 8, 2, 6),
        ("first_contact_resolution", 0.0, 0.0, 0.0),
        ("satisfied_share", 0.5, 1.0, -0.5),
        ("average_score", 3.75, 5.0, -1.25),
        ("reopen_rate", 0.25, 0.0, 0.25),
        ("on_time.first_reply", 5 / 9, 1.0, 5 / 9 - 1.0),
        ("on_time.respond", 5 / 6, 1.0, 5 / 6 - 1.0),
        ("on_time.plan", 2 / 3, 1.0, 2 / 3 - 1.0),
        ("on_time.resolution", 0.75, 1.0, -0.25),
        ("first_reply_minutes", 110.625, 30.0, 80.625),
        ("resolution_hours", 36.0, 26.0, 10.0),
        ("breaches", 7, 0, 7),
    ]
    assert [(t.figure, t.target, t.tracked, t.actual, t.met) for t in report.targets] == [
        ("first_contact_resolution", 0.85, True, 0.0, False),
        ("satisfied_share", 0.90, True, 0.5, False),
    ]


async def test_first_contact_resolution_counts_cases_answered_at_receipt(database: Database) -> None:
    # May 2025: three cases, one answered at first contact (and closed), one reopened after
    # a first-contact answer (it still counts: it was answered at first contact), one handled.
    scripts = [
        Script("RPT-202505-001", "chat", "VACUUM-R9", "2025-05-06T02:00Z")
        .answer_at_first_contact("2025-05-06T02:05Z", ["usage"])
        .feedback("2025-05-06T05:00Z", 5),
        Script("RPT-202505-002", "chat", "VACUUM-R9", "2025-05-07T02:00Z")
        .answer_at_first_contact("2025-05-07T03:00Z", ["usage"])
        .feedback("2025-05-07T05:00Z", 2),
        Script("RPT-202505-003", "phone", "KETTLE-1L", "2025-05-08T02:00Z").triage(
            "2025-05-08T02:10Z", ["product_quality"], "P3", "quality"
        ),
    ]
    for script in scripts:
        for transition in script.transitions:
            await database.store.record_transition(transition)
    report = await report_store(database).monthly(Month.parse("2025-05"), ZONE)
    fcr = report.current.first_contact_resolution
    assert (fcr.tracked, fcr.cases, fcr.rate) == (True, 2, 2 / 3)
    assert next((t.figure, t.actual, t.met) for t in report.targets) == ("first_contact_resolution", 2 / 3, False)
    # A first-contact answer meets the first-reply clock as a triage does: with no breach
    # recorded, all three first replies were on time.
    first_reply = next(c for c in report.current.on_time if c.clock == "first_reply")
    assert (first_reply.on_time, first_reply.missed) == (3, 0)


async def test_a_fix_that_did_not_hold_is_a_reopen_but_not_a_survey_answer(database: Database) -> None:
    # June 2025: closed satisfied (5), then a week later the fix check says it did not hold.
    script = (
        Script("RPT-202506-001", "phone", "KETTLE-1L", "2025-06-02T02:00Z")
        .triage("2025-06-02T02:10Z", ["product_quality"], "P3", "quality")
        .accept("2025-06-02T03:00Z")
        .propose("2025-06-02T04:00Z")
        .approve("2025-06-02T05:00Z")
        .execute("2025-06-02T06:00Z")
        .feedback("2025-06-03T02:00Z", 5)
    )
    script.reopen_count += 1
    script._add(
        EventKind.REOPENED,
        "2025-06-10T02:00Z",
        Stage.REOPENED,
        {"held": False, "reason": "the fix did not hold"},
        AGENT_ACTOR,
    )
    for transition in script.transitions:
        await database.store.record_transition(transition)
    june = (await report_store(database).monthly(Month.parse("2025-06"), ZONE)).current
    assert june.satisfaction.model_dump() == {
        "answers": 1,
        "average_score": 5.0,
        "satisfied": 1,
        "satisfied_share": 1.0,
    }
    assert (june.reopens.reopened_cases, june.reopens.reopen_events) == (1, 1)


async def test_a_month_without_cases_has_counts_of_zero_and_no_rates(database: Database) -> None:
    await seed(database)
    report = await report_store(database).monthly(Month.parse("2025-01"), ZONE)
    for figures in (report.current, report.previous):
        assert (figures.cases_received, figures.categories, figures.top_problems, figures.channels) == (0, [], [], [])
        assert [(c.decided, c.rate) for c in figures.on_time] == [(0, None)] * 4
        satisfaction = figures.satisfaction
        assert (satisfaction.average_score, satisfaction.satisfied_share, figures.reopens.rate) == (None, None, None)
        assert (figures.first_reply.average_hours, figures.resolution.average_hours, figures.breaches) == (
            None,
            None,
            0,
        )
    assert all(row.delta in (None, 0) for row in report.comparison)
    assert report.targets[1].met is None


# ---- the API ---------------------------------------------------------------------------------

PERSONAL = ("张三丰", "+86 138 0013 8000", "ORD-778812", "handler-wang", "RPT-")


async def test_the_report_as_json_and_as_a_page(api: httpx.AsyncClient, database: Database) -> None:
    await seed(database)
    expected = await report_store(database).monthly(Month.parse("2025-03"), ZONE)

    response = await api.get("/reports/monthly", params={"month": "2025-03"}, headers=SUPERVISOR)
    assert response.status_code == 200, response.text
    assert MonthlyReport.model_validate(response.json()) == expected
    body = response.json()
    fcr = body["current"]["first_contact_resolution"]
    assert (fcr["tracked"], fcr["cases"], fcr["rate"]) == (True, 0, 0.0)
    assert body["targets"][1] == {
        "figure": "satisfied_share",
        "label": "Customer satisfaction (satisfied share)",
        "target": 0.9,
        "tracked": True,
        "actual": 0.5,
        "met": False,
        "note": None,
    }
    for who in (HEAD, ADMIN):
        assert (await api.get("/reports/monthly", params={"month": "2025-03"}, headers=who)).status_code == 200

    page = await api.get("/reports/monthly.html", params={"month": "2025-03"}, headers=HEAD)
    assert page.status_code == 200, page.text
    assert page.headers["content-type"].startswith("text/html")
    html = page.text
    assert html.count("<svg") == 6
    assert 'id="chart-on-time"' in html and 'class="bar series-0"' in html
    assert '<html lang="zh-CN">' in html and "<title>月度质量报告 Monthly quality report 2025-03</title>" in html
    assert "首次联系解决率 First-contact resolution" in html and "目标 target 90 %" in html
    assert "<title>物流配送 logistics, 2025-03: 3</title>" in html
    assert "<title>首次响应 first reply, 2025-03: 55.6 %</title>" in html
    assert "<th>品类 Category</th><th>产品 SKU Product SKU</th><th>工单数 Cases</th>" in html
    assert "<td>产品质量 product quality</td><td>KETTLE-1L</td><td>3</td>" in html
    assert "<td>未分诊 none (before triage)</td><td>4</td>" in html
    assert "<h2>指标口径 How the figures are defined</h2>" in html and "<dt>重开 reopens</dt>" in html
    assert "<td>接单响应 respond</td><td>5</td><td>1</td><td>83.3 %</td><td>100.0 %</td>" in html
    # Nothing to fetch: no scripts, no external stylesheet, image or font.
    assert "<script" not in html and re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html) is None

    # Aggregates only: no customer, no order, no employee, no case number.
    for text in (response.text, html):
        for personal in PERSONAL:
            assert personal not in text


async def test_the_report_refuses_other_roles_and_bad_months(api: httpx.AsyncClient) -> None:
    for path in ("/reports/monthly", "/reports/monthly.html"):
        refused = await api.get(path, params={"month": "2025-03"}, headers=AGENT)
        assert refused.status_code == 403
        assert refused.headers["content-type"] == "application/problem+json"
        assert (await api.get(path, params={"month": "2025-03"})).status_code == 401
        for bad in ("2025-13", "March", "2025-3"):
            problem = await api.get(path, params={"month": bad}, headers=SUPERVISOR)
            assert problem.status_code == 422
            assert problem.headers["content-type"] == "application/problem+json"
            assert [e["field"] for e in problem.json()["errors"]] == ["month"]
            assert problem.json()["detail"].startswith("month: ")
        missing = await api.get(path, headers=SUPERVISOR)
        assert missing.status_code == 422 and [e["field"] for e in missing.json()["errors"]] == ["month"]


# ---- the command line ---------------------------------------------------------------------------


async def test_the_report_command_prints_tables_from_the_database(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    await seed(database)
    monkeypatch.setattr(cli_common, "get_settings", lambda: Settings(database_url=database.url))
    runner = CliRunner()

    def invoke(*args: str):  # noqa: ANN202 - click Result
        return runner.invoke(cli.app, list(args), env={"COLUMNS": "140"})

    # The command runs its own event loop: give it a thread.
    tables = await asyncio.to_thread(invoke, "report", "--month", "2025-03")
    assert tables.exit_code == 0, tables.output
    out = tables.output
    for shown in (
        "Monthly quality report 2025-03",
        "Targets",
        "First-contact resolution",
        "55.6 %",
        "KETTLE-1L",
        "Volume by channel",
    ):
        assert shown in out
    for personal in PERSONAL:
        assert personal not in out

    as_json = await asyncio.to_thread(invoke, "report", "--month", "2025-03", "--json")
    assert as_json.exit_code == 0, as_json.output
    assert MonthlyReport.model_validate(json.loads(as_json.output)) == await report_store(database).monthly(
        Month.parse("2025-03"), ZONE
    )

    bad = await asyncio.to_thread(invoke, "report", "--month", "2025-13")
    assert bad.exit_code == 2


# ---- the page in a real browser ----------------------------------------------------------------


def _as(app: Any, headers: dict[str, str], seen: list[str]) -> Any:
    """The browser cannot send identity headers: add a head's on every request, and note the paths asked for."""
    extra = [(k.lower().encode(), v.encode()) for k, v in headers.items()]

    async def wrapped(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            seen.append(scope["path"])
            scope = scope | {"headers": [*scope["headers"], *extra]}
        await app(scope, receive, send)

    return wrapped


async def test_the_page_renders_in_headless_chromium_with_its_charts(database: Database) -> None:
    from playwright.async_api import expect

    await seed(database)
    seen: list[str] = []
    app = create_app(Settings(database_url=database.url), sessions=session_factory(database.engine))
    async with serving(_as(app, HEAD, seen)) as base, offline_page() as (page, refused):
        response = await page.goto(f"{base}/reports/monthly.html?month=2025-03")
        assert response is not None and response.ok

        # What a head sees: the title in the tab and the heading, Chinese first.
        assert await page.title() == "月度质量报告 Monthly quality report 2025-03"
        heading = page.get_by_role("heading", level=1)
        await expect(heading).to_be_visible()
        assert await heading.inner_text() == "月度质量报告 Monthly quality report 2025-03"

        # Six charts, each drawn with its name written on it.
        charts = page.locator("svg.chart")
        assert await charts.evaluate_all("els => els.map(e => e.id)") == [
            "chart-categories",
            "chart-on-time",
            "chart-satisfaction",
            "chart-breaches-department",
            "chart-breaches-role",
            "chart-channels",
        ]
        for chart, name in (
            ("chart-on-time", "各 SLA 时限按时率 On-time rate per SLA clock"),
            ("chart-categories", "各品类工单数 Cases by category"),
        ):
            title = page.locator(f"#{chart} .chart-title")
            await expect(title).to_be_visible()
            await expect(title).to_have_text(name)
            # Screen readers get the same name.
            await expect(page.locator(f"#{chart}")).to_have_accessible_name(name)
        # Labels on the bars and the target in the legend, as drawn.
        on_time = page.locator("#chart-on-time")
        await expect(on_time.locator(".label", has_text="首次响应 first reply")).to_be_visible()
        await expect(page.locator("svg.chart .legend", has_text="目标 target 90 %")).to_be_visible()
        await expect(page.locator("#chart-categories .label", has_text="物流配送 logistics")).to_be_visible()
        # Four categories, four clocks x two months, two months, three departments, two roles,
        # seven channels x two months.
        await expect(page.locator("svg.chart rect.bar")).to_have_count(4 + 8 + 2 + 3 + 2 + 14)
        await expect(page.locator("svg.chart line.target")).to_have_count(1)

        # The tables read as text, Chinese first.
        text = await page.locator("body").inner_text()
    assert "首次联系解决率 First-contact resolution" in text
    assert "产品质量 product quality\tKETTLE-1L\t3" in text, text[:3000]
    assert "指标口径 How the figures are defined" in text
    # The page came in one request, and nothing was asked of any other host.
    assert refused == []
    assert seen == ["/reports/monthly.html"]
