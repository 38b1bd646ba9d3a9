"""`aftersales dev` as a user starts it: the real command in a subprocess, in a working
directory of its own (so `.aftersales/` is this run's), on free ports."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

AFTERSALES = str(Path(sys.executable).parent / "aftersales")
REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PortTaken(AssertionError):
    """`aftersales dev` refused to start: one of the ports it was given is in use."""


@dataclass
class DevRun:
    cwd: Path
    extra: list[str] = field(default_factory=list)
    api_port: int = field(default_factory=free_port)
    temporal_port: int = field(default_factory=free_port)
    ui_port: int = field(default_factory=free_port)
    process: subprocess.Popen[str] | None = None
    _started_before: int = 0

    @property
    def api(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    @property
    def temporal_address(self) -> str:
        return f"127.0.0.1:{self.temporal_port}"

    @property
    def ui_url(self) -> str:
        return f"http://127.0.0.1:{self.ui_port}"

    @property
    def log(self) -> Path:
        return self.cwd / "aftersales-dev.out"

    def env(self) -> dict[str, str]:
        """What a person's shell next to this run would have: the venv's commands on PATH, and
        TEMPORAL_ADDRESS / TEMPORAL_UI_URL / API naming this run's ports (the README's defaults
        are 7233, 8233 and 8000; tests cannot count on those being free)."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AFTERSALES_", "DATABASE_URL", "TEMPORAL_"))}
        env.update(
            PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
            PYTHONPATH=str(REPO),
            TEMPORAL_ADDRESS=self.temporal_address,
            TEMPORAL_UI_URL=self.ui_url,
            API=self.api,
        )
        return env

    def command(self) -> list[str]:
        return [
            AFTERSALES, "dev", "--api-port", str(self.api_port), "--temporal-port", str(self.temporal_port),
            "--ui-port", str(self.ui_port), *self.extra,
        ]  # fmt: skip

    def start(self, timeout: float = 120) -> DevRun:
        """Start, and wait until the API answers. A first start that finds one of its ports taken
        picks three new ones (at most twice): a port found free a moment ago can be bound by
        then, e.g. by another test process's Temporal server, which binds ports of its own."""
        for attempt in range(3):
            try:
                return self._start(timeout)
            except PortTaken:
                if self._started_before or attempt == 2:
                    raise
                self.api_port, self.temporal_port, self.ui_port = free_port(), free_port(), free_port()
        raise AssertionError("unreachable")

    def _start(self, timeout: float) -> DevRun:
        self.cwd.mkdir(parents=True, exist_ok=True)
        self._started_before = self.output().count("Press Ctrl-C to stop.")
        since = len(self.output())  # this start's output
        out = open(self.log, "a")  # noqa: SIM115 - the child keeps it
        self.process = subprocess.Popen(
            self.command(), cwd=self.cwd, env=self.env(), stdout=out, stderr=subprocess.STDOUT, text=True
        )
        out.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                ours = (self.api_port, self.temporal_port, self.ui_port)
                taken = re.search(r"port (\d+) on 127\.0\.0\.1 is already in use", self.output()[since:])
                error = PortTaken if taken and int(taken[1]) in ours else AssertionError
                raise error(f"aftersales dev exited {self.process.returncode}:\n{self.output()}")
            # The banner is printed once the API listens; its answering is checked as well.
            if self.output().count("Press Ctrl-C to stop.") > self._started_before and self._api_answers():
                return self
            time.sleep(0.3)
        self.stop()
        raise AssertionError(f"aftersales dev did not start within {timeout}s:\n{self.output()}")

    def _api_answers(self) -> bool:
        try:
            httpx.get(f"{self.api}/healthz", timeout=5)
            return True
        except httpx.TransportError:
            return False

    def output(self) -> str:
        return self.log.read_text() if self.log.exists() else ""

    def temporal_pid(self) -> int:
        """The Temporal server's pid: the run's child process running `temporal server start-dev`."""
        import psutil

        for child in psutil.Process(self.process.pid).children(recursive=True):
            if child.cmdline()[1:3] == ["server", "start-dev"]:
                return child.pid
        raise AssertionError(f"no Temporal server under pid {self.process.pid}:\n{self.output()}")

    def keys(self) -> dict[str, str]:
        import json

        return json.loads((self.cwd / ".aftersales" / "dev-keys.json").read_text())

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.api, timeout=60)

    def stop(self) -> None:
        """Ctrl-C, as a person stops it."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def __enter__(self) -> DevRun:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def alive(pid: int) -> bool:
    """Running (a zombie, dead but not yet reaped by its parent, is not)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False
