"""Opening cases at fixed request rates (open loop): `POST /cases` against raw `client.start_workflow`.

    python bench/start.py [--rates 10,20,40,80] [--seconds 8] [--timeout 30] [--out bench/results/start.json]

At each rate R, requests are fired at fixed instants (i / R) for `--seconds`,
whatever the earlier ones are doing (open loop); each one's latency counts from
its scheduled instant, so a stalled generator cannot hide queueing. A request
that fails or takes longer than `--timeout` is an error. Five shapes, one after
another at each rate:

- raw_start:   `client.start_workflow` of the bare workflow (`bench.bare`): returns
               once the server has persisted the start — the issue's baseline;
- bare_uws:    update-with-start of the bare workflow, returning when its `receipt`
               update does, after its first two writes ran as local activities (the
               product's receipt: suggest_triage + record_transition, both local):
               what POST /cases promises (the case is recorded), minus the product;
- product_uws: what POST /cases does with Temporal, from the client: update-with-start
               of `CaseWorkflow` + `receipt` (suggest_triage + record_transition);
- post_cases:  `POST /cases` over HTTP (httpx → uvicorn in this process): the
               case-number counter and the pinned rules in SQLite, then the above;
- post_async:  `POST /cases` with `Prefer: respond-async`: 202 as soon as Temporal has
               accepted the start;
- http_floor:  `GET /healthz` over the same client and server: what the HTTP stack alone
               costs (httpx, uvicorn, the app's middleware, authentication excepted), the
               floor under both POST shapes.

Issue 19 §3's targets, per rate, in the table and in `comparisons`: post_async p50 ≤ 1.3 ×
raw_start p50 (`post_async_vs_raw_start_p50`, `async_target_met`) and post_cases p50 ≤ 1.3 ×
bare_uws p50 (`post_vs_bare_uws_p50`, `sync_target_met`). `async_floor_vs_raw_start_p50`
is (http_floor p50 + raw_start p50) ÷ raw_start p50: about the least the async ratio could be
were everything the product does between the two free.

Started cases stay open (they wait for triage); a run leaves rate × seconds of them.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench._drive import http_floor, open_api, open_api_async, open_bare, open_product, pinned, start_bare
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
    ratio,
    run_main,
    script,
    table,
)

SHAPES = ("raw_start", "bare_uws", "product_uws", "post_cases", "post_async", "http_floor")
P50_TARGET = 1.3


async def run_rate(
    env: Env, shape: str, rate: float, seconds: float, timeout: float, send: Callable[[], Awaitable[Any]]
) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    latencies: list[float] = []
    errors: list[str] = []
    late_sends: list[float] = []

    async def one(at: float) -> None:
        late_sends.append(loop.time() - at)
        try:
            await asyncio.wait_for(send(), timeout - (loop.time() - at))
            latencies.append(loop.time() - at)
        except Exception as error:  # noqa: BLE001 - counted
            errors.append(f"{type(error).__name__}: {str(error)[:160]}")

    meter = env.meter()
    count = int(rate * seconds)
    m0 = meter.mark()
    t0 = loop.time() + 0.05
    tasks = []
    for i in range(count):
        at = t0 + i / rate
        await asyncio.sleep(max(at - loop.time(), 0))
        tasks.append(asyncio.create_task(one(at)))
    sent = loop.time()
    m1 = meter.mark()
    await asyncio.gather(*tasks)
    finished = loop.time()
    env.check_alive()
    return {
        "shape": shape,
        "rate": rate,
        "requests": count,
        "ok": len(latencies),
        "errors": len(errors),
        "error_samples": sorted(set(errors))[:3],
        "latency_ms": latency_summary(latencies),
        # Completed per second from the first request to the last answer: below the rate = saturated.
        "completed_per_s": round(len(latencies) / (finished - t0), 2),
        "generator_late_ms_max": round(1000 * max(late_sends), 1) if late_sends else None,
        "cpu_while_sending": CpuMeter.between(m0, m1),
        "drain_s": round(finished - sent, 2),
    }


def _met(value: float | None) -> bool | None:
    return None if value is None else value <= P50_TARGET


def _verdict(value: float | None) -> str:
    if value is None:
        return "-"
    return "met" if value <= P50_TARGET else f"missed by {value - P50_TARGET:.2f}"


def comparisons(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    by = {(r["shape"], r["rate"]): r for r in runs}
    out = []
    for rate in sorted({r["rate"] for r in runs}):
        raw, bare, product, post, post_async, floor = (by.get((s, rate)) for s in SHAPES)

        def p(run: dict[str, Any] | None, q: str) -> float | None:
            return run["latency_ms"][q] if run else None

        out.append(
            {
                "rate": rate,
                "post_vs_raw_start_p50": ratio(p(post, "p50"), p(raw, "p50")),
                "post_vs_raw_start_p99": ratio(p(post, "p99"), p(raw, "p99")),
                "post_vs_bare_uws_p50": ratio(p(post, "p50"), p(bare, "p50")),
                "post_vs_bare_uws_p99": ratio(p(post, "p99"), p(bare, "p99")),
                "product_uws_vs_bare_uws_p50": ratio(p(product, "p50"), p(bare, "p50")),
                "post_vs_product_uws_p50": ratio(p(post, "p50"), p(product, "p50")),
                "post_errors": post["errors"] if post else None,
                "post_async_vs_raw_start_p50": ratio(p(post_async, "p50"), p(raw, "p50")),
                "post_async_vs_raw_start_p99": ratio(p(post_async, "p99"), p(raw, "p99")),
                "post_async_errors": post_async["errors"] if post_async else None,
                "http_floor_p50_ms": p(floor, "p50"),
                "async_floor_vs_raw_start_p50": ratio(
                    None if floor is None or raw is None else p(floor, "p50") + p(raw, "p50"), p(raw, "p50")
                ),
                # The two targets (§3), as measured in this run:
                "async_target_met": _met(ratio(p(post_async, "p50"), p(raw, "p50"))),
                "sync_target_met": _met(ratio(p(post, "p50"), p(bare, "p50"))),
            }
        )
    return out


def render(result: dict[str, Any]) -> str:
    rows = []
    for r in result["runs"]:
        c = r["cpu_while_sending"]
        rows.append(
            [
                r["shape"], r["rate"], r["requests"], r["errors"], r["completed_per_s"],
                r["latency_ms"]["p50"], r["latency_ms"]["p99"], r["latency_ms"]["max"],
                c.get("server_cores"), c.get("worker_cores"), c.get("bench_cores"),
            ]
        )  # fmt: skip
    targets = [
        [
            c["rate"], c["post_async_vs_raw_start_p50"], _verdict(c["post_async_vs_raw_start_p50"]),
            c["post_vs_bare_uws_p50"], _verdict(c["post_vs_bare_uws_p50"]), c["post_async_errors"], c["post_errors"],
        ]
        for c in result["comparisons"]
    ]  # fmt: skip
    comp = [
        [
            c["rate"], c["post_vs_raw_start_p50"], c["post_vs_raw_start_p99"], c["post_vs_bare_uws_p99"],
            c["product_uws_vs_bare_uws_p50"], c["post_vs_product_uws_p50"], c["post_async_vs_raw_start_p99"],
            c["http_floor_p50_ms"], c["async_floor_vs_raw_start_p50"],
        ]
        for c in result["comparisons"]
    ]  # fmt: skip
    return "\n".join(
        [
            "Opening cases, open loop at fixed rates (latency from each request's scheduled instant)",
            table(
                ["shape", "rate/s", "requests", "errors", "done/s", "p50 ms", "p99 ms", "max ms", "server", "worker", "bench"],
                rows,
            ),
            "",
            f"Issue 19 §3 targets, p50 ratios in this run (each ≤ {P50_TARGET}):",
            "  async = POST /cases with Prefer: respond-async ÷ raw start_workflow;",
            "  sync  = POST /cases (answered once recorded) ÷ bare update-with-start waiting for the same two writes",
            table(["rate/s", "async p50 ×raw", "async target", "sync p50 ×bare_uws", "sync target", "async errors",
                   "sync errors"], targets),
            "",
            "Other ratios:",
            table(["rate/s", "sync p50 ×raw", "sync p99 ×raw", "sync p99 ×bare_uws", "product_uws/bare_uws p50",
                   "sync/product_uws p50", "async p99 ×raw", "HTTP floor p50 ms", "floor+raw ×raw"], comp),
            *footer(result),
        ]
    )  # fmt: skip


async def bench(args: argparse.Namespace) -> dict[str, Any]:
    run = begin(args)
    runs = []
    async with run.environment() as env:
        policy, calendar = await pinned(env.db.engine)
        async with api_client(env, connections=1000, timeout=args.timeout) as http:
            senders: dict[str, Callable[[], Awaitable[Any]]] = {
                "raw_start": lambda: start_bare(env.client),
                "bare_uws": lambda: open_bare(env.client),
                "product_uws": lambda: open_product(env.client, policy, calendar),
                "post_cases": lambda: open_api(http),
                "post_async": lambda: open_api_async(http),
                "http_floor": lambda: http_floor(http),
            }
            for shape in args.shapes:  # warm up every path
                for _ in range(3):
                    await senders[shape]()
            for rate in args.rates:
                for shape in args.shapes:
                    log(f"{shape} at {rate:g}/s for {args.seconds:g} s")
                    measured = await run_rate(env, shape, rate, args.seconds, args.timeout, senders[shape])
                    log(
                        f"  p50 {measured['latency_ms']['p50']} ms, p99 {measured['latency_ms']['p99']} ms, "
                        f"{measured['errors']} errors"
                    )
                    runs.append(measured)
                    await asyncio.sleep(args.pause)
    return {
        "benchmark": "start",
        "shapes": args.shapes,
        "rates": args.rates,
        "seconds": args.seconds,
        "timeout_s": args.timeout,
        **run.fields(),
        "api_transport": API_TRANSPORT,
        "server": SERVER_DESCRIPTION,
        "runs": runs,
        "comparisons": comparisons(runs),
        "p50_target": P50_TARGET,
        **run.facts(),
    }


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rates", default="10,20,40,80", help="requests per second (default 10,20,40,80)")
    parser.add_argument("--seconds", type=float, default=8, help="seconds of requests per rate and shape (default 8)")
    parser.add_argument("--timeout", type=float, default=30, help="a request slower than this is an error (default 30)")
    parser.add_argument("--pause", type=float, default=2, help="seconds between runs (default 2)")
    parser.add_argument("--shapes", default=",".join(SHAPES))
    common_args(parser, local_activities=True)
    args = parser.parse_args(argv)
    args.rates = [float(v) for v in args.rates.split(",") if v]
    args.shapes = [s for s in args.shapes.split(",") if s]
    if not args.rates or min(args.rates) <= 0 or not set(args.shapes) <= set(SHAPES):
        parser.error("bad --rates or --shapes")
    return args


main = script(parse_args, bench, render)


if __name__ == "__main__":
    sys.exit(run_main(main))
