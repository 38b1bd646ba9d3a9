"""Request bodies parsed with JSON numbers as `Decimal`, so an amount keeps the digits sent.

Starlette's `Request.json()` reads every number with a fraction as a float: 899.0000000000000001
would arrive as 899.0 and pass as a two-decimal amount. Read as `Decimal`, it is refused for
its places (domain/text.py `Amount`); float fields (a confidence, hours) take a Decimal as well.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine
from decimal import Decimal
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute


class DecimalJsonRequest(Request):
    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            self._json = json.loads(await self.body(), parse_float=Decimal)
        return self._json


class DecimalJsonRoute(APIRoute):
    """A route whose JSON body is read by `DecimalJsonRequest` (FastAPI's documented way to
    change how a route reads its request)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def read_decimals(request: Request) -> Response:
            return await handler(DecimalJsonRequest(request.scope, request.receive))

        return read_decimals
