"""/reports: the monthly quality report as JSON, and as a page with SVG charts.

The page is rendered here, in Python: inline SVG and inline CSS, no script, no
external asset, no front-end build. It shows aggregates only, never personal data.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from html import escape
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import HTMLResponse

from api.deps import AppSettings, Caller, Reports
from api.problems import Problem
from domain.report import Count, Month, MonthFigures, MonthlyReport, comparison_table, hours, minutes, number, percent

router = APIRouter(prefix="/reports", tags=["reports"])

Reader = Caller
MonthParam = Annotated[
    str | None,
    Query(description="Calendar month in the business timezone, YYYY-MM (required)", examples=["2026-11"]),
]


def _month(text: str | None) -> Month:
    if text is None:
        message = "required, as YYYY-MM (e.g. 2026-11)"
    else:
        try:
            return Month.parse(text)
        except ValueError as error:
            message = str(error)
    raise Problem(422, "Invalid request", f"month: {message}", errors=[{"field": "month", "message": message}])


async def _report(reports: Reports, settings: AppSettings, month: str | None) -> MonthlyReport:
    return await reports.monthly(_month(month), settings.business_timezone)


@router.get("/monthly", response_model=MonthlyReport, summary="Monthly quality report (JSON)")
async def monthly(reports: Reports, settings: AppSettings, actor: Reader, month: MonthParam = None) -> MonthlyReport:
    return await _report(reports, settings, month)


@router.get(
    "/monthly.html",
    response_class=HTMLResponse,
    summary="Monthly quality report (HTML page with SVG charts)",
)
async def monthly_html(
    reports: Reports, settings: AppSettings, actor: Reader, month: MonthParam = None
) -> HTMLResponse:
    return HTMLResponse(render_html(await _report(reports, settings, month)))


# ---- the page ----------------------------------------------------------------------

_COLOURS = ("#2f6fb3", "#a7b8cc")
_TARGET_COLOUR = "#c0392b"


def _e(value: object) -> str:
    return escape(str(value), quote=True)


def bar_chart(
    chart_id: str,
    title: str,
    labels: Sequence[str],
    series: Sequence[tuple[str, Sequence[float | None]]],
    fmt: Callable[[float | None], str],
    *,
    max_value: float | None = None,
    target: tuple[float, str] | None = None,
) -> str:
    """A horizontal bar chart as inline SVG: one group of bars per label, one bar per series.

    A value of None is no data, not zero: it gets no bar, only a grey "no data"; a series
    with no data at all (a month with nothing in it) gets no row, only its name in the legend."""
    label_w, bar_w, value_w, bar_h, gap, top = 190, 360, 90, 16, 10, 28
    legend = len(series) > 1 or target is not None
    # Each series keeps its index, so its colour and class say which month it is.
    empty = [name for name, vs in series if all(v is None for v in vs)]
    drawn = [(index, name, vs) for index, (name, vs) in enumerate(series) if name not in empty] or [
        (index, name, vs) for index, (name, vs) in enumerate(series)
    ][:1]
    group_h = bar_h * len(drawn) + gap
    height = top + max(len(labels), 1) * group_h + (26 if legend else 6)
    width = label_w + bar_w + value_w
    values = [v for _, vs in series for v in vs if v is not None]
    scale_max = max_value if max_value is not None else max(values + [0])
    scale_max = scale_max or 1
    parts = [
        f'<svg class="chart" id="{_e(chart_id)}" role="img" aria-labelledby="{_e(chart_id)}-title" '
        f'width="{width}" height="{height}" viewBox="0 0 {width} {height}">',
        f'<title id="{_e(chart_id)}-title">{_e(title)}</title>',
        f'<text class="chart-title" x="0" y="16">{_e(title)}</text>',
    ]
    if not labels:
        parts.append(f'<text class="empty" x="{label_w}" y="{top + 12}">No data for this month</text>')
    for row, label in enumerate(labels):
        y0 = top + row * group_h
        parts.append(
            f'<text class="label" x="{label_w - 8}" y="{y0 + bar_h * len(drawn) / 2 + 4:.1f}" '
            f'text-anchor="end">{_e(label)}</text>'
        )
        for place, (index, name, vs) in enumerate(drawn):
            value = vs[row]
            y = y0 + place * bar_h
            if value is None:
                parts.append(f'<text class="na" x="{label_w + 4}" y="{y + bar_h - 5}">{_e(name)}: no data</text>')
                continue
            w = max(0.0, min(value / scale_max, 1.0)) * bar_w
            parts.append(
                f'<rect class="bar series-{index}" x="{label_w}" y="{y}" width="{w:.1f}" height="{bar_h - 2}" '
                f'fill="{_COLOURS[index % len(_COLOURS)]}"><title>{_e(label)}, {_e(name)}: {_e(fmt(value))}</title></rect>'
            )
            parts.append(f'<text class="value" x="{label_w + w + 4:.1f}" y="{y + bar_h - 5}">{_e(fmt(value))}</text>')
    if target is not None:
        value, name = target
        x = label_w + min(value / scale_max, 1.0) * bar_w
        bottom = top + max(len(labels), 1) * group_h - gap
        parts.append(
            f'<line class="target" x1="{x:.1f}" y1="{top - 4}" x2="{x:.1f}" y2="{bottom}" stroke="{_TARGET_COLOUR}" '
            f'stroke-width="2" stroke-dasharray="4 3"><title>{_e(name)}</title></line>'
        )
    if legend:
        y = height - 8
        x = label_w
        for index, (name, _) in enumerate(series):
            if name in empty:
                note = f"{name}: no data"
                parts.append(f'<text class="legend na" x="{x}" y="{y}">{_e(note)}</text>')
                x += 14 + 7 * len(note)
                continue
            parts.append(f'<rect x="{x}" y="{y - 9}" width="10" height="10" fill="{_COLOURS[index % len(_COLOURS)]}"/>')
            parts.append(f'<text class="legend" x="{x + 14}" y="{y}">{_e(name)}</text>')
            x += 24 + 7 * len(name)
        if target is not None:
            parts.append(
                f'<line x1="{x}" y1="{y - 4}" x2="{x + 14}" y2="{y - 4}" stroke="{_TARGET_COLOUR}" stroke-width="2" '
                'stroke-dasharray="4 3"/>'
            )
            parts.append(f'<text class="legend" x="{x + 18}" y="{y}">{_e(target[1])}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _count(value: float | None) -> str:
    return number(value, "count")


def _key(key: str | None) -> str:
    return key if key is not None else "none (before triage)"


def _table(head: Sequence[str], rows: Sequence[Sequence[str]], empty: str = "None this month.") -> str:
    if not rows:
        return f'<p class="empty">{_e(empty)}</p>'
    header = "".join(f"<th>{_e(h)}</th>" for h in head)
    body = "".join("<tr>" + "".join(f"<td>{_e(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{header}</tr></thead><tbody>{body}</tbody></table>"


def _counts_chart(chart_id: str, title: str, month: str, counts: list[Count]) -> str:
    """The month's counts by a key (a department, a role), one bar a key."""
    return bar_chart(chart_id, title, [_key(c.key) for c in counts], [(month, [c.count for c in counts])], _count)


