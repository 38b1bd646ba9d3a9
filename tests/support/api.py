"""Driving cases through the API in tests: post an action, open and triage, drive to feedback."""

from __future__ import annotations

from typing import Any

import httpx

from domain.calendar import BusinessCalendar
from tests.support.people import AGENT, HANDLER, HEAD, PLAN, TRIAGE, intake
from tests.support.waiting import wait_for_stage


async def post(api: httpx.AsyncClient, path: str, body: Any, who: dict[str, str]) -> dict[str, Any]:
    response = await api.post(path, json=body, headers=who)
    assert response.status_code in (200, 201), f"{path}: {response.text}"
    return response.json()


async def calendar_of(api: httpx.AsyncClient, number: str) -> BusinessCalendar:
    """The business calendar pinned on a case, from its live state."""
    detail = (await api.get(f"/cases/{number}", headers=AGENT)).json()
    return BusinessCalendar.model_validate(detail["live"]["calendar"])


async def open_and_triage(api: httpx.AsyncClient, **triage: Any) -> dict[str, Any]:
    case = await post(api, "/cases", intake(), AGENT)
    return await post(api, f"/cases/{case['number']}/triage", TRIAGE | triage, AGENT)


async def drive_to_feedback(api: httpx.AsyncClient, number: str) -> None:
    await post(api, f"/cases/{number}/accept", None, HANDLER)
    await post(api, f"/cases/{number}/plan", PLAN, HANDLER)
    await post(api, f"/cases/{number}/approve", {}, HEAD)
    await wait_for_stage(api, number, "awaiting_feedback", AGENT)
