"""/reports: the monthly quality report as JSON, and as a page with SVG charts (services/report_page.py)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import HTMLResponse

from api.deps import AppSettings, Caller, Reports
from api.problems import Problem
from domain.report import Month, MonthlyReport
from services.report_page import render_html

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
