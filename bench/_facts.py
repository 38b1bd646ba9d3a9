"""What every script notes and takes: the machine, the commit measured, how busy the machine
was before the run (`preflight`), and the common flags (`common_args`)."""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import sqlite3
import subprocess
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil

from bench._server import ROOT, log
from cli.devserver import temporal_cli


def machine_busy_pct(seconds: float = 1.0) -> float:
    """How busy the machine is before we start (another benchmark running would spoil ours)."""
    return psutil.cpu_percent(interval=seconds)


def wait_until_quiet(max_wait: float, busy_below: float = 20.0) -> float:
    """Wait (at most `max_wait` s) until the machine is less than `busy_below` % busy over 2 s;
    returns the last busy figure. Other sessions' tests and benchmarks share this machine."""
    deadline = time.monotonic() + max_wait
    while True:
        busy = psutil.cpu_percent(interval=2.0)
        if busy < busy_below or time.monotonic() >= deadline:
            return busy
        log(f"machine {busy:.0f} % busy; waiting for it to calm down")


def other_heavy_processes() -> list[str]:
    """Other Temporal dev servers or bench processes on this machine (not ours)."""
    me = psutil.Process()
    mine = {me.pid, *(p.pid for p in me.children(recursive=True)), *(p.pid for p in me.parents())}
    found = []
    for p in psutil.process_iter(["pid", "name", "cmdline"]):
        with contextlib.suppress(psutil.Error):
            if p.info["pid"] in mine:
                continue
            cmd = " ".join(p.info["cmdline"] or [])
            if "start-dev" in cmd or ("bench/" in cmd and "python" in cmd):
                found.append(f"{p.info['pid']}: {cmd[:120]}")
    return found


# A run that began on a machine busier than this is labelled "busy" in its JSON (other sessions
# share the machine; issue 19: such a run is labelled or discarded).
BUSY_LABEL_PCT = 30.0


@dataclass
class Preflight:
    """What every script notes before it starts: when, how busy the machine was, who else runs,
    and the commit the workers load (not what the checkout holds at the end)."""

    began: float
    busy_pct: float
    others: list[str]
    commit: str

    def facts(self, bytecode: bool) -> dict[str, Any]:
        """The JSON fields every script's result ends with."""
        return {
            "bytecode": bytecode,
            "machine": machine() | {"commit": self.commit},
            "machine_busy_before_pct": self.busy_pct,
            "machine_busy": self.busy_pct > BUSY_LABEL_PCT,
            "other_processes": self.others,
            "total_s": round(time.monotonic() - self.began, 1),
        }


def preflight(quiet_wait: float = 0) -> Preflight:
    began = time.monotonic()
    others = other_heavy_processes()
    if others:
        log("warning: other benchmark-like processes are running, figures will suffer:\n  " + "\n  ".join(others))
    busy = wait_until_quiet(quiet_wait) if quiet_wait else machine_busy_pct()
    if busy > BUSY_LABEL_PCT:
        log(f"warning: the machine is {busy:.0f} % busy before the run; the result is labelled busy")
    return Preflight(began, busy, others, product_commit())


def common_args(
    parser: argparse.ArgumentParser,
    *,
    worker: bool = True,
    local_activities: bool = False,
    answers: bool = False,
    options_default: str | None = "{}",
    options_help: str = "JSON Worker options for both workers, see _harness.worker_options",
) -> None:
    """The flags every script takes (bench/README.md, "Common flags")."""
    if worker:
        parser.add_argument("--worker", choices=["subprocess", "inprocess"], default="subprocess")
        parser.add_argument(
            "--worker-processes", type=int, default=1, help="worker processes, each with both workers (default 1)"
        )
    parser.add_argument("--options", default=options_default, help=options_help)
    if local_activities:
        parser.add_argument(
            "--local-activities", default="", help="bench-only: run these activities of the product as local"
        )
    if answers:  # the scripts that drive closed loops (bench/_drive.py)
        parser.add_argument(
            "--answers",
            choices=("brief", "view"),
            default="brief",
            help="what the product's actions answer: brief (the console's; the API's with Prefer: return=minimal; "
            "the default) or view (an API call without it)",
        )
    parser.add_argument("--out", help="also write the JSON here")
    parser.add_argument(
        "--quiet-wait",
        type=float,
        default=0,
        help="first wait up to this many seconds for the machine to be < 20 %% busy",
    )
    parser.add_argument(
        "--no-bytecode",
        action="store_true",
        help="run as this checkout does by default (PYTHONDONTWRITEBYTECODE=1, no .pyc); default: with .pyc, as deployed",
    )


def _version(module: str) -> str | None:
    with contextlib.suppress(Exception):
        from importlib.metadata import version

        return version(module)
    return None


def cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def product_commit() -> str:
    """The checkout measured: HEAD (`git rev-parse HEAD`), and "+changes" when product code differs from it."""
    try:
        head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10)
        dirty = subprocess.run(
            ["git", "-C", str(ROOT), "status", "--porcelain", "--", "workflows", "activities", "store", "api", "domain",
             "worker.py", "core"],
            capture_output=True, text=True, timeout=10,
        )  # fmt: skip
        return head.stdout.strip() + (" +changes" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def machine() -> dict[str, Any]:
    try:
        cli = subprocess.run(
            [str(temporal_cli()), "--version"], capture_output=True, text=True, timeout=30
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError) as error:
        cli = f"unknown ({error})"
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "commit": product_commit(),
        "nproc": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "ram_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "cpu_model": cpu_model(),
        "platform": platform.platform(),
        "versions": {
            "python": platform.python_version(),
            "temporalio": _version("temporalio"),
            "temporal_cli": cli,
            "sqlite": sqlite3.sqlite_version,
            "sqlalchemy": _version("sqlalchemy"),
            "aiosqlite": _version("aiosqlite"),
            "fastapi": _version("fastapi"),
            "uvicorn": _version("uvicorn"),
            "httpx": _version("httpx"),
            "pydantic": _version("pydantic"),
        },
    }
