"""The monthly quality report as a page: Chinese first, English second.

Rendered here, in Python: inline SVG and inline CSS, no script, no external asset (no font
either: the font stack names the systems' own CJK fonts), no front-end build. It shows
aggregates only, never personal data. Numbers read as the JSON and the CLI give them.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Sequence
from html import escape

from domain.report import Count, MonthFigures, MonthlyReport, hours, minutes, number, percent
from services import report_labels as say
from services.report_labels import NO_DATA, both
from services.report_tables import NONE_THIS_MONTH, report_tables

# Latin from the system's UI font; Chinese from whichever of the usual CJK fonts the system has
# (macOS, Windows, Debian's fonts-noto-cjk or WenQuanYi), character by character.
FONTS = (
    'system-ui, -apple-system, "Segoe UI", "PingFang SC", "Hiragino Sans GB", "Microsoft YaHei", '
    '"Noto Sans CJK SC", "Source Han Sans SC", "WenQuanYi Micro Hei", "Noto Sans", sans-serif'
)

_COLOURS = ("#2f6fb3", "#a7b8cc")
_TARGET_COLOUR = "#c0392b"


def _e(value: object) -> str:
    return escape(str(value), quote=True)


def _width(text: str) -> int:
    """About how wide `text` draws at 12 px: a Chinese character twice a Latin one."""
    return sum(12 if unicodedata.east_asian_width(c) in "WF" else 7 for c in text)


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
    # The labels' column fits the longest label (a bilingual one is long), never narrower than 190.
    label_w = max([190] + [_width(label) + 16 for label in labels])
    bar_w, value_w, bar_h, gap, top = 360, 90, 16, 10, 28
    legend = len(series) > 1 or target is not None
    # Each series keeps its index, so its colour and class say which month it is.
    empty = [name for name, vs in series if all(v is None for v in vs)]
    drawn = [(index, name, vs) for index, (name, vs) in enumerate(series) if name not in empty] or [
        (index, name, vs) for index, (name, vs) in enumerate(series)
    ][:1]
    group_h = bar_h * len(drawn) + gap
    height = top + max(len(labels), 1) * group_h + (26 if legend else 6)
    # The legend (two months' names, a target's) may be wider than the bars: the chart widens to it.
    legend_parts, legend_end = _legend(series, empty, target, label_w, height - 8) if legend else ([], 0)
    width = max(label_w + bar_w + value_w, legend_end + 8)
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
        no_data = both("本月无数据", "No data for this month")
        parts.append(f'<text class="empty" x="{label_w}" y="{top + 12}">{_e(no_data)}</text>')
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
                parts.append(
                    f'<text class="na" x="{label_w + 4}" y="{y + bar_h - 5}">{_e(f"{name}: {NO_DATA}")}</text>'
                )
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
    parts += legend_parts
    parts.append("</svg>")
    return "".join(parts)


def _legend(
    series: Sequence[tuple[str, Sequence[float | None]]],
    empty: list[str],
    target: tuple[float, str] | None,
    x: int,
    y: int,
) -> tuple[list[str], int]:
    """A chart's legend on one line from `x`, and where it ends."""
    parts = []
    for index, (name, _) in enumerate(series):
        if name in empty:
            note = f"{name}: {NO_DATA}"
            parts.append(f'<text class="legend na" x="{x}" y="{y}">{_e(note)}</text>')
            x += 14 + _width(note)
            continue
        parts.append(f'<rect x="{x}" y="{y - 9}" width="10" height="10" fill="{_COLOURS[index % len(_COLOURS)]}"/>')
        parts.append(f'<text class="legend" x="{x + 14}" y="{y}">{_e(name)}</text>')
        x += 24 + _width(name)
    if target is not None:
        parts.append(
            f'<line x1="{x}" y1="{y - 4}" x2="{x + 14}" y2="{y - 4}" stroke="{_TARGET_COLOUR}" stroke-width="2" '
            'stroke-dasharray="4 3"/>'
        )
        parts.append(f'<text class="legend" x="{x + 18}" y="{y}">{_e(target[1])}</text>')
        x += 18 + _width(target[1])
    return parts, x


