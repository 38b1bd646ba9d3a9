"""Idempotency-Key: a repeated request acts once, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlalchemy import func, select

from api.idempotency import request_hash as _request_hash
from domain.case import CaseIntake
from store.cases import IdempotencyKeyInFlight
from store.models import CaseRow, IdempotencyKeyRow
from tests.conftest import Database
from tests.support.people import AGENT, HANDLER, HEAD, PLAN, TRIAGE, intake, person
from tests.support.waiting import wait_for_stage


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
            await connection.execute(
                select(func.count()).select_from(IdempotencyKeyRow).where(IdempotencyKeyRow.key == key)
            )
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


async def test_replay_after_the_case_moved_on_is_the_first_answer(api: httpx.AsyncClient, database: Database) -> None:
    """The replay is the first response, status and body, not the case as it is now."""
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
    assert again.headers["location"] == f"/cases/{number}"
    assert again.json() == first.json()
    assert again.json()["stage"] == "received"
    assert await cases_for_order(database, order_number) == [number]
    assert await timeline_kinds(api, number) == ["received", "triaged"]


async def test_twenty_concurrent_requests_with_one_key_open_one_case(
    api: httpx.AsyncClient, database: Database
) -> None:
    body, order_number = unique_intake()
    key = f"burst-{uuid.uuid4()}"

    responses = await asyncio.gather(
        *(api.post("/cases", json=body, headers=AGENT | {"Idempotency-Key": key}) for _ in range(20))
    )

    # Each answer is the one case (first or replayed), or 409 while the first was still running.
    assert {r.status_code for r in responses} <= {201, 409}, [r.text for r in responses]
    created = [r for r in responses if r.status_code == 201]
    assert len({r.json()["number"] for r in created}) == 1
    assert [r.headers.get("idempotent-replayed") for r in created].count(None) == 1  # exactly one opened it
    for busy in (r for r in responses if r.status_code == 409):
        assert busy.headers["content-type"].split(";")[0] == "application/problem+json"
        assert busy.json()["title"] == "Request in progress"
        assert busy.headers["retry-after"]
    number = created[0].json()["number"]
    await wait_for_stage(api, number, "received", AGENT, "record")
    assert await cases_for_order(database, order_number) == [number]
    assert await keys_named(database, key) == 1
    assert await timeline_kinds(api, number) == ["received"]

    # Once the first has answered, a repeat is a replay.
    late = await api.post("/cases", json=body, headers=AGENT | {"Idempotency-Key": key})
    assert late.status_code == 201 and late.headers["idempotent-replayed"] == "true"
    assert late.json()["number"] == number


async def test_a_key_in_flight_is_409_and_a_released_key_runs_on_the_same_case(
    api: httpx.AsyncClient, database: Database
) -> None:
    """While a first request runs, a repeat is 409; if it fails, a retry proceeds, on the case number it bound."""
    body, order_number = unique_intake()
    key = f"slow-{uuid.uuid4()}"
    fingerprint = _request_hash("POST /cases", CaseIntake.model_validate(body))
    # A first request that has claimed the key and not answered yet.
    day = datetime.now(ZoneInfo("Asia/Shanghai")).strftime("%Y%m%d")
    claim = await database.store.claim_key("agent-li", key, fingerprint, lock_seconds=120, day=day)
    assert claim.first and not claim.replay

    busy = await api.post("/cases", json=body, headers=AGENT | {"Idempotency-Key": key})
    assert busy.status_code == 409, busy.text
    assert busy.json()["title"] == "Request in progress"
    assert await cases_for_order(database, order_number) == []

    await database.store.release_key("agent-li", key)  # the first request failed
    retried = await api.post("/cases", json=body, headers=AGENT | {"Idempotency-Key": key})
    assert retried.status_code == 201, retried.text
    assert retried.json()["number"] == claim.number
    assert "idempotent-replayed" not in retried.headers
    await wait_for_stage(api, claim.number, "received", AGENT, "record")
    assert await cases_for_order(database, order_number) == [claim.number]


async def test_a_refused_action_releases_its_key(api: httpx.AsyncClient) -> None:
    """An approval refused (wrong stage) does not burn the key: the same request later approves, once."""
    body, _ = unique_intake()
    number = (await api.post("/cases", json=body, headers=AGENT)).json()["number"]
    approve = HEAD | {"Idempotency-Key": f"approve-{uuid.uuid4()}"}  # a P2 plan: the head approves
    early = await api.post(f"/cases/{number}/approve", json={"comment": "ok"}, headers=approve)
    assert early.status_code == 409, early.text
    for action, payload, who in [("triage", TRIAGE, AGENT), ("accept", None, HANDLER), ("plan", PLAN, HANDLER)]:
        response = await api.post(f"/cases/{number}/{action}", json=payload, headers=who)
        assert response.status_code == 200, response.text

    first = await api.post(f"/cases/{number}/approve", json={"comment": "ok"}, headers=approve)
    second = await api.post(f"/cases/{number}/approve", json={"comment": "ok"}, headers=approve)

    assert first.status_code == second.status_code == 200, (first.text, second.text)
    assert "idempotent-replayed" not in first.headers
    assert second.headers["idempotent-replayed"] == "true"
    assert second.json() == first.json()
    assert (await timeline_kinds(api, number)).count("plan_approved") == 1


async def test_a_stale_in_flight_key_can_be_taken_over(database: Database) -> None:
    """A request that died holding a key does not block it forever (idempotency_lock_seconds)."""
    key = f"crashed-{uuid.uuid4()}"
    first = await database.store.claim_key("agent-li", key, "h", lock_seconds=120, number="X-1")
    with pytest.raises(IdempotencyKeyInFlight):
        await database.store.claim_key("agent-li", key, "h", lock_seconds=120, number="X-1")
    await asyncio.sleep(0.05)
    taken = await database.store.claim_key("agent-li", key, "h", lock_seconds=0.01, number="X-1")
    assert (first.first, taken.first, taken.number) == (True, False, "X-1")
    with pytest.raises(IdempotencyKeyInFlight):  # and only one retry takes it
        await database.store.claim_key("agent-li", key, "h", lock_seconds=120, number="X-1")


async def test_one_key_for_another_request_is_422(api: httpx.AsyncClient) -> None:
    """The key stands for method, target and body: reused on another action it is refused."""
    body, _ = unique_intake()
    key = f"mixed-{uuid.uuid4()}"
    opened = await api.post("/cases", json=body, headers=AGENT | {"Idempotency-Key": key})
    assert opened.status_code == 201, opened.text
    number = opened.json()["number"]

    note = await api.post(f"/cases/{number}/notes", json={"text": "hello"}, headers=AGENT | {"Idempotency-Key": key})

    assert note.status_code == 422, note.text
    assert note.json()["title"] == "Idempotency key reused"
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
    other_agent = person("agent-zhou", "agent")

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

    other = await api.post(
        f"/cases/{number}/notes", json={"text": "Customer wants a replacement instead"}, headers=headers
    )

    # The second note is neither recorded nor silently dropped behind a 200.
    timeline = (await api.get(f"/cases/{number}/timeline", headers=AGENT)).json()
    assert [e["data"]["text"] for e in timeline if e["kind"] == "note_added"] == ["Batch record requested"]
    assert other.status_code == 422, other.text
    assert other.headers["content-type"].split(";")[0] == "application/problem+json"
