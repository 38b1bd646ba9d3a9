"""Dependencies: the case store, the Temporal client, and who is calling."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, Request
from temporalio.client import Client

from api.problems import Problem
from domain.case import Actor, Department, Role
from settings import Settings
from api.sla_rules import SlaRulebook
from store.cases import CaseStore
from store.reports import ReportStore
from store.rules import RulesStore


def get_store(request: Request) -> CaseStore:
    return request.app.state.store


def get_temporal(request: Request) -> Client:
    return request.app.state.temporal


def get_sla_rules(request: Request) -> SlaRulebook:
    return request.app.state.sla_rules


def get_rules_store(request: Request) -> RulesStore:
    return request.app.state.rules


def get_report_store(request: Request) -> ReportStore:
    return request.app.state.reports


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


def current_actor(
    x_actor_id: Annotated[str | None, Header(description="Employee or system id of the caller")] = None,
    x_actor_role: Annotated[Role | None, Header(description="Role the caller acts in")] = None,
    x_actor_department: Annotated[Department | None, Header(description="Department of a handler")] = None,
) -> Actor:
    # Identity headers until API keys and JWTs arrive; every action records this actor.
    if not x_actor_id or x_actor_role is None or x_actor_role is Role.SYSTEM:
        raise Problem(
            401,
            "Unidentified caller",
            "send X-Actor-Id and X-Actor-Role (agent, handler, supervisor, head or admin)",
        )
    return Actor(id=x_actor_id, role=x_actor_role, department=x_actor_department)


def require(*roles: Role):
    allowed = set(roles) | {Role.ADMIN}

    def check(actor: Annotated[Actor, Depends(current_actor)]) -> Actor:
        if actor.role not in allowed:
            names = ", ".join(sorted(r.value for r in allowed))
            raise Problem(403, "Role not permitted", f"role {actor.role.value} may not do this; allowed: {names}")
        return actor

    return check


Store = Annotated[CaseStore, Depends(get_store)]
Temporal = Annotated[Client, Depends(get_temporal)]
AppSettings = Annotated[Settings, Depends(get_settings)]
SlaRules = Annotated[SlaRulebook, Depends(get_sla_rules)]
Rules = Annotated[RulesStore, Depends(get_rules_store)]
Reports = Annotated[ReportStore, Depends(get_report_store)]


def allows(*roles: Role):
    """Like `require`, but answers whether the caller holds one of the roles instead of refusing;
    an unidentified caller is still refused (401)."""
    allowed = set(roles) | {Role.ADMIN}

    def check(actor: Annotated[Actor, Depends(current_actor)]) -> bool:
        return actor.role in allowed

    return check
