"""Errors as RFC 9457 problem details (application/problem+json)."""

from __future__ import annotations

import logging
from typing import Any, get_args

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic_core.core_schema import ErrorType
from sqlalchemy.exc import DBAPIError
from starlette.exceptions import HTTPException as StarletteHTTPException
from temporalio.client import WorkflowUpdateRPCTimeoutOrCancelledError
from temporalio.service import RPCError

from core.logs import mask_text
from core.temporal_client import TRANSIENT_RPC
from services.temporal_calls import TemporalDidNotAnswer

logger = logging.getLogger(__name__)
PROBLEM_JSON = "application/problem+json"
# A 503 says when to come back (RFC 9110 §10.2.3): a few seconds, as for a Temporal deadline.
RETRY_AFTER = {"Retry-After": "5"}


class Problem(Exception):
    def __init__(
        self, status: int, title: str, detail: str, *, headers: dict[str, str] | None = None, **extensions: Any
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.title = title
        self.detail = detail
        self.headers = headers
        self.extensions = extensions


def case_not_found(number: str) -> Problem:
    # The same answer for a case that exists elsewhere as for one that does not: a handler
    # learns nothing about other departments' cases.
    return Problem(404, "Case not found", f"no case {number}")


def problem_body(status: int, title: str, detail: str, path: str, **extensions: Any) -> dict[str, Any]:
    return {"type": "about:blank", "title": title, "status": status, "detail": detail, "instance": path} | extensions


def problem_response(
    status: int, title: str, detail: str, request: Request, *, headers: dict[str, str] | None = None, **extensions: Any
) -> Response:
    """The problem as JSON; for a path a page app claims (the console sets `app.state.problem_page`),
    that app's own error page instead: a person clicking a button reads a page, not JSON."""
    shown = getattr(request.app.state, "problem_page", None)
    if shown is not None and (answer := shown(request, status, title, detail, headers)) is not None:
        return answer
    body = problem_body(status, title, detail, request.url.path, **extensions)
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def _field(location: tuple[Any, ...], kind: str | None = None) -> str:
    # ("body", "customer", "phone") -> "customer.phone"; query and header names keep their place.
    # A body that is not JSON we read (malformed, nested too deep) is the body: FastAPI's
    # ("body", 14) is a character position, not a field.
    if kind == "json_invalid":
        return "body"
    parts = [str(p) for p in location]
    return ".".join(parts[1:] if parts and parts[0] == "body" and len(parts) > 1 else parts)


# Pydantic's own errors, whose messages are templates filled from the schema (allowed values,
# limits, patterns), never from the rejected value: shown exactly as pydantic wrote them, or
# masking them would corrupt them ('web' rejected made 'web_form' read '***_form').
# The exceptions quote what was sent: a validator's own message, an assertion, a union's tag.
_SCHEMA_MESSAGES = frozenset(get_args(ErrorType)) - {"value_error", "assertion_error", "union_tag_invalid"}


def _message(error: dict[str, Any]) -> str:
    """The validation message without the rejected value: it may be a customer's name or phone.
    Pydantic's messages name the rule, not the value; a custom one might quote it."""
    message = str(error.get("msg", "invalid"))
    if error.get("type") == "json_invalid":
        # The parser's reason ("Expecting value", api/json_body.py's depth) names no value sent.
        reason = (error.get("ctx") or {}).get("error")
        return f"{message}: {mask_text(str(reason))}" if reason else message
    if error.get("type") in _SCHEMA_MESSAGES:
        return message
    sent = [error.get("input"), (error.get("ctx") or {}).get("tag")]
    for value in sent:
        if isinstance(value, str) and len(value) >= 3:
            message = message.replace(value, "***")
    return mask_text(message)


def install(app: FastAPI) -> None:
    @app.exception_handler(Problem)
    async def _problem(request: Request, exc: Problem) -> Response:
        return problem_response(exc.status, exc.title, exc.detail, request, headers=exc.headers, **exc.extensions)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> Response:
        # Never the rejected `input` (FastAPI's default echoes it): only where and why.
        errors = [{"field": _field(tuple(e["loc"]), e.get("type")), "message": _message(e)} for e in exc.errors()]
        detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
        return problem_response(422, "Invalid request", detail, request, errors=errors)

    @app.exception_handler(RPCError)
    async def _temporal(request: Request, exc: RPCError) -> Response:
        if exc.status in TRANSIENT_RPC:
            # Logged by status name only: the message may quote the request.
            logger.warning("workflow service %s on %s %s", exc.status.name, request.method, request.url.path)
            return problem_response(
                503,
                "Temporarily unavailable",
                "the workflow service did not answer; retry",
                request,
                headers=RETRY_AFTER,
            )
        return await _unexpected(request, exc)

    @app.exception_handler(TemporalDidNotAnswer)
    async def _no_answer(request: Request, exc: TemporalDidNotAnswer) -> Response:
        return problem_response(
            503, "Temporarily unavailable", "the workflow service did not answer in time; retry with the same Idempotency-Key",
            request, headers=RETRY_AFTER,
        )  # fmt: skip

    @app.exception_handler(WorkflowUpdateRPCTimeoutOrCancelledError)
    async def _update_timeout(request: Request, exc: WorkflowUpdateRPCTimeoutOrCancelledError) -> Response:
        # The case did not take the action in time (e.g. no worker is running): it may still do so.
        return problem_response(
            503, "Temporarily unavailable", "the case did not answer in time; retry with the same Idempotency-Key", request,
            headers=RETRY_AFTER,
        )  # fmt: skip

    @app.exception_handler(DBAPIError)
    async def _database(request: Request, exc: DBAPIError) -> Response:
        if exc.connection_invalidated:
            # The connection died under the request (failover, restart); the pool has
            # dropped it and the next request gets a fresh one.
            logger.warning("database connection lost on %s %s", request.method, request.url.path)
            return problem_response(
                503,
                "Temporarily unavailable",
                "the database connection was lost; retry with the same Idempotency-Key",
                request,
            )
        return await _unexpected(request, exc)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        # The message may carry personal data from the request: log the type only.
        logger.error("unhandled %s on %s %s", type(exc).__name__, request.method, request.url.path)
        return problem_response(500, "Internal error", "the request failed unexpectedly; it is safe to retry", request)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        title = {404: "Not found", 405: "Method not allowed", 413: "Request body too large"}.get(
            exc.status_code, "Error"
        )
        return problem_response(exc.status_code, title, str(exc.detail), request, headers=getattr(exc, "headers", None))
