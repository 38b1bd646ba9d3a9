"""Limits: a request body no larger than `max_body_bytes`, and a per-caller rate."""

from __future__ import annotations

import json
import math
import time

from limits import parse_many
from limits.aio.strategies import MovingWindowRateLimiter
from limits.storage import storage_from_string
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.problems import PROBLEM_JSON, Problem, problem_body


class CallerRateLimit:
    """`rate_limit` (e.g. "10/second;600/minute") per authenticated caller; empty means off.

    A moving window, so a burst at a window's edge cannot double the rate. The storage
    is in memory by default (one API process); point `rate_limit_storage` at Redis or
    Memcached to share the count between processes.
    """

    def __init__(self, spec: str, storage_uri: str = "memory://") -> None:
        self._items = parse_many(spec) if spec.strip() else []
        uri = storage_uri if storage_uri.startswith("async+") else f"async+{storage_uri}"
        self._limiter = MovingWindowRateLimiter(storage_from_string(uri))

    async def check(self, caller: str) -> None:
        for item in self._items:
            if not await self._limiter.hit(item, "caller", caller):
                stats = await self._limiter.get_window_stats(item, "caller", caller)
                retry_after = max(1, math.ceil(stats.reset_time - time.time()))
                raise Problem(
                    429,
                    "Too many requests",
                    f"more than {item} from this caller; retry in {retry_after} s",
                    headers={"Retry-After": str(retry_after)},
                )


class BodyLimit:
    """Answers 413 for a body larger than `limit` bytes, declared (Content-Length) or streamed.

    The body is read here, up to the limit, before the app sees it: a chunked upload
    without Content-Length cannot get past by never saying how long it is. Bodies are
    small JSON documents, so holding one in memory is what the app does anyway.
    """

    def __init__(self, app: ASGIApp, limit: int, larger: dict[str, int] | None = None) -> None:
        self.app = app
        self.limit = limit
        # Paths under these prefixes (the customer page's uploads) take up to their own limit.
        self.larger = larger or {}

    def _limit(self, path: str) -> int:
        return next((limit for prefix, limit in self.larger.items() if path.startswith(prefix)), self.limit)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self._limit(scope.get("path", ""))
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await self._refuse(scope, send, limit)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                await self._refuse(scope, send, limit)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()  # after the body: wait for the disconnect as usual

        await self.app(scope, replay, send)

    async def _refuse(self, scope: Scope, send: Send, limit: int) -> None:
        path = scope.get("path", "")
        if any(path.startswith(prefix) for prefix in self.larger):
            # A person's page (the customer page): a page back, in their words, not a problem document.
            size = f"{limit / (1024 * 1024):.0f} MB"
            payload = (
                '<!doctype html><html lang="zh-CN"><meta charset="utf-8">'
                '<meta name="viewport" content="width=device-width, initial-scale=1">'
                f"<p>提交的内容太大（最多 {size}），请减少照片或视频后返回重试。</p>"
                f'<p lang="en">The answer is too large (at most {size}); go back and send fewer or smaller files.</p>'
            ).encode()
            content_type = "text/html; charset=utf-8"
        else:
            problem = problem_body(413, "Request body too large", f"the body may have at most {limit} bytes", path)
            payload, content_type = json.dumps(problem).encode(), PROBLEM_JSON
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [(b"content-type", content_type.encode()), (b"content-length", str(len(payload)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": payload})
