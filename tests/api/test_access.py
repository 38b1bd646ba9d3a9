"""Who may call what: every route is in the access matrix and answers each role as it says;
handlers see only their own department's cases; lists are bounded."""

from __future__ import annotations

from typing import Any

import httpx
from fastapi import FastAPI

from api.app import create_app
from core.settings import Settings
from domain.case import Role
from services.access import ACCESS, PUBLIC, SIGNED
from tests.conftest import Database
from tests.support.people import (
    ADMIN,
    AGENT,
    HANDLER,
    HEAD,
    LOGISTICS,
    OTHER_HANDLER,
    PLAN,
    SUPERVISOR,
    TRIAGE,
    WAREHOUSE,
    intake,
)
from tests.support.waiting import wait_for_stage

UNKNOWN = "ZZ-19990101-000001"
PEOPLE = {Role.AGENT: AGENT, Role.HANDLER: HANDLER, Role.SUPERVISOR: SUPERVISOR, Role.HEAD: HEAD, Role.ADMIN: ADMIN}
PEOPLE |= {Role.WAREHOUSE: WAREHOUSE, Role.LOGISTICS: LOGISTICS}
DOCS = {"/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"}


def operations(app: FastAPI) -> set[tuple[str, str]]:
    """Every (method, path) the app serves outside its docs, from its routes and its schema."""
    found: set[tuple[str, str]] = set()
    for route in app.routes:
        path, methods = getattr(route, "path", None), getattr(route, "methods", None)
        if path is not None and methods and path not in DOCS:
            found |= {(m, path) for m in methods if m != "HEAD"}
    for path, item in app.openapi()["paths"].items():
        found |= {(method.upper(), path) for method in item}
    return found


def test_every_route_is_in_the_matrix_and_every_entry_is_a_route() -> None:
    app = create_app(Settings())
    served = operations(app)
    assert served, "no routes found"
    assert served - set(ACCESS) - PUBLIC - SIGNED == set(), "routes missing from services/access.py"
    assert set(ACCESS) | PUBLIC | SIGNED == served, "services/access.py lists routes the app does not serve"
    for roles in ACCESS.values():
        assert Role.SYSTEM not in roles
        assert Role.ADMIN in roles  # admins may do everything


def assert_problem(response: httpx.Response, status: int, title: str) -> dict[str, Any]:
    assert response.status_code == status, (response.request.method, response.request.url.path, response.text)
    assert response.headers["content-type"].split(";")[0] == "application/problem+json"
    assert response.json()["title"] == title
    return response.json()


async def test_each_role_gets_exactly_what_the_matrix_allows(api: httpx.AsyncClient) -> None:
    for method, template in sorted(ACCESS):
        path = template.replace("{number}", UNKNOWN)
        anonymous = await api.request(method, path)
        assert_problem(anonymous, 401, "Not authenticated")
        for role, who in PEOPLE.items():
            response = await api.request(method, path, headers=who)
            if role in ACCESS[(method, template)]:
                # Allowed: whatever the request itself deserves (404 unknown case, 422 no body, 200).
                assert response.status_code not in (401, 403), (method, template, role, response.text)
            else:
                problem = assert_problem(response, 403, "Role not permitted")
                assert role.value in problem["detail"]
    for method, path in PUBLIC:
        response = await api.request(method, path)
        if "{" in path:  # the customer page: the signed token is the credential, a bad one opens nothing
            assert response.status_code == 404, (method, path, response.text)
        else:
            assert response.status_code == 200, (method, path)
    for method, path in SIGNED:
        # Unsigned: refused (401), or 404 where the platform's channel is not configured.
        unsigned = await api.request(method, path, content=b"[]")
        assert unsigned.status_code in (401, 404), unsigned.text
        assert unsigned.headers["content-type"] == "application/problem+json"


# ---- handlers and departments -----------------------------------------------------------


