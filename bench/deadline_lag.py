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

    python bench/deadline_lag.py --day --cases 10000 --worker-processes 2 [--window 300] [--lead 120]
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script from a checkout that is not installed
    sys.path.insert(0, str(ROOT))


from bench._burst import DRAIN_TARGET, LAG_TARGET_S, Phase, compare, run_phase
from bench._day import bench_day, render_day, shown
from bench._deadlines import (
    Starter,
    bare_starter,
    bench_policy,
    fractions,
    product_starter,
)
from bench._harness import (
    SERVER_DESCRIPTION,
    begin,
    common_args,
    footer,
    log,
    run_main,
    script,
    table,
)

SHAPES = ("bare", "product")


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
    # 120 s: the opening (10,000 receipts in minutes, the bench's way of filling a desk) leaves the
    # server and the worker busy for a while after its last case is in; a window that begins within
    # 30 s of it measures that after-load, not a day's deadlines (bench/README.md, runs 3 to 6).
    day.add_argument(
        "--lead", type=float, default=120, help="seconds between the last case taken in and the window (default 120)"
    )
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
