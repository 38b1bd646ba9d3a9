"""Deadline lag: from an SLA due instant to its row in the database, product against a bare workflow.

    python bench/deadline_lag.py [--cases 200] [--budget 90] [--spread 60] [--shapes bare,product]
                                 [--worker-processes 1] [--options '{"max_cached_workflows": 1000}']
                                 [--quiet-wait 120] [--profile DIR] [--out bench/results/deadline-lag.json]

This is a benchmark of the machinery, not a test of the SLA policy. Everything
starts fresh through bench/_harness.py (an in-memory Temporal dev server with one
task-queue partition and the project's search attributes, a SQLite database, the
product's and the bare workers in `--worker-processes` child processes with the
same `--options`), and is stopped again, even on Ctrl-C or SIGTERM.

Two shapes, one after the other on the same server and workers, so that the
machine's drift cancels out in the ratios:

- bare:    `bench.bare.BareDeadlineWorkflow`: one durable timer to each due instant
           the product's case has (the two warnings and the breach), then one
           one-row INSERT as a local activity. What Temporal itself allows here.
- product: `CaseWorkflow` started directly with a `CaseStart` under a benchmark
           SLA policy whose only change is a first-reply target of `--budget`
           seconds of calendar time. No case is triaged, so every first-reply
           clock warns (75 %, 90 %) and then breaches.

N workflows arrive at distinct instants spread evenly over `--spread` seconds,
so each of the three due instants of all N falls within that spread: three
bursts of N events. The script waits (at most `--wait-after` s past the last due
instant) for every event's row and reports, per shape, the lag behind the due
instant (nearest-rank percentiles; an event still missing at the end counts with
its lag so far, a lower bound, and is reported as censored):

- recorded lag = row's `recorded_at` (product) or `at` (bare) - due instant;
- timer lag    = the event's workflow time `at` - due (product only);
- drain rate   = events recorded per second from the first due instant to the
  last row: what the worker turns out once it has a backlog;
- CPU and database statements per event over the window from the first due
  instant to the end (worker processes, server).

`--profile DIR` runs py-spy on the first worker process during each shape's
bursts and prints where its busy time goes. The burst's target (issue 19 §6 b) is
the product's drain rate ≥ 0.95 × bare's in the same run (`drain_rate_x`,
`drain_target_met`), with the time to drain of each (`drain_s`).

`--day` (issue 19 §6 a) instead opens `--cases` cases as a desk holds them and
measures, over a `--window` of real time, the lag of the due instants a working
day of `--day-hours` puts in it (bench/_day.py; bench/README.md, "Deadline lag
over a working day"):

    python bench/deadline_lag.py --day --cases 10000 --worker-processes 2 [--window 300] [--lead 30]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script from a checkout that is not installed
    sys.path.insert(0, str(ROOT))


from bench._day import bench_day, render_day, shown
from bench._deadlines import (
    Starter,
    bare_starter,
    bench_policy,
    count_rows,
    event_rows,
    fractions,
    lag_summary,
    product_starter,
)
from bench._harness import (
    SERVER_DESCRIPTION,
    CpuMeter,
    Env,
    begin,
    common_args,
    footer,
    log,
    profile_summary,
    ratio,
    run_main,
    script,
    start_py_spy,
    table,
)

SHAPES = ("bare", "product")
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


def _profile_lines(result: dict[str, Any]) -> list[str]:
    lines = []
    for r in result["runs"]:
        p = r.get("profile")
        if p:
            areas = ", ".join(f"{k.strip()} {v} %" for k, v in p["areas_pct"].items() if v)
            lines.append(f"Profile {r['shape']} worker ({p['busy_samples']} busy samples): {areas}")
            lines.append("  top self: " + "; ".join(f"{k} {v} %" for k, v in p["self_pct"][:8]))
    return lines


def render(result: dict[str, Any]) -> str:
    if result.get("mode") == "day":
        return render_day(result)
    s = shown
    rows = []
    for r in result["runs"]:
        c = r["cpu_bursts"]
        rows.append(
            [
                r["shape"], r["recorded_events"], r["missing_events"],
                s(r["lag"], "p50_s"), s(r["lag"], "p99_s"), s(r["lag"], "max_s"), s(r["breach_lag"], "p99_s"),
                r["drain_events_per_s"], r["drain_s"], c.get("server_cores"), c.get("worker_cores"),
                c.get("machine_busy_pct"), r["cpu_ms_per_event"]["server"], r["cpu_ms_per_event"]["worker"],
                r["worker_statements_per_event"],
            ]
        )  # fmt: skip
    lines = [
        f"Deadline lag: {result['cases']} workflows arriving over {result['spread_s']:g} s, each with due instants at "
        + ", ".join(f"{f:.0%}" for f in result["fractions"])
        + f" of {result['budget_s']:g} s (three bursts of {result['cases']} events)",
        table(
            ["shape", "events", "missing", "p50 s", "p99 s", "max s", "breach p99 s", "drain ev/s", "drain s",
             "server", "worker", "busy %", "srv ms/ev", "wrk ms/ev", "stmts/ev"],
            rows,
        ),
        "  (lag = row recorded - due instant; ≥: lower bound, events still missing count with their lag so far;",
        "   drain s: first due instant to the last row; server / worker: CPU cores used from the first due",
        "   instant to the end; ms/ev: CPU ms per event)",
    ]  # fmt: skip
    if result["comparison"]:
        q = result["comparison"]
        met = {True: "met", False: "missed", None: "-"}[q["drain_target_met"]]
        lines += [
            f"Drain rate, product ÷ bare: {q['drain_rate_x']} (target ≥ {DRAIN_TARGET}: {met}); time to drain: "
            f"product {q['drain_s']['product']} s, bare {q['drain_s']['bare']} s",
            f"Product vs bare: p50 lag × {q['p50_lag_x']}, p99 lag × {q['p99_lag_x']} "
            f"(+{q['p99_lag_above_bare_s']} s), worker CPU per event × "
            f"{q['worker_cpu_per_event_x']}, server × {q['server_cpu_per_event_x']}, CPU efficiency {q['cpu_efficiency']}",
        ]
    for r in result["runs"]:
        if r["timer_lag"]:
            lines.append(f"{r['shape']}: timer lag (event's workflow time - due) p50 {r['timer_lag']['p50_s']} s, "
                         f"p99 {r['timer_lag']['p99_s']} s; due_at mismatches {r['due_at_mismatches']}")  # fmt: skip
        lines.append(f"{r['shape']}: start lateness p99 {r['start_lateness']['p99_s']} s; "
                     f"opening CPU server {r['cpu_opening'].get('server_cores')} / worker {r['cpu_opening'].get('worker_cores')} cores")  # fmt: skip
    return "\n".join([*lines, *_profile_lines(result), *footer(result)])


async def bench(args: argparse.Namespace) -> dict[str, Any]:
    if args.day:
        return await bench_day(args)
    setup = begin(args)
    budget, spread = timedelta(seconds=args.budget), timedelta(seconds=args.spread)
    fr = fractions(bench_policy(budget))
    runs: list[dict[str, Any]] = []
    async with setup.environment(api=False) as env:
        for shape in args.shapes:
            phase = Phase(shape, args.cases, budget, spread, fr)
            if shape == "bare":
                starter = bare_starter(env.client, fr)
            else:
                starter = product_starter(env.client, datetime.now(UTC).strftime("%Y%m%d"))

            async def start(i: int, received_at: datetime, starter: Starter = starter) -> str:
                return await starter(i, received_at, budget)

            profile = Path(args.profile) if args.profile else None
            run = await run_phase(env, phase, start, args.wait_after, profile)
            log(
                f"{shape}: {run['recorded_events']}/{run['expected_events']} events, lag p50 {run['lag'].get('p50_s')} s, "
                f"p99 {run['lag'].get('p99_s')} s, drain {run['drain_events_per_s']} events/s in {run['drain_s']} s"
            )
            runs.append(run)
    return {
        "benchmark": "deadline_lag",
        "mode": "burst",
        "cases": args.cases,
        "budget_s": args.budget,
        "spread_s": args.spread,
        "fractions": fr,
        "wait_after_s": args.wait_after,
        "shapes": args.shapes,
        **setup.fields(),
        "server": SERVER_DESCRIPTION,
        "database": f"SQLite file (WAL) in a temp dir, {env.db.version}",
        "runs": runs,
        "comparison": compare(runs),
        "lag_target_p99_s": LAG_TARGET_S,
        "drain_target": DRAIN_TARGET,
        **setup.facts(),
    }


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=200, help="workflows per shape (default 200)")
    parser.add_argument("--budget", type=float, default=90, help="first-reply target in seconds (default 90)")
    parser.add_argument("--spread", type=float, default=60, help="seconds over which workflows arrive (default 60)")
    parser.add_argument("--wait-after", type=float, default=60, help="wait at most this long past the last due instant")
    parser.add_argument(
        "--shapes", default=",".join(SHAPES), help="which of bare,product, in this order (default both)"
    )
    common_args(parser)
    parser.add_argument("--profile", help="py-spy the first worker process during each shape's bursts; stacks go here")
    day = parser.add_argument_group("the working day (--day; --budget, --spread and --profile do not apply)")
    day.add_argument("--day", action="store_true", help="deadlines spread over a working day, measured in a window")
    day.add_argument("--day-hours", type=float, default=8, help="the working day that brings --cases cases (default 8)")
    day.add_argument("--window", type=float, default=300, help="seconds of the day measured (default 300)")
    day.add_argument("--lead", type=float, default=30, help="seconds between the last case taken in and the window")
    day.add_argument("--concurrency", type=int, default=50, help="starts in flight while opening (default 50)")
    day.add_argument("--seed", type=int, default=19, help="the draw of grades and the opening order (default 19)")
    args = parser.parse_args(argv)
    args.shapes = [s for s in args.shapes.split(",") if s]
    if args.cases < 1 or args.budget <= 0 or args.spread < 0 or not args.shapes or not set(args.shapes) <= set(SHAPES):
        parser.error("bad --cases, --budget, --spread or --shapes")
    if args.day and (args.day_hours <= 0 or args.window <= 0 or args.concurrency < 1):
        parser.error("bad --day-hours, --window or --concurrency")
    return args


main = script(parse_args, bench, render, ok=lambda result: all(r["missing_events"] == 0 for r in result["runs"]))


if __name__ == "__main__":
    sys.exit(run_main(main))
