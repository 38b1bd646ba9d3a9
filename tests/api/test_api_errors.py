"""Every error the API gives is an RFC 9457 problem (application/problem+json).

Driven through the real API, worker and dev server, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import httpx
import pytest
from temporalio.testing import WorkflowEnvironment

from api.app import create_app
from core.settings import Settings
from store.db import session_factory
from tests.conftest import Database
from tests.support.people import ADMIN, AGENT, HANDLER, HEAD, PLAN, SUPERVISOR, TRIAGE, intake
from tests.support.problems import act, assert_problem, error_fields, in_handling, open_case
from tests.support.waiting import wait_for_event, wait_for_stage
from workflows.case import CaseWorkflow

UNKNOWN = "ZZ-19990101-000001"


async def kinds(api: httpx.AsyncClient, number: str) -> list[str]:
    response = await api.get(f"/cases/{number}/timeline", headers=AGENT)
    assert response.status_code == 200, response.text
    return [event["kind"] for event in response.json()]


# ---- 404 -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "who"),
    [
        ("GET", f"/cases/{UNKNOWN}", AGENT),
        ("GET", f"/cases/{UNKNOWN}/timeline", AGENT),
        ("POST", f"/cases/{UNKNOWN}/accept", HANDLER),
    ],
    ids=["case", "timeline", "accept"],
)
async def test_unknown_case_is_404(api: httpx.AsyncClient, method: str, path: str, who: dict[str, str]) -> None:
    response = await api.request(method, path, headers=who)
    problem = assert_problem(response, 404, "Case not found")
    assert problem["detail"] == f"no case {UNKNOWN}"


# ---- 409 -----------------------------------------------------------------------


async def test_action_in_the_wrong_stage_is_409_naming_the_stage(api: httpx.AsyncClient) -> None:
    number = await open_case(api)

    response = await api.post(f"/cases/{number}/approve", json={"comment": "ok"}, headers=SUPERVISOR)

    problem = assert_problem(response, 409, "Action not allowed now")
    assert problem["stage"] == "received"
    assert problem["action"] == "approve"
    assert problem["case"] == number
    assert "received" in problem["detail"]
    assert "plan_proposed" in problem["detail"]  # where approving is allowed
    # Nothing happened to the case.
    assert await kinds(api, number) == ["received"]
    detail = (await api.get(f"/cases/{number}", headers=AGENT)).json()
    assert detail["live"]["stage"] == "received"
    assert detail["record"]["stage"] == "received"


async def test_feedback_before_execution_is_409(api: httpx.AsyncClient) -> None:
    number = await in_handling(api)

    response = await api.post(f"/cases/{number}/feedback", json={"score": 5}, headers=AGENT)

    problem = assert_problem(response, 409, "Action not allowed now")
    assert problem["stage"] == "in_handling"
    assert "in_handling" in problem["detail"]
    assert await kinds(api, number) == ["received", "triaged", "accepted"]


# ---- 422: invalid bodies --------------------------------------------------------


async def test_feedback_score_out_of_range_is_422_naming_score(api: httpx.AsyncClient) -> None:
    number = await open_case(api)

    response = await api.post(f"/cases/{number}/feedback", json={"score": 7}, headers=AGENT)

    problem = assert_problem(response, 422, "Invalid request")
    assert error_fields(problem) == ["score"]
    assert problem["detail"].startswith("score: ")
    assert await kinds(api, number) == ["received"]


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"customer": {"name": "张三丰", "phone": "call me maybe", "tier": "normal"}}, "customer.phone"),
        ({"customer": {"name": "张三丰", "email": "not-an-email"}}, "customer.email"),
        ({"order": {"number": "ORD-1", "paid_amount": "-1.00"}}, "order.paid_amount"),
        ({"channel": "carrier_pigeon"}, "channel"),
    ],
    ids=["phone", "email", "paid_amount", "channel"],
)
async def test_invalid_intake_is_422_naming_the_field(
    api: httpx.AsyncClient, overrides: dict[str, Any], field: str
) -> None:
    before = (await api.get("/cases", params={"limit": 1}, headers=AGENT)).json()["total"]

    response = await api.post("/cases", json=intake(**overrides), headers=AGENT)

    problem = assert_problem(response, 422, "Invalid request")
    assert error_fields(problem) == [field]
    assert f"{field}: " in problem["detail"]
    assert "location" not in response.headers
    after = (await api.get("/cases", params={"limit": 1}, headers=AGENT)).json()["total"]
    assert after == before, "a rejected intake must not open a case"


async def test_intake_without_description_is_422_naming_description(api: httpx.AsyncClient) -> None:
    body = intake()
    del body["description"]

    response = await api.post("/cases", json=body, headers=AGENT)

    problem = assert_problem(response, 422, "Invalid request")
    assert error_fields(problem) == ["description"]


async def test_triage_with_unknown_category_is_422_naming_categories(api: httpx.AsyncClient) -> None:
    number = await open_case(api)

    response = await api.post(
        f"/cases/{number}/triage", json={**TRIAGE, "categories": ["teleportation"]}, headers=AGENT
    )

    problem = assert_problem(response, 422, "Invalid request")
    assert error_fields(problem) == ["categories.0"]
    assert await kinds(api, number) == ["received"]


async def test_refund_above_the_price_paid_is_422_naming_resolution_amount(api: httpx.AsyncClient) -> None:
    number = await in_handling(api)
    plan = {**PLAN, "resolution": {"type": "refund", "amount": "899.01", "currency": "CNY"}}

    response = await api.post(f"/cases/{number}/plan", json=plan, headers=HANDLER)

    problem = assert_problem(response, 422, "Invalid plan")
    assert problem["field"] == "resolution.amount"
    assert "899.01" in problem["detail"] and "899.00" in problem["detail"]
    assert problem["case"] == number
    # The plan was refused outright: no proposal recorded, the handler can still propose.
    assert await kinds(api, number) == ["received", "triaged", "accepted"]
    detail = (await api.get(f"/cases/{number}", headers=AGENT)).json()
    assert detail["live"]["stage"] == "in_handling"
    assert detail["live"]["plan"] is None
    await act(api, number, "plan", PLAN, HANDLER, "plan_proposed")  # exactly the price paid is fine


async def test_refund_without_amount_is_422_naming_resolution_amount(api: httpx.AsyncClient) -> None:
    number = await in_handling(api)
    plan = {**PLAN, "resolution": {"type": "refund", "currency": "CNY"}}

    response = await api.post(f"/cases/{number}/plan", json=plan, headers=HANDLER)

    problem = assert_problem(response, 422, "Invalid plan")
    assert problem["field"] == "resolution.amount"
    assert await kinds(api, number) == ["received", "triaged", "accepted"]


# ---- 403 -----------------------------------------------------------------------


async def test_handler_may_not_approve(api: httpx.AsyncClient) -> None:
    number = await in_handling(api)
    await act(api, number, "plan", PLAN, HANDLER, "plan_proposed")

    response = await api.post(f"/cases/{number}/approve", json={"comment": "self-service"}, headers=HANDLER)

    problem = assert_problem(response, 403, "Role not permitted")
    assert "handler" in problem["detail"]
    assert "supervisor" in problem["detail"]
    assert await kinds(api, number) == ["received", "triaged", "accepted", "plan_proposed"]


async def test_plan_author_may_not_approve_or_reject_it(api: httpx.AsyncClient) -> None:
    number = await in_handling(api)
    # An admin may do everything, including proposing a plan...
    await act(api, number, "plan", PLAN, ADMIN, "plan_proposed")

    # ...but not approve or reject their own plan.
    approved = await api.post(f"/cases/{number}/approve", json={"comment": "mine"}, headers=ADMIN)
    problem = assert_problem(approved, 403, "Not permitted")
    assert "author" in problem["detail"]
    assert problem["case"] == number
    rejected = await api.post(f"/cases/{number}/reject", json={"reason": "mine"}, headers=ADMIN)
    assert_problem(rejected, 403, "Not permitted")
    assert await kinds(api, number) == ["received", "triaged", "accepted", "plan_proposed"]

    # Someone else may approve it.
    await act(api, number, "approve", {"comment": "ok"}, HEAD, "executing")


# ---- 401 -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"X-Actor-Id": "agent-li", "X-Actor-Role": "agent"},  # the identity headers of old count for nothing
        {"X-API-Key": "ask_000000000000_not-a-key"},
        {"Authorization": "Bearer not-a-jwt"},
        {"Authorization": "Basic YWdlbnQ6YWdlbnQ="},
    ],
    ids=["none", "identity-headers", "unknown-key", "garbage-token", "basic-auth"],
)
async def test_missing_identity_is_401(api: httpx.AsyncClient, headers: dict[str, str]) -> None:
    listed = await api.get("/cases", headers=headers)
    problem = assert_problem(listed, 401, "Not authenticated")
    assert listed.headers["www-authenticate"].startswith("Bearer")
    for secret in ("not-a-key", "not-a-jwt", "YWdlbnQ6YWdlbnQ="):
        assert secret not in listed.text  # a credential is never echoed
    assert "X-API-Key" in problem["detail"] or "token" in problem["detail"] or "key" in problem["detail"]

    opened = await api.post("/cases", json=intake(), headers=headers)
    assert_problem(opened, 401, "Not authenticated")
    assert "location" not in opened.headers


# ---- archived cases -----------------------------------------------------------------


async def test_archived_case_refuses_every_action_with_409(
    api: httpx.AsyncClient, database: Database, env: WorkflowEnvironment
) -> None:
    number = await in_handling(api)
    await act(api, number, "plan", PLAN, HANDLER, "plan_proposed")
    await act(api, number, "approve", {"comment": "ok"}, HEAD, "executing")
    await wait_for_stage(api, number, "awaiting_feedback", AGENT, "live")
    await act(api, number, "feedback", {"score": 5}, AGENT, "closed")
    # A week later the customer says the fix held: the case archives.
    await env.fast_forward(env.client.get_workflow_handle_for(CaseWorkflow.run, number), timedelta(days=7, minutes=1))
    await wait_for_event(database, number, "fix_check_sent")
    await act(api, number, "fix-check", {"held": True}, AGENT, "closed")
    detail = await wait_for_stage(api, number, "archived", AGENT, "record")
    assert detail["record"]["outcome"] == "satisfied"
    assert detail["record"]["archived_at"] is not None
    timeline = await kinds(api, number)
    assert timeline[-2:] == ["fix_confirmed", "archived"]

    attempts = [
        ("triage", TRIAGE, AGENT),
        ("accept", None, HANDLER),
        ("notes", {"text": "late note"}, HANDLER),
        ("info-requests", {"question": "anything else?"}, HANDLER),
        ("customer-replies", {"text": "thanks again"}, AGENT),
        ("plan", PLAN, HANDLER),
        ("approve", {"comment": "again"}, SUPERVISOR),
        ("reject", {"reason": "again"}, SUPERVISOR),
        ("feedback", {"score": 1}, AGENT),
        ("withdraw", {"reason": "changed my mind"}, AGENT),
        ("result-told", {"channel": "phone", "summary": "again"}, AGENT),
        ("call-back/complete", {"outcome": "called"}, AGENT),
        ("fix-check", {"held": False}, AGENT),
    ]
    for action, body, who in attempts:
        response = await api.post(f"/cases/{number}/{action}", json=body, headers=who)
        problem = assert_problem(response, 409, "Action not allowed now")
        assert problem["stage"] == "archived", action
        assert "archived" in problem["detail"], action
        assert problem["case"] == number, action

    # The record and timeline stay as archived.
    assert await kinds(api, number) == timeline
    assert (await api.get(f"/cases/{number}", headers=AGENT)).json()["record"]["stage"] == "archived"


# ---- read your writes ------------------------------------------------------------


async def test_new_case_is_recorded_when_201_returns(api: httpx.AsyncClient) -> None:
    for _ in range(5):
        created = await api.post("/cases", json=intake(), headers=AGENT)
        assert created.status_code == 201, created.text
        number = created.json()["number"]

        timeline = await api.get(created.headers["location"] + "/timeline", headers=AGENT)
        assert timeline.status_code == 200, timeline.text
        assert [event["kind"] for event in timeline.json()] == ["received"]
        detail = (await api.get(created.headers["location"], headers=AGENT)).json()
        assert detail["record"] is not None and detail["record"]["number"] == number


# ---- 503 -----------------------------------------------------------------------


async def test_a_case_no_worker_answers_for_is_503_not_500(env: WorkflowEnvironment, database: Database) -> None:
    """After a worker crash a case's live state cannot be read until a worker picks it up
    again: the read is refused as temporary (retry), not as a server error."""
    # A case whose task queue nobody polls stands for a case whose worker is down.
    number = f"{database.prefix}-20261123-9{uuid.uuid4().int % 100000:05d}"
    await env.client.start_workflow("CaseWorkflow", id=number, task_queue=f"nobody-polls-{uuid.uuid4().hex[:8]}")
    settings = Settings(database_url=database.url, case_number_prefix=database.prefix, case_query_timeout_seconds=1)
    app = create_app(settings, temporal=env.client, sessions=session_factory(database.engine))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://aftersales.test") as api:
        response = await api.get(f"/cases/{number}", headers=ADMIN)
    assert_problem(response, 503, "Temporarily unavailable")
    await env.client.get_workflow_handle(number).terminate("test over")
