"""Bounded polling for things the workflow does by itself (execution, archiving)."""

from __future__ import annotations

import asyncio
import time
from typing import Any, Literal

import httpx

from domain.due import WAKE_EARLY_BY

TIMEOUT_SECONDS = 10.0
INTERVAL_SECONDS = 0.05


async def wait_for_stage(
    api: httpx.AsyncClient,
    number: str,
    stage: str,
    headers: dict[str, str],
    source: Literal["live", "record"] = "live",
    *,
    timeout: float = TIMEOUT_SECONDS,
    interval: float = INTERVAL_SECONDS,
) -> dict[str, Any]:
    """Poll GET /cases/{number} until `source`.stage (the workflow's live state or
    the database record) equals `stage`; returns that case detail.

    Fails the test with the last stage seen when it does not get there in `timeout` seconds.
    """
    deadline = time.monotonic() + timeout
    seen: str | None = None
    while True:
        response = await api.get(f"/cases/{number}", headers=headers)
        assert response.status_code == 200, response.text
        detail = response.json()
        part = detail.get(source)
        seen = part["stage"] if part else None
        if seen == stage:
            return detail
        if time.monotonic() >= deadline:
            raise AssertionError(f"case {number}: {source}.stage is {seen!r} after {timeout}s, expected {stage!r}")
        await asyncio.sleep(interval)


async def wait_for_event(database: Any, number: str, kind: str, timeout: float = 10) -> Any:
    """Bounded poll of the recorded timeline for an event the workflow writes by itself."""
    deadline = time.monotonic() + timeout
    while True:
        events = [e for e in await database.store.timeline(number) if e.kind == kind]
        if events:
            return events[0]
        assert time.monotonic() < deadline, f"{number}: no {kind} event after {timeout}s"
        await asyncio.sleep(0.05)


async def wait_until_settled(handle: Any, timeout: float = 10) -> None:
    """Bounded wait until the case has no workflow task scheduled or running: a local activity's
    row is written inside a task, and the task's search attributes and markers reach the server
    only when it completes (on a loaded machine, seconds later)."""
    deadline = time.monotonic() + timeout
    while (await handle.describe()).raw_description.HasField("pending_workflow_task"):
        assert time.monotonic() < deadline, f"{handle.id}: a workflow task still pending after {timeout}s"
        await asyncio.sleep(0.05)


async def wait_for_last_minute(handle: Any, timeout: float = 10) -> None:
    """Bounded wait until the case, woken a minute ahead of a due item (domain/due.py), has
    started the timer for the last minute. Temporal starts a timer when the task that set it
    completes: a test that skips time while that task is still running moves the timer by the
    skip, which no real clock does."""
    deadline = time.monotonic() + timeout
    while True:
        events = [event async for event in handle.fetch_history_events()]
        fired = [i for i, event in enumerate(events) if event.HasField("timer_fired_event_attributes")]
        since = events[fired[-1] :] if fired else []
        if any(
            event.HasField("timer_started_event_attributes")
            and event.timer_started_event_attributes.start_to_fire_timeout.ToTimedelta() <= WAKE_EARLY_BY
            for event in since
        ):
            return
        assert time.monotonic() < deadline, f"{handle.id}: no last-minute timer after {timeout}s"
        await asyncio.sleep(0.05)
