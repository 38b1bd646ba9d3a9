"""Idempotency-Key: a repeated request acts once, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
from sqlalchemy import func, select

from store.models import CaseRow, IdempotencyKeyRow
from tests.conftest import Database
from tests.people import AGENT, HANDLER, TRIAGE, intake
from tests.waiting import wait_for_stage


def unique_intake(**overrides: Any) -> tuple[dict[str, Any], str]:
    """An intake whose order number no other test uses, so its cases can be counted."""
    order_number = f"ORD-IDEM-{uuid.uuid4().hex[:12]}"
    return intake(order={"number": order_number, "paid_amount": "899.00", "currency": "CNY"}, **overrides), order_number


async def cases_for_order(database: Database, order_number: str) -> list[str]:
    async with database.engine.connect() as connection:
        rows = await connection.execute(select(CaseRow.number).where(CaseRow.order_number == order_number))
        return sorted(rows.scalars())


async def keys_named(database: Database, key: str) -> int:
    async with database.engine.connect() as connection:
        return (
            await connection.execute(select(func.count()).select_from(IdempotencyKeyRow).where(IdempotencyKeyRow.key == key))
        ).scalar_one()


async def timeline_kinds(api: httpx.AsyncClient, number: str) -> list[str]:
    response = await api.get(f"/cases/{number}/timeline", headers=AGENT)
    assert response.status_code == 200, response.text
    return [event["kind"] for event in response.json()]


async def test_same_key_and_body_open_one_case(api: httpx.AsyncClient, database: Database) -> None:
    body, order_number = unique_intake()
    key = f"open-{uuid.uuid4()}"

    first = await api.post("/cases", json=body, headers=AGENT | {"Idempotency-Key": key})
    assert first.status_code == 201, first.text
    number = first.json()["number"]
    assert first.headers["location"] == f"/cases/{number}"
    assert "idempotent-replayed" not in first.headers
    await wait_for_stage(api, number, "received", AGENT, "record")

    second = await api.post("/cases", json=body, headers=AGENT | {"Idempotency-Key": key})
    assert second.status_code == 201, second.text
    assert second.json()["number"] == number
    assert second.json()["stage"] == "received"
    assert second.json()["seq"] == 1
    assert second.headers["idempotent-replayed"] == "true"
    assert second.headers["location"] == f"/cases/{number}"

    assert await cases_for_order(database, order_number) == [number]
    assert await timeline_kinds(api, number) == ["received"]
    outbox = await database.store.outbox(number)
    assert [(o.recipient, o.topic) for o in outbox].count(("customer", "acknowledgement")) == 1


async def test_replay_after_the_case_moved_on_returns_the_same_case(api: httpx.AsyncClient, database: Database) -> None:
    body, order_number = unique_intake()
    headers = AGENT | {"Idempotency-Key": f"open-{uuid.uuid4()}"}
    first = await api.post("/cases", json=body, headers=headers)
    assert first.status_code == 201, first.text
    number = first.json()["number"]
    triaged = await api.post(f"/cases/{number}/triage", json=TRIAGE, headers=AGENT)
    assert triaged.status_code == 200, triaged.text

    again = await api.post("/cases", json=body, headers=headers)

    assert again.status_code == 201, again.text
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json()["number"] == number
    assert again.json()["stage"] == "triaged"  # the case as it is now, not a fresh one
    assert await cases_for_order(database, order_number) == [number]
    assert await timeline_kinds(api, number) == ["received", "triaged"]


async def test_concurrent_requests_with_one_key_open_one_case(api: httpx.AsyncClient, database: Database) -> None:
    body, order_number = unique_intake()
    key = f"burst-{uuid.uuid4()}"

    responses = await asyncio.gather(
        *(api.post("/cases", json=body, headers=AGENT | {"Idempotency-Key": key}) for _ in range(10))
    )

    assert [r.status_code for r in responses] == [201] * 10, [r.text for r in responses if r.status_code != 201]
    numbers = {r.json()["number"] for r in responses}
    assert len(numbers) == 1, numbers
    (number,) = numbers
    replayed = [r.headers.get("idempotent-replayed") for r in responses]
    assert replayed.count(None) == 1, replayed  # exactly one request opened the case
    assert replayed.count("true") == 9, replayed
    await wait_for_stage(api, number, "received", AGENT, "record")
    assert await cases_for_order(database, order_number) == [number]
    assert await keys_named(database, key) == 1
    assert await timeline_kinds(api, number) == ["received"]


async def test_same_key_with_another_body_is_422(api: httpx.AsyncClient, database: Database) -> None:
    body, order_number = unique_intake()
    headers = AGENT | {"Idempotency-Key": f"reuse-{uuid.uuid4()}"}
    first = await api.post("/cases", json=body, headers=headers)
    assert first.status_code == 201, first.text
    number = first.json()["number"]

    other = await api.post("/cases", json={**body, "description": "Actually the lid is broken."}, headers=headers)

    assert other.status_code == 422, other.text
    assert other.headers["content-type"].split(";")[0] == "application/problem+json"
    problem = other.json()
    assert problem["title"] == "Idempotency key reused"
    assert problem["status"] == 422
    assert "Idempotency-Key" in problem["detail"]
    assert "location" not in other.headers
    await wait_for_stage(api, number, "received", AGENT, "record")
    assert await cases_for_order(database, order_number) == [number]


async def test_same_key_from_another_caller_opens_its_own_case(api: httpx.AsyncClient, database: Database) -> None:
    """Keys are scoped to the caller: two agents who happen to pick the same key each get a case."""
    body, order_number = unique_intake()
    key = f"shared-{uuid.uuid4()}"
    other_agent = {"X-Actor-Id": "agent-zhou", "X-Actor-Role": "agent"}

    mine = await api.post("/cases", json=body, headers=AGENT | {"Idempotency-Key": key})
    theirs = await api.post("/cases", json=body, headers=other_agent | {"Idempotency-Key": key})

    assert mine.status_code == 201 and theirs.status_code == 201, (mine.text, theirs.text)
    assert mine.json()["number"] != theirs.json()["number"]
    assert "idempotent-replayed" not in theirs.headers
    for response in (mine, theirs):
        await wait_for_stage(api, response.json()["number"], "received", AGENT, "record")
    assert await cases_for_order(database, order_number) == sorted([mine.json()["number"], theirs.json()["number"]])


async def test_repeated_action_with_one_key_acts_once(api: httpx.AsyncClient) -> None:
    body, _ = unique_intake()
    number = (await api.post("/cases", json=body, headers=AGENT)).json()["number"]
    for action, payload, who in [("triage", TRIAGE, AGENT), ("accept", None, HANDLER)]:
        response = await api.post(f"/cases/{number}/{action}", json=payload, headers=who)
        assert response.status_code == 200, response.text
    note = {"text": "Called the warehouse about batch B2026-10"}
    headers = HANDLER | {"Idempotency-Key": f"note-{uuid.uuid4()}"}

    first = await api.post(f"/cases/{number}/notes", json=note, headers=headers)
    second = await api.post(f"/cases/{number}/notes", json=note, headers=headers)

    assert first.status_code == 200, first.text
    assert second.status_code == 200, second.text
    assert second.json()["seq"] == first.json()["seq"] == 4
    kinds = await timeline_kinds(api, number)
    assert kinds == ["received", "triaged", "accepted", "note_added"]

    # Without a key (or with a new one) the same note is a new note.
    third = await api.post(f"/cases/{number}/notes", json=note, headers=HANDLER)
    assert third.status_code == 200, third.text
    assert await timeline_kinds(api, number) == kinds + ["note_added"]


async def test_repeated_accept_with_one_key_is_not_a_conflict(api: httpx.AsyncClient) -> None:
    """A retried accept (the first answer lost) gets the first result, not 409 'already in handling'."""
    body, _ = unique_intake()
    number = (await api.post("/cases", json=body, headers=AGENT)).json()["number"]
    assert (await api.post(f"/cases/{number}/triage", json=TRIAGE, headers=AGENT)).status_code == 200
    headers = HANDLER | {"Idempotency-Key": f"accept-{uuid.uuid4()}"}

    first = await api.post(f"/cases/{number}/accept", headers=headers)
    second = await api.post(f"/cases/{number}/accept", headers=headers)

    assert first.status_code == 200, first.text
    assert second.status_code == 200, second.text
    assert second.json()["stage"] == "in_handling"
    assert second.json()["assignee"] == "handler-wang"
    assert await timeline_kinds(api, number) == ["received", "triaged", "accepted"]


async def test_action_key_reused_with_another_body_is_422(api: httpx.AsyncClient) -> None:
    body, _ = unique_intake()
    number = (await api.post("/cases", json=body, headers=AGENT)).json()["number"]
    assert (await api.post(f"/cases/{number}/triage", json=TRIAGE, headers=AGENT)).status_code == 200
    assert (await api.post(f"/cases/{number}/accept", headers=HANDLER)).status_code == 200
    headers = HANDLER | {"Idempotency-Key": f"note-{uuid.uuid4()}"}
    first = await api.post(f"/cases/{number}/notes", json={"text": "Batch record requested"}, headers=headers)
    assert first.status_code == 200, first.text

    other = await api.post(f"/cases/{number}/notes", json={"text": "Customer wants a replacement instead"}, headers=headers)

    # The second note is neither recorded nor silently dropped behind a 200.
    timeline = (await api.get(f"/cases/{number}/timeline", headers=AGENT)).json()
    assert [e["data"]["text"] for e in timeline if e["kind"] == "note_added"] == ["Batch record requested"]
    assert other.status_code == 422, other.text
    assert other.headers["content-type"].split(";")[0] == "application/problem+json"
