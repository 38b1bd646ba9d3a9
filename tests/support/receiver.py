"""A real HTTP receiver on a free local port, for the webhook adapters' tests.

It records every request (headers and raw body) and answers with a status chosen per
request by `respond` (200 unless told otherwise).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from tests.support.devrun import free_port


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    status: int


@dataclass
class Receiver:
    url: str
    requests: list[Received] = field(default_factory=list)
    # (parsed JSON body, how many requests with the same Idempotency-Key came before) -> (status, JSON answer)
    respond: Callable[[dict[str, Any], int], tuple[int, dict[str, Any]]] = lambda body, seen: (200, {})

    def with_key(self, key: str) -> list[Received]:
        return [r for r in self.requests if r.headers.get("idempotency-key") == key]


class _QuietServer(uvicorn.Server):
    """Leaves the test process's signal handlers alone."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


@asynccontextmanager
async def receiver() -> AsyncIterator[Receiver]:
    port = free_port()
    state = Receiver(url=f"http://127.0.0.1:{port}/hook")

    async def hook(request: Request) -> JSONResponse:
        body = await request.body()
        key = request.headers.get("idempotency-key")
        seen = len(state.with_key(key)) if key else 0
        status, answer = state.respond(json.loads(body), seen)
        state.requests.append(Received(dict(request.headers), body, status))
        return JSONResponse(answer, status_code=status)

    server = _QuietServer(
        uvicorn.Config(
            Starlette(routes=[Route("/hook", hook, methods=["POST"])]), host="127.0.0.1", port=port, log_level="warning"
        )
    )
    task = asyncio.create_task(server.serve())
    for _ in range(200):
        if server.started:
            break
        await asyncio.sleep(0.02)
    assert server.started, "the test receiver did not start"
    try:
        yield state
    finally:
        server.should_exit = True
        await task


async def eventually(check: Callable[[], Any], timeout: float = 15.0, interval: float = 0.05, what: str = "") -> Any:
    """Poll an async or sync `check` until it returns something truthy; fail after `timeout`."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        result = check()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return result
        if asyncio.get_running_loop().time() >= deadline:
            raise AssertionError(f"not true after {timeout}s: {what or check}")
        await asyncio.sleep(interval)
