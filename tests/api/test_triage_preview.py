"""POST /cases/triage-preview: the suggestion an intake would get, before any case is opened;
refusals name their fields; the same roles as opening a case. SQLite and PostgreSQL."""

from __future__ import annotations

import secrets

import httpx

from tests.support.people import AGENT, HANDLER, SUPERVISOR, intake
from tests.support.waiting import wait_for_stage


async def _cases_of(api: httpx.AsyncClient, order: str) -> int:
    response = await api.post("/cases/search", json={"order_number": order}, headers=SUPERVISOR)
    assert response.status_code == 200, response.text
    return response.json()["total"]


async def test_the_preview_suggests_without_opening_a_case(api: httpx.AsyncClient) -> None:
    order = f"ORD-PREV-{secrets.token_hex(4)}"
    body = intake(
        order={"number": order, "paid_amount": "899.00"},
        description="快递丢件了，包裹一直未收到",  # lost parcel, never arrived
    )
    response = await api.post("/cases/triage-preview", json=body, headers=AGENT)
    assert response.status_code == 200, response.text
    suggestion = response.json()
    assert suggestion["categories"][0] == "logistics"
    assert suggestion["department"] == "logistics"
    assert suggestion["priority"] == "P3" and suggestion["reasons"] == []
    assert suggestion["rules_version"]
    assert await _cases_of(api, order) == 0

    # A safety hazard makes it P1, with the reason.
    body["description"] = "The kettle is leaking and smoke came out of the base"
    suggestion = (await api.post("/cases/triage-preview", json=body, headers=AGENT)).json()
    assert suggestion["priority"] == "P1"
    assert any(reason.startswith("safety hazard") for reason in suggestion["reasons"])

    # An earlier case on the same order and product: a repeat failure, at least P2.
    opened = await api.post("/cases", json=intake(order={"number": order, "paid_amount": "99.00"}), headers=AGENT)
    assert opened.status_code == 201, opened.text
    await wait_for_stage(api, opened.json()["number"], "received", AGENT, "record")
    again = intake(order={"number": order, "paid_amount": "99.00"}, description="The parcel never arrived")
    suggestion = (await api.post("/cases/triage-preview", json=again, headers=SUPERVISOR)).json()
    assert suggestion["priority"] == "P2"
    assert any("earlier case on the same order and product" in reason for reason in suggestion["reasons"])
    assert await _cases_of(api, order) == 1


async def test_the_preview_refuses_naming_each_field_and_the_roles_that_may_not_open_cases(
    api: httpx.AsyncClient,
) -> None:
    body = intake(description="x" * 5001, customer={"phone": "+86 139 0000 1111"})
    response = await api.post("/cases/triage-preview", json=body, headers=AGENT)
    assert response.status_code == 422, response.text
    fields = sorted(e["field"] for e in response.json()["errors"])
    assert fields == ["customer.name", "description"]

    response = await api.post("/cases/triage-preview", json=intake(description="bad\x07bell"), headers=AGENT)
    assert [e["field"] for e in response.json()["errors"]] == ["description"]

    response = await api.post("/cases/triage-preview", json=intake(), headers=HANDLER)
    assert response.status_code == 403
    assert "allowed: admin, agent, head, supervisor" in response.json()["detail"]
