"""The monthly report's tables, as rows of text: the report page draws them (services/report_page.py)
and the console exports each as CSV."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from domain.report import MonthlyReport, number, percent, signed
from services import report_labels as say
from services.report_labels import NO_DATA, both

NONE_THIS_MONTH = both("本月没有记录。", "None this month.")


@dataclass(frozen=True)
class ReportTable:
    """One table of the report: the page draws it, the console exports it as CSV (`slug`.csv)."""

    slug: str
    heading: tuple[str, str] | None  # (zh, en) of the section it opens, if it opens one
    head: list[str]
    rows: Sequence[Sequence[str]]
    empty: str = NONE_THIS_MONTH


def report_tables(report: MonthlyReport) -> list[ReportTable]:
    """The report's tables, in page order."""
    now, before = report.current, report.previous
    cases = both("工单数", "Cases")
    breaches = both("超时次数", "Breaches")
    uncategorized = (
        [(both("尚未分诊", "not triaged yet"), str(now.uncategorized), percent(now.uncategorized / now.cases_received))]
        if now.uncategorized
        else []
    )
    return [
        ReportTable(
            "top-problems",
            ("高频重复问题（品类 × 产品）", "Top recurring problems (category × product)"),
            [both("品类", "Category"), both("产品 SKU", "Product SKU"), cases],
            [(say.category(p.category), p.sku, str(p.cases)) for p in now.top_problems],
            both(
                "本月没有重复出现的问题（没有哪个品类与产品的组合出现在两个及以上工单中）。",
                "No problem recurred this month (no category and product shared by two cases or more).",
            ),
        ),
        ReportTable(
            "categories",
            ("品类分布", "Distribution by category"),
            [both("品类", "Category"), cases, both("工单占比", "Share of cases")],
            [(say.category(c.category), str(c.cases), percent(c.share)) for c in now.categories] + uncategorized,
        ),
        ReportTable(
            "on-time",
            ("各 SLA 时限按时处理", "On-time handling per SLA clock"),
            [
                both("SLA 时限", "Clock"),
                both("按时", "On time"),
                both("超时", "Missed"),
                both("按时率", "Rate"),
                both(f"{before.month} 按时率", f"Rate {before.month}"),
            ],
            [
                (
                    say.clock(c.clock),
                    str(c.on_time),
                    str(c.missed),
                    percent(c.rate),
                    percent(before.clock(c.clock).rate),
                )
                for c in now.on_time
            ],
        ),
        ReportTable(
            "reopens-satisfaction",
            ("重开与满意度", "Reopens and satisfaction"),
            [both("指标", "Figure"), both("数值", "Value")],
            [
                (both("回访答复数", "Survey answers"), str(now.satisfaction.answers)),
                (both("满意答复数", "Satisfied answers"), str(now.satisfaction.satisfied)),
                (
                    both("本月受理且至少重开一次的工单", "Cases received and reopened at least once"),
                    f"{now.reopens.reopened_cases} / {now.reopens.cases_received}",
                ),
                (both("本月重开次数", "Reopenings in the month"), str(now.reopens.reopen_events)),
            ],
        ),
        ReportTable(
            "comparison",
            (f"与 {before.month} 环比", f"Comparison with {before.month}"),
            [both("指标", "Figure"), now.month, before.month, both("变化", "Change")],
            _comparison(report),
        ),
        ReportTable(
            "breaches-by-department",
            ("SLA 超时", "Breaches"),
            [both("部门", "Department"), breaches],
            [(say.department(c.key), str(c.count)) for c in now.breaches_by_department],
        ),
        ReportTable(
            "breaches-by-role",
            None,
            [both("责任角色", "Responsible role"), breaches],
            [(say.role(c.key), str(c.count)) for c in now.breaches_by_role],
        ),
        ReportTable(
            "channels",
            ("各渠道工单量", "Volume by channel"),
            [both("渠道", "Channel"), cases],
            [(say.channel(c.key), str(c.count)) for c in now.channels],
        ),
    ]


def _comparison(report: MonthlyReport) -> list[tuple[str, str, str, str]]:
    """Figure, this month, the previous month, the change. Against a month with nothing in it
    there is nothing to compare: "no data", not zeros and changes from zero."""
    empty = report.previous.empty
    return [
        (say.figure(row.figure, row.label), number(row.current, row.kind))
        + ((NO_DATA, "—") if empty else (number(row.previous, row.kind), signed(row.delta, row.kind)))
        for row in report.comparison
    ]
