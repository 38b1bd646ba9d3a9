"""POST /cases/search: finding a case by order number, the customer's phone (through its keyed
hash: the record's look-up column holds no digit run of the number), days received; paging;
refusals naming their field; a handler finds only what they may see. SQLite and PostgreSQL."""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from sqlalchemy import select

from domain.phone import DEVELOPMENT_LOOKUP_KEY, phone_lookup_hash
from store.models import CaseRow
from tests.conftest import Database
from tests.support.people import AGENT, OTHER_HANDLER, SUPERVISOR, intake
from tests.support.waiting import wait_for_stage

ZONE = ZoneInfo("Asia/Shanghai")


def _mobile() -> tuple[str, str]:
    """A fresh mobile number as an agent types it, and its subscriber digits."""
    digits = f"139{secrets.randbelow(10**8):08d}"
    return f"+86 {digits[:3]} {digits[3:7]} {digits[7:]}", digits


async def _open(api: httpx.AsyncClient, **overrides: Any) -> str:
    response = await api.post("/cases", json=intake(**overrides), headers=AGENT)
    assert response.status_code == 201, response.text
    number = response.json()["number"]
    await wait_for_stage(api, number, "received", AGENT, "record")
    return number


async def _search(api: httpx.AsyncClient, who: dict[str, str] = AGENT, **criteria: Any) -> dict[str, Any]:
    response = await api.post("/cases/search", json=criteria, headers=who)
    assert response.status_code == 200, response.text
    return response.json()


async def test_a_case_is_found_by_the_phone_however_it_is_spelt_and_the_record_holds_only_a_hash(
    api: httpx.AsyncClient, database: Database
) -> None:
    typed, digits = _mobile()
    customer = {"name": "王小明", "phone": typed, "tier": "normal"}
    number = await _open(api, customer=customer)

    for spelling in (digits, f"+86{digits}", f"0086 {digits}", f"86-{digits[:3]}-{digits[3:7]}-{digits[7:]}"):
        page = await _search(api, phone=spelling)
        assert [item["number"] for item in page["items"]] == [number], spelling
        # Lists show the phone masked.
        assert page["items"][0]["customer"]["phone"] == "*******" + digits[-4:]
    assert (await _search(api, phone=f"139{(int(digits[3:]) + 1) % 10**8:08d}"))["total"] == 0

    async with database.store.sessions() as session:
        stored = (
            await session.execute(select(CaseRow.customer_phone_hash).where(CaseRow.number == number))
        ).scalar_one()
    assert stored == phone_lookup_hash(f"+86{digits}", DEVELOPMENT_LOOKUP_KEY)
    assert len(stored) == 64 and set(stored) <= set("0123456789abcdef")
    # No run of the number's digits is in the look-up column: not the number, not its subscriber part.
    for part in (digits, digits[3:], digits[-8:], digits[:7]):
        assert part not in stored


async def test_search_pages_newest_first_and_finds_by_days_received(api: httpx.AsyncClient) -> None:
    order = f"ORD-SRCH-{secrets.token_hex(4)}"
    numbers = [await _open(api, order={"number": order, "paid_amount": "120.00"}) for _ in range(3)]

    first = await _search(api, order_number=order, limit=2)
    second = await _search(api, order_number=order, limit=2, offset=2)
    assert (first["total"], second["total"], first["limit"], second["offset"]) == (3, 3, 2, 2)
    assert [i["number"] for i in first["items"]] + [i["number"] for i in second["items"]] == numbers[::-1]

    received = datetime.fromisoformat(first["items"][0]["received_at"]).astimezone(ZONE).date()
    day = received.isoformat()
    assert (await _search(api, order_number=order, received_from=day, received_to=day))["total"] == 3
    before = (received - timedelta(days=1)).isoformat()
    assert (await _search(api, order_number=order, received_to=before))["total"] == 0
    after = (received + timedelta(days=1)).isoformat()
    assert (await _search(api, order_number=order, received_from=after))["total"] == 0
    # With the other criteria: the stage the cases are in, and one they are not.
    assert (await _search(api, order_number=order, stage="received", sla_state="on_track"))["total"] == 3
    assert (await _search(api, order_number=order, stage="closed"))["total"] == 0
    assert (await _search(api, SUPERVISOR, number=numbers[1].lower()))["items"][0]["number"] == numbers[1]
    # Untriaged cases belong to no department: a handler finds none of them.
    assert (await _search(api, OTHER_HANDLER, order_number=order))["total"] == 0


async def test_bad_criteria_are_refused_naming_the_field_and_never_echo_the_phone(api: httpx.AsyncClient) -> None:
    cases = [
        ({"phone": "call 13912345678"}, "phone"),
        ({"order_number": "ORD\x00-1"}, "order_number"),
        ({"sku": "S" * 65}, "sku"),
        ({"received_from": "2026-11-20", "received_to": "2026-11-19"}, "received_to"),
        ({"received_from": "20-11-2026"}, "received_from"),
        ({"received_to": "9999-12-31"}, "received_to"),
        ({"received_from": "0001-01-01"}, "received_from"),
        ({"sla_state": "late"}, "sla_state"),
        ({"stage": "lost"}, "stage"),
        ({"limit": 101}, "limit"),
        ({"offset": -1}, "offset"),
        ({"customer_phone": "13912345678"}, "customer_phone"),
    ]
    for body, field in cases:
        response = await api.post("/cases/search", json=body, headers=AGENT)
        assert response.status_code == 422, (body, response.text)
        problem = response.json()
        assert [e["field"] for e in problem["errors"]] == [field], problem
        assert "13912345678" not in response.text
