"""`aftersales api` and `aftersales worker` as real processes, for tests of what a deployment runs."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import httpx

from tests.support.devrun import REPO, free_port


@contextlib.asynccontextmanager
async def aftersales(command: list[str], env: dict[str, str], log: Path, ready_url: str) -> AsyncIterator[None]:
    """Run `python -m cli <command>` until the block ends (SIGINT, then SIGKILL); its output goes
    to `log` (a pipe nobody reads would fill up and stall it). Ready once `ready_url` answers."""
    with open(log, "ab") as out:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "cli", *command, cwd=REPO, env=os.environ | env, stdout=out, stderr=out
        )
    try:
        async with httpx.AsyncClient(timeout=5) as http:
            for _ in range(600):
                assert process.returncode is None, f"aftersales {command[0]} exited: {log.read_text()[-3000:]}"
                try:
                    await http.get(ready_url)
                    break
                except httpx.TransportError:
                    await asyncio.sleep(0.1)
            else:
                raise AssertionError(f"aftersales {command[0]} did not answer within 60 s: {log.read_text()[-3000:]}")
        yield
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGINT)
            try:
                await asyncio.wait_for(process.wait(), timeout=30)
            except TimeoutError:
                process.kill()
                await process.wait()


def api_command(port: int, temporal_address: str) -> list[str]:
    return ["api", "--port", str(port), "--temporal-address", temporal_address]


__all__ = ["aftersales", "api_command", "free_port"]
