"""Reading RFC 9457 problem documents, and cases to refuse actions on."""

from __future__ import annotations

from typing import Any

import httpx

from tests.support.people import AGENT, HANDLER, TRIAGE, intake
from tests.support.waiting import wait_for_stage


def assert_problem(response: httpx.Response, status: int, title: str) -> dict[str, Any]:
    """The response is a problem+json with the given status and title; returns its body."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].split(";")[0].strip() == "application/problem+json"
    body = response.json()
    assert body["type"] == "about:blank"
    assert body["title"] == title
    assert body["status"] == status
    assert isinstance(body["detail"], str) and body["detail"].strip()
    assert body["instance"] == response.request.url.path
    return body


def error_fields(problem: dict[str, Any]) -> list[str]:
    return [error["field"] for error in problem["errors"]]


async def open_case(api: httpx.AsyncClient, **overrides: Any) -> str:
    response = await api.post("/cases", json=intake(**overrides), headers=AGENT)
    assert response.status_code == 201, response.text
    assert response.json()["stage"] == "received"
    number = response.json()["number"]
    # The record is written just after the 201 (see test_new_case_is_recorded_when_201_returns).
    await wait_for_stage(api, number, "received", AGENT, "record")
    return number


async def act(api: httpx.AsyncClient, number: str, action: str, body: Any, who: dict[str, str], stage: str) -> None:
    response = await api.post(f"/cases/{number}/{action}", json=body, headers=who)
    assert response.status_code == 200, f"{action}: {response.text}"
    assert response.json()["stage"] == stage, action


async def in_handling(api: httpx.AsyncClient) -> str:
    number = await open_case(api)
    await act(api, number, "triage", TRIAGE, AGENT, "triaged")
    await act(api, number, "accept", None, HANDLER, "in_handling")
    return number
