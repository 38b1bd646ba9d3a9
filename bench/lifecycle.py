"""Closed-loop throughput and latency of whole cases, product against a bare workflow of the same shape.

    python bench/lifecycle.py [--levels 10,25,50] [--seconds 15] [--warmup 3]
                              [--options '{"max_cached_workflows": 2000}'] [--local-activities record_transition]
                              [--plot bench/lifecycle.png] [--out bench/results/lifecycle.json]

At each concurrency level N, N virtual users each drive one case after another
from receipt to a satisfied close (receipt → triage → accept → plan → approve →
execution by the workflow → feedback → closed; a closed case archives only after
its fix check a week later, which no bench waits for), for `--warmup` + `--seconds`;
cases that complete inside the measured window count. Three shapes, one after
another at each level (so drift hits all three alike):

- bare:   `bench.bare.BareWorkflow` through the Temporal client: 6 updates (one with
          the start), 3 local and 6 regular one-row-write activities, a deadline timer,
          the product's sandbox, ending at `closed`: the same shape as a case
          (bench/README.md, "The two sides");
- client: `CaseWorkflow` through the Temporal client, updates sent directly
          (update-with-start + `receipt`, then triage, accept, propose_plan,
          approve, record_feedback): the workflow, its activities and the database;
- api:    the same through the HTTP API (POST /cases, /triage, /accept, /plan,
          /approve, /feedback) with httpx over real TCP to uvicorn running the
          product's app **in this process** (not an ASGI transport).

Everything starts fresh: an in-memory Temporal dev server (1 task-queue
partition, the project's search attributes), a SQLite database in a temp
directory, the product's and the bare workers in **one child process**
(`--worker-processes N`: N of them; `worker.build_worker(..., **options)`; bare
with the same options), the API. Reports throughput (cases/s) and end-to-end
latency (open → closed, p50/p99), their ratios to bare, CPU of server / worker /
this process (cores, and ms per completed case), and a plot.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench._drive import (
    CaseResult,
    lifecycle_api,
    lifecycle_bare,
    lifecycle_client,
    pinned,
)
from bench._harness import (
    API_TRANSPORT,
    SERVER_DESCRIPTION,
    CpuMeter,
    Env,
    api_client,
    begin,
    common_args,
    footer,
    latency_summary,
    log,
    percentile,
    profile_summary,
    ratio,
    run_main,
    script,
    start_py_spy,
    table,
)

SHAPES = ("bare", "client", "api")
THROUGHPUT_TARGET = 0.9  # issue 19: ≥ 0.9 × the fair bare
WORKER_CPU_TARGET = 1.25  # issue 19 §4: worker CPU per case ≤ 1.25 × bare's


async def run_level(
    env: Env,
    shape: str,
    users: int,
    warmup: float,
    seconds: float,
    drive: Callable[[], Awaitable[CaseResult]],
    profile_dir: Path | None = None,
) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    done: list[tuple[float, float, CaseResult]] = []
    errors: list[str] = []
    stopping = False

    async def user() -> None:
        while not stopping:
            began = loop.time()
            try:
                result = await asyncio.wait_for(drive(), 180)
            except Exception as error:  # noqa: BLE001 - counted and reported
                errors.append(f"{type(error).__name__}: {str(error)[:200]}")
                await asyncio.sleep(0.1)
                continue
            done.append((began, loop.time(), result))

    meter = env.meter()
    start = loop.time()
    tasks = [asyncio.create_task(user()) for _ in range(users)]
    spies: dict[str, tuple[Any, Path]] = {}
    try:
        await asyncio.sleep(warmup)
        errors_before = len(errors)
        t0, m0 = loop.time(), meter.mark()
        if profile_dir is not None:
            targets = {"bench": os.getpid()}
            if env.worker and env.worker.process:
                targets["worker"] = env.worker.process.pid  # the first worker process
            for name, pid in targets.items():
                path = profile_dir / f"{shape}-{users}-{name}.txt"
                spies[name] = (start_py_spy(pid, seconds, path), path)
        await asyncio.sleep(seconds)
        t1, m1 = loop.time(), meter.mark()
        errors_in_window = len(errors) - errors_before
        stopping = True
        drained = True
        try:
            await asyncio.wait_for(asyncio.gather(*tasks), 120)
        except TimeoutError:
            drained = False
    finally:
        stopping = True
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    env.check_alive()
    profiles = {}
    for name, (spy, path) in spies.items():
        if spy is not None:
            await asyncio.to_thread(spy.wait, 60)
            profiles[name] = profile_summary(path)
    window = [(b, e, r) for b, e, r in done if t0 <= e <= t1]
    latencies = [e - b for b, e, _ in window]
    steps: dict[str, float | None] = {}
    steps_p99: dict[str, float | None] = {}
    for name in window[0][2].steps if window else {}:
        values = [r.steps[name] for _, _, r in window if name in r.steps]
        steps[name] = round(1000 * percentile(values, 50), 1) if values else None
        steps_p99[name] = round(1000 * percentile(values, 99), 1) if values else None
    cpu = CpuMeter.between(m0, m1)
    per_case = {
        # (no worker figure when the workers run in this process: they are in "bench")
        name: round(1000 * cpu[f"{name}_cpu_s"] / len(window), 1) if window and f"{name}_cpu_s" in cpu else None
        for name in ("server", "worker", "bench")
    }
    return {
        "shape": shape,
        "concurrency": users,
        "completed": len(window),
        "throughput": round(len(window) / (t1 - t0), 2),
        "latency_ms": latency_summary(latencies),
        "step_p50_ms": steps,
        "step_p99_ms": steps_p99,
        "errors": errors_in_window,
        "errors_total": len(errors),
        "error_samples": sorted(set(errors))[:3],
        "refused_feedback_per_case": round(sum(r.refused_feedback for *_, r in window) / len(window), 2)
        if window
        else None,
        "cpu": cpu,
        # CPU per completed case: what throughput becomes once the cores are the limit, and less
        # disturbed than throughput by other load on a shared machine.
        "cpu_ms_per_case": per_case,
        "drained": drained,
        "profile": profiles or None,
        "wall_s": round(loop.time() - start, 1),
    }


def _cpu_case(run: dict[str, Any]) -> float | None:
    c = run["cpu_ms_per_case"]
    return None if c["server"] is None or c["worker"] is None else c["server"] + c["worker"]


def ratios(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    by = {(r["shape"], r["concurrency"]): r for r in runs}
    for (shape, level), run in by.items():
        bare = by.get(("bare", level))
        if shape == "bare" or bare is None:
            continue
        out.append(
            {
                "shape": shape,
                "concurrency": level,
                "throughput_ratio": ratio(run["throughput"], bare["throughput"]),
                "p50_latency_ratio": ratio(run["latency_ms"]["p50"], bare["latency_ms"]["p50"]),
                "p99_latency_ratio": ratio(run["latency_ms"]["p99"], bare["latency_ms"]["p99"]),
                # server + worker CPU per case, bare / product: > 0.8 means the product is that efficient
                "cpu_efficiency": ratio(_cpu_case(bare), _cpu_case(run)),
                # Issue 19 §4: worker CPU per case, product ÷ bare (None when the workers run in this process)
                "worker_cpu_per_case_ratio": ratio(run["cpu_ms_per_case"]["worker"], bare["cpu_ms_per_case"]["worker"]),
            }
        )
    return out


def plot(result: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = result["runs"]
    levels = sorted({r["concurrency"] for r in runs})
    colors = {"bare": "tab:gray", "client": "tab:blue", "api": "tab:orange"}
    labels = {
        "bare": "bare workflow (same shape)",
        "client": "product via Temporal client",
        "api": "product via HTTP API",
    }
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    for shape in result["shapes"]:
        mine = sorted((r for r in runs if r["shape"] == shape), key=lambda r: r["concurrency"])
        xs = [r["concurrency"] for r in mine]
        left.plot(xs, [r["throughput"] for r in mine], "o-", color=colors[shape], label=labels[shape])
        right.plot(xs, [r["latency_ms"]["p50"] / 1000 for r in mine], "o-", color=colors[shape], label=f"{shape} p50")
        right.plot(xs, [r["latency_ms"]["p99"] / 1000 for r in mine], "s--", color=colors[shape], label=f"{shape} p99")
    left.set(xlabel="concurrent cases (closed loop)", ylabel="cases completed / s", title="Throughput", xticks=levels)
    left.set_ylim(bottom=0)
    right.set(
        xlabel="concurrent cases (closed loop)", ylabel="open → closed (s)", title="End-to-end latency", xticks=levels
    )
    right.set_ylim(bottom=0)
    left.legend(fontsize=8)
    right.legend(fontsize=7, ncol=2)
    m = result["machine"]
    fig.suptitle(
        f"Aftersales case lifecycle vs bare workflow — {m['nproc']} cores, in-memory dev server, {m['date'][:10]}",
        fontsize=10,
    )
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def profile_lines(result: dict[str, Any]) -> list[str]:
    lines = []
    for r in result["runs"]:
        for process, p in (r.get("profile") or {}).items():
            areas = ", ".join(f"{k.strip()} {v} %" for k, v in p["areas_pct"].items() if v)
            lines.append(
                f"Profile {r['shape']}@{r['concurrency']} {process} ({p['busy_samples']} busy samples): {areas}"
            )
    return lines


def _verdict(value: float | None, target: float, at_least: bool) -> str:
    if value is None:
        return "-"
    if (value >= target) if at_least else (value <= target):
        return "met"
    return f"missed by {abs(value - target):.2f}"


def render(result: dict[str, Any]) -> str:
    rows = []
    for r in result["runs"]:
        c = r["cpu"]
        k = r["cpu_ms_per_case"]
        rows.append(
            [
                r["shape"], r["concurrency"], r["completed"], r["throughput"],
                r["latency_ms"]["p50"], r["latency_ms"]["p99"], r["errors"],
                c.get("server_cores"), c.get("worker_cores"), c.get("bench_cores"), c.get("machine_busy_pct"),
                k["server"], k["worker"],
            ]
        )  # fmt: skip
    lines = [
        "Case lifecycle, closed loop: receipt → triage → accept → plan → approve → execute → feedback → closed",
        table(
            ["shape", "conc", "cases", "cases/s", "p50 ms", "p99 ms", "errors", "server", "worker", "bench", "busy %",
             "srv ms/case", "wrk ms/case"],
            rows,
        ),
        "  (server / worker / bench: CPU cores used; bench = driver + API + uvicorn, in this process;",
        "   ms/case: CPU milliseconds per completed case)",
        "",
        f"Against the bare workflow at the same concurrency (issue 19 targets: throughput ≥ {THROUGHPUT_TARGET} × bare "
        f"via client and via API; worker CPU per case ≤ {WORKER_CPU_TARGET} × bare):",
        table(
            ["shape", "conc", "throughput ×", "target", "worker CPU/case ×", "target", "p50 latency ×", "p99 latency ×",
             "CPU efficiency"],
            [
                [
                    q["shape"], q["concurrency"], q["throughput_ratio"],
                    _verdict(q["throughput_ratio"], THROUGHPUT_TARGET, at_least=True),
                    q.get("worker_cpu_per_case_ratio"),
                    _verdict(q.get("worker_cpu_per_case_ratio"), WORKER_CPU_TARGET, at_least=False),
                    q["p50_latency_ratio"], q["p99_latency_ratio"], q["cpu_efficiency"],
                ]
                for q in result["ratios"]
            ],
        ),
        "",
        "Step p50 (ms): "
        + "; ".join(f"{r['shape']}@{r['concurrency']} " + " ".join(f"{k}={v}" for k, v in r["step_p50_ms"].items()) for r in result["runs"]),
        "CPU efficiency = (server + worker CPU per bare case) / (the same per product case).",
        *profile_lines(result),
        *footer(result),
    ]  # fmt: skip
    return "\n".join(lines)


async def bench(args: argparse.Namespace) -> dict[str, Any]:
    setup = begin(args)
    runs: list[dict[str, Any]] = []
    async with setup.environment() as env:
        policy, calendar = await pinned(env.db.engine)
        brief = args.answers == "brief"
        async with api_client(env, connections=max(args.levels) + 10, timeout=120) as http:
            drivers: dict[str, Callable[[], Awaitable[CaseResult]]] = {
                "bare": lambda: lifecycle_bare(env.client, env.db.engine),
                "client": lambda: lifecycle_client(env.client, env.db.engine, policy, calendar, brief=brief),
                "api": lambda: lifecycle_api(http, env.client, env.db.engine, brief=brief),
            }
            # One case of each shape first: imports, sandbox, connections.
            for shape in args.shapes:
                await drivers[shape]()
            for level in args.levels:
                for shape in args.shapes:
                    log(f"{shape} at concurrency {level}: {args.warmup:g} s warm-up + {args.seconds:g} s")
                    profile = Path(args.profile) if args.profile and level == args.levels[-1] else None
                    run = await run_level(env, shape, level, args.warmup, args.seconds, drivers[shape], profile)
                    log(
                        f"  {run['throughput']} cases/s, p50 {run['latency_ms']['p50']} ms, p99 {run['latency_ms']['p99']} ms, "
                        f"{run['errors']} errors"
                    )
                    runs.append(run)
        worker_statements = await env.worker_statements()
    result = {
        "benchmark": "lifecycle",
        "shapes": args.shapes,
        "levels": args.levels,
        "warmup_s": args.warmup,
        "seconds": args.seconds,
        "answers": args.answers,
        **setup.fields(),
        "api_transport": API_TRANSPORT,
        "server": SERVER_DESCRIPTION,
        "database": f"SQLite file (WAL) in a temp dir, {env.db.version}",
        "runs": runs,
        "ratios": ratios(runs),
        "worker_db_statements_total": worker_statements,
        **setup.facts(),
    }
    return result


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--levels", default="10,25,50", help="concurrency levels (default 10,25,50)")
    parser.add_argument("--seconds", type=float, default=15, help="measured seconds per level and shape (default 15)")
    parser.add_argument("--warmup", type=float, default=3, help="warm-up seconds per level and shape (default 3)")
    parser.add_argument("--shapes", default=",".join(SHAPES), help="which of bare,client,api (default all)")
    common_args(parser, answers=True, local_activities=True)
    parser.add_argument("--plot", default=str(ROOT / "bench" / "lifecycle.png"), help="PNG to write ('' for none)")
    parser.add_argument(
        "--profile", help="py-spy the worker and this process at the last level; collapsed stacks go here"
    )
    args = parser.parse_args(argv)
    args.levels = [int(v) for v in args.levels.split(",") if v]
    args.shapes = [s for s in args.shapes.split(",") if s]
    if not args.levels or min(args.levels) < 1 or not set(args.shapes) <= set(SHAPES):
        parser.error("bad --levels or --shapes")
    return args


def write_plot(args: argparse.Namespace, result: dict[str, Any]) -> None:
    if args.plot:
        with contextlib.suppress(ImportError):
            plot(result, Path(args.plot))
            log(f"plot written to {args.plot}")


main = script(
    parse_args, bench, render, ok=lambda result: all(r["errors_total"] == 0 for r in result["runs"]), after=write_plot
)


if __name__ == "__main__":
    sys.exit(run_main(main))
