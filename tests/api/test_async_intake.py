"""`POST /cases` with `Prefer: respond-async` (issue 19 §3): 202 with the number, `Location` and a
status URL once Temporal has the case; the status URL says when it is recorded. The number and the
Idempotency-Key hold as in the synchronous answer, which stays the default."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import httpx

from tests.conftest import Database
from tests.support.people import AGENT, HANDLER, intake

ASYNC = {"Prefer": "respond-async"}


async def _recorded(api: httpx.AsyncClient, status_url: str, timeout: float = 10) -> dict[str, Any]:
    """Poll the status URL, as a caller would, until it says recorded (bounded)."""
    deadline = time.monotonic() + timeout
    while True:
        status = await api.get(status_url, headers=AGENT)
        assert status.status_code == 200, status.text
        if status.json()["recorded"]:
            return status.json()
        assert time.monotonic() < deadline, f"{status_url}: not recorded after {timeout}s"
        await asyncio.sleep(0.05)


async def test_respond_async_answers_202_and_the_status_url_tells_when_recorded(
    api: httpx.AsyncClient, database: Database
) -> None:
    answer = await api.post("/cases", json=intake(), headers=AGENT | {"Prefer": "wait=5, respond-async"})
    assert answer.status_code == 202, answer.text
    number = answer.json()["number"]
    assert number.startswith(f"{database.prefix}-")
    assert answer.headers["Location"] == f"/cases/{number}" == answer.json()["location"]
    assert answer.headers["Preference-Applied"] == "respond-async"
    assert answer.json()["status"] == f"/cases/{number}/status"

    status = await _recorded(api, answer.json()["status"])
    assert status == {"number": number, "recorded": True, "stage": "received", "location": f"/cases/{number}"}
    detail = (await api.get(f"/cases/{number}", headers=AGENT)).json()
    assert detail["record"]["number"] == number and detail["live"]["stage"] == "received"
    assert [e.kind for e in await database.store.timeline(number)][:1] == ["received"]


async def test_a_repeat_with_the_same_key_gives_the_same_number_and_202_again(
    api: httpx.AsyncClient, database: Database
) -> None:
    headers = AGENT | ASYNC | {"Idempotency-Key": f"intake-{uuid.uuid4()}"}
    body = intake()
    first = await api.post("/cases", json=body, headers=headers)
    again = await api.post("/cases", json=body, headers=headers)
    assert (first.status_code, again.status_code) == (202, 202), again.text
    number = first.json()["number"]
    assert again.json() == first.json() and again.headers["Location"] == f"/cases/{number}"
    assert again.headers["Idempotent-Replayed"] == "true"

    await _recorded(api, first.json()["status"])
    # One case, received once; the next case takes the next number.
    assert [e.kind for e in await database.store.timeline(number)].count("received") == 1
    later = await api.post("/cases", json=intake(), headers=AGENT | ASYNC)
    assert int(later.json()["number"].rsplit("-", 1)[1]) > int(number.rsplit("-", 1)[1])
    # The same key with another body is still refused.
    other = await api.post("/cases", json=intake(channel="email"), headers=headers)
    assert other.status_code == 422


async def test_without_the_preference_the_answer_waits_for_the_record(api: httpx.AsyncClient) -> None:
    # A preference the API does not honour (RFC 7240 `wait`) is ignored, as the RFC asks.
    answer = await api.post("/cases", json=intake(), headers=AGENT | {"Prefer": "wait=10"})
    assert answer.status_code == 201
    number = answer.json()["number"]
    assert answer.json()["stage"] == "received" and answer.headers["Location"] == f"/cases/{number}"
    assert "Preference-Applied" not in answer.headers
    status = await api.get(f"/cases/{number}/status", headers=AGENT)
    assert status.json()["recorded"] is True


async def test_the_status_of_an_unknown_case_or_another_departments_is_404(api: httpx.AsyncClient) -> None:
    unknown = await api.get("/cases/SQ-20200101-999998/status", headers=AGENT)
    assert unknown.status_code == 404
    number = (await api.post("/cases", json=intake(), headers=AGENT | ASYNC)).json()["number"]
    # Not routed to the handler's department (not even triaged): as GET /cases/{number} answers.
    assert (await api.get(f"/cases/{number}/status", headers=HANDLER)).status_code == 404
