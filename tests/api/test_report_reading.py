"""The monthly report reads as one story (issue 12 §2.8): first-contact resolution shown the
same way everywhere, first replies in minutes (their targets are 15 to 30 minutes), the period
as business-calendar dates, and a month with nothing in it never drawn as zeros or dashes.

August 2025 (Asia/Shanghai) holds two cases of this file only (`RPT-202508-...`); July 2025,
the month before, has none.
"""

from __future__ import annotations

import asyncio
import re

import httpx
import pytest
from typer.testing import CliRunner

import cli.app as cli
from cli import common as cli_common
from core.settings import Settings
from tests.conftest import Database
from tests.support.people import SUPERVISOR
from tests.support.reports import Script

MONTH = "2025-08"


async def seed(database: Database) -> None:
    scripts = [
        # First replies after 12 and 18 minutes: 15.0 minutes on average, 0.25 h.
        Script("RPT-202508-001", "phone", "KETTLE-1L", "2025-08-05T02:00Z").triage(
            "2025-08-05T02:12Z", ["product_quality"], "P2", "quality"
        ),
        Script("RPT-202508-002", "chat", "MUG-350", "2025-08-06T03:00Z").triage(
            "2025-08-06T03:18Z", ["service"], "P3", "customer_service"
        ),
    ]
    for script in scripts:
        for transition in script.transitions:
            await database.store.record_transition(transition)


async def test_the_json_gives_dates_minutes_and_a_consistent_first_contact_resolution(
    api: httpx.AsyncClient, database: Database
) -> None:
    await seed(database)
    response = await api.get("/reports/monthly", params={"month": MONTH}, headers=SUPERVISOR)
    assert response.status_code == 200, response.text
    body = response.json()
    now, before = body["current"], body["previous"]
    assert (now["first_day"], now["last_day"], before["first_day"], before["last_day"]) == (
        "2025-08-01",
        "2025-08-31",
        "2025-07-01",
        "2025-07-31",
    )
    assert now["first_reply"] == {"cases": 2, "average_hours": 0.25, "average_minutes": 15.0}
    row = next(r for r in body["comparison"] if r["figure"] == "first_reply_minutes")
    assert (row["label"], row["kind"], row["current"], row["previous"]) == (
        "Average first reply (min)",
        "minutes",
        15.0,
        None,
    )
    assert body["current"]["first_contact_resolution"]["rate"] == 0.0
    assert body["targets"][0] | {"label": None} == {
        "figure": "first_contact_resolution",
        "label": None,
        "target": 0.85,
        "tracked": True,
        "actual": 0.0,
        "met": False,
        "note": None,
    }


async def report_page(api: httpx.AsyncClient, database: Database) -> str:
    await seed(database)
    page = await api.get("/reports/monthly.html", params={"month": MONTH}, headers=SUPERVISOR)
    assert page.status_code == 200, page.text
    return page.text


def chart(html: str, chart_id: str) -> str:
    return re.search(rf'<svg class="chart" id="{chart_id}".*?</svg>', html, flags=re.S).group(0)


async def test_the_page_gives_the_period_as_business_calendar_dates(api: httpx.AsyncClient, database: Database) -> None:
    html = await report_page(api, database)
    # Chinese first, then English.
    assert (
        '<p class="sub">统计期间：2025-08-01 至 2025-08-31（业务日历，Asia/Shanghai）；'
        "对比 2025-07（2025-07-01 至 2025-07-31，该月无数据）。<br>"
        "2025-08-01 to 2025-08-31 on the business calendar (Asia/Shanghai), "
        "compared with 2025-07 (2025-07-01 to 2025-07-31), which has no data.</p>"
    ) in html
    assert "+00:00" not in html and "T16:00" not in html


async def test_the_page_gives_first_replies_in_minutes(api: httpx.AsyncClient, database: Database) -> None:
    html = await report_page(api, database)
    assert '<div class="v">15.0 min</div><div class="k">平均首次响应 Average first reply</div>' in html
    assert re.search(r"<td>平均首次响应（分钟） Average first reply \(min\)</td><td>15\.0</td>", html)
    assert "0.25 h" not in html and "Average first reply (h)" not in html


async def test_the_page_shows_first_contact_resolution_one_way(api: httpx.AsyncClient, database: Database) -> None:
    html = await report_page(api, database)
    target = (
        r"<td>首次联系解决率 First-contact resolution</td><td>&ge; 85\.0 %</td><td>0\.0 %</td>"
        r'<td><span class="miss">未达成 missed</span>'
    )
    assert re.search(target, html)
    assert '<div class="v">0.0 %</div><div class="k">首次联系解决率 First-contact resolution</div>' in html
    assert "not tracked" not in html


async def test_a_month_with_no_data_is_not_drawn_as_zeros_or_dashes(api: httpx.AsyncClient, database: Database) -> None:
    html = await report_page(api, database)
    # July has nothing: no bar of its series anywhere, its name in the legends with "no data".
    assert len(re.findall(r'<svg class="chart"', html)) == 6
    assert 'class="bar series-1"' not in html
    for chart_id in ("chart-on-time", "chart-satisfaction", "chart-channels"):
        svg = chart(html, chart_id)
        assert '<text class="legend na"' in svg and ">2025-07: 无数据 no data</text>" in svg, svg
    # No value drawn for nothing: not a dash, not a zero.
    values = re.findall(r'<text class="value"[^>]*>([^<]*)</text>', html)
    assert values and "—" not in values and "0" not in values, values
    # August's clocks that nothing decided yet say so instead of drawing an empty bar.
    on_time = chart(html, "chart-on-time")
    assert on_time.count(">2025-08: 无数据 no data</text>") == 3  # respond, plan, resolution
    assert on_time.count('class="bar series-0"') == 1  # first reply: 2 of 2 on time
    # And the comparison does not compare with zeros.
    assert re.search(r"<td>受理工单数 Cases received</td><td>2</td><td>无数据 no data</td><td>—</td>", html)


async def report_command(database: Database, monkeypatch: pytest.MonkeyPatch) -> str:
    await seed(database)
    monkeypatch.setattr(cli_common, "get_settings", lambda: Settings(database_url=database.url))
    result = await asyncio.to_thread(CliRunner().invoke, cli.app, ["report", "--month", MONTH], env={"COLUMNS": "160"})
    assert result.exit_code == 0, result.output
    return result.output


async def test_the_command_shows_first_contact_resolution_one_way(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = await report_command(database, monkeypatch)
    assert re.search(r"First-contact resolution\s*│\s*>= 85\.0 %\s*│\s*0\.0 %\s*│\s*missed", out), out
    assert re.search(r"first-contact resolution\s*│\s*0\.0 %", out), out
    assert "not tracked" not in out


async def test_the_command_gives_dates_and_minutes(database: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    out = await report_command(database, monkeypatch)
    assert "2025-08-01 to 2025-08-31 on the business calendar (Asia/Shanghai)" in out
    assert re.search(r"average first reply \(min\)\s*│\s*15\.0", out), out
    assert "average first reply (h)" not in out
    # July has nothing to compare with: no zeros, no changes from zero.
    assert re.search(r"Cases received\s*│\s*2\s*│\s*no data\s*│\s*—", out), out
