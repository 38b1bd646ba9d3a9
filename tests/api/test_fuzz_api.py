"""Schemathesis against the real app, worker and Temporal server: no request, valid or
not, makes the API fail, and every refusal is an RFC 9457 problem.

Hypothesis runs in a thread; each generated request is sent through the session's
event loop (where the worker and the database engine live) with the `api` client.
Generation is derandomized and bounded, so a run is repeatable and quick.
"""

from __future__ import annotations

import asyncio
import base64
import json
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from temporalio.api.common.v1 import Payload

from api.app import create_app
from core.codec import new_key
from core.settings import Settings
from tests.conftest import Database
from tests.support.people import ADMIN, AGENT, HANDLER, HEAD, SUPERVISOR, intake

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
    if response.status_code >= 400 and response.request.url.path.startswith("/c/"):
        # The customer page answers a person, with a page in their language (api/customer).
        assert response.headers["content-type"].startswith("text/html"), where
    elif response.status_code >= 400:
        assert response.headers["content-type"].startswith("application/problem+json"), where
        body = response.json()
        assert body.keys() >= PROBLEM_FIELDS, where
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
    # GET /healthz, GET /readyz and POST /reports/sign-out take nothing that could be wrong, nor do the
    # customer page's stylesheet and its token (any string: a wrong one is the page's 404, fuzzed positively).
    assert len(skipped) <= 7, f"{len(skipped)} operations had nothing to fuzz"

    # The longest Idempotency-Key the schema allows, on a real case's action, twice.
    for _ in range(2):
        request = {"method": "POST", "url": f"/cases/{numbers[0]}/notes", "json": {"text": "long key"}}
        response = await api.request(**request, headers=HANDLER | {"Idempotency-Key": "k" * 255})
        _check(response, request)


# ---- hostile shapes the generator does not reach: each answered 500 once (issue 13 §7) --------

HUGE = st.one_of(st.integers(min_value=2**31, max_value=2**80), st.integers(min_value=-(2**80), max_value=-1))
EXTREME_INSTANTS = [
    "0001-01-01T00:00:00+14:00",
    "9999-12-31T23:59:59-14:00",
    "0001-01-01T00:00:00Z",
    "9999-12-31T23:59:59Z",
]


def _nested(depth: int) -> str:
    return "[" * depth + "]" * depth


def _cursor(since: str, rank: int) -> str:
    raw = json.dumps({"r": rank, "s": since, "n": "PG-20261123-000001"}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


async def test_hostile_shapes_are_refused_with_problem_details(api: httpx.AsyncClient, database: Database) -> None:
    if database.backend != "postgresql":
        pytest.skip("fuzzed on PostgreSQL, the production database, whose column limits SQLite does not enforce")
    created = await api.post("/cases", json=intake(), headers=AGENT)
    number = created.json()["number"]
    schema = create_app(Settings()).openapi()
    requests: list[dict[str, Any]] = []

    # Big integers in every integer query parameter of every GET.
    @settings(
        max_examples=EXAMPLES, derandomize=True, database=None, deadline=None, suppress_health_check=list(HealthCheck)
    )
    @given(value=HUGE)
    def big_integers(value: int) -> None:
        for path, item in schema["paths"].items():
            for parameter in item.get("get", {}).get("parameters", []):
                if parameter["in"] == "query" and parameter["schema"].get("type") == "integer":
                    url = path.replace("{number}", number)
                    requests.append(
                        {"method": "GET", "url": url, "params": {parameter["name"]: str(value)}, "headers": HEAD}
                    )

    big_integers()
    # Queue cursors at the ends of time, with extreme ranks.
    for since in EXTREME_INSTANTS:
        for rank in (0, 1, 2**63, -(2**63)):
            for queue in ("supervisor", "head"):
                requests.append(
                    {
                        "method": "GET",
                        "url": f"/queues/{queue}",
                        "params": {"cursor": _cursor(since, rank)},
                        "headers": HEAD,
                    }
                )
    # Deep nesting in every JSON body, and in a calendar file.
    for path, item in schema["paths"].items():
        if "requestBody" in item.get("post", {}):
            body = '{"a": ' + _nested(50_000) + "}"
            url = path.replace("{number}", number).replace("{department}", "logistics").replace("{step}", "shipped")
            requests.append(
                {"method": "POST", "url": url, "content": body, "headers": HEAD | {"Content-Type": "application/json"}}
            )
    requests.append(
        {"method": "POST", "url": "/admin/calendars", "json": {"toml": "x = " + _nested(3000)}, "headers": ADMIN}
    )
    # Versions longer than the record's column; amounts that are not plain decimals.
    requests.append(
        {"method": "POST", "url": "/admin/calendars", "json": {"toml": f'version = "{"v" * 65}"'}, "headers": ADMIN}
    )
    requests.append({"method": "POST", "url": "/admin/sla-policies", "json": {"version": "v" * 65}, "headers": ADMIN})
    for amount in ('"\u0668\u0669\u0669"', '"1e999999999"', "1e999999999", '"NaN"', '"-0"', "899.0000000000000001"):
        content = json.dumps(intake() | {"order": {"number": "O-1", "paid_amount": "@"}}).replace('"@"', amount)
        requests.append(
            {
                "method": "POST",
                "url": "/cases",
                "content": content,
                "headers": AGENT | {"Content-Type": "application/json"},
            }
        )
    # Durations and instants at the ends of what they can hold.
    for extra in (1e300, "P999999999D", 2**80):
        requests.append(
            {
                "method": "POST",
                "url": f"/cases/{number}/extensions",
                "json": {"clock": "resolution", "extra": extra, "reason": "x"},
                "headers": HEAD,
            }
        )

    for instant in EXTREME_INSTANTS:
        requests.append({"method": "POST", "url": "/cases", "json": intake(occurred_at=instant), "headers": AGENT})

    for request in requests:
        response = await api.request(**request)
        _check(response, request)

    # Tampered, truncated and garbled payloads through a codec: the batch still answers.
    codec_app = create_app(Settings(codec_keys=f"k1:{new_key()}"))  # /codec needs neither Temporal nor the database
    sealed = codec_app.state.codec.encrypt(Payload(metadata={"encoding": b"json/plain"}, data=b'"x"'))
    data = base64.b64encode(sealed.data).decode()
    kid = base64.b64encode(sealed.metadata["encryption-key-id"]).decode()
    encoding = base64.b64encode(sealed.metadata["encoding"]).decode()
    spoiled = [
        {"metadata": {"encoding": encoding, "encryption-key-id": kid}, "data": data[:-4] + "AAAA"},
        {"metadata": {"encoding": encoding, "encryption-key-id": kid}, "data": base64.b64encode(b"short").decode()},
        {"metadata": {"encoding": encoding, "encryption-key-id": base64.b64encode(b"\xff").decode()}, "data": data},
        {"metadata": {"encoding": encoding}, "data": ""},
    ]
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=codec_app), base_url=BASE_URL) as codec_api:
        request = {"method": "POST", "url": "/codec/decode", "json": {"payloads": spoiled}, "headers": SUPERVISOR}
        response = await codec_api.request(**request)
        _check(response, request)
        assert response.status_code == 200 and response.json()["payloads"] == spoiled