def _charts(now: MonthFigures, before: MonthFigures) -> list[str]:
    months = (f"{now.month}", f"{before.month}")
    clocks = [c.clock.replace("_", " ") for c in now.on_time]
    channels = sorted({c.key or "" for c in now.channels} | {c.key or "" for c in before.channels})
    # A month that received no case has no channel volumes to draw, not volumes of zero.
    current_channels = {c.key: c.count for c in now.channels} if now.cases_received else None
    previous_channels = {c.key: c.count for c in before.channels} if before.cases_received else None
    return [
        bar_chart(
            "chart-categories",
            "Cases by category",
            [c.category for c in now.categories],
            [(months[0], [c.cases for c in now.categories])],
            _count,
        ),
        bar_chart(
            "chart-on-time",
            "On-time rate per SLA clock",
            clocks,
            [(months[0], [c.rate for c in now.on_time]), (months[1], [c.rate for c in before.on_time])],
            percent,
            max_value=1.0,
        ),
        bar_chart(
            "chart-satisfaction",
            "Satisfied customers against the target",
            ["satisfied share"],
            [(months[0], [now.satisfaction.satisfied_share]), (months[1], [before.satisfaction.satisfied_share])],
            percent,
            max_value=1.0,
            target=(0.90, "target 90 %"),
        ),
        _counts_chart("chart-breaches-department", "SLA breaches by department", now.month, now.breaches_by_department),
        _counts_chart("chart-breaches-role", "SLA breaches by responsible role", now.month, now.breaches_by_role),
        bar_chart(
            "chart-channels",
            "Volume by channel",
            channels,
            [
                (months[0], [None if current_channels is None else current_channels.get(c, 0) for c in channels]),
                (months[1], [None if previous_channels is None else previous_channels.get(c, 0) for c in channels]),
            ],
            _count,
        ),
    ]


_STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", "Noto Sans", sans-serif; margin: 2rem; color: #1d2733; }
h1 { font-size: 1.5rem; margin-bottom: .2rem; } h2 { font-size: 1.15rem; margin-top: 2rem; }
.sub { color: #5b6b7d; margin-top: 0; }
.cards { display: flex; flex-wrap: wrap; gap: .8rem; }
.card { border: 1px solid #d5dde6; border-radius: 6px; padding: .6rem .9rem; min-width: 11rem; }
.card .v { font-size: 1.4rem; font-weight: 600; } .card .k { color: #5b6b7d; font-size: .85rem; }
.miss { color: #c0392b; } .met { color: #1e8449; } .na { color: #7f8c8d; }
.charts { display: flex; flex-wrap: wrap; gap: 1.5rem; } .charts figure { margin: 0; }
svg.chart { font-size: 12px; } svg .chart-title { font-weight: 600; font-size: 13px; }
svg .label, svg .value, svg .legend, svg .empty { fill: #1d2733; } svg .na { fill: #7f8c8d; font-style: italic; }
table { border-collapse: collapse; margin: .5rem 0; }
th, td { border-bottom: 1px solid #e1e6ec; padding: .3rem .7rem; text-align: left; }
td:not(:first-child) { font-variant-numeric: tabular-nums; }
dl dt { font-weight: 600; margin-top: .5rem; } dl dd { margin-left: 1rem; color: #3c4a5a; }
"""


def render_html(report: MonthlyReport) -> str:
    now, before = report.current, report.previous
    targets = []
    for t in report.targets:
        if t.actual is not None:
            actual = percent(t.actual)
        else:
            actual = "no data"
        if t.met is None:
            state = f'<span class="na">{_e(t.note or "no data")}</span>'
        else:
            state = '<span class="met">met</span>' if t.met else '<span class="miss">missed</span>'
        targets.append(
            f"<tr><td>{_e(t.label)}</td><td>&ge; {_e(percent(t.target))}</td><td>{_e(actual)}</td><td>{state}</td></tr>"
        )
    cards = [
        ("Cases received", _count(now.cases_received)),
        ("Satisfied customers", percent(now.satisfaction.satisfied_share)),
        ("Average score", number(now.satisfaction.average_score, "score")),
        ("First-contact resolution", percent(now.first_contact_resolution.rate)),
        ("Reopen rate", percent(now.reopens.rate)),
        ("Average first reply", minutes(now.first_reply.average_minutes)),
        ("Average resolution", hours(now.resolution.average_hours)),
        ("SLA breaches", _count(now.breaches)),
    ]
    comparison = comparison_table(report)
    on_time = [
        (c.clock.replace("_", " "), str(c.on_time), str(c.missed), percent(c.rate), percent(before.clock(c.clock).rate))
        for c in now.on_time
    ]
    sections = [
        '<section class="cards">'
        + "".join(f'<div class="card"><div class="v">{_e(v)}</div><div class="k">{_e(k)}</div></div>' for k, v in cards)
        + "</section>",
        "<h2>Targets</h2>",
        "<table><thead><tr><th>Figure</th><th>Target</th><th>Actual</th><th>Status</th></tr></thead>"
        f"<tbody>{''.join(targets)}</tbody></table>",
        "<h2>Charts</h2>",
        '<section class="charts">' + "".join(f"<figure>{c}</figure>" for c in _charts(now, before)) + "</section>",
        "<h2>Top recurring problems (category &times; product)</h2>",
        _table(
            ["Category", "Product SKU", "Cases"],
            [(p.category, p.sku, str(p.cases)) for p in now.top_problems],
            "No problem recurred this month (no category and product shared by two cases or more).",
        ),
        "<h2>Distribution by category</h2>",
        _table(
            ["Category", "Cases", "Share of cases"],
            [(c.category, str(c.cases), percent(c.share)) for c in now.categories]
            + (
                [("not triaged yet", str(now.uncategorized), percent(now.uncategorized / now.cases_received))]
                if now.uncategorized
                else []
            ),
        ),
        "<h2>On-time handling per SLA clock</h2>",
        _table(["Clock", "On time", "Missed", "Rate", f"Rate {before.month}"], on_time),
        "<h2>Reopens and satisfaction</h2>",
        _table(
            ["Figure", "Value"],
            [
                ("Survey answers", str(now.satisfaction.answers)),
                ("Satisfied answers", str(now.satisfaction.satisfied)),
                (
                    "Cases received and reopened at least once",
                    f"{now.reopens.reopened_cases} of {now.reopens.cases_received}",
                ),
                ("Reopenings in the month", str(now.reopens.reopen_events)),
            ],
        ),
        f"<h2>Comparison with {_e(before.month)}</h2>",
        _table(["Figure", now.month, before.month, "Change"], comparison),
        "<h2>Breaches</h2>",
        _table(["Department", "Breaches"], [(_key(c.key), str(c.count)) for c in now.breaches_by_department]),
        _table(["Responsible role", "Breaches"], [(_key(c.key), str(c.count)) for c in now.breaches_by_role]),
        "<h2>Volume by channel</h2>",
        _table(["Channel", "Cases"], [(_key(c.key), str(c.count)) for c in now.channels]),
        "<h2>How the figures are defined</h2>",
        "<dl>" + "".join(f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>" for k, v in report.definitions.items()) + "</dl>",
    ]
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<link rel="icon" href="data:,">'
        f"<title>Monthly quality report {_e(report.month)}</title><style>{_STYLE}</style></head><body>"
        f"<h1>Monthly quality report {_e(report.month)}</h1>"
        f'<p class="sub">{_e(now.first_day.isoformat())} to {_e(now.last_day.isoformat())} on the business calendar '
        f"({_e(report.timezone)}), compared with {_e(before.month)} ({_e(before.first_day.isoformat())} to "
        f"{_e(before.last_day.isoformat())}){'' if not before.empty else ', which has no data'}.</p>"
        + "".join(sections)
        + "</body></html>"
    )
