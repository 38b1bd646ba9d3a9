"""Which of the supervisors' and operators' pages a person may open: each page stands for an API
route, and api/access.py's matrix decides, as it does for the case page's actions. The header
links only to the pages the signed-in role may open."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request
from fastapi.responses import Response

from console.render import page
from console.session import Session
from console.words import N_
from services.access import allowed_roles


@dataclass(frozen=True)
class ConsolePage:
    href: str
    label: str  # the catalog's msgid
    method: str  # the API route it stands for
    path: str


NEW_CASE = ConsolePage("/console/new-case", N_("New case"), "POST", "/cases")
FIND = ConsolePage("/console/find", N_("Find a case"), "POST", "/cases/search")
REPORT = ConsolePage("/console/report", N_("Monthly report"), "GET", "/reports/monthly")
STUCK = ConsolePage("/console/stuck", N_("Stuck cases"), "GET", "/ops/stuck")
NOTIFICATIONS = ConsolePage("/console/notifications", N_("Failed notifications"), "GET", "/ops/notifications")
RETRY = ConsolePage("/console/notifications", N_("Send again"), "POST", "/ops/notifications/1/retry")
PAGES = (NEW_CASE, FIND, REPORT, STUCK, NOTIFICATIONS)


class PageForbidden(Exception):
    """The signed-in role may not open this page (console/app.py answers with a 403 page)."""


def may(session: Session | None, wanted: ConsolePage) -> bool:
    return session is not None and session.actor.role in allowed_roles(wanted.method, wanted.path)


def require(session: Session, wanted: ConsolePage) -> None:
    if not may(session, wanted):
        raise PageForbidden()


def nav_pages(session: Session | None) -> list[ConsolePage]:
    """The header's links for this person."""
    return [p for p in PAGES if may(session, p)]


async def forbidden_page(request: Request, _: Exception) -> Response:
    return page(request, "forbidden.html", status=403)