def _count(value: float | None) -> str:
    return number(value, "count")


def _table(head: Sequence[str], rows: Sequence[Sequence[str]], empty: str = NONE_THIS_MONTH) -> str:
    if not rows:
        return f'<p class="empty">{_e(empty)}</p>'
    header = "".join(f"<th>{_e(h)}</th>" for h in head)
    body = "".join("<tr>" + "".join(f"<td>{_e(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{header}</tr></thead><tbody>{body}</tbody></table>"


def _counts_chart(chart_id: str, title: str, month: str, counts: list[Count], name: Callable[[str | None], str]) -> str:
    """The month's counts by a key (a department, a role), one bar a key."""
    return bar_chart(chart_id, title, [name(c.key) for c in counts], [(month, [c.count for c in counts])], _count)


def _charts(now: MonthFigures, before: MonthFigures) -> list[str]:
    months = (f"{now.month}", f"{before.month}")
    channels = sorted({c.key or "" for c in now.channels} | {c.key or "" for c in before.channels})
    # A month that received no case has no channel volumes to draw, not volumes of zero.
    current_channels = {c.key: c.count for c in now.channels} if now.cases_received else None
    previous_channels = {c.key: c.count for c in before.channels} if before.cases_received else None
    return [
        bar_chart(
            "chart-categories",
            both("各品类工单数", "Cases by category"),
            [say.category(c.category) for c in now.categories],
            [(months[0], [c.cases for c in now.categories])],
            _count,
        ),
        bar_chart(
            "chart-on-time",
            both("各 SLA 时限按时率", "On-time rate per SLA clock"),
            [say.clock(c.clock) for c in now.on_time],
            [(months[0], [c.rate for c in now.on_time]), (months[1], [c.rate for c in before.on_time])],
            percent,
            max_value=1.0,
        ),
        bar_chart(
            "chart-satisfaction",
            both("满意客户占比与目标", "Satisfied customers against the target"),
            [both("满意占比", "satisfied share")],
            [(months[0], [now.satisfaction.satisfied_share]), (months[1], [before.satisfaction.satisfied_share])],
            percent,
            max_value=1.0,
            target=(0.90, both("目标", "target") + " 90 %"),
        ),
        _counts_chart(
            "chart-breaches-department",
            both("各部门 SLA 超时", "SLA breaches by department"),
            now.month,
            now.breaches_by_department,
            say.department,
        ),
        _counts_chart(
            "chart-breaches-role",
            both("各责任角色 SLA 超时", "SLA breaches by responsible role"),
            now.month,
            now.breaches_by_role,
            say.role,
        ),
        bar_chart(
            "chart-channels",
            both("各渠道工单量", "Volume by channel"),
            [say.channel(c or None) for c in channels],
            [
                (months[0], [None if current_channels is None else current_channels.get(c, 0) for c in channels]),
                (months[1], [None if previous_channels is None else previous_channels.get(c, 0) for c in channels]),
            ],
            _count,
        ),
    ]


_STYLE = (
    f"body {{ font-family: {FONTS}; margin: 2rem; color: #1d2733; }}"
    + """
h1 { font-size: 1.5rem; margin-bottom: .2rem; } h2 { font-size: 1.15rem; margin-top: 2rem; }
.sub { color: #5b6b7d; margin-top: 0; } .en { color: #5b6b7d; }
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
)


def _targets(report: MonthlyReport) -> str:
    rows = []
    for t in report.targets:
        actual = percent(t.actual) if t.actual is not None else NO_DATA
        if t.met is None:
            state = f'<span class="na">{_e(say.note(t.note) if t.note else NO_DATA)}</span>'
        elif t.met:
            state = f'<span class="met">{both("达成", "met")}</span>'
        else:
            state = f'<span class="miss">{both("未达成", "missed")}</span>'
        rows.append(
            f"<tr><td>{_e(say.target(t.figure, t.label))}</td><td>&ge; {_e(percent(t.target))}</td>"
            f"<td>{_e(actual)}</td><td>{state}</td></tr>"
        )
    head = "".join(
        f"<th>{both(zh, en)}</th>"
        for zh, en in (("指标", "Figure"), ("目标", "Target"), ("实际", "Actual"), ("状态", "Status"))
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def _definitions(report: MonthlyReport) -> str:
    items = []
    for key, english in report.definitions.items():
        zh_name, zh = say.DEFINITIONS.get(key, (key, ""))
        text = f'{_e(zh)}<br><span class="en">{_e(english)}</span>' if zh else _e(english)
        items.append(f"<dt>{_e(both(zh_name, key))}</dt><dd>{text}</dd>")
    return "<dl>" + "".join(items) + "</dl>"


def _period(report: MonthlyReport) -> str:
    now, before = report.current, report.previous
    first, last = now.first_day.isoformat(), now.last_day.isoformat()
    before_first, before_last = before.first_day.isoformat(), before.last_day.isoformat()
    zh = (
        f"统计期间：{first} 至 {last}（业务日历，{report.timezone}）；对比 {before.month}"
        f"（{before_first} 至 {before_last}{'' if not before.empty else '，该月无数据'}）。"
    )
    en = (
        f"{first} to {last} on the business calendar ({report.timezone}), compared with {before.month} "
        f"({before_first} to {before_last}){'' if not before.empty else ', which has no data'}."
    )
    return f'<p class="sub">{_e(zh)}<br>{_e(en)}</p>'


def _h2(zh: str, en: str) -> str:
    return f"<h2>{_e(both(zh, en))}</h2>"


def render_fragment(report: MonthlyReport) -> str:
    """The report's content with its style, for a page of its own or inside the console."""
    now, before = report.current, report.previous
    cards = [
        (both("受理工单数", "Cases received"), _count(now.cases_received)),
        (both("满意客户占比", "Satisfied customers"), percent(now.satisfaction.satisfied_share)),
        (both("平均满意度评分", "Average score"), number(now.satisfaction.average_score, "score")),
        (both("首次联系解决率", "First-contact resolution"), percent(now.first_contact_resolution.rate)),
        (both("重开率", "Reopen rate"), percent(now.reopens.rate)),
        (both("平均首次响应", "Average first reply"), minutes(now.first_reply.average_minutes)),
        (both("平均解决时长", "Average resolution"), hours(now.resolution.average_hours)),
        (both("SLA 超时次数", "SLA breaches"), _count(now.breaches)),
    ]
    sections = [
        '<section class="cards">'
        + "".join(f'<div class="card"><div class="v">{_e(v)}</div><div class="k">{_e(k)}</div></div>' for k, v in cards)
        + "</section>",
        _h2("目标达成", "Targets"),
        _targets(report),
        _h2("图表", "Charts"),
        '<section class="charts">' + "".join(f"<figure>{c}</figure>" for c in _charts(now, before)) + "</section>",
    ]
    for table in report_tables(report):
        if table.heading:
            sections.append(_h2(*table.heading))
        sections.append(_table(table.head, table.rows, table.empty))
    sections += [_h2("指标口径", "How the figures are defined"), _definitions(report)]
    return f"<style>{_STYLE}</style><h1>{_e(_title(report))}</h1>" + _period(report) + "".join(sections)


def _title(report: MonthlyReport) -> str:
    return both("月度质量报告", "Monthly quality report") + f" {report.month}"


def render_html(report: MonthlyReport) -> str:
    return (
        '<!DOCTYPE html>\n<html lang="zh-CN"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<link rel="icon" href="data:,">'
        f"<title>{_e(_title(report))}</title></head><body>" + render_fragment(report) + "</body></html>"
    )
