"""Parameters outside what the record can hold are refused as 4xx problems naming them.

Each of these answered 500 before (issue 13 §7): a number larger than the database's
integer, a queue cursor whose instant has no UTC equivalent, an empty JWT secret, a
calendar file nested deeper than the parser recurses, a rules version longer than the
record's column. Driven through the real API on SQLite and PostgreSQL.
"""

from __future__ import annotations

import base64
import json

import httpx
import pytest
from pydantic import ValidationError

from api.json_body import MAX_DEPTH
from core.settings import Settings
from tests.support.people import ADMIN, AGENT, SUPERVISOR, intake
from tests.support.problems import assert_problem, error_fields, open_case


@pytest.mark.parametrize(
    ("path", "params", "field"),
    [
        ("/cases", {"offset": "9223372036854775808"}, "query.offset"),
        ("/cases", {"offset": "2147483648"}, "query.offset"),
        ("/cases/{number}/timeline", {"after": "99999999999999999999"}, "query.after"),
        ("/cases/{number}/timeline", {"after": "2147483648"}, "query.after"),
    ],
)
async def test_a_number_too_large_for_the_record_is_refused_by_name(
    api: httpx.AsyncClient, path: str, params: dict[str, str], field: str
) -> None:
    number = await open_case(api)
    response = await api.get(path.format(number=number), params=params, headers=AGENT)
    problem = assert_problem(response, 422, "Invalid request")
    assert error_fields(problem) == [field]
    assert "less than or equal to" in problem["errors"][0]["message"]


def _cursor(since: str) -> str:
    raw = json.dumps({"r": 1, "s": since, "n": "AS-20261123-000001"}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


@pytest.mark.parametrize("since", ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00"])
async def test_a_cursor_at_the_ends_of_time_is_refused_by_name(api: httpx.AsyncClient, since: str) -> None:
    response = await api.get("/queues/supervisor", params={"cursor": _cursor(since)}, headers=SUPERVISOR)
    problem = assert_problem(response, 422, "Invalid request")
    assert error_fields(problem) == ["query.cursor"]


async def test_a_cursor_at_a_far_but_real_instant_is_a_page(api: httpx.AsyncClient) -> None:
    response = await api.get(
        "/queues/supervisor", params={"cursor": _cursor("0001-01-01T00:00:00+00:00")}, headers=SUPERVISOR
    )
    assert response.status_code == 200, response.text


@pytest.mark.parametrize("secret", ["", "   "])
def test_an_empty_jwt_secret_refuses_to_start(secret: str) -> None:
    with pytest.raises(ValidationError) as error:
        Settings(jwt_secret=secret)
    assert error.value.errors()[0]["loc"] == ("jwt_secret",)
    assert "JWT_SECRET is set but empty" in str(error.value)


async def test_a_deeply_nested_calendar_file_is_refused(api: httpx.AsyncClient) -> None:
    toml = "x = " + "[" * 5000 + "]" * 5000
    response = await api.post("/admin/calendars", json={"toml": toml}, headers=ADMIN)
    problem = assert_problem(response, 422, "Invalid calendar file")
    assert error_fields(problem) == ["toml"]
    assert "nests too deeply" in problem["detail"]


async def test_a_calendar_version_longer_than_the_record_is_refused(api: httpx.AsyncClient) -> None:
    response = await api.post("/admin/calendars", json={"toml": f'version = "{"v" * 65}"'}, headers=ADMIN)
    problem = assert_problem(response, 422, "Invalid calendar file")
    assert "at most 64 characters" in problem["detail"]


async def test_a_policy_version_longer_than_the_record_is_refused(api: httpx.AsyncClient) -> None:
    response = await api.post("/admin/sla-policies", json={"version": "v" * 65}, headers=ADMIN)
    problem = assert_problem(response, 422, "Invalid request")
    assert error_fields(problem) == ["version"]


@pytest.mark.parametrize("depth", [MAX_DEPTH, 10_000, 100_000])
async def test_a_json_body_nested_too_deeply_is_refused_naming_the_body(api: httpx.AsyncClient, depth: int) -> None:
    # The object is one level, the arrays in it the rest: one past the limit at the least.
    body = '{"description": ' + "[" * depth + "]" * depth + "}"
    response = await api.post("/cases", content=body, headers=AGENT | {"Content-Type": "application/json"})
    problem = assert_problem(response, 422, "Invalid request")
    assert error_fields(problem) == ["body"]
    assert problem["detail"] == f"body: JSON decode error: arrays and objects nest deeper than {MAX_DEPTH} levels"


async def test_a_json_body_nested_just_within_the_limit_is_validated_as_usual(api: httpx.AsyncClient) -> None:
    depth = MAX_DEPTH - 1
    body = intake(description=json.loads("[" * depth + "]" * depth))  # the object and 63 arrays: 64 levels
    response = await api.post("/cases", json=body, headers=AGENT)
    problem = assert_problem(response, 422, "Invalid request")
    assert error_fields(problem) == ["description"]
    assert problem["errors"][0]["message"] == "Input should be a valid string"


async def test_malformed_json_is_refused_naming_the_body(api: httpx.AsyncClient) -> None:
    response = await api.post("/cases", content='{"channel": }', headers=AGENT | {"Content-Type": "application/json"})
    problem = assert_problem(response, 422, "Invalid request")
    assert error_fields(problem) == ["body"]
    assert problem["detail"] == "body: JSON decode error: Expecting value"
