"""Schemathesis against the real app, worker and Temporal server: no request, valid or
not, makes the API fail, and every refusal is an RFC 9457 problem.

Hypothesis runs in a thread; each generated request is sent through the session's
event loop (where the worker and the database engine live) with the `api` client.
Generation is derandomized and bounded, so a run is repeatable and quick.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from hypothesis import strategies as st
from schemathesis import GenerationMode

from api.app import create_app
from settings import Settings
from tests.conftest import Database
from tests.people import AGENT, HANDLER, HEAD, SUPERVISOR, intake

PEOPLE = [AGENT, HANDLER, SUPERVISOR, HEAD]
EXAMPLES = 8  # per operation and generation mode
PROBLEM_FIELDS = {"type", "title", "status", "detail", "instance"}
BASE_URL = "http://aftersales.test"


def _request(case: Any, who: dict[str, str]) -> dict[str, Any]:
    """The generated request as httpx arguments, with a real person's identity headers."""
    kwargs = case.as_transport_kwargs(base_url=BASE_URL)
    headers = {k: v for k, v in kwargs["headers"].items() if not k.lower().startswith("x-actor-")}
    headers.pop("User-Agent", None)
    request: dict[str, Any] = {
        "method": kwargs["method"],
        "url": kwargs["url"],
        "params": kwargs.get("params"),
        "headers": headers | who,
    }
    if "json" in kwargs:
        request["json"] = kwargs["json"]
    elif kwargs.get("data") is not None:
        data = kwargs["data"]
        request["content"] = data if isinstance(data, (bytes, str)) else json.dumps(data)
    return request


def _check(response: httpx.Response, request: dict[str, Any]) -> None:
    where = f"{request['method']} {response.request.url} -> {response.status_code}: {response.text[:500]}"
    assert response.status_code < 500, f"server error: {where}"
    if response.status_code >= 400:
        assert response.headers["content-type"].startswith("application/problem+json"), where
        body = response.json()
        assert PROBLEM_FIELDS <= body.keys(), where
        assert body["status"] == response.status_code, where
        assert isinstance(body["title"], str) and isinstance(body["detail"], str), where


async def test_api_never_fails_and_refuses_with_problem_details(api: httpx.AsyncClient, database: Database) -> None:
    if database.backend != "postgresql":
        pytest.skip("fuzzed on PostgreSQL, the production database, whose column limits SQLite does not enforce")
    loop = asyncio.get_running_loop()
    # A few real cases, so that generated actions also reach live workflows, not only 404s.
    numbers = []
    for _ in range(3):
        created = await api.post("/cases", json=intake(), headers=AGENT)
        assert created.status_code == 201, created.text
        numbers.append(created.json()["number"])
    schema = schemathesis.openapi.from_dict(create_app(Settings()).openapi())
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 15
    sent: list[int] = []
    skipped: list[Any] = []

    def send(request: dict[str, Any]) -> httpx.Response:
        return asyncio.run_coroutine_threadsafe(api.request(**request), loop).result(timeout=60)

    def fuzz(strategy: st.SearchStrategy[Any], number: st.SearchStrategy[str | None]) -> None:
        @settings(
            max_examples=EXAMPLES,
            derandomize=True,
            database=None,
            deadline=None,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        @given(case=strategy, who=st.sampled_from(PEOPLE), real=number)
        def run(case: Any, who: dict[str, str], real: str | None) -> None:
            if real is not None and "number" in (case.path_parameters or {}):
                case.path_parameters["number"] = real
            request = _request(case, who)
            response = send(request)
            sent.append(response.status_code)
            _check(response, request)

        try:
            run()
        except Unsatisfiable:
            # Negative mode on an operation with nothing to get wrong (e.g. GET /healthz).
            skipped.append(strategy)

    def fuzz_all() -> None:
        for operation in operations:
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
                has_number = "{number}" in operation.path
                real = st.one_of(st.none(), st.sampled_from(numbers)) if has_number else st.none()
                fuzz(operation.as_strategy(generation_mode=mode), real)

    await asyncio.to_thread(fuzz_all)
    assert len(sent) >= len(operations) * EXAMPLES
    # GET /healthz and POST /reports/sign-out take nothing that could be wrong.
    assert len(skipped) <= 3, f"{len(skipped)} operations had nothing to fuzz"

    # The longest Idempotency-Key the schema allows, on a real case's action, twice.
    for _ in range(2):
        request = {"method": "POST", "url": f"/cases/{numbers[0]}/notes", "json": {"text": "long key"}}
        response = await api.request(**request, headers=HANDLER | {"Idempotency-Key": "k" * 255})
        _check(response, request)
