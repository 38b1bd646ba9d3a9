"""Memory and idle cost of open cases: worker and server RSS per open case, CPU and database
statements while the cases sit waiting on their SLA timers, against bare workflows waiting on a timer.

    python bench/idle.py [--cases 2000] [--idle-seconds 60] [--concurrency 50]
                         [--options '{"max_cached_workflows": 12000}'] [--out bench/results/idle.json]
    python bench/idle.py --cases 10000          # the issue's target size

Two phases, each in a fresh environment (an in-memory dev server with one task-queue
partition and the project's search attributes, a fresh SQLite database) with the
worker in **its own process** (`python -m bench._workers worker`, i.e.
`worker.build_worker(client, store, queue, **options)` on its own engine), so that
psutil sees the worker's RSS and CPU alone:

- bare:    `bench.bare.BareWorkflow` opened by update-with-start (its two trivial
           writes done), then blocked on one 1-day durable timer;
- product: cases opened through `POST /cases` (uvicorn in this process, httpx over
           TCP); each is recorded and then waits for triage, blocked on its next SLA
           timer (the first-reply warning).

Each phase: open `--warmup-cases` (imports, sandbox, connections) and take the
baseline RSS of worker and server; open `--cases` (`--concurrency` at a time); wait
`--settle` s and take RSS again: (after − baseline) / cases; then for
`--idle-seconds` measure CPU of worker and server (psutil) and count the database
statements of the worker (SQLAlchemy `before_cursor_execute`, counted inside the
worker process) and of the API (its engine, in this process).

The workers' sticky cache is sized to hold every open case (cases + warm-up + 100)
unless `--options` sets `max_cached_workflows`: an evicted case costs no worker
memory until it wakes, and then a full replay. `--options '{}'` measures the
product's default (the SDK's 1000).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from sqlalchemy import text

from bench._drive import open_api, open_bare
from bench._harness import (
    BARE_QUEUE,
    PRODUCT_QUEUE,
    SERVER_DESCRIPTION,
    CpuMeter,
    Run,
    api_client,
    begin,
    common_args,
    footer,
    log,
    ratio,
    run_main,
    script,
    table,
)
from bench.bare import BareWorkflow
from workflows.case import CaseWorkflow

KIB = 1024
WORKER_TARGET_KIB = 100  # "at most 100 KB of worker memory per open case"
SHAPES = ("bare", "product")


async def open_many(
    count: int, concurrency: int, open_one: Callable[[], Awaitable[str]], check: Any
) -> tuple[list[str], int, float]:
    ids: list[str] = []
    errors = 0
    gate = asyncio.Semaphore(concurrency)
    began = time.monotonic()
    last = began

    async def one() -> None:
        nonlocal errors, last
        async with gate:
            try:
                ids.append(await open_one())
            except Exception as error:  # noqa: BLE001 - counted
                errors += 1
                if errors <= 3:
                    log(f"open failed: {type(error).__name__}: {str(error)[:200]}")
            if time.monotonic() - last > 10:
                last = time.monotonic()
                check()
                log(f"  {len(ids)}/{count} open ({len(ids) / (last - began):.1f}/s)")

    await asyncio.gather(*(one() for _ in range(count)))
    return ids, errors, time.monotonic() - began


async def stage_counts(engine: Any) -> dict[str, int]:
    async with engine.connect() as connection:
        rows = await connection.execute(text("SELECT stage, count(*) FROM cases GROUP BY stage"))
        return {stage: n for stage, n in rows}


def mib(values: dict[str, int]) -> dict[str, float]:
    return {k: round(v / 2**20, 1) for k, v in values.items()}


async def phase(args: argparse.Namespace, shape: str, setup: Run) -> dict[str, Any]:
    product = shape == "product"
    async with setup.environment(
        worker="subprocess",
        processes=1,
        local_activities=(),
        product_queue=PRODUCT_QUEUE if product else None,
        bare_queue=None if product else BARE_QUEUE,
        api=product,
    ) as env:
        assert env.worker is not None
        meter = env.meter()
        async with api_client(env, connections=args.concurrency + 10, timeout=120) as http:
            opener: Callable[[], Awaitable[str]] = (
                (lambda: open_api(http)) if product else (lambda: open_bare(env.client))
            )
            log(f"{shape}: warm-up, {args.warmup_cases} open")
            await open_many(args.warmup_cases, min(args.concurrency, args.warmup_cases), opener, env.check_alive)
            await asyncio.sleep(args.settle)
            rss_base = meter.rss()
            log(f"{shape}: baseline RSS " + ", ".join(f"{k} {v / 2**20:.0f} MiB" for k, v in rss_base.items()))

            log(f"{shape}: opening {args.cases}, {args.concurrency} at a time")
            m_open0 = meter.mark()
            ids, open_errors, open_s = await open_many(args.cases, args.concurrency, opener, env.check_alive)
            m_open1 = meter.mark()
            log(f"{shape}: opened {len(ids)} in {open_s:.0f} s ({len(ids) / open_s:.1f}/s), {open_errors} errors")
            await asyncio.sleep(args.settle)
            rss_open = meter.rss()
            log(f"{shape}: RSS with them open " + ", ".join(f"{k} {v / 2**20:.0f} MiB" for k, v in rss_open.items()))

            # One execution's history, for scale.
            run = CaseWorkflow.run if product else BareWorkflow.run
            info = (await env.client.get_workflow_handle_for(run, ids[len(ids) // 2]).describe()).raw_description
            history = {
                "events": info.workflow_execution_info.history_length,
                "bytes": info.workflow_execution_info.history_size_bytes,
            }

            log(f"{shape}: idle for {args.idle_seconds:g} s")
            q0 = await env.worker.stats()
            a0 = env.api.queries.snapshot() if env.api else {"total": 0}
            m0 = meter.mark()
            samples = []
            end = time.monotonic() + args.idle_seconds
            while (left := end - time.monotonic()) > 0:
                await asyncio.sleep(min(5.0, left))
                env.check_alive()
                samples.append(mib(meter.rss()))
            m1 = meter.mark()
            q1 = await env.worker.stats()
            a1 = env.api.queries.snapshot() if env.api else {"total": 0}
            stages = await stage_counts(env.db.engine) if product else None
            rss_end = meter.rss()

    opened = len(ids)
    per_case = {k: round((rss_open[k] - rss_base[k]) / opened / KIB, 1) if opened else None for k in rss_base}
    return {
        "shape": shape,
        "opened": opened,
        "open_errors": open_errors,
        "open_rate_per_s": round(opened / open_s, 1) if open_s else None,
        "open_cpu": CpuMeter.between(m_open0, m_open1),
        "stages_in_database": stages,
        "sample_history": history,
        "rss_mib": {
            "baseline": mib(rss_base),
            "open": mib(rss_open),
            "after_idle": mib(rss_end),
            "idle_samples": samples,
        },
        "rss_per_open_case_kib": per_case,
        "idle_cpu": CpuMeter.between(m0, m1),
        "idle_db_statements": {
            "worker": q1["queries"]["total"] - q0["queries"]["total"],
            "api": a1["total"] - a0["total"],
        },
        "worker_db_statements_total": q1["queries"]["total"],
    }


async def bench(args: argparse.Namespace) -> dict[str, Any]:
    # Unless --options says otherwise, the sticky cache holds every open case (see above).
    options = None if args.options is not None else {"max_cached_workflows": args.cases + args.warmup_cases + 100}
    setup = begin(args, options)
    phases = {shape: await phase(args, shape, setup) for shape in args.shapes}
    product, bare = phases.get("product"), phases.get("bare")
    worker_kib = product["rss_per_open_case_kib"]["worker"] if product else None
    comparison = None
    if product and bare:
        comparison = {
            f"{k}_rss_per_case_vs_bare": ratio(product["rss_per_open_case_kib"][k], bare["rss_per_open_case_kib"][k])
            for k in ("worker", "server")
        }
    return {
        "benchmark": "idle",
        "cases": args.cases,
        "warmup_cases": args.warmup_cases,
        "idle_seconds": args.idle_seconds,
        **setup.fields(),
        "phases": phases,
        "comparison": comparison,
        "worker_target_kib": WORKER_TARGET_KIB,
        "worker_target_met": worker_kib is not None and worker_kib <= WORKER_TARGET_KIB,
        "server": SERVER_DESCRIPTION,
        **setup.facts(),
    }


def render(r: dict[str, Any]) -> str:
    rows = []
    for shape, p in r["phases"].items():
        idle = p["idle_cpu"]
        for name in ("worker", "server", "bench"):
            if name not in p["rss_mib"]["baseline"]:
                continue
            stmts = (
                p["idle_db_statements"]["worker"]
                if name == "worker"
                else p["idle_db_statements"]["api"]
                if name == "bench" and shape == "product"
                else "-"
            )
            rows.append(
                [
                    shape, "bench (API)" if name == "bench" and shape == "product" else name,
                    p["rss_mib"]["baseline"].get(name), p["rss_mib"]["open"].get(name), p["rss_per_open_case_kib"].get(name),
                    idle.get(f"{name}_cpu_s"), idle.get(f"{name}_cores"), stmts,
                ]
            )  # fmt: skip
    lines = [
        f"Open executions sitting idle ({r['cases']} per shape, + {r['warmup_cases']} warm-up; idle window {r['idle_seconds']:g} s)",
        table(
            ["shape", "process", "RSS base MiB", "RSS open MiB", "KiB/open", "idle CPU s", "cores", "DB stmts"], rows
        ),
    ]
    product = r["phases"].get("product")
    if product:
        kib = product["rss_per_open_case_kib"]["worker"]
        verdict = (
            "met"
            if r["worker_target_met"]
            else f"missed by {kib - WORKER_TARGET_KIB:.0f} KiB ({kib / WORKER_TARGET_KIB:.2f}×)"
        )
        idle = product["idle_cpu"]
        lines += [
            f"Worker memory per open case: {kib} KiB (target ≤ {WORKER_TARGET_KIB} KB: {verdict}); "
            f"server {product['rss_per_open_case_kib']['server']} KiB",
            f"Idle: worker {idle.get('worker_cores')} cores, server {idle.get('server_cores')} cores; database statements: "
            f"worker {product['idle_db_statements']['worker']}, API {product['idle_db_statements']['api']} "
            f"(target: none, near-zero CPU)",
            f"Opening through POST /cases: {product['open_rate_per_s']}/s, {product['open_errors']} errors; "
            f"stages {product['stages_in_database']}",
        ]
    if r["comparison"]:
        lines.append(f"Against bare: {r['comparison']}")
    for shape, p in r["phases"].items():
        lines.append(
            f"{shape}: one execution's history {p['sample_history']['events']} events, {p['sample_history']['bytes']} bytes"
        )
    lines += footer(r)
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--cases", type=int, default=2000, help="open executions per shape (default 2000; target 10000)"
    )
    parser.add_argument("--idle-seconds", type=float, default=60, help="idle window per shape (default 60)")
    parser.add_argument("--concurrency", type=int, default=50, help="opens in flight (default 50)")
    parser.add_argument("--warmup-cases", type=int, default=20)
    parser.add_argument("--settle", type=float, default=5, help="seconds to wait before taking RSS (default 5)")
    parser.add_argument("--shapes", default=",".join(SHAPES), help="bare,product (default both)")
    common_args(
        parser,
        worker=False,
        options_default=None,
        options_help="JSON Worker options (default: cache sized to the cases)",
    )
    args = parser.parse_args(argv)
    args.shapes = [s for s in args.shapes.split(",") if s]
    if args.cases < 1 or args.idle_seconds <= 0 or args.concurrency < 1 or args.warmup_cases < 1:
        parser.error("--cases, --idle-seconds, --concurrency and --warmup-cases must be positive")
    if not args.shapes or not set(args.shapes) <= set(SHAPES):
        parser.error("bad --shapes")
    return args


def _ok(result: dict[str, Any]) -> bool:
    product = result["phases"].get("product")
    return product is None or (product["open_errors"] == 0 and product["idle_db_statements"]["worker"] == 0)


main = script(parse_args, bench, render, ok=_ok)


if __name__ == "__main__":
    sys.exit(run_main(main))
