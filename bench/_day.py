"""deadline_lag.py's realistic mode (`--day`, issue 19 §6 a): N open cases whose deadlines fall as a
working day's traffic makes them fall, measured over a window of a few minutes.

A working day of `day_hours` brings N cases, one every `day_hours / N` (the desk's arrival rate
λ = N / day). Each case carries one target drawn from DOMAIN.md's "Grades and deadlines" (`GRADES`:
the first replies of 5 min, 15 min, 30 min and 24 h and the grades' 2 h, 4 h, 8 h and 24 h to
respond, with shares the domain does not give, so chosen here) and, untriaged, warns at 75 % and
90 % of it and breaches at 100 %. Arrivals are taken as a steady stream (every working day like
the one before), so the due instants in any window come at 3λ a second, a third of them of each
kind, from cases that arrived up to a day earlier: that is what `day_schedule` computes for the
window [0, W) — which cases have a due instant in it, when they arrived, and which of their due
instants fall in it.

A run (`run_day_phase`, per shape, on the same server and workers):

1. open N cases before the window: the window's cases that arrived before it (received in the
   past, their due instants before the window fire at once and are not measured) shuffled among
   the others, the desk's open cases whose first due instant is beyond the run (a 24 h target,
   received now: a case waiting on a timer a day away costs the worker what any open case
   does). With the product's cache (1000 per worker process, the SDK's and `worker_cached_cases`'s
   default) most of the window's cases have been evicted by the time they fire, as on a full desk;
2. the window starts `--lead` s after the last case has been taken in by the worker (the instant
   is fixed once a quarter of the cases are open, from the rate seen so far; a window that starts
   before every case is in is reported, `late_open_s`);
3. during the window, the cases that arrive in it are opened at their arrival instants;
4. lag = row recorded − due instant, for every due instant in the window; the script waits at
   most `--wait-after` s past the window for their rows;
5. the window's cases are terminated, so that their later due instants do not fire into the
   next shape's window.
"""

from __future__ import annotations

import argparse
import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from bench._deadlines import (
    bare_cases,
    bare_starter,
    bench_policy,
    event_rows,
    fractions,
    product_cases,
    product_starter,
)
from bench._harness import SERVER_DESCRIPTION, begin, footer, log, ratio, table

HOUR = 3600.0
# DOMAIN.md "Grades and deadlines": (what, target in seconds, share of cases). The targets are the
# domain's; the shares are this bench's assumption (the domain gives none). Calendar time throughout:
# the product counts P2–P4 in working time, which only moves the instants, not their density.
GRADES: tuple[tuple[str, float, float], ...] = (
    ("first reply", 0.5 * HOUR, 0.30),
    ("first reply, urgent", 0.25 * HOUR, 0.05),
    ("first reply, VIP phone", 5 * 60.0, 0.05),
    ("first reply, e-mail", 24 * HOUR, 0.10),
    ("respond, P1", 2 * HOUR, 0.05),
    ("respond, P2", 4 * HOUR, 0.15),
    ("respond, P3", 8 * HOUR, 0.20),
    ("respond, P4", 24 * HOUR, 0.10),
)
DAY_LAG_TARGET_S = 1.0  # issue 19 §6 a: lag p99 ≤ 1 s with the day's deadlines
DEFAULT_RATE = 20.0  # cases/s, when no background case is there to measure the opening rate by
BACKGROUND_TARGET_S = 24 * HOUR  # the desk's other open cases: first due instant 18 h away


@dataclass(frozen=True)
class DayCase:
    """One case of the window: it arrives at `arrival` s (relative to the window's start; < 0: before
    it) with target `target_s`; `measured` are the fractions whose due instants fall in the window."""

    arrival: float
    grade: str
    target_s: float
    measured: tuple[float, ...]

    def due(self, fraction: float) -> float:
        return self.arrival + fraction * self.target_s


def day_schedule(
    cases: int,
    day_s: float,
    window_s: float,
    fractions: Sequence[float],
    seed: int = 19,
    grades: Sequence[tuple[str, float, float]] = GRADES,
) -> list[DayCase]:
    """The cases of the steady stream (one every day_s / cases, a grade drawn by `seed`) that arrive
    in the window or have a due instant in it. Due instants in the window: ≈ len(fractions) ×
    cases × window_s / day_s, one kind as many as another."""
    rng = random.Random(seed)
    gap = day_s / cases
    longest = max(target for _, target, _ in grades) * max(fractions)
    names = [g for g in grades]
    weights = [share for *_, share in grades]
    out = []
    arrival = -longest + rng.random() * gap  # a random phase, so the window does not start on an arrival
    while arrival < window_s:
        grade, target, _ = rng.choices(names, weights)[0]
        measured = tuple(f for f in fractions if 0 <= arrival + f * target < window_s)
        if measured or arrival >= 0:
            out.append(DayCase(arrival, grade, target, measured))
        arrival += gap
    return out


# ---- the run and its report (deadline_lag.py --day) ------------------------------------------


def shown(summary: dict[str, Any] | None, key: str) -> Any:
    """A percentile, marked "≥" when events still missing make it a lower bound."""
    if not summary or summary.get(key) is None:
        return None
    bound = summary.get("lower_bound_from_s")
    value = summary[key]
    return f"≥{value:.2f}" if bound is not None and value >= bound else value


