"""What a request may carry: no control characters, bounded strings and lists, amounts as decimals.

The first test walks every request model the intake and action routes take, so a field added
later without the shared text type or a bound fails here. The others drive the real API,
worker and dev server on SQLite and PostgreSQL (a NUL used to leave PostgreSQL's case never
starting: the activity could not store it and retried for ever).
"""

from __future__ import annotations

import json
import types
import typing
from decimal import Decimal
from enum import Enum
from typing import Any

import httpx
import pytest
from fastapi.routing import APIRoute
from pydantic import BaseModel

from api.app import create_app
from core.settings import Settings
from domain import text
from tests.support.people import AGENT, HANDLER, PLAN, intake
from tests.support.problems import assert_problem, error_fields, in_handling, open_case

# Admin uploads (policies, calendars, triage rules) and the codec proxy are not case input.
NOT_CASE_INPUT = ("/admin", "/codec")


def _request_models() -> dict[str, type[BaseModel]]:
    app = create_app(Settings())
    models: dict[str, type[BaseModel]] = {}
    # FastAPI keeps an included router as one entry; its routes carry their full paths.
    routes = [r for entry in app.routes for r in getattr(getattr(entry, "original_router", None), "routes", [entry])]
    for route in routes:
        if not isinstance(route, APIRoute) or route.path.startswith(NOT_CASE_INPUT):
            continue
        for param in route.dependant.body_params:
            for model in _models_in(param.field_info.annotation):
                models[f"{route.path} {model.__name__}"] = model
    return models


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for arg in typing.get_args(annotation) for m in _models_in(arg)]


def _unbounded(annotation: Any, metadata: list[Any], path: str) -> list[str]:
    """The fields under `annotation` that take text without the shared check, or any length."""
    while typing.get_origin(annotation) is typing.Annotated:
        metadata = metadata + list(annotation.__metadata__)
        annotation = annotation.__origin__
    origin = typing.get_origin(annotation)
    bounded = any(getattr(m, "max_length", None) is not None or getattr(m, "pattern", None) for m in metadata)
    if origin in (typing.Union, types.UnionType):
        return [
            p for arg in typing.get_args(annotation) if arg is not type(None) for p in _unbounded(arg, metadata, path)
        ]
    if origin in (list, tuple, set, frozenset, dict):
        found = [] if bounded else [f"{path}: a list without max_length"]
        return found + [
            p for arg in typing.get_args(annotation) if arg is not Ellipsis for p in _unbounded(arg, [], f"{path}[]")
        ]
    if origin is typing.Literal or (isinstance(annotation, type) and issubclass(annotation, Enum)):
        return []
    if annotation is str:
        checked = any(getattr(m, "func", None) is text._no_control_characters for m in metadata)
        return ([] if checked else [f"{path}: not domain.text.Text"]) + ([] if bounded else [f"{path}: no max_length"])
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [
            p
            for name, field in annotation.model_fields.items()
            for p in _unbounded(field.annotation, list(field.metadata), f"{path}.{name}")
        ]
    return []


def test_every_string_and_list_of_every_request_model_is_checked_and_bounded() -> None:
    models = _request_models()
    assert {"/cases CaseIntake", "/cases/{number}/plan SolutionPlan", "/cases/{number}/notes Note"} <= set(models)
    problems = [p for key, model in models.items() for p in _unbounded(model, [], key)]
    assert problems == []


def test_the_walk_finds_an_unchecked_or_unbounded_field() -> None:
    class Careless(BaseModel):
        comment: str
        tags: list[text.Text]

    assert _unbounded(Careless, [], "Careless") == [
        "Careless.comment: not domain.text.Text",
        "Careless.comment: no max_length",
        "Careless.tags: a list without max_length",
        "Careless.tags[]: no max_length",
    ]


# ---- through the API --------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "overrides"),
    [
        ("description", {"description": "leak\u0000ing"}),
        ("customer.name", {"customer": {"name": "张\u0000三"}}),
        ("product.sku", {"product": {"sku": "KETTLE\u00001L"}}),
        ("evidence.0.uri", {"evidence": [{"kind": "photo", "uri": "s3://x/\u001b[31m"}]}),
        ("description", {"description": "C1 control \u0085 too"}),
    ],
)
async def test_intake_with_a_control_character_is_refused_naming_the_field(
    api: httpx.AsyncClient, field: str, overrides: dict[str, Any]
) -> None:
    response = await api.post("/cases", json=intake(**overrides), headers=AGENT)
    problem = assert_problem(response, 422, "Invalid request")
    assert error_fields(problem) == [field]
    assert "control characters" in problem["errors"][0]["message"]


