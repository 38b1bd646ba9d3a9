"""deadline_lag.py's burst mode (issue 19 §6 b): N workflows per shape whose due instants fall in
three bursts, the lag of each event and the rate at which the worker drains them."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench._deadlines import count_rows, event_rows, lag_summary
from bench._harness import CpuMeter, Env, log, profile_summary, ratio, start_py_spy

POLL_SECONDS = 1.0
LAG_TARGET_S = 2.0  # the burst's (before issue 19)
DRAIN_TARGET = 0.95  # issue 19 §6 b: the product's drain rate ≥ 0.95 × bare's in the same run


def _at_least(value: float | None, target: float) -> bool | None:
    return None if value is None else value >= target


# ---- one shape ------------------------------------------------------------------------------


@dataclass
class Phase:
    shape: str
    cases: int
    budget: timedelta
    spread: timedelta
    fractions: list[float]
    due: dict[tuple[str, float], datetime] = field(default_factory=dict)  # (workflow id, fraction) -> due
    start_lateness_s: list[float] = field(default_factory=list)

    @property
    def expected(self) -> int:
        return len(self.due)


async def open_workflows(
    phase: Phase, start: Callable[[int, datetime], Awaitable[str]], first_arrival: datetime
) -> None:
    """Workflow i arrives (and is started) at first_arrival + i * spread / N."""
    loop = asyncio.get_running_loop()
    base = loop.time() + (first_arrival.timestamp() - time.time())  # wall clock -> loop clock, once

    async def one(i: int, received_at: datetime) -> None:
        wf_id = await start(i, received_at)
        phase.start_lateness_s.append((datetime.now(UTC) - received_at).total_seconds())
        for f in phase.fractions:
            phase.due[(wf_id, f)] = received_at + phase.budget * f

    tasks = []
    for i in range(phase.cases):
        step = phase.spread * i / phase.cases
        await asyncio.sleep(max(base + step.total_seconds() - loop.time(), 0))
        tasks.append(asyncio.create_task(one(i, first_arrival + step)))
    await asyncio.gather(*tasks)


async def run_phase(
    env: Env,
    phase: Phase,
    start: Callable[[int, datetime], Awaitable[str]],
    wait_after: float,
    profile_dir: Path | None,
) -> dict[str, Any]:
    first_arrival = datetime.now(UTC) + timedelta(seconds=1)
    first_due = first_arrival + phase.budget * phase.fractions[0]
    log(
        f"{phase.shape}: opening {phase.cases} over {phase.spread.total_seconds():g} s; due instants "
        + ", ".join(f"{f:.0%}" for f in phase.fractions)
        + f" of {phase.budget.total_seconds():g} s, the first at {first_due.astimezone().strftime('%H:%M:%S')}"
    )
    meter = env.meter()
    statements_start = await env.worker_statements()
    m_open = meter.mark()
    await open_workflows(phase, start, first_arrival)
    log(f"{phase.shape}: all started; latest {max(phase.start_lateness_s):.2f} s after its arrival")
    await asyncio.sleep(max((first_due - datetime.now(UTC)).total_seconds(), 0))
    m_due = meter.mark()
    statements_due = await env.worker_statements()
    last_due = max(phase.due.values())
    give_up = last_due + timedelta(seconds=wait_after)
    spy = None
    if profile_dir is not None and env.worker and env.worker.process:
        seconds = (last_due - datetime.now(UTC)).total_seconds() + min(wait_after, 30)
        path = profile_dir / f"deadline-{phase.shape}-{phase.cases}-worker.txt"
        spy = (start_py_spy(env.worker.process.pid, seconds, path), path)
    found, last_report = 0, 0.0
    while True:
        env.check_alive()
        found = await count_rows(env, phase.shape)
        if found >= phase.expected or datetime.now(UTC) > give_up:
            break
        if time.monotonic() - last_report >= 15:
            last_report = time.monotonic()
            log(f"{phase.shape}: {found}/{phase.expected} events recorded")
        await asyncio.sleep(POLL_SECONDS)
    m_end = meter.mark()
    statements_end = await env.worker_statements()
    ended = datetime.now(UTC)
    rows = await event_rows(env, phase.shape, phase.fractions)
    profile = None
    if spy is not None and spy[0] is not None:
        await asyncio.to_thread(spy[0].wait, 120)
        profile = profile_summary(spy[1])

    lags: dict[str, list[float]] = {"all": [], "breach": []}
    timer_lags: list[float] = []
    seen: set[tuple[str, float]] = set()
    mismatched = 0
    for row in rows:
        key = (row.wf_id, row.fraction)
        due = phase.due.get(key)
        if due is None or key in seen:
            continue
        seen.add(key)
        lag = (row.recorded_at - due).total_seconds()
        lags["all"].append(lag)
        if row.fraction == 1.0:
            lags["breach"].append(lag)
        if row.at is not None:
            timer_lags.append((row.at - due).total_seconds())
        if row.due_at is not None:
            mismatched += row.due_at != due
    missing = {key: (ended - due).total_seconds() for key, due in phase.due.items() if key not in seen}
    last_recorded = max((r.recorded_at for r in rows), default=None)
    drained_s = (last_recorded - first_due).total_seconds() if last_recorded else None
    window = CpuMeter.between(m_due, m_end)
    events = len(seen)
    statements = statements_end - statements_due

    def per_event(name: str) -> float | None:
        used = window.get(f"{name}_cpu_s")
        return round(1000 * used / events, 2) if used is not None and events else None

    return {
        "shape": phase.shape,
        "cases": phase.cases,
        "expected_events": phase.expected,
        "recorded_events": events,
        "missing_events": len(missing),
        "lag": lag_summary(lags["all"], list(missing.values())),
        "breach_lag": lag_summary(lags["breach"], [v for (_, f), v in missing.items() if f == 1.0]),
        "timer_lag": lag_summary(timer_lags) if timer_lags else None,
        "due_at_mismatches": mismatched,
        "drain_events_per_s": round(events / drained_s, 1) if drained_s and drained_s > 0 else None,
        # Time to drain: from the first due instant to the last row recorded.
        "drain_s": round(drained_s, 1) if drained_s is not None else None,
        "start_lateness": lag_summary(phase.start_lateness_s),
        "cpu_opening": CpuMeter.between(m_open, m_due),
        "cpu_bursts": window,
        "cpu_ms_per_event": {name: per_event(name) for name in ("server", "worker")},
        "worker_statements_per_event": round(statements / events, 2) if events else None,
        "worker_statements_opening": statements_due - statements_start,
        "profile": profile,
    }


# ---- the run --------------------------------------------------------------------------------


def compare(runs: list[dict[str, Any]]) -> dict[str, Any] | None:
    by = {r["shape"]: r for r in runs}
    bare, product = by.get("bare"), by.get("product")
    if bare is None or product is None:
        return None

    def cpu(r: dict[str, Any]) -> float | None:
        c = r["cpu_ms_per_event"]
        return None if c["worker"] is None or c["server"] is None else c["worker"] + c["server"]

    return {
        "p50_lag_x": ratio(product["lag"].get("p50_s"), bare["lag"].get("p50_s")),
        "p99_lag_x": ratio(product["lag"].get("p99_s"), bare["lag"].get("p99_s")),
        "p99_lag_above_bare_s": round(product["lag"]["p99_s"] - bare["lag"]["p99_s"], 2)
        if product["lag"].get("p99_s") is not None and bare["lag"].get("p99_s") is not None
        else None,
        "drain_rate_x": ratio(product["drain_events_per_s"], bare["drain_events_per_s"]),
        "drain_target_met": _at_least(ratio(product["drain_events_per_s"], bare["drain_events_per_s"]), DRAIN_TARGET),
        "drain_s": {"bare": bare["drain_s"], "product": product["drain_s"]},
        "worker_cpu_per_event_x": ratio(product["cpu_ms_per_event"]["worker"], bare["cpu_ms_per_event"]["worker"]),
        "server_cpu_per_event_x": ratio(product["cpu_ms_per_event"]["server"], bare["cpu_ms_per_event"]["server"]),
        "cpu_efficiency": ratio(cpu(bare), cpu(product)),
    }
