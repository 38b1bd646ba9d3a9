"""Request bodies parsed with JSON numbers as `Decimal`, so an amount keeps the digits sent,
and refused as a 422 naming `body` when they nest too deeply.

Starlette's `Request.json()` reads every number with a fraction as a float: 899.0000000000000001
would arrive as 899.0 and pass as a two-decimal amount. Read as `Decimal`, it is refused for
its places (domain/text.py `Amount`); float fields (a confidence, hours) take a Decimal as well.

No body of ours nests more than a few levels. A deeper one is refused before validation, at a
fixed depth: past about a thousand levels the parser itself runs out of stack (RecursionError,
which FastAPI answers with a bare 400), and a value nested a few hundred deep that got through
could still exhaust the stack later, where it is serialised deeper in a call stack.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine
from decimal import Decimal
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute

# Arrays and objects inside one another, the outermost counting as one.
MAX_DEPTH = 64


class JsonTooDeep(json.JSONDecodeError):
    """A JSONDecodeError, so FastAPI answers it as it answers malformed JSON: a 422 validation
    problem (api/problems.py names its field `body`). 413 would say the body is too large, and
    a deep body can be a few kilobytes."""

    def __init__(self, doc: str) -> None:
        super().__init__(f"arrays and objects nest deeper than {MAX_DEPTH} levels", doc, 0)


def _deeper_than(value: Any, limit: int) -> bool:
    """Level by level, without recursion: the value may be nested as deep as the parser goes."""
    level, depth = [value], 1
    while level:
        if depth > limit:
            return True
        below: list[Any] = []
        for node in level:
            below.extend(
                child for child in (node.values() if isinstance(node, dict) else node) if isinstance(child, dict | list)
            )
        level, depth = below, depth + 1
    return False


def parse(body: bytes) -> Any:
    """The JSON document, numbers with a fraction as Decimal; JsonTooDeep past MAX_DEPTH."""
    try:
        value = json.loads(body, parse_float=Decimal)
    except RecursionError:
        raise JsonTooDeep(body.decode("utf-8", "replace")) from None
    # A body with no more brackets than the limit cannot nest past it: the walk is skipped.
    if isinstance(value, dict | list) and body.count(b"[") + body.count(b"{") > MAX_DEPTH:
        if _deeper_than(value, MAX_DEPTH):
            raise JsonTooDeep(body.decode("utf-8", "replace"))
    return value


class DecimalJsonRequest(Request):
    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            self._json = parse(await self.body())
        return self._json


class DecimalJsonRoute(APIRoute):
    """A route whose JSON body is read by `DecimalJsonRequest` (FastAPI's documented way to
    change how a route reads its request)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def read_decimals(request: Request) -> Response:
            return await handler(DecimalJsonRequest(request.scope, request.receive))

        return read_decimals
