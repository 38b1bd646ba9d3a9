"""/admin: new SLA policy and calendar versions, applied to the open cases they affect."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter
from pydantic import BaseModel, Field

from api.deps import AppSettings, Caller, Rules, SlaRules, Temporal
from api.json_body import DecimalJsonRoute
from api.problems import Problem
from api.sla_rules import replan
from api.temporal_deadline import rpc_timeout
from domain.calendar import apply_calendar_file
from domain.sla import Replan, SlaPolicy
from store.rules import VersionExists

router = APIRouter(prefix="/admin", tags=["admin"], route_class=DecimalJsonRoute)


class RulesChange(BaseModel):
    version: str
    created: bool = Field(description="false when this exact version was uploaded before")
    replanned: list[str] = Field(description="open cases whose deadlines were re-planned")
    missing_official_years: list[int] = Field(default_factory=list)


class CalendarUpload(BaseModel):
    """A calendar file (TOML, see README) applied to the calendar in force."""

    toml: str = Field(min_length=1, max_length=200_000)


@router.post("/sla-policies", status_code=201, response_model=RulesChange, summary="Upload a new SLA policy version")
async def upload_policy(
    policy: SlaPolicy,
    rules: Rules,
    rulebook: SlaRules,
    temporal: Temporal,
    settings: AppSettings,
    actor: Caller,
) -> RulesChange:
    try:
        created = await rules.add_policy(policy, actor.id)
    except VersionExists:
        raise Problem(409, "Version exists", f"policy version {policy.version} exists with other content") from None
    affected = await rulebook.cases_affected_by_policy(policy)
    replanned = await replan(temporal, affected, Replan(policy=policy), rpc_timeout(settings))
    return RulesChange(version=policy.version, created=created, replanned=replanned)


@router.post("/calendars", status_code=201, response_model=RulesChange, summary="Upload a calendar file as a new version")
async def upload_calendar(
    upload: CalendarUpload,
    rules: Rules,
    rulebook: SlaRules,
    temporal: Temporal,
    settings: AppSettings,
    actor: Caller,
) -> RulesChange:
    now = datetime.now(UTC)
    _, current = await rulebook.pinned_for(now)
    try:
        calendar = apply_calendar_file(upload.toml, current)
    except ValueError as error:
        raise Problem(422, "Invalid calendar file", str(error), errors=[{"field": "toml", "message": str(error)}]) from None
    try:
        created = await rules.add_calendar(calendar, actor.id)
    except VersionExists:
        raise Problem(409, "Version exists", f"calendar version {calendar.version} exists with other content") from None
    affected = await rulebook.cases_affected_by_calendar(calendar, now)
    replanned = await replan(temporal, affected, Replan(calendar=calendar), rpc_timeout(settings))
    # Say which years run on plain weekends for want of official data.
    missing = [year for year in (now.year, now.year + 1) if not calendar.has_official_data(year)]
    return RulesChange(
        version=calendar.version, created=created, replanned=replanned, missing_official_years=missing
    )
