"""Triage rules administration (issue 4, "the rules are versioned data"): an admin uploads a
version (immutable once stored) and activates it; the worker's triage suggestion uses the
active version and the `received` event names it.

Activating a version changes what every later case in a database is suggested, so these
tests run on a database, worker and API of their own (case numbers TS/TP apart from the
shared ones on the one Temporal server).
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from temporalio.testing import WorkflowEnvironment
from typer.testing import CliRunner

import cli.app as cli
from api.app import create_app
from cli import common as cli_common
from core.settings import Settings
from domain.case import Category
from domain.triage import TriageRules, suggest
from store.db import session_factory
from store.triage_rules import ActiveTriageRules, TriageRulesStore
from tests.conftest import Database
from tests.support.api import post
from tests.support.databases import own_database
from tests.support.people import ADMIN, AGENT, HEAD, SUPERVISOR, intake
from tests.support.waiting import wait_for_event
from tests.support.workers import in_process_worker

SLEEVES = "Both sleeves end above the wrist"  # no built-in term matches this


def with_sleeves(version: str) -> dict[str, Any]:
    """The built-in rules plus one size term, as an admin would upload them."""
    document = TriageRules().model_dump(mode="json") | {"version": version}
    document["keywords"]["size_fit"].append("sleeves")
    return document


@dataclass
class RulesApi:
    api: httpx.AsyncClient
    db: Database


@pytest.fixture
async def rules_db(database: Database, tmp_path: Path) -> AsyncIterator[Database]:
    async with own_database(database, tmp_path, prefix="T" + database.backend[0].upper()) as db:
        yield db


@pytest.fixture
async def rules_api(env: WorkflowEnvironment, rules_db: Database) -> AsyncIterator[RulesApi]:
    queue = f"triage-rules-{uuid.uuid4().hex[:8]}"
    settings = Settings(task_queue=queue, database_url=rules_db.url, case_number_prefix=rules_db.prefix)
    app = create_app(settings, temporal=env.client, sessions=session_factory(rules_db.engine))
    # The worker as deployed: the built-in rules as fallback, the default cache time.
    async with (
        in_process_worker(env.client, rules_db.store, queue, workflow_failure_exception_types=[Exception]),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://aftersales.test") as api,
    ):
        yield RulesApi(api, rules_db)


async def test_an_activated_version_suggests_new_cases_and_names_itself_on_the_timeline(rules_api: RulesApi) -> None:
    api = rules_api.api
    assert suggest(SLEEVES).categories == [Category.OTHER]  # the built-in rules know nothing of sleeves
    before = (await api.get("/admin/triage-rules", headers=ADMIN)).json()
    fallback = {"version": TriageRules().version, "source": "built-in", "active": True}
    assert before == {"active": None, "in_force": TriageRules().version, "fallback": fallback, "versions": []}
    # The built-in rules are exported whole, to edit and upload as a new version.
    exported = await api.get(f"/admin/triage-rules/{TriageRules().version}", headers=ADMIN)
    assert exported.status_code == 200, exported.text
    assert TriageRules.model_validate(exported.json()) == TriageRules()
    unknown = await api.get("/admin/triage-rules/2020-01-none", headers=ADMIN)
    assert unknown.status_code == 404 and unknown.json()["detail"] == "no triage rules version 2020-01-none"

    version = "2026-12-sleeves"
    document = with_sleeves(version)
    for who in (AGENT, SUPERVISOR, HEAD):
        refused = await api.put(f"/admin/triage-rules/{version}", json=document, headers=who)
        assert refused.status_code == 403 and refused.json()["title"] == "Role not permitted"
    uploaded = await api.put(f"/admin/triage-rules/{version}", json=document, headers=ADMIN)
    assert uploaded.status_code == 201, uploaded.text
    assert uploaded.json() == {"version": version, "created": True, "active": False}
    # The same body again changes nothing; the version in the path may stand alone.
    again = await api.put(f"/admin/triage-rules/{version}", json=document | {"version": ""}, headers=ADMIN)
    assert (again.status_code, again.json()["created"]) == (200, False)
    # Another body under a stored version is refused: a version never changes.
    other = with_sleeves(version)
    other["keywords"]["size_fit"].append("cuffs")
    conflict = await api.put(f"/admin/triage-rules/{version}", json=other, headers=ADMIN)
    assert conflict.status_code == 409, conflict.text
    assert conflict.json()["title"] == "Version exists" and version in conflict.json()["detail"]
    stored = (await api.get(f"/admin/triage-rules/{version}", headers=ADMIN)).json()
    assert stored["version"] == version and "sleeves" in stored["keywords"]["size_fit"]
    assert (await api.get(f"/admin/triage-rules/{version}", headers=SUPERVISOR)).status_code == 403

    # Uploaded is not in force until activated.
    listed = (await api.get("/admin/triage-rules", headers=ADMIN)).json()
    assert (listed["active"], [v["version"] for v in listed["versions"]]) == (None, [version])
    assert listed["versions"][0]["created_by"] == "admin-chen"
    unknown = await api.post("/admin/triage-rules/no-such-version/activate", headers=ADMIN)
    assert (unknown.status_code, unknown.json()["title"]) == (404, "Version not found")
    assert (await api.post(f"/admin/triage-rules/{version}/activate", headers=SUPERVISOR)).status_code == 403
    activated = await api.post(f"/admin/triage-rules/{version}/activate", headers=ADMIN)
    assert activated.status_code == 200, activated.text
    assert (activated.json()["active"], activated.json()["activated_by"]) == (True, "admin-chen")
    listed = (await api.get("/admin/triage-rules", headers=ADMIN)).json()
    assert (listed["active"], listed["in_force"]) == (version, version)

    # A case whose text only the new term matches: sized by the new version, and the record says so.
    case = await post(
        api, "/cases", intake(description=SLEEVES, order={"number": "ORD-SLV-1", "paid_amount": "199.00"}), AGENT
    )
    suggestion = case["suggestion"]
    assert (suggestion["categories"], suggestion["matched_terms"]) == (["size_fit"], ["sleeves"])
    assert (suggestion["department"], suggestion["rules_version"]) == ("sales", version)
    received = await wait_for_event(rules_api.db, case["number"], "received")
    assert received.data["suggestion"]["rules_version"] == version
    assert received.data["suggestion"]["categories"] == ["size_fit"]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"keywords": {"sizes": ["sleeves"]}}, "keywords.sizes.[key]"),  # no such category
        ({"keywords": {"size_fit": ["  "]}}, "keywords"),  # a blank term would match every case
        ({"routing": {"size_fit": "sales"}}, "routing"),  # nowhere to send "other"
        ({"routing": {"other": "accounting"}}, "routing.other"),  # no such department
        ({"high_value_amount": "-1"}, "high_value_amount"),
        ({"keyword": {"size_fit": ["sleeves"]}}, "keyword"),  # misspelt: refused, not ignored
        ({"version": "2026-12-other"}, "version"),  # differs from the path
    ],
)
async def test_a_bad_document_is_422_naming_the_field(rules_api: RulesApi, change: dict[str, Any], field: str) -> None:
    document = with_sleeves("2026-12-bad") | change
    response = await rules_api.api.put("/admin/triage-rules/2026-12-bad", json=document, headers=ADMIN)
    assert response.status_code == 422, response.text
    problem = response.json()
    assert problem["title"] == "Invalid request"
    assert field in [e["field"] for e in problem["errors"]], problem
    assert (await rules_api.api.get("/admin/triage-rules", headers=ADMIN)).json()["versions"] == []
    bad_path = await rules_api.api.put("/admin/triage-rules/has space", json=with_sleeves(""), headers=ADMIN)
    assert [e["field"] for e in bad_path.json()["errors"]] == ["path.version"]


async def test_the_worker_looks_up_the_active_version_at_most_once_per_cache_period(rules_db: Database) -> None:
    store = TriageRulesStore(rules_db.store.sessions)
    now = [0.0]
    active = ActiveTriageRules(store, TriageRules(), ttl_seconds=30, clock=lambda: now[0])
    assert (await active.current()).version == TriageRules().version  # nothing uploaded: the fallback

    first = TriageRules.model_validate(with_sleeves("v-first"))
    await store.add(first, "admin-chen")
    await store.activate("v-first", "admin-chen")
    now[0] = 29.0  # within the cache period: the worker has not looked again
    assert (await active.current()).version == TriageRules().version
    now[0] = 30.0
    assert (await active.current()).version == "v-first"

    second = TriageRules.model_validate(with_sleeves("v-second"))
    await store.add(second, "admin-chen")
    await store.activate("v-second", "admin-chen")
    now[0] = 59.0
    assert (await active.current()).version == "v-first"
    now[0] = 60.0
    assert (await active.current()).version == "v-second"
    # Activating an older version again puts it back in force.
    await store.activate("v-first", "admin-chen")
    now[0] = 90.0
    assert (await active.current()).version == "v-first"
    assert await store.activate("never-uploaded", "admin-chen") is None


async def test_the_cli_uploads_and_activates_a_rules_file(
    rules_db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cli_common, "get_settings", lambda: Settings(database_url=rules_db.url))
    rules_file = tmp_path / "sleeves.json"
    rules_file.write_text(json.dumps(with_sleeves("2026-12-cli")), encoding="utf-8")

    def run(*args: str):  # noqa: ANN202 - click Result
        return CliRunner().invoke(cli.app, ["triage-rules", *args])

    uploaded = await asyncio.to_thread(run, "upload", str(rules_file), "--actor", "admin-chen")
    assert uploaded.exit_code == 0, uploaded.output
    assert "2026-12-cli uploaded" in uploaded.output
    store = TriageRulesStore(rules_db.store.sessions)
    assert await store.active_version() is None
    activated = await asyncio.to_thread(run, "activate", "2026-12-cli")
    assert activated.exit_code == 0, activated.output
    assert await store.active_version() == "2026-12-cli"
    listed = await asyncio.to_thread(run, "list")
    assert "in force: 2026-12-cli" in listed.output

    changed = with_sleeves("2026-12-cli")
    changed["high_value_amount"] = "100"
    rules_file.write_text(json.dumps(changed), encoding="utf-8")
    conflict = await asyncio.to_thread(run, "upload", str(rules_file))
    assert conflict.exit_code == 1 and "exists with other rules" in conflict.output
    missing = await asyncio.to_thread(run, "activate", "no-such-version")
    assert missing.exit_code == 1