async def test_tab_and_newlines_are_text(api: httpx.AsyncClient) -> None:
    number = await open_case(api, description="line one\r\nline two\n\tindented")
    response = await api.get(f"/cases/{number}", headers=AGENT)
    assert response.json()["live"]["intake"]["description"] == "line one\r\nline two\n\tindented"


async def test_an_action_with_a_control_character_or_an_endless_plan_is_refused(api: httpx.AsyncClient) -> None:
    number = await in_handling(api)
    response = await api.post(f"/cases/{number}/notes", json={"text": "called\u0000back"}, headers=HANDLER)
    assert error_fields(assert_problem(response, 422, "Invalid request")) == ["text"]
    plan = PLAN | {"measures": ["refund", "x" * 2001]}
    response = await api.post(f"/cases/{number}/plan", json=plan, headers=HANDLER)
    problem = assert_problem(response, 422, "Invalid request")
    assert error_fields(problem) == ["measures.1"]
    assert "at most 2000 characters" in problem["errors"][0]["message"]
    plan = PLAN | {"resolution": PLAN["resolution"] | {"detail": "ok\u0007"}}
    response = await api.post(f"/cases/{number}/plan", json=plan, headers=HANDLER)
    assert error_fields(assert_problem(response, 422, "Invalid request")) == ["resolution.detail"]


def _raw_intake(paid_amount: str) -> bytes:
    # httpx would send a float as Python prints it; the body is written by hand to keep the digits.
    body = json.dumps(intake() | {"order": {"number": "ORD-1", "paid_amount": "@@", "currency": "CNY"}})
    return body.replace('"@@"', paid_amount).encode()


@pytest.mark.parametrize(
    "amount", ["899.0000000000000001", "899.001", '"899.0000000000000001"', '"\u0668\u0669\u0669"']
)
async def test_an_amount_with_more_than_cents_or_foreign_digits_is_refused(api: httpx.AsyncClient, amount: str) -> None:
    content = _raw_intake(amount)
    response = await api.post("/cases", content=content, headers=AGENT | {"Content-Type": "application/json"})
    problem = assert_problem(response, 422, "Invalid request")
    assert error_fields(problem) == ["order.paid_amount"]


@pytest.mark.parametrize(
    ("sent", "kept"), [("899.5", "899.5"), ("1e3", "1000"), ('"1e3"', "1000"), ('"899.00"', "899.00")]
)
async def test_an_amount_is_kept_as_the_decimal_sent(api: httpx.AsyncClient, sent: str, kept: str) -> None:
    response = await api.post("/cases", content=_raw_intake(sent), headers=AGENT | {"Content-Type": "application/json"})
    assert response.status_code == 201, response.text
    live = (await api.get(f"/cases/{response.json()['number']}", headers=AGENT)).json()["live"]
    assert live["intake"]["order"]["paid_amount"] == kept


async def test_a_plan_amount_in_exponent_form_comes_back_plain(api: httpx.AsyncClient) -> None:
    number = await in_handling(api)
    plan = PLAN | {"resolution": {"type": "refund", "amount": "8.99e2", "currency": "CNY"}}
    response = await api.post(f"/cases/{number}/plan", json=plan, headers=HANDLER)
    assert response.status_code == 200, response.text
    assert response.json()["plan"]["plan"]["resolution"]["amount"] == "899"
    assert Decimal(response.json()["plan"]["plan"]["resolution"]["amount"]) == Decimal("899")


@pytest.mark.parametrize("path", ["/cases/AS%00X", "/cases/AS%00X/timeline", "/cases/AS%1bX/notes"])
async def test_a_case_number_with_a_control_character_is_refused_by_name(api: httpx.AsyncClient, path: str) -> None:
    method = "POST" if path.endswith("notes") else "GET"
    response = await api.request(method, path, json={"text": "x"} if method == "POST" else None, headers=HANDLER)
    problem = assert_problem(response, 422, "Invalid request")
    assert error_fields(problem) == ["path.number"]
