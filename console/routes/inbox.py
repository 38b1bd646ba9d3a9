"""The inbox: the signed-in person's work, most urgent first, refreshed by console.js every second."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, Request
from fastapi.responses import Response

from console.render import page
from console.session import SignedIn
from services.inbox import inbox

router = APIRouter(prefix="/console", include_in_schema=False)
POLL_MS = 1000  # a change made elsewhere shows within two seconds


async def _items(request: Request, session: SignedIn) -> list:
    now = datetime.now(UTC)
    _, calendar = await request.app.state.sla_rules.pinned_for(now)
    return await inbox(request.app.state.store, session.actor, calendar, now)


@router.get("/", name="console_inbox")
async def inbox_page(request: Request, session: SignedIn) -> Response:
    return page(request, "inbox.html", session, items=await _items(request, session), poll_ms=POLL_MS)


@router.get("/inbox/rows", name="console_inbox_rows")
async def inbox_rows(request: Request, session: SignedIn) -> Response:
    return page(request, "_inbox_rows.html", session, items=await _items(request, session))