async def test_a_handler_sees_only_their_departments_cases(api: httpx.AsyncClient, database: Database) -> None:
    created = await api.post("/cases", json=intake(), headers=AGENT)
    assert created.status_code == 201, created.text
    number = created.json()["number"]
    await wait_for_stage(api, number, "received", AGENT, "record")
    # Not routed yet: no handler sees it.
    unrouted = await api.get(f"/cases/{number}", headers=OTHER_HANDLER)
    assert_problem(unrouted, 404, "Case not found")
    triaged = await api.post(f"/cases/{number}/triage", json=TRIAGE | {"department": "logistics"}, headers=AGENT)
    assert triaged.status_code == 200, triaged.text
    await wait_for_stage(api, number, "triaged", AGENT, "record")

    # The quality handler: the same 404 as for a case that does not exist, for reads and every action.
    missing = (await api.get(f"/cases/{UNKNOWN}", headers=HANDLER)).json()
    for method, path, body in [
        ("GET", f"/cases/{number}", None),
        ("GET", f"/cases/{number}/timeline", None),
        ("POST", f"/cases/{number}/accept", None),
        ("POST", f"/cases/{number}/notes", {"text": "not mine"}),
        ("POST", f"/cases/{number}/info-requests", {"question": "which colour?"}),
        ("POST", f"/cases/{number}/plan", PLAN),
    ]:
        response = await api.request(method, path, json=body, headers=HANDLER)
        problem = assert_problem(response, 404, "Case not found")
        assert problem == missing | {"detail": f"no case {number}", "instance": path}
    listed = (await api.get("/cases", params={"limit": 100}, headers=HANDLER)).json()
    assert number not in [item["number"] for item in listed["items"]]
    assert {item["department"] for item in listed["items"]} <= {"quality"}
    asked = (await api.get("/cases", params={"department": "logistics"}, headers=HANDLER)).json()
    assert (asked["total"], asked["items"]) == (0, [])

    # The logistics handler works it.
    assert (await api.get(f"/cases/{number}", headers=OTHER_HANDLER)).status_code == 200
    accepted = await api.post(f"/cases/{number}/accept", headers=OTHER_HANDLER)
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["assignee"] == "handler-zhou"
    timeline = await api.get(f"/cases/{number}/timeline", headers=OTHER_HANDLER)
    assert [e["kind"] for e in timeline.json()] == ["received", "triaged", "accepted"]
    theirs = (await api.get("/cases", params={"limit": 100}, headers=OTHER_HANDLER)).json()
    assert number in [item["number"] for item in theirs["items"]]
    # Their list: the logistics cases, and the cases logistics assists (multi-department).
    for item in theirs["items"]:
        assert item["department"] == "logistics" or "logistics" in await database.store.assisting(item["number"])
    # Other roles are not bound to a department.
    assert (await api.get(f"/cases/{number}", headers=SUPERVISOR)).status_code == 200


# ---- bounded lists ----------------------------------------------------------------------------


def _is_list(schema: dict[str, Any], components: dict[str, Any]) -> bool:
    if "$ref" in schema:
        schema = components[schema["$ref"].rsplit("/", 1)[-1]]
    return schema.get("type") == "array" or "items" in schema.get("properties", {})


def test_every_list_route_has_a_bounded_limit() -> None:
    schema = create_app(Settings()).openapi()
    components = schema["components"]["schemas"]
    lists = {}
    for path, item in schema["paths"].items():
        get = item.get("get")
        if not get:
            continue
        content = get["responses"]["200"].get("content", {}).get("application/json", {})
        if content and _is_list(content["schema"], components):
            params = {p["name"]: p["schema"] for p in get.get("parameters", []) if p["in"] == "query"}
            lists[path] = params.get("limit", {}).get("maximum")
    assert set(lists) == {
        "/cases", "/cases/{number}/timeline", "/ops/stuck", "/ops/notifications", "/queues/supervisor", "/queues/head",
        "/cases/{number}/attachments",
    }  # fmt: skip
    assert all(isinstance(maximum, int) and maximum <= 1000 for maximum in lists.values()), lists


