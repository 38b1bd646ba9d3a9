"""/admin: new SLA policy and calendar versions, applied to the open cases they affect."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from api.deps import AppSettings, Caller, Rules, SlaRules, Temporal
from api.json_body import DecimalJsonRoute
from api.problems import Problem
from domain.calendar import apply_calendar_file
from domain.case import Actor
from domain.sla import Replan, SlaPolicy
from services.sla_rules import replan
from services.temporal_calls import rpc_timeout
from store.rules import PinnedCase, VersionExists

router = APIRouter(prefix="/admin", tags=["admin"], route_class=DecimalJsonRoute)


class RulesAdmin:
    """What a new rules version needs: the stored versions, the rulebook, and Temporal to re-plan
    the open cases it affects (services/sla_rules.py)."""

    def __init__(self, rules: Rules, rulebook: SlaRules, temporal: Temporal, settings: AppSettings) -> None:
        self.rules, self.rulebook, self.temporal, self.settings = rules, rulebook, temporal, settings

    async def replan(self, affected: list[PinnedCase], change: Replan, actor: Actor) -> list[str]:
        return await replan(self.temporal, affected, change, rpc_timeout(self.settings), actor)


Admin = Annotated[RulesAdmin, Depends()]


class RulesChange(BaseModel):
    version: str
    created: bool = Field(description="false when this exact version was uploaded before")
    replanned: list[str] = Field(description="open cases whose deadlines were re-planned")
    missing_official_years: list[int] = Field(default_factory=list)


class CalendarUpload(BaseModel):
    """A calendar file (TOML, see README) applied to the calendar in force."""

    toml: str = Field(min_length=1, max_length=200_000)


@router.post("/sla-policies", status_code=201, response_model=RulesChange, summary="Upload a new SLA policy version")
async def upload_policy(policy: SlaPolicy, admin: Admin, actor: Caller) -> RulesChange:
    try:
        created = await admin.rules.add_policy(policy, actor.id)
    except VersionExists:
        raise Problem(409, "Version exists", f"policy version {policy.version} exists with other content") from None
    affected = await admin.rulebook.cases_affected_by_policy(policy)
    replanned = await admin.replan(affected, Replan(policy=policy), actor)
    return RulesChange(version=policy.version, created=created, replanned=replanned)


@router.post(
    "/calendars", status_code=201, response_model=RulesChange, summary="Upload a calendar file as a new version"
)
async def upload_calendar(upload: CalendarUpload, admin: Admin, actor: Caller) -> RulesChange:
    now = datetime.now(UTC)
    _, current = await admin.rulebook.pinned_for(now)
    try:
        calendar = apply_calendar_file(upload.toml, current)
    except ValueError as error:
        raise Problem(
            422, "Invalid calendar file", str(error), errors=[{"field": "toml", "message": str(error)}]
        ) from None
    try:
        created = await admin.rules.add_calendar(calendar, actor.id)
    except VersionExists:
        raise Problem(409, "Version exists", f"calendar version {calendar.version} exists with other content") from None
    affected = await admin.rulebook.cases_affected_by_calendar(calendar, now)
    replanned = await admin.replan(affected, Replan(calendar=calendar), actor)
    # Say which years run on plain weekends for want of official data.
    missing = [year for year in (now.year, now.year + 1) if not calendar.has_official_data(year)]
    return RulesChange(version=calendar.version, created=created, replanned=replanned, missing_official_years=missing)
