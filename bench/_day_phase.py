"""deadline_lag.py --day, one shape's run: open the desk, fix the window, open the window's arrivals
in real time, read the lag of every due instant in the window, clear the window's cases
(bench/_day.py has the design)."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from bench._day import BACKGROUND_TARGET_S, DEFAULT_RATE, DayCase
from bench._deadlines import Row, Starter, lag_summary
from bench._harness import CpuMeter, Env, log


@dataclass
class DayPhase:
    shape: str
    fractions: list[float]
    due: dict[tuple[str, float], datetime] = field(default_factory=dict)  # measured: (id, fraction) -> due
    start_lateness_s: list[float] = field(default_factory=list)
    cases: dict[str, DayCase] = field(default_factory=dict)  # the window's cases by workflow id

    @property
    def expected(self) -> int:
        return len(self.due)


async def open_desk(
    env: Env,
    phase: DayPhase,
    schedule: list[DayCase],
    cases: int,
    start: Starter,
    taken_in: Callable[[], Awaitable[int]],
    concurrency: int,
    lead_s: float,
    seed: int,
) -> dict[str, Any]:
    """Open the N cases there are before the window, fix the window's start; returns how it went."""
    before = [c for c in schedule if c.arrival < 0]
    background = max(cases - len(before), 0)
    # The first quarter is background only, so that the window's start can be fixed from its rate;
    # the window's cases are shuffled among the rest.
    first = min(max(cases // 4, 1), background)
    rest: list[DayCase | None] = [*before, *([None] * (background - first))]
    random.Random(seed + 1).shuffle(rest)
    order: list[DayCase | None] = [*([None] * first), *rest]
    quarter = first
    gate = asyncio.Semaphore(concurrency)
    began = time.monotonic()
    anchor: datetime | None = None
    opened = 0

    async def one(i: int, case: DayCase | None) -> None:
        nonlocal opened
        received_at = datetime.now(UTC)
        if case is not None:
            assert anchor is not None
            received_at = anchor + timedelta(seconds=case.arrival)
            # No case is received in the future: one that arrives before the window but after now
            # is opened at its arrival instant.
            await asyncio.sleep(max((received_at - datetime.now(UTC)).total_seconds(), 0))
        async with gate:
            if case is None:
                await start(i, received_at, timedelta(seconds=BACKGROUND_TARGET_S))
            else:
                wf_id = await start(i, received_at, timedelta(seconds=case.target_s))
                register(phase, wf_id, case, anchor)
            opened += 1

    tasks = [asyncio.create_task(one(i, c)) for i, c in enumerate(order[:quarter])]
    await asyncio.gather(*tasks)
    # The rate at which the worker takes cases in (product: its case rows), not only the server.
    while await taken_in() < opened:
        env.check_alive()
        await asyncio.sleep(0.2)
    env.check_alive()
    elapsed = time.monotonic() - began
    rate = opened / max(elapsed, 1e-3) if opened else DEFAULT_RATE
    rest = len(order) - quarter
    anchor = datetime.now(UTC) + timedelta(seconds=1.3 * rest / max(rate, 1e-3) + lead_s)
    log(f"{phase.shape}: {opened} open in {elapsed:.0f} s ({rate:.1f}/s taken in); window at {anchor:%H:%M:%S}")
    now = datetime.now(UTC)
    later = sum(1 for c in order[quarter:] if c is not None and anchor + timedelta(seconds=c.arrival) > now)
    tasks = [asyncio.create_task(one(quarter + i, c)) for i, c in enumerate(order[quarter:])]
    # Ready when all but those opened at their arrival are in (product: case rows; bare: first writes).
    while True:
        env.check_alive()
        for task in tasks:
            if task.done() and task.exception() is not None:
                await task  # raise what failed
        done = await taken_in()
        if min(done, opened) >= len(order) - later:
            break
        await asyncio.sleep(1)
    ready = datetime.now(UTC)
    await asyncio.gather(*tasks)
    return {
        "open_cases": len(order),
        "window_cases_before": len(before),
        "open_s": round(time.monotonic() - began, 1),
        "open_rate_per_s": round(len(order) / (time.monotonic() - began), 1),
        "window_start": anchor.isoformat(timespec="milliseconds"),
        "slack_s": round((anchor - ready).total_seconds(), 1),  # < 0: the window began before all were in
        "late_open_s": round(max((ready - anchor).total_seconds(), 0), 1),
        "_anchor": anchor,
    }


def register(phase: DayPhase, wf_id: str, case: DayCase, anchor: datetime) -> None:
    phase.cases[wf_id] = case
    for f in case.measured:
        phase.due[(wf_id, f)] = anchor + timedelta(seconds=case.due(f))


async def arrive_in_window(
    phase: DayPhase, schedule: list[DayCase], first_index: int, start: Starter, anchor: datetime
) -> None:
    """The cases that arrive during the window, each opened at its arrival instant (open loop)."""
    loop = asyncio.get_running_loop()
    base = loop.time() + (anchor.timestamp() - time.time())

    async def one(i: int, case: DayCase) -> None:
        received_at = anchor + timedelta(seconds=case.arrival)
        wf_id = await start(i, received_at, timedelta(seconds=case.target_s))
        phase.start_lateness_s.append((datetime.now(UTC) - received_at).total_seconds())
        register(phase, wf_id, case, anchor)

    tasks = []
    for i, case in enumerate((c for c in schedule if c.arrival >= 0), first_index):
        await asyncio.sleep(max(base + case.arrival - loop.time(), 0))
        tasks.append(asyncio.create_task(one(i, case)))
    await asyncio.gather(*tasks)


async def terminate(env: Env, ids: Sequence[str], concurrency: int = 20) -> None:
    gate = asyncio.Semaphore(concurrency)

    async def one(wf_id: str) -> None:
        async with gate:
            try:
                await env.client.get_workflow_handle(wf_id).terminate(reason="bench: the window is over")
            except Exception:  # noqa: BLE001 - already completed (bare) or gone: nothing left to fire
                pass

    await asyncio.gather(*(one(i) for i in ids))


def latest(phase: DayPhase, seen: dict[tuple[str, float], Row], count: int = 8) -> list[dict[str, Any]]:
    """The `count` latest events and what each was: which instant of which target, when its case
    arrived, when the instant fell and how long before it the case's previous event was (its
    arrival, or the previous warning), in s from the window's start, to tell where a tail comes from."""

    def lag(key: tuple[str, float]) -> float:
        return (seen[key].recorded_at - phase.due[key]).total_seconds()

    out = []
    for wf_id, f in sorted(seen, key=lag, reverse=True)[:count]:
        case = phase.cases[wf_id]
        place = phase.fractions.index(f)
        before = case.due(phase.fractions[place - 1]) if place else case.arrival
        out.append(
            {
                "fraction": f,
                "grade": case.grade,
                "target_s": case.target_s,
                "arrival_s": round(case.arrival, 1),
                "due_s": round(case.due(f), 1),
                "wait_s": round(case.due(f) - before, 1),
                "lag_s": round(lag((wf_id, f)), 3),
            }
        )
    return out


def by_kind(phase: DayPhase) -> dict[str, int]:
    names = {0.75: "warning_75", 0.9: "warning_90", 1.0: "breach"}
    out: dict[str, int] = {}
    for _, f in phase.due:
        key = names.get(f, f"at_{f:g}")
        out[key] = out.get(key, 0) + 1
    return out


async def run_day_phase(
    env: Env,
    shape: str,
    fractions: list[float],
    schedule: list[DayCase],
    cases: int,
    start: Starter,
    taken_in: Callable[[], Awaitable[int]],
    rows: Callable[[], Awaitable[list[Row]]],
    *,
    window_s: float,
    wait_after: float,
    lead_s: float,
    concurrency: int,
    seed: int,
) -> dict[str, Any]:
    phase = DayPhase(shape, fractions)
    meter = env.meter()
    m_open = meter.mark()
    opening = await open_desk(env, phase, schedule, cases, start, taken_in, concurrency, lead_s, seed)
    anchor: datetime = opening.pop("_anchor")
    await asyncio.sleep(max((anchor - datetime.now(UTC)).total_seconds(), 0))
    m_window = meter.mark()
    statements0 = await env.worker_statements()
    log(f"{shape}: window of {window_s:g} s begins")
    arrivals = asyncio.create_task(arrive_in_window(phase, schedule, opening["open_cases"], start, anchor))
    window_end = anchor + timedelta(seconds=window_s)
    await asyncio.sleep(max((window_end - datetime.now(UTC)).total_seconds(), 0))
    await arrivals
    m_end = meter.mark()
    give_up = window_end + timedelta(seconds=wait_after)
    seen: dict[tuple[str, float], Row] = {}
    while True:
        env.check_alive()
        seen = {(r.wf_id, r.fraction): r for r in await rows() if (r.wf_id, r.fraction) in phase.due}
        if len(seen) >= phase.expected or datetime.now(UTC) > give_up:
            break
        await asyncio.sleep(1)
    ended = datetime.now(UTC)
    statements = await env.worker_statements() - statements0
    await terminate(env, list(phase.cases))
    lags = [(row.recorded_at - phase.due[key]).total_seconds() for key, row in seen.items()]
    breach = [lag for (key, row), lag in zip(seen.items(), lags, strict=True) if key[1] == 1.0]
    timer = [(row.at - phase.due[key]).total_seconds() for key, row in seen.items() if row.at is not None]
    missing = {key: (ended - due).total_seconds() for key, due in phase.due.items() if key not in seen}
    window = CpuMeter.between(m_window, m_end)
    events = len(seen)
    return {
        "shape": shape,
        "cases_open": opening["open_cases"],
        "window_cases": len(phase.cases),
        "expected_events": phase.expected,
        "events_by_kind": by_kind(phase),
        "recorded_events": events,
        "missing_events": len(missing),
        "lag": lag_summary(lags, list(missing.values())),
        "breach_lag": lag_summary(breach, [v for (_, f), v in missing.items() if f == 1.0]),
        "timer_lag": lag_summary(timer) if timer else None,
        "latest_events": latest(phase, seen),
        "opening": opening,
        "arrivals_in_window": len(phase.start_lateness_s),
        "start_lateness": lag_summary(phase.start_lateness_s) if phase.start_lateness_s else None,
        "cpu_opening": CpuMeter.between(m_open, m_window),
        "cpu_window": window,
        "cpu_ms_per_event": {
            name: round(1000 * window[f"{name}_cpu_s"] / events, 2) if events and f"{name}_cpu_s" in window else None
            for name in ("server", "worker")
        },
        "worker_statements_per_event": round(statements / events, 2) if events else None,
    }