async def test_a_page_beyond_the_bound_is_422(api: httpx.AsyncClient) -> None:
    for path, too_many in [
        ("/cases", 101), (f"/cases/{UNKNOWN}/timeline", 1001), ("/ops/stuck", 501),
        ("/queues/supervisor", 101), ("/queues/head", 101),
    ]:  # fmt: skip
        response = await api.get(path, params={"limit": too_many}, headers=ADMIN)
        problem = assert_problem(response, 422, "Invalid request")
        assert [e["field"] for e in problem["errors"]] == ["query.limit"]


async def test_an_assisting_departments_handler_reads_and_contributes_only(
    api: httpx.AsyncClient, database: Database
) -> None:
    """Issue 13 §3: a logistics handler on quality-led cases that logistics assists."""
    naming = {"lead": "quality", "assisting": [{"department": "logistics", "request": "Was the parcel dropped?"}]}

    def assisting_only(response: httpx.Response) -> None:
        problem = assert_problem(response, 403, "Not permitted")
        assert (problem["reason"], problem["department"], problem["lead_department"]) == (
            "assisting_department", "logistics", "quality",
        )  # fmt: skip
        assert "contributes for logistics only" in problem["detail"]

    # Not yet accepted by quality: the logistics handler neither takes it nor waives for the lead.
    waiting = (await api.post("/cases", json=intake(), headers=AGENT)).json()["number"]
    assert (await api.post(f"/cases/{waiting}/triage", json=TRIAGE, headers=AGENT)).status_code == 200
    assert (await api.post(f"/cases/{waiting}/departments", json=naming, headers=HEAD)).status_code == 200
    assisting_only(await api.post(f"/cases/{waiting}/accept", headers=OTHER_HANDLER))
    waiver = {"reason": "we are the lead now"}
    assisting_only(
        await api.post(f"/cases/{waiting}/contributions/logistics/waive", json=waiver, headers=OTHER_HANDLER)
    )
    live = (await api.get(f"/cases/{waiting}", headers=OTHER_HANDLER)).json()["live"]  # reading is theirs
    assert (live["stage"], live["department"], live["assignee"]) == ("triaged", "quality", None)
    assert live["contributions"][0]["status"] == "pending"

    # Accepted by quality: the logistics handler asks the customer nothing, plans nothing, notes
    # nothing; it contributes for logistics.
    handled = (await api.post("/cases", json=intake(), headers=AGENT)).json()["number"]
    assert (await api.post(f"/cases/{handled}/triage", json=TRIAGE, headers=AGENT)).status_code == 200
    assert (await api.post(f"/cases/{handled}/accept", headers=HANDLER)).status_code == 200
    assert (await api.post(f"/cases/{handled}/departments", json=naming, headers=HEAD)).status_code == 200
    assisting_only(
        await api.post(f"/cases/{handled}/info-requests", json={"question": "which colour?"}, headers=OTHER_HANDLER)
    )
    assisting_only(await api.post(f"/cases/{handled}/notes", json={"text": "mine now"}, headers=OTHER_HANDLER))
    contributed = await api.post(
        f"/cases/{handled}/contributions/logistics", json={"summary": "not dropped"}, headers=OTHER_HANDLER
    )
    assert contributed.status_code == 200, contributed.text
    assisting_only(await api.post(f"/cases/{handled}/plan", json=PLAN, headers=OTHER_HANDLER))
    kinds = [e.kind for e in await database.store.timeline(handled)]
    assert kinds == ["received", "triaged", "accepted", "departments_named", "contribution_received"]
    # The lead department's handler goes on.
    planned = await api.post(f"/cases/{handled}/plan", json=PLAN, headers=HANDLER)
    assert planned.status_code == 200 and planned.json()["clocks"]["resolution"]["state"] == "running"