def render_day(result: dict[str, Any]) -> str:
    s = shown
    rows = []
    for r in result["runs"]:
        c, o = r["cpu_window"], r["opening"]
        rows.append(
            [
                r["shape"], r["cases_open"], r["recorded_events"], r["missing_events"],
                s(r["lag"], "p50_s"), s(r["lag"], "p95_s"), s(r["lag"], "p99_s"), s(r["lag"], "max_s"),
                s(r["breach_lag"], "p99_s"), o["open_rate_per_s"], o["slack_s"],
                c.get("server_cores"), c.get("worker_cores"), c.get("machine_busy_pct"),
            ]
        )  # fmt: skip
    kinds = result["runs"][0]["events_by_kind"] if result["runs"] else {}
    lines = [
        f"Deadline lag over a working day: {result['cases']} open cases, a day of {result['day_hours']:g} h "
        f"(one case every {result['day_hours'] * 3600 / result['cases']:.1f} s), measured over {result['window_s']:g} s: "
        f"{result['expected_events_in_window']} due instants expected in the window "
        f"({result['events_per_s']:.2f}/s), here {kinds}",
        table(
            ["shape", "open", "events", "missing", "p50 s", "p95 s", "p99 s", "max s", "breach p99 s", "opened/s",
             "slack s", "server", "worker", "busy %"],
            rows,
        ),
        "  (lag = row recorded - due instant, over the due instants in the window; slack: the window began this",
        "   long after the worker had taken in every case (< 0: before); server / worker: CPU cores in the window)",
    ]  # fmt: skip
    for r in result["runs"]:
        met = "met" if r["lag"].get("p99_s") is not None and r["lag"]["p99_s"] <= DAY_LAG_TARGET_S else "missed"
        lines.append(
            f"{r['shape']}: lag p99 {r['lag'].get('p99_s')} s (target ≤ {DAY_LAG_TARGET_S:g} s: {met}); "
            f"timer lag p99 {(r['timer_lag'] or {}).get('p99_s')} s; {r['window_cases']} cases in the window, "
            f"{r['arrivals_in_window']} arrived in it; opening {r['opening']['open_s']} s"
        )
    q = result["comparison"]
    if q:
        lines.append(f"Product vs bare: p50 lag × {q['p50_lag_x']}, p99 lag × {q['p99_lag_x']} "
                     f"(+{q['p99_lag_above_bare_s']} s)")  # fmt: skip
    return "\n".join([*lines, *footer(result)])


def _day_compare(runs: list[dict[str, Any]]) -> dict[str, Any] | None:
    by = {r["shape"]: r for r in runs}
    bare, product = by.get("bare"), by.get("product")
    if bare is None or product is None:
        return None
    p99 = (product["lag"].get("p99_s"), bare["lag"].get("p99_s"))
    return {
        "p50_lag_x": ratio(product["lag"].get("p50_s"), bare["lag"].get("p50_s")),
        "p99_lag_x": ratio(*p99),
        "p99_lag_above_bare_s": round(p99[0] - p99[1], 3) if None not in p99 else None,  # type: ignore[operator]
        "product_p99_target_met": p99[0] is not None and p99[0] <= DAY_LAG_TARGET_S,
    }


async def bench_day(args: argparse.Namespace) -> dict[str, Any]:
    setup = begin(args)
    fr = fractions(bench_policy(timedelta(hours=1)))
    day_s = args.day_hours * 3600
    schedule = day_schedule(args.cases, day_s, args.window, fr, args.seed)
    runs: list[dict[str, Any]] = []
    async with setup.environment(api=False) as env:
        for shape in args.shapes:
            if shape == "bare":
                start = bare_starter(env.client, fr)

                async def taken_in() -> int:
                    return await bare_cases(env)
            else:
                start = product_starter(env.client, datetime.now(UTC).strftime("%Y%m%d"))

                async def taken_in() -> int:
                    return await product_cases(env)

            async def rows(shape: str = shape) -> list[Any]:
                return await event_rows(env, shape, fr)

            from bench._day_phase import run_day_phase  # it imports this module's schedule

            run = await run_day_phase(
                env, shape, fr, schedule, args.cases, start, taken_in, rows,
                window_s=args.window, wait_after=args.wait_after, lead_s=args.lead, concurrency=args.concurrency,
                seed=args.seed,
            )  # fmt: skip
            log(f"{shape}: {run['recorded_events']}/{run['expected_events']} events, lag p50 {run['lag'].get('p50_s')} s, "
                f"p99 {run['lag'].get('p99_s')} s")  # fmt: skip
            runs.append(run)
    return {
        "benchmark": "deadline_lag",
        "mode": "day",
        "cases": args.cases,
        "day_hours": args.day_hours,
        "window_s": args.window,
        "lead_s": args.lead,
        "seed": args.seed,
        "fractions": fr,
        "grades": [{"what": g, "target_s": t, "share": sh} for g, t, sh in GRADES],
        "expected_events_in_window": round(len(fr) * args.cases * args.window / day_s, 1),
        "events_per_s": round(len(fr) * args.cases / day_s, 3),
        "wait_after_s": args.wait_after,
        "shapes": args.shapes,
        **setup.fields(),
        "server": SERVER_DESCRIPTION,
        "database": f"SQLite file (WAL) in a temp dir, {env.db.version}",
        "runs": runs,
        "comparison": _day_compare(runs),
        "lag_target_p99_s": DAY_LAG_TARGET_S,
        **setup.facts(),
    }
