"""Worker scaling: how a deadline burst's drain rate changes with 1 and 2 worker processes.

    python bench/worker_scaling.py [--processes 1,2] [--repeats 3] [--cases 1200] [--spread 6]
                                   [--budget 90] [--wait-after 180] [--quiet-wait 60]
                                   [--out bench/results/worker-scaling.json]

Runs `bench/deadline_lag.py`'s product shape (a fresh dev server, SQLite, the product's
worker in N child processes) once per process count and repetition, alternating the
counts (1, 2, 1, 2, ...) so that the machine's drift falls on both alike, and reports
per count the range (min, median, max) of the drain rate (SLA events recorded per
second once the bursts are due), the lag p99, and the CPU the server and the workers
used while draining, with the machine's busy share before and during each run.

On a 2-core machine the server and the workers share the same two cores: a second
worker process can only help while the server leaves CPU free (deploy/README.md, "Sizing").
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script from a checkout that is not installed
    sys.path.insert(0, str(ROOT))

from bench import deadline_lag
from bench._harness import emit, log, machine, product_commit, run_main, table

HEADERS = ["rep", "procs", "recorded", "drain ev/s", "lag p99 s", "server", "worker", "busy before %", "busy %"]


def spread_of(values: list[float]) -> dict[str, float | None]:
    values = [v for v in values if v is not None]
    if not values:
        return {"min": None, "median": None, "max": None}
    return {"min": min(values), "median": round(statistics.median(values), 2), "max": max(values)}


def summary_of(run: dict[str, Any]) -> dict[str, Any]:
    """The figures of one deadline_lag run that the scaling question needs."""
    product = run["runs"][0]
    cpu = product["cpu_bursts"]
    return {
        "worker_processes": run["worker_processes"],
        "recorded_events": product["recorded_events"],
        "expected_events": product["expected_events"],
        "drain_events_per_s": product["drain_events_per_s"],
        "lag_p50_s": product["lag"].get("p50_s"),
        "lag_p99_s": product["lag"].get("p99_s"),
        "server_cores": cpu.get("server_cores"),
        "worker_cores": cpu.get("worker_cores"),
        "machine_busy_during_pct": cpu.get("machine_busy_pct"),
        "machine_busy_before_pct": run["machine_busy_before_pct"],
        "cpu_ms_per_event": product["cpu_ms_per_event"],
        "start_lateness_p99_s": product["start_lateness"].get("p99_s"),
        "other_processes": run["other_processes"],
        "date": run["machine"]["date"],
    }


async def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--processes", default="1,2", help="worker process counts, alternated (default 1,2)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--cases", type=int, default=1200)
    parser.add_argument("--spread", type=float, default=6)
    parser.add_argument("--budget", type=float, default=90)
    parser.add_argument("--wait-after", type=float, default=180)
    parser.add_argument("--quiet-wait", type=float, default=60)
    parser.add_argument("--out", help="also write the JSON here")
    args = parser.parse_args(argv)
    counts = [int(c) for c in args.processes.split(",") if c]
    began = time.monotonic()
    commit = product_commit()
    runs: list[dict[str, Any]] = []
    for repeat in range(1, args.repeats + 1):
        for count in counts:
            log(f"repeat {repeat}/{args.repeats}: {count} worker process(es)")
            one = deadline_lag.parse_args(
                [
                    "--shapes", "product",
                    "--cases", str(args.cases),
                    "--spread", str(args.spread),
                    "--budget", str(args.budget),
                    "--wait-after", str(args.wait_after),
                    "--worker-processes", str(count),
                    "--quiet-wait", str(args.quiet_wait),
                ]
            )  # fmt: skip
            runs.append(summary_of(await deadline_lag.bench(one)) | {"repeat": repeat})
    by_count = {}
    for count in counts:
        mine = [r for r in runs if r["worker_processes"] == count]
        by_count[str(count)] = {
            key: spread_of([r[key] for r in mine])
            for key in ("drain_events_per_s", "lag_p99_s", "server_cores", "worker_cores", "machine_busy_before_pct")
        }
    ratios = []
    if len(counts) == 2:  # drain rate of the larger count over the smaller, per repetition
        for repeat in range(1, args.repeats + 1):
            pair = {r["worker_processes"]: r["drain_events_per_s"] for r in runs if r["repeat"] == repeat}
            low, high = pair.get(counts[0]), pair.get(counts[1])
            if low and high:
                ratios.append(round(high / low, 2))
    result = {
        "benchmark": "worker_scaling",
        "shape": "product (deadline_lag.py), 3 SLA events per case: warnings at 75 % and 90 %, breach at 100 %",
        "cases": args.cases,
        "spread_s": args.spread,
        "budget_s": args.budget,
        "wait_after_s": args.wait_after,
        "processes": counts,
        "repeats": args.repeats,
        "runs": runs,
        "by_processes": by_count,
        "drain_ratio_per_repeat": ratios,
        "drain_ratio": spread_of(ratios),
        "machine": machine() | {"commit": commit},
        "total_s": round(time.monotonic() - began, 1),
    }
    rows = [
        [r["repeat"], r["worker_processes"], f"{r['recorded_events']}/{r['expected_events']}", r["drain_events_per_s"],
         r["lag_p99_s"], r["server_cores"], r["worker_cores"], r["machine_busy_before_pct"],
         r["machine_busy_during_pct"]]
        for r in runs
    ]  # fmt: skip
    text = "\n".join(
        [
            table(HEADERS, rows),
            f"drain rate {counts[-1]} ÷ {counts[0]} processes per repetition: {ratios}",
            f"commit {commit}; total {result['total_s']} s",
        ]
    )
    emit(text, result, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
