"""Supervisors' and operators' pages: the monthly report (with each table as CSV), the stuck
cases with their reasons and links to Temporal UI (and as CSV), and the notifications that failed
for good, each with a button that sends it again once."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import RedirectResponse, Response

from console.gate import NOTIFICATIONS, REPORT, RETRY, STUCK, may, require
from console.render import local_minute, page
from console.session import FormSession, SignedIn
from console.words import N_
from domain.report import Month
from services.csv_export import csv_text
from services.notifications import RetryNotAllowed, failed_notifications, retry_notification
from services.report_page import render_fragment
from services.report_tables import report_tables
from services.stuck import StuckCase, StuckReason, format_duration, stuck_beside, temporal_ui_link

router = APIRouter(prefix="/console", include_in_schema=False)
MonthText = Annotated[str | None, Query(max_length=7, pattern=r"^\d{4}-\d{2}$")]
STUCK_LIMIT = 200
NOTIFICATIONS_LIMIT = 200
# What a retry click did (shown above the list once it reloads).
RETRY_RESULTS = {N_("retried"), N_("not_failed"), N_("not_found"), N_("not_permitted")}
REASONS = {N_(reason.value) for reason in StuckReason}


def _month(request: Request, text: str | None) -> Month:
    if text:
        try:
            return Month.parse(text)
        except ValueError:
            pass
    now = datetime.now(UTC).astimezone(ZoneInfo(request.app.state.settings.business_timezone))
    return Month(now.year, now.month)


def _csv(body: str, name: str) -> Response:
    return Response(
        body.encode("utf-8"),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"},
    )


@router.get("/report", name="console_report")
async def report_page(request: Request, session: SignedIn, month: MonthText = None) -> Response:
    require(session, REPORT)
    chosen = _month(request, month)
    report = await request.app.state.reports.monthly(chosen, request.app.state.settings.business_timezone)
    return page(
        request, "report.html", session, month=str(chosen), previous=str(chosen.previous()), next=str(chosen.next()),
        report_html=render_fragment(report), tables=report_tables(report),
    )  # fmt: skip


@router.get("/report/{slug}.csv", name="console_report_csv")
async def report_csv(
    request: Request, session: SignedIn, slug: Annotated[str, Path(max_length=40)], month: MonthText = None
) -> Response:
    require(session, REPORT)
    chosen = _month(request, month)
    report = await request.app.state.reports.monthly(chosen, request.app.state.settings.business_timezone)
    table = next((t for t in report_tables(report) if t.slug == slug), None)
    if table is None:
        return page(request, "forbidden.html", session, status=404)
    return _csv(csv_text(table.head, table.rows), f"report-{chosen}-{slug}.csv")


@dataclass(frozen=True)
class StuckRow:
    case: StuckCase
    waited: str
    temporal_ui: str


async def _stuck(request: Request) -> list[StuckRow]:
    state = request.app.state
    report = await stuck_beside(state.store, state.temporal, state.settings, limit=STUCK_LIMIT)
    return [
        StuckRow(
            case, format_duration(max(report.as_of - case.in_stage_since, timedelta(0))),
            temporal_ui_link(state.settings, case.number),
        )
        for case in report.items
    ]  # fmt: skip


@router.get("/stuck", name="console_stuck")
async def stuck_page(request: Request, session: SignedIn) -> Response:
    require(session, STUCK)
    return page(request, "stuck.html", session, items=await _stuck(request))


@router.get("/stuck.csv", name="console_stuck_csv")
async def stuck_csv(request: Request, session: SignedIn) -> Response:
    require(session, STUCK)
    zone = request.app.state.settings.business_timezone
    head = ["number", "reasons", "stage", "priority", "department", "assignee", "sla_state", "escalation_level",
            "in_stage_since", "waited", "failing_activity", "temporal_ui"]  # fmt: skip
    rows = [
        [
            c.number, " ".join(r.value for r in c.reasons), c.stage, c.priority, c.department, c.assignee,
            c.sla_state, c.escalation_level, local_minute(c.in_stage_since, zone), item.waited,
            c.failing_activity, item.temporal_ui,
        ]
        for item in await _stuck(request)
        for c in [item.case]
    ]  # fmt: skip
    return _csv(csv_text(head, rows), "stuck-cases.csv")


@router.get("/notifications", name="console_notifications")
async def notifications_page(
    request: Request,
    session: SignedIn,
    done: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
    result: Annotated[str | None, Query(max_length=20)] = None,
) -> Response:
    require(session, NOTIFICATIONS)
    rows = await failed_notifications(request.app.state.store, NOTIFICATIONS_LIMIT)
    return page(
        request, "notifications.html", session, rows=rows, may_retry=may(session, RETRY), done=done,
        result=result if result in RETRY_RESULTS else None,
    )  # fmt: skip


@router.post("/notifications/{notification_id}/retry", name="console_notification_retry")
async def retry(
    request: Request, session: FormSession, notification_id: Annotated[int, Path(ge=1, le=2**31 - 1)]
) -> Response:
    require(session, RETRY)
    try:
        await retry_notification(request.app.state.store, session.actor, notification_id)
        result = "retried"
    except RetryNotAllowed as refused:
        result = refused.reason.value
    return RedirectResponse(f"/console/notifications?done={notification_id}&result={result}", status_code=303)
