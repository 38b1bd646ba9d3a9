"""The monthly quality report: its month, its figures and how each is defined.

Pure code. `store/reports.py` fills these models from the record; the API, the
HTML page and the CLI show them. Only counts, shares and durations over
categories, products (SKU), channels, departments and roles: never a customer,
a case number or an employee.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from pydantic import BaseModel, Field, computed_field

# DOMAIN.md "Grades and deadlines": the seeds' targets.
FIRST_CONTACT_RESOLUTION_TARGET = 0.85
SATISFACTION_TARGET = 0.90

# Which event meets which SLA clock (workflows/case/); the survey clock never breaches.
REPORTED_CLOCKS = ("first_reply", "respond", "plan", "resolution")

FCR_NOT_TRACKED = "not tracked: no case was answered at first contact in this data"
FCR_DEFINITION = (
    "Of the cases received in the month, the share an agent answered at receipt from the knowledge base "
    "(event first_contact_resolved), whatever the survey said afterwards"
)

DEFINITIONS: dict[str, str] = {
    "month": "A calendar month in the business timezone: [the 1st 00:00, the 1st of the next month 00:00).",
    "cases_received": "Cases whose receipt falls in the month.",
    "categories": (
        "Cases received in the month per category they carry now; a case with several categories counts in each, "
        "so the shares may add up to more than 100 %. `uncategorized` counts the cases not triaged yet."
    ),
    "top_problems": (
        "Recurring problems: category x product SKU pairs shared by at least two cases received in the month; "
        "the three with the most cases (ties by category, then SKU)."
    ),
    "on_time": (
        "Per SLA clock, the clocks decided in the month: met on time (the meeting event is in the month and the "
        "same cycle, since receipt or the last reopen, has no sla_breached event for that clock before it) or "
        "missed (the cycle's first sla_breached event for that clock is in the month). A clock missed in one "
        "month and met later counts once, as missed, in the month it was missed. Meeting events: the first "
        "triage of a case meets first_reply; accepted meets respond; the first plan_proposed of a P1/P2 cycle "
        "meets plan; resolution_executed meets resolution. rate = on time / (on time + missed)."
    ),
    "satisfaction": (
        "Survey answers (closed and reopened events with a score: a reopen after a failed fix check is not one) "
        "given in the month: the average score (1-5), and the share "
        "of answers with a score of 4 or more that did not say 'not satisfied'. Expired surveys are not answers."
    ),
    "first_contact_resolution": FCR_DEFINITION + ".",
    "reopens": (
        "Of the cases received in the month, the share reopened at least once so far (it can still grow while "
        "those cases are open); `reopen_events` counts the reopenings that happened in the month, whenever the "
        "case was received."
    ),
    "first_reply": (
        "Cases whose first triage happened in the month: average minutes from receipt to that first triage "
        "(calendar time; the targets are 15 to 30 minutes)."
    ),
    "resolution": (
        "Cases whose first resolution was executed in the month: average hours from receipt to that first "
        "execution (calendar time)."
    ),
    "breaches": (
        "sla_breached events in the month, by the department the case was with (none before triage) and by the "
        "responsible role."
    ),
    "channels": "Cases received in the month per channel of receipt.",
    "comparison": "The same figures for the previous month; delta = this month - previous month.",
    "targets": "DOMAIN.md targets: first-contact resolution >= 85 %, customer satisfaction (satisfied share) >= 90 %.",
}

_MONTH = re.compile(r"^(\d{4})-(\d{2})$")


@dataclass(frozen=True, order=True)
class Month:
    year: int
    month: int

    @classmethod
    def parse(cls, text: str) -> Month:
        """`2025-03`; raises ValueError for anything else."""
        found = _MONTH.match(text.strip())
        if not found:
            raise ValueError("expected a month as YYYY-MM, e.g. 2025-03")
        year, month = int(found.group(1)), int(found.group(2))
        if not 1 <= month <= 12:
            raise ValueError("the month must be 01 to 12")
        if not 1971 <= year <= 9998:
            raise ValueError("the year must be between 1971 and 9998")
        return cls(year, month)

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"

    def previous(self) -> Month:
        return Month(self.year - 1, 12) if self.month == 1 else Month(self.year, self.month - 1)

    def next(self) -> Month:
        return Month(self.year + 1, 1) if self.month == 12 else Month(self.year, self.month + 1)

    def bounds(self, zone: str) -> tuple[datetime, datetime]:
        """[start, end) as UTC instants: midnight of the 1st in `zone`, to midnight of the next 1st."""
        tz = ZoneInfo(zone)
        following = self.next()
        start = datetime(self.year, self.month, 1, tzinfo=tz)
        end = datetime(following.year, following.month, 1, tzinfo=tz)
        return start.astimezone(UTC), end.astimezone(UTC)

    def days(self) -> tuple[date, date]:
        """Its first and last day on the business calendar."""
        following = self.next()
        return date(self.year, self.month, 1), date(following.year, following.month, 1) - timedelta(days=1)


def share(part: int, whole: int) -> float | None:
    return part / whole if whole else None


# ---- the report -------------------------------------------------------------------


class CategoryCount(BaseModel):
    category: str
    cases: int
    share: float | None = Field(description="of the cases received in the month")


class ProblemCount(BaseModel):
    category: str
    sku: str
    cases: int


class ClockOnTime(BaseModel):
    clock: str
    on_time: int
    missed: int
    decided: int = Field(description="on_time + missed")
    rate: float | None = Field(description="on_time / decided; null when nothing was decided")


class Satisfaction(BaseModel):
    answers: int
    average_score: float | None
    satisfied: int
    satisfied_share: float | None


class FirstContactResolution(BaseModel):
    tracked: bool = False
    cases: int = 0
    rate: float | None = None
    note: str = FCR_NOT_TRACKED


class Reopens(BaseModel):
    cases_received: int
    reopened_cases: int
    rate: float | None = Field(description="reopened_cases / cases_received")
    reopen_events: int


class Duration(BaseModel):
    cases: int
    average_hours: float | None

    @computed_field(description="average_hours in minutes: the first-reply targets are 15 to 30 minutes")  # type: ignore[prop-decorator]  # pydantic's documented idiom
    @property
    def average_minutes(self) -> float | None:
        return None if self.average_hours is None else self.average_hours * 60


class Count(BaseModel):
    key: str | None
    count: int


class MonthFigures(BaseModel):
    month: str
    first_day: date = Field(description="the month's first day on the business calendar")
    last_day: date = Field(description="its last day on the business calendar")
    starts_at: datetime = Field(description="midnight of first_day in the business timezone, as a UTC instant")
    ends_at: datetime = Field(description="midnight after last_day in the business timezone, as a UTC instant")
    cases_received: int
    uncategorized: int
    categories: list[CategoryCount]
    top_problems: list[ProblemCount]
    on_time: list[ClockOnTime]
    satisfaction: Satisfaction
    first_contact_resolution: FirstContactResolution = Field(default_factory=FirstContactResolution)
    reopens: Reopens
    first_reply: Duration
    resolution: Duration
    breaches: int
    breaches_by_department: list[Count]
    breaches_by_role: list[Count]
    channels: list[Count]

    def clock(self, name: str) -> ClockOnTime:
        return next(c for c in self.on_time if c.clock == name)

    @property
    def empty(self) -> bool:
        """Nothing happened in the month: no case received, no clock decided, no answer, no breach."""
        return not (
            self.cases_received
            or self.breaches
            or self.satisfaction.answers
            or self.reopens.reopen_events
            or self.first_reply.cases
            or self.resolution.cases
            or any(c.decided for c in self.on_time)
        )


class ComparisonRow(BaseModel):
    figure: str
    label: str
    kind: str = Field(description="count, rate (0-1), score (1-5), minutes or hours")
    current: float | None
    previous: float | None
    delta: float | None


class TargetCheck(BaseModel):
    figure: str
    label: str
    target: float
    tracked: bool = Field(default=True, description="false while the product does not record what the figure needs")
    actual: float | None
    met: bool | None
    note: str | None = None


class MonthlyReport(BaseModel):
    month: str
    timezone: str
    current: MonthFigures
    previous: MonthFigures
    comparison: list[ComparisonRow]
    targets: list[TargetCheck]
    definitions: dict[str, str] = Field(default_factory=lambda: dict(DEFINITIONS))


def _scalars(figures: MonthFigures) -> list[tuple[str, str, str, float | None]]:
    rows: list[tuple[str, str, str, float | None]] = [
        ("cases_received", "Cases received", "count", figures.cases_received),
        ("first_contact_resolution", "First-contact resolution", "rate", figures.first_contact_resolution.rate),
        ("satisfied_share", "Satisfied customers", "rate", figures.satisfaction.satisfied_share),
        ("average_score", "Average satisfaction score", "score", figures.satisfaction.average_score),
        ("reopen_rate", "Reopen rate", "rate", figures.reopens.rate),
    ]
    rows += [(f"on_time.{c.clock}", f"On time: {c.clock.replace('_', ' ')}", "rate", c.rate) for c in figures.on_time]
    rows += [
        ("first_reply_minutes", "Average first reply (min)", "minutes", figures.first_reply.average_minutes),
        ("resolution_hours", "Average resolution (h)", "hours", figures.resolution.average_hours),
        ("breaches", "SLA breaches", "count", figures.breaches),
    ]
    return rows


def build_report(month: Month, zone: str, current: MonthFigures, previous: MonthFigures) -> MonthlyReport:
    comparison = []
    for (figure, label, kind, now), (_, _, _, before) in zip(_scalars(current), _scalars(previous), strict=True):
        delta = now - before if now is not None and before is not None else None
        comparison.append(
            ComparisonRow(figure=figure, label=label, kind=kind, current=now, previous=before, delta=delta)
        )
    satisfied = current.satisfaction.satisfied_share
    targets = [
        TargetCheck(
            figure="first_contact_resolution",
            label="First-contact resolution",
            target=FIRST_CONTACT_RESOLUTION_TARGET,
            tracked=current.first_contact_resolution.tracked,
            actual=current.first_contact_resolution.rate,
            met=None
            if current.first_contact_resolution.rate is None
            else current.first_contact_resolution.rate >= FIRST_CONTACT_RESOLUTION_TARGET,
            note=None if current.first_contact_resolution.rate is not None else "no case received this month",
        ),
        TargetCheck(
            figure="satisfied_share",
            label="Customer satisfaction (satisfied share)",
            target=SATISFACTION_TARGET,
            actual=satisfied,
            met=None if satisfied is None else satisfied >= SATISFACTION_TARGET,
            note=None if satisfied is not None else "no survey answers this month",
        ),
    ]
    return MonthlyReport(
        month=str(month), timezone=zone, current=current, previous=previous, comparison=comparison, targets=targets
    )


# ---- how figures read -----------------------------------------------------------------


def percent(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f} %"


# How precise a figure of each kind reads; any other kind (scores, hours) has two decimals. A rate
# reads as a percentage, and its change in percentage points.
_PRECISION = {"count": "g", "minutes": ".1f"}


def number(value: float | None, kind: str) -> str:
    if value is None:
        return "—"
    if kind == "rate":
        return percent(value)
    return format(value, _PRECISION.get(kind, ".2f"))


def minutes(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f} min"


def hours(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f} h"


def signed(value: float | None, kind: str) -> str:
    """A change, always with its sign."""
    if value is None:
        return "—"
    if kind == "rate":
        return f"{value * 100:+.1f} pp"
    return format(value, "+" + _PRECISION.get(kind, ".2f"))


def comparison_table(report: MonthlyReport) -> list[tuple[str, str, str, str]]:
    """The comparison as shown: figure, this month, the previous month, the change. Against a
    month with nothing in it there is nothing to compare: "no data", not zeros and changes from zero."""
    empty = report.previous.empty
    return [
        (row.label, number(row.current, row.kind))
        + (("no data", "—") if empty else (number(row.previous, row.kind), signed(row.delta, row.kind)))
        for row in report.comparison
    ]
