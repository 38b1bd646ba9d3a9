"""Dependencies: the case store, the Temporal client, and who is calling (api/auth.py,
api/access.py; `current_actor` and `require` are re-exported here for the routes)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from temporalio.client import Client

from api.access import authorize, require
from api.auth import current_actor
from api.sla_rules import SlaRulebook
from domain.case import Actor, Role
from settings import Settings
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


Store = Annotated[CaseStore, Depends(get_store)]
Temporal = Annotated[Client, Depends(get_temporal)]
AppSettings = Annotated[Settings, Depends(get_settings)]
SlaRules = Annotated[SlaRulebook, Depends(get_sla_rules)]
Rules = Annotated[RulesStore, Depends(get_rules_store)]
Reports = Annotated[ReportStore, Depends(get_report_store)]
# The authenticated caller, allowed by the access matrix for the route it calls.
Caller = Annotated[Actor, Depends(authorize)]

__all__ = ["AppSettings", "Caller", "Reports", "Rules", "SlaRules", "Store", "Temporal", "allows", "current_actor", "require"]


def allows(*roles: Role):
    """Like `require`, but answers whether the caller holds one of the roles instead of refusing;
    an unidentified caller is still refused (401)."""
    allowed = set(roles) | {Role.ADMIN}

    def check(actor: Annotated[Actor, Depends(current_actor)]) -> bool:
        return actor.role in allowed

    return check
