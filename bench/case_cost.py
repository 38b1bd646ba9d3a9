"""What one closed-loop case costs in history, product against the bare baseline (issue 19, §4).

    python bench/case_cost.py [--cases 20] [--concurrency 4] [--shapes bare,client,api] [--out FILE]

Runs `--cases` closed loops of each shape (bench/_drive.py, as bench/lifecycle.py drives
them: receipt → triage → accept → plan → approve → execution → feedback → closed), then
fetches each workflow's history and counts (bench/_history.py): events, history bytes (the
serialized protobuf, as the server stores and sends it), payload bytes, workflow tasks,
payload bytes per workflow task, and where the payload bytes come from (start input,
activity inputs and results per activity, local activity markers, update inputs and
results, search attributes, patch markers), with the JSON fields of each source.

None of it depends on the machine's load: these are bytes and counts, not times, so the
script may run on a busy machine (it still records the busy share and the commit). The
workers run in this process (`--worker inprocess`); the product's sandbox, options and
the bare baseline's shape are those of bench/lifecycle.py.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import httpx

from bench._drive import CaseResult, lifecycle_api, lifecycle_bare, lifecycle_client, pinned
from bench._harness import common_args, emit, environment, log, preflight, ratio, run_main, table
from bench._history import Cost, cost, shape

SHAPES = ("bare", "client", "api")
HISTORY_BYTES_TARGET = 2.0  # issue 19: history bytes per closed-loop case ≤ 2 × bare's


def _spread(values: list[float]) -> dict[str, float]:
    return {"mean": round(statistics.fmean(values), 1), "min": min(values), "max": max(values)}


def summarise(costs: list[Cost]) -> dict[str, Any]:
    by_source: Counter[str] = Counter()
    fields: dict[str, Counter[str]] = {}
    for c in costs:
        by_source.update(c.payload_bytes_by_source)
        for source, sizes in c.json_bytes_by_field.items():
            fields.setdefault(source, Counter()).update(sizes)
    n = len(costs)
    return {
        "cases": n,
        "events": _spread([c.events for c in costs]),
        "history_bytes": _spread([c.history_bytes for c in costs]),
        "payload_bytes": _spread([c.payload_bytes for c in costs]),
        "workflow_tasks": _spread([c.workflow_tasks for c in costs]),
        "payload_bytes_per_task": _spread([c.payload_bytes_per_task for c in costs]),
        # means per case
        "payload_bytes_by_source": {k: round(v / n) for k, v in by_source.most_common()},
        "json_bytes_by_field": {s: {k: round(v / n) for k, v in c.most_common()} for s, c in fields.items()},
    }


async def run_shape(
    env: Any, drive: Callable[[], Awaitable[CaseResult]], cases: int, concurrency: int
) -> tuple[list[Cost], dict[str, Any]]:
    gate = asyncio.Semaphore(concurrency)

    async def one() -> CaseResult:
        async with gate:
            return await drive()

    results = await asyncio.gather(*(one() for _ in range(cases)))
    costs, shapes = [], Counter[str]()
    for r in results:
        history = await env.client.get_workflow_handle(r.number).fetch_history()
        costs.append(cost(history))
        shapes[repr(shape(history))] += 1
    return costs, {"shapes_seen": dict(shapes)}


def render(result: dict[str, Any]) -> str:
    rows = []
    for name, s in result["shapes"].items():
        rows.append(
            [
                name, s["cases"], s["events"]["mean"], s["history_bytes"]["mean"], s["history_bytes"]["min"],
                s["history_bytes"]["max"], s["payload_bytes"]["mean"], s["workflow_tasks"]["mean"],
                s["payload_bytes_per_task"]["mean"],
            ]
        )  # fmt: skip
    lines = [
        "History per closed-loop case (receipt → … → closed), means over the cases",
        table(["shape", "cases", "events", "history B", "min", "max", "payload B", "wf tasks", "payload B/task"], rows),
        "",
    ]
    for name, q in result["ratios"].items():
        lines.append(
            f"{name} vs bare: events × {q['events']}, history bytes × {q['history_bytes']} "
            f"(target ≤ {HISTORY_BYTES_TARGET}), payload bytes per task × {q['payload_bytes_per_task']}"
        )
    for name, s in result["shapes"].items():
        lines.append(f"\n{name}: payload bytes per case by source")
        lines.append(table(["source", "bytes"], list(s["payload_bytes_by_source"].items())))
    m = result["machine"]
    lines.append(
        f"\nCommit {m['commit']}; busy before start {result['machine_busy_before_pct']} %"
        f"{' (busy: counts are load-independent)' if result['machine_busy'] else ''}; total {result['total_s']} s"
    )
    return "\n".join(lines)


async def bench(args: argparse.Namespace) -> dict[str, Any]:
    pre = preflight(args.quiet_wait)
    summaries: dict[str, Any] = {}
    async with environment(
        worker="inprocess", options=args.options_dict, api="api" in args.shapes, bytecode=not args.no_bytecode
    ) as env:
        policy, calendar = await pinned(env.db.engine)
        brief = args.answers == "brief"
        async with httpx.AsyncClient(base_url=env.api.url if env.api else "http://unused", timeout=120) as http:
            drivers: dict[str, Callable[[], Awaitable[CaseResult]]] = {
                "bare": lambda: lifecycle_bare(env.client, env.db.engine),
                "client": lambda: lifecycle_client(env.client, env.db.engine, policy, calendar, brief=brief),
                "api": lambda: lifecycle_api(http, env.client, env.db.engine, brief=brief),
            }
            for name in args.shapes:
                log(f"{name}: {args.cases} closed loops, {args.concurrency} at a time")
                costs, seen = await run_shape(env, drivers[name], args.cases, args.concurrency)
                summaries[name] = summarise(costs) | seen
    ratios = {}
    if "bare" in summaries:
        bare = summaries["bare"]
        for name, s in summaries.items():
            if name != "bare":
                ratios[name] = {
                    key: ratio(s[key]["mean"], bare[key]["mean"])
                    for key in ("events", "history_bytes", "payload_bytes", "payload_bytes_per_task")
                }
    return {
        "benchmark": "case_cost",
        "cases": args.cases,
        "concurrency": args.concurrency,
        "answers": args.answers,
        "worker_options": args.options_dict,
        "server": "temporal server start-dev, in memory, headless, 1 task-queue partition",
        "shapes": summaries,
        "ratios": ratios,
        "history_bytes_target": HISTORY_BYTES_TARGET,
        **pre.facts(bytecode=not args.no_bytecode),
    }


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    import json

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=20, help="closed loops per shape (default 20)")
    parser.add_argument("--concurrency", type=int, default=4, help="loops in flight (default 4)")
    parser.add_argument("--shapes", default=",".join(SHAPES), help="which of bare,client,api (default all)")
    common_args(parser, answers=True, worker=False)
    args = parser.parse_args(argv)
    args.shapes = [s for s in args.shapes.split(",") if s]
    args.options_dict = json.loads(args.options)
    if args.cases < 1 or args.concurrency < 1 or not args.shapes or not set(args.shapes) <= set(SHAPES):
        parser.error("bad --cases, --concurrency or --shapes")
    return args


async def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    result = await bench(args)
    emit(render(result), result, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
