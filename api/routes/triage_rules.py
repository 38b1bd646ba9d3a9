"""/admin/triage-rules: triage rules as versioned data. An admin uploads a version (immutable
once stored) and activates it; cases received from then on are suggested by it (the
worker notices within TRIAGE_RULES_CACHE_SECONDS) and their `received` event names it."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Path, Query, Response
from pydantic import BaseModel, Field

from api.deps import AppSettings, Caller, Store
from api.json_body import DecimalJsonRoute
from api.problems import Problem
from domain.triage import TriageRules, TriageRulesDocument
from store.rules import VersionExists
from store.triage_rules import TriageRulesStore, TriageRulesVersion

router = APIRouter(prefix="/admin/triage-rules", tags=["admin"], route_class=DecimalJsonRoute)

Version = Annotated[
    str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$", description="e.g. 2026-12-shoes")
]


class TriageRulesVersionView(BaseModel):
    version: str
    created_at: datetime
    created_by: str
    activated_at: datetime | None = Field(description="when it was last put in force; null if never")
    activated_by: str | None
    active: bool


class FallbackRulesView(BaseModel):
    version: str
    source: str = Field(description="`built-in`, or `TRIAGE_RULES_FILE` when that setting names a file")
    active: bool = Field(description="true while no uploaded version is activated")


class TriageRulesOverview(BaseModel):
    active: str | None = Field(description="the activated version in force; null: the built-in or file rules are")
    in_force: str = Field(description="the version new cases are suggested by")
    fallback: FallbackRulesView = Field(
        description="the rules in force while no version is activated (GET it to export)"
    )
    versions: list[TriageRulesVersionView] = Field(description="uploaded versions, newest first")


class TriageRulesUploaded(BaseModel):
    version: str
    created: bool = Field(description="false when this exact version was uploaded before")
    active: bool


def _store(store: Store) -> TriageRulesStore:
    return TriageRulesStore(store.sessions)


def _view(version: TriageRulesVersion, active: str | None) -> TriageRulesVersionView:
    return TriageRulesVersionView(**asdict(version), active=version.version == active)


@router.get(
    "", response_model=TriageRulesOverview, summary="The triage rules version in force and the uploaded versions"
)
async def overview(
    store: Store,
    settings: AppSettings,
    actor: Caller,
    limit: Annotated[int, Query(ge=1, le=500, description="at most this many versions, newest first")] = 100,
) -> TriageRulesOverview:
    rules = _store(store)
    active = await rules.active_version()
    versions = await rules.versions(limit)
    fallback = settings.triage_rules()
    return TriageRulesOverview(
        active=active,
        in_force=active or fallback.version,
        fallback=FallbackRulesView(
            version=fallback.version,
            source="TRIAGE_RULES_FILE" if settings.triage_rules_file else "built-in",
            active=active is None,
        ),
        versions=[_view(v, active) for v in versions],
    )


@router.get(
    "/{version}",
    response_model=TriageRules,
    summary="One version's whole rules document: an uploaded version, or the built-in (or file) rules by their version",
)
async def document(version: Version, store: Store, settings: AppSettings, actor: Caller) -> TriageRules:
    # Uploads never take the fallback's name silently: an uploaded version of that name wins.
    rules = await _store(store).rules(version)
    if rules is None and version == (fallback := settings.triage_rules()).version:
        rules = fallback
    if rules is None:
        raise Problem(404, "Version not found", f"no triage rules version {version}", version=version)
    return rules


@router.put(
    "/{version}",
    response_model=TriageRulesUploaded,
    responses={201: {"model": TriageRulesUploaded}},
    summary="Upload a triage rules version (not yet in force: activate it)",
)
async def upload(
    version: Version, document: TriageRulesDocument, response: Response, store: Store, actor: Caller
) -> TriageRulesUploaded:
    if document.version and document.version != version:
        message = f"the document's version differs from the version in the path ({version})"
        raise Problem(422, "Invalid request", f"version: {message}", errors=[{"field": "version", "message": message}])
    rules = _store(store)
    try:
        created = await rules.add(document.rules(version), actor.id)
    except VersionExists:
        raise Problem(
            409, "Version exists", f"triage rules version {version} exists with other content: upload under a new version",
            version=version,
        ) from None  # fmt: skip
    response.status_code = 201 if created else 200
    return TriageRulesUploaded(version=version, created=created, active=await rules.active_version() == version)


@router.post(
    "/{version}/activate",
    response_model=TriageRulesVersionView,
    summary="Put an uploaded version in force for the cases received from now on",
)
async def activate(version: Version, store: Store, actor: Caller) -> TriageRulesVersionView:
    activated = await _store(store).activate(version, actor.id)
    if activated is None:
        raise Problem(404, "Version not found", f"no triage rules version {version}: upload it first", version=version)
    return _view(activated, version)
