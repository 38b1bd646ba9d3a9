"""Measuring: nearest-rank percentiles, CPU and RSS of processes, plain-text tables and the
scripts' output, and py-spy profiles summarised by where the busy time goes."""

from __future__ import annotations

import contextlib
import json
import math
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

# ---- measuring ------------------------------------------------------------------------------
from bench._server import die_with_parent


def percentile(values: Sequence[float], p: float) -> float | None:
    """Nearest-rank percentile."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(math.ceil(p / 100 * len(ordered)) - 1, 0)]


def latency_summary(seconds: Sequence[float]) -> dict[str, float | int | None]:
    """n, p50, p90, p99, max and mean, in milliseconds."""

    def ms(v: float | None) -> float | None:
        return None if v is None else round(v * 1000, 1)

    return {
        "n": len(seconds),
        "p50": ms(percentile(seconds, 50)),
        "p90": ms(percentile(seconds, 90)),
        "p99": ms(percentile(seconds, 99)),
        "max": ms(max(seconds) if seconds else None),
        "mean": ms(sum(seconds) / len(seconds) if seconds else None),
    }


def ratio(a: float | None, b: float | None, digits: int = 2) -> float | None:
    return None if a is None or not b else round(a / b, digits)


def _cpu(ps: psutil.Process) -> float:
    """User + system CPU seconds of the process itself (all its threads; not its children:
    the dev server and the worker are children of the bench process and are measured apart)."""
    with contextlib.suppress(psutil.Error):
        t = ps.cpu_times()
        return t.user + t.system
    return float("nan")


def _rss(ps: psutil.Process) -> int:
    with contextlib.suppress(psutil.Error):
        return ps.memory_info().rss
    return 0


@dataclass
class CpuMark:
    wall: float
    cpu: dict[str, float]
    machine: tuple[float, float]  # busy, total from psutil.cpu_times()


class CpuMeter:
    """CPU seconds of named processes (a name may stand for several, summed) between two marks."""

    def __init__(self, processes: dict[str, psutil.Process | Sequence[psutil.Process] | None]) -> None:
        self.processes: dict[str, list[psutil.Process]] = {}
        for name, ps in processes.items():
            group = [ps] if isinstance(ps, psutil.Process) else list(ps or [])
            if group:
                self.processes[name] = group

    def mark(self) -> CpuMark:
        t = psutil.cpu_times()
        idle = t.idle + getattr(t, "iowait", 0.0)
        total = sum(t)
        cpu = {n: sum(_cpu(p) for p in group) for n, group in self.processes.items()}
        return CpuMark(time.monotonic(), cpu, (total - idle, total))

    @staticmethod
    def between(a: CpuMark, b: CpuMark) -> dict[str, Any]:
        wall = b.wall - a.wall
        out: dict[str, Any] = {"seconds": round(wall, 2)}
        for name in a.cpu:
            used = b.cpu[name] - a.cpu[name]
            out[f"{name}_cpu_s"] = round(used, 2)
            out[f"{name}_cores"] = round(used / wall, 3) if wall > 0 else None
        busy = b.machine[0] - a.machine[0]
        total = b.machine[1] - a.machine[1]
        out["machine_busy_pct"] = round(100 * busy / total, 1) if total > 0 else None
        return out

    def rss(self) -> dict[str, int]:
        return {name: sum(_rss(p) for p in group) for name, group in self.processes.items()}


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    def cell(v: Any) -> str:
        if v is None:
            return "-"
        if isinstance(v, float):
            return f"{v:.2f}" if abs(v) < 100 else f"{v:.0f}"
        return str(v)

    cells = [[cell(v) for v in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) if cells else len(h) for i, h in enumerate(headers)]
    line = "  ".join(h.rjust(w) if i else h.ljust(w) for i, (h, w) in enumerate(zip(headers, widths, strict=True)))
    out = [line, "  ".join("-" * w for w in widths)]
    for r in cells:
        out.append("  ".join(v.rjust(w) if i else v.ljust(w) for i, (v, w) in enumerate(zip(r, widths, strict=True))))
    return "\n".join(out)


def emit(text_table: str, result: dict[str, Any], out: str | None) -> None:
    """The readable table, then the JSON on one line (and into `out` when given)."""
    print(text_table)
    print(json.dumps(result, default=str))
    if out:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        Path(out).write_text(json.dumps(result, indent=2, default=str) + "\n")


# ---- profiling (py-spy) ---------------------------------------------------------------------


def py_spy_available() -> bool:
    import shutil

    return bool(shutil.which("py-spy") or (Path(sys.executable).parent / "py-spy").exists())


def start_py_spy(pid: int, seconds: float, out: Path, rate: int = 100) -> subprocess.Popen[bytes] | None:
    """`py-spy record` of a running process in collapsed-stack ("raw") format, or None without py-spy."""
    import shutil

    exe = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(exe).exists():
        return None
    out.parent.mkdir(parents=True, exist_ok=True)
    return subprocess.Popen(
        [exe, "record", "--pid", str(pid), "--duration", str(max(1, int(seconds))), "--rate", str(rate),
         "--format", "raw", "--nonblocking", "--output", str(out)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
        preexec_fn=die_with_parent if sys.platform == "linux" else None,
    )  # fmt: skip


# Leaf frames of threads that wait (py-spy's own idle detection does not see these in a container).
_IDLE_LEAVES = (
    "EpollSelector.select",
    "_connection_worker_thread",
    "_worker (",
    "Condition.wait",
    "_wait_for_tstate_lock",
)

# Where the busy time goes, inclusive: a sample counts for every area one of its frames is in.
_AREAS = [
    ("sandbox: new workflow instance (re-import of the workflow module)", ("_Instance._create_instance",)),
    ("  of which compiling source (no .pyc)", ("source_to_code",)),
    ("workflow code (workflows/case/, domain/)", ("workflows/case/", "/domain/", "bench/bare.py")),
    ("payload conversion (pydantic / JSON)", ("temporalio/converter", "temporalio/contrib/pydantic", "pydantic/")),
    ("payload visitors", ("_visitor.py", "_command_aware_visitor.py")),
    ("activities (all)", ("_ActivityWorker._execute_activity",)),
    ("database: SQLAlchemy + aiosqlite", ("sqlalchemy/", "aiosqlite/")),
    ("HTTP API: FastAPI / Starlette / uvicorn / httpx", ("fastapi/", "starlette/", "uvicorn/", "httpx/", "httpcore/")),
    ("Temporal client calls", ("temporalio/client/",)),
]


def profile_summary(collapsed: Path, top: int = 12) -> dict[str, Any]:
    """From py-spy's collapsed stacks, over the samples that were not waiting: the share by area
    (inclusive) and the functions that were running (self)."""
    areas = {label: 0 for label, _ in _AREAS}
    own: dict[str, int] = {}
    total = busy = 0
    with contextlib.suppress(OSError):
        for line in collapsed.read_text(errors="replace").splitlines():
            stack, _, count = line.rpartition(" ")
            if not count.isdigit():
                continue
            n = int(count)
            total += n
            frames = stack.split(";")
            if not frames or any(marker in frames[-1] for marker in _IDLE_LEAVES):
                continue
            busy += n
            for label, markers in _AREAS:
                if any(marker in frame for frame in frames for marker in markers):
                    areas[label] += n
            leaf = frames[-1]
            name = leaf.split(" (")[0] + (
                " " + leaf.split(" (")[-1].split(":")[0].rsplit("/", 1)[-1] if " (" in leaf else ""
            )
            own[name] = own.get(name, 0) + n

    def pct(v: int) -> float:
        return round(100 * v / busy, 1) if busy else 0.0

    return {
        "samples": total,
        "busy_samples": busy,
        "areas_pct": {label: pct(v) for label, v in areas.items()},
        "self_pct": [(k, pct(v)) for k, v in sorted(own.items(), key=lambda kv: -kv[1])[:top]],
        "file": str(collapsed),
    }
