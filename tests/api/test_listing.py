"""GET /cases: filters, pagination and masking, on SQLite and PostgreSQL.

Other tests' cases share the database, so this module opens its cases through
an app whose case numbers carry a prefix of their own (LSTQ / LSTP) and asserts
on those, and on facts that hold whatever else is there.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from temporalio.testing import WorkflowEnvironment

from api.app import create_app
from core.settings import Settings
from store.db import session_factory
from tests.conftest import Database
from tests.support.people import AGENT, HANDLER, OVERRIDE_REASON, intake
from tests.support.waiting import wait_for_stage

PREFIX = {"sqlite": "LSTQ", "postgresql": "LSTP"}

ZHANG = {"name": "张三丰", "phone": "+86 138 0013 8000", "email": "zhang.sanfeng@example.com", "tier": "vip"}
LI = {"name": "Li Wei", "phone": "+1 (415) 555-0100", "tier": "normal"}


@dataclass
class World:
    prefix: str
    received: str  # never triaged
    p1: list[str]  # triaged P1 / logistics / [logistics], in the order they were opened
    handled: str  # triaged P3 / quality / [product_quality, service], accepted
    archived: str  # withdrawn, then archived by the workflow

    @property
    def all(self) -> set[str]:
        return {self.received, *self.p1, self.handled, self.archived}


@pytest.fixture(scope="module")
async def listing_api(env: WorkflowEnvironment, database: Database, worker: str) -> AsyncIterator[httpx.AsyncClient]:
    settings = Settings(task_queue=worker, database_url=database.url, case_number_prefix=PREFIX[database.backend])
    app = create_app(settings, temporal=env.client, sessions=session_factory(database.engine))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://aftersales.test") as client:
        yield client


async def _open(api: httpx.AsyncClient, customer: dict[str, Any]) -> str:
    response = await api.post("/cases", json=intake(customer=customer), headers=AGENT)
    assert response.status_code == 201, response.text
    number = response.json()["number"]
    await wait_for_stage(api, number, "received", AGENT, "record")
    return number


async def _do(api: httpx.AsyncClient, number: str, action: str, body: Any, who: dict[str, str], stage: str) -> None:
    response = await api.post(f"/cases/{number}/{action}", json=body, headers=who)
    assert response.status_code == 200, f"{action}: {response.text}"
    assert response.json()["stage"] == stage, action


@pytest.fixture(scope="module")
async def world(listing_api: httpx.AsyncClient, database: Database) -> World:
    api = listing_api
    received = await _open(api, ZHANG)

    p1 = []
    for customer in (LI, ZHANG, ZHANG):
        number = await _open(api, customer)
        triage = {"categories": ["logistics"], "priority": "P1", "department": "logistics"}
        await _do(api, number, "triage", triage, AGENT, "triaged")
        p1.append(number)

    handled = await _open(api, ZHANG)
    triage = {
        "categories": ["service", "product_quality"],
        "priority": "P3",
        "department": "quality",
        "override_reason": OVERRIDE_REASON,
    }
    await _do(api, handled, "triage", triage, AGENT, "triaged")
    await _do(api, handled, "accept", None, HANDLER, "in_handling")

    archived = await _open(api, ZHANG)
    triage = {
        "categories": ["order_payment"],
        "priority": "P4",
        "department": "sales",
        "override_reason": OVERRIDE_REASON,
    }
    await _do(api, archived, "triage", triage, AGENT, "triaged")
    await _do(api, archived, "withdraw", {"reason": "resolved with the shop"}, AGENT, "withdrawn")
    await wait_for_stage(api, archived, "archived", AGENT, "record")

    world = World(PREFIX[database.backend], received, p1, handled, archived)
    assert all(n.startswith(world.prefix + "-") for n in world.all), world
    return world


async def page(api: httpx.AsyncClient, **params: Any) -> dict[str, Any]:
    response = await api.get("/cases", params=params, headers=AGENT)
    assert response.status_code == 200, response.text
    return response.json()


async def every_item(api: httpx.AsyncClient, limit: int = 100, **filters: Any) -> list[dict[str, Any]]:
    """All items under `filters`, paging through; checks that `total` matches what the pages hold."""
    first = await page(api, limit=limit, offset=0, **filters)
    total = first["total"]
    items = list(first["items"])
    offset = limit
    while offset < total:
        more = await page(api, limit=limit, offset=offset, **filters)
        assert more["total"] == total
        assert more["limit"] == limit and more["offset"] == offset
        items += more["items"]
        offset += limit
    numbers = [item["number"] for item in items]
    assert len(numbers) == len(set(numbers)) == total, (len(numbers), len(set(numbers)), total)
    return items


def mine(world: World, items: list[dict[str, Any]]) -> list[str]:
    return [item["number"] for item in items if item["number"].startswith(world.prefix + "-")]


# ---- filters ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("stage", "expected"),
    [
        ("received", lambda w: {w.received}),
        ("triaged", lambda w: set(w.p1)),
        ("in_handling", lambda w: {w.handled}),
        ("archived", lambda w: {w.archived}),
        ("plan_proposed", lambda w: set()),
    ],
)
async def test_stage_filter(listing_api: httpx.AsyncClient, world: World, stage: str, expected: Any) -> None:
    items = await every_item(listing_api, stage=stage)
    assert set(mine(world, items)) == expected(world)
    assert {item["stage"] for item in items} <= {stage}


async def test_priority_filter(listing_api: httpx.AsyncClient, world: World) -> None:
    p1 = await every_item(listing_api, priority="P1")
    assert set(mine(world, p1)) == set(world.p1)
    assert {item["priority"] for item in p1} == {"P1"}

    p3 = await every_item(listing_api, priority="P3")
    assert set(mine(world, p3)) == {world.handled}
    assert {item["priority"] for item in p3} == {"P3"}


async def test_department_filter(listing_api: httpx.AsyncClient, world: World) -> None:
    logistics = await every_item(listing_api, department="logistics")
    assert set(mine(world, logistics)) == set(world.p1)
    assert {item["department"] for item in logistics} == {"logistics"}

    quality = await every_item(listing_api, department="quality")
    assert set(mine(world, quality)) == {world.handled}


async def test_category_filter_matches_any_of_a_cases_categories(listing_api: httpx.AsyncClient, world: World) -> None:
    for category in ("service", "product_quality"):
        items = await every_item(listing_api, category=category)
        # The case never triaged has a suggestion (product_quality) but no category yet.
        assert set(mine(world, items)) == {world.handled}, category
        assert all(category in item["categories"] for item in items), category
        (handled,) = [item for item in items if item["number"] == world.handled]
        assert handled["categories"] == ["product_quality", "service"]

    logistics = await every_item(listing_api, category="logistics")
    assert set(mine(world, logistics)) == set(world.p1)
    other = await every_item(listing_api, category="other")
    assert mine(world, other) == []


async def test_filters_combine(listing_api: httpx.AsyncClient, world: World) -> None:
    both = await every_item(listing_api, stage="triaged", priority="P1", department="logistics", category="logistics")
    assert set(mine(world, both)) == set(world.p1)

    assert mine(world, await every_item(listing_api, stage="in_handling", priority="P1")) == []
    assert mine(world, await every_item(listing_api, stage="triaged", department="quality")) == []
    quality = await every_item(listing_api, stage="in_handling", department="quality", category="service")
    assert mine(world, quality) == [world.handled]


async def test_unfiltered_list_holds_every_case(listing_api: httpx.AsyncClient, world: World) -> None:
    items = await every_item(listing_api)
    assert set(mine(world, items)) == world.all


# ---- pagination --------------------------------------------------------------------


async def test_pages_cover_a_filter_exactly_once_newest_first(listing_api: httpx.AsyncClient, world: World) -> None:
    first = await page(listing_api, priority="P1", limit=2, offset=0)
    assert first["limit"] == 2 and first["offset"] == 0
    assert len(first["items"]) == min(2, first["total"])
    total = first["total"]
    assert total >= 3

    items = await every_item(listing_api, limit=2, priority="P1")
    assert len(items) == total
    # Newest first: the cases opened last come first.
    assert mine(world, items) == list(reversed(world.p1))
    received = [item["received_at"] for item in items]
    assert received == sorted(received, reverse=True)

    # Paging with other sizes sees the same cases in the same order.
    assert [i["number"] for i in await every_item(listing_api, limit=1, priority="P1")] == [i["number"] for i in items]
    assert [i["number"] for i in await every_item(listing_api, limit=100, priority="P1")] == [
        i["number"] for i in items
    ]


async def test_offset_past_the_end_is_an_empty_page(listing_api: httpx.AsyncClient, world: World) -> None:
    total = (await page(listing_api, priority="P1", limit=1))["total"]
    past = await page(listing_api, priority="P1", limit=5, offset=total)
    assert past == {"items": [], "total": total, "limit": 5, "offset": total}


async def test_default_page_size_is_20(listing_api: httpx.AsyncClient, world: World) -> None:
    body = await page(listing_api)
    assert body["limit"] == 20 and body["offset"] == 0
    assert len(body["items"]) == min(20, body["total"])


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"limit": 101}, "query.limit"),
        ({"limit": 0}, "query.limit"),
        ({"offset": -1}, "query.offset"),
        ({"stage": "lost"}, "query.stage"),
        ({"priority": "P9"}, "query.priority"),
    ],
    ids=["limit-101", "limit-0", "offset-negative", "stage", "priority"],
)
async def test_invalid_query_is_422_naming_the_parameter(
    listing_api: httpx.AsyncClient, params: dict[str, Any], field: str
) -> None:
    response = await listing_api.get("/cases", params=params, headers=AGENT)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].split(";")[0] == "application/problem+json"
    problem = response.json()
    assert problem["title"] == "Invalid request"
    assert [error["field"] for error in problem["errors"]] == [field]
    assert field in problem["detail"]


# ---- masking -------------------------------------------------------------------------


async def test_list_items_mask_personal_data(listing_api: httpx.AsyncClient, world: World) -> None:
    response = await listing_api.get("/cases", params={"stage": "received", "limit": 100}, headers=AGENT)
    assert response.status_code == 200, response.text
    (item,) = [i for i in response.json()["items"] if i["number"] == world.received]
    assert item["customer"] == {"name": "张**", "phone": "*******8000", "email": "z***@example.com", "tier": "vip"}
    # The full values appear nowhere in the list.
    for secret in ("张三丰", "+86 138 0013 8000", "13800138000", "0013 8000", "zhang.sanfeng"):
        assert secret not in response.text, secret

    p1 = await every_item(listing_api, priority="P1")
    (li,) = [i for i in p1 if i["number"] == world.p1[0]]
    # Fixed width: a shorter number does not show in a shorter mask.
    assert li["customer"] == {"name": "L*****", "phone": "*******0100", "email": None, "tier": "normal"}


async def test_every_list_item_is_masked(listing_api: httpx.AsyncClient, world: World) -> None:
    items = await every_item(listing_api)
    for item in items:
        customer = item["customer"]
        assert customer["name"] is None or customer["name"][1:] == "*" * max(len(customer["name"]) - 1, 1), item[
            "number"
        ]
        assert customer["phone"] is None or customer["phone"].startswith("*******"), item["number"]


async def test_case_detail_shows_personal_data_unmasked(listing_api: httpx.AsyncClient, world: World) -> None:
    """The masking is for lists; the case page is for the people handling it."""
    detail = (await listing_api.get(f"/cases/{world.received}", headers=AGENT)).json()
    assert detail["record"]["customer"] == ZHANG
