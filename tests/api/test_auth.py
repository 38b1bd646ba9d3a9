"""Authentication: people's JWTs and services' API keys, on the real API and database."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import func, select
from temporalio.testing import WorkflowEnvironment
from typer.testing import CliRunner

import cli.app as cli
from api.app import create_app
from cli import common as cli_common
from core.settings import Settings
from domain.case import Department, Role
from store.apikeys import DEV_PEOPLE, ApiKeyStore, ensure_dev_keys
from store.db import session_factory
from store.models import ApiKeyRow
from tests.conftest import Database
from tests.support.people import AGENT, TEST_JWT_SECRET, intake, token
from tests.support.waiting import wait_for_stage


def assert_401(response: httpx.Response, *secrets: str) -> dict:
    assert response.status_code == 401, response.text
    assert response.headers["content-type"].split(";")[0] == "application/problem+json"
    assert response.headers["www-authenticate"].startswith('Bearer realm="aftersales"')
    assert response.json()["title"] == "Not authenticated"
    for secret in secrets:
        assert secret not in response.text  # the credential is never echoed
    return response.json()


def bearer(value: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {value}"}


# ---- JWTs ---------------------------------------------------------------------------------


def _now() -> datetime:
    return datetime.now(UTC)


@pytest.mark.parametrize(
    ("claims", "secret", "says"),
    [
        ({"exp": _now() - timedelta(minutes=5)}, TEST_JWT_SECRET, "expired"),
        ({"aud": "another-api"}, TEST_JWT_SECRET, "InvalidAudience"),
        ({"iss": "someone-else"}, TEST_JWT_SECRET, "InvalidIssuer"),
        ({}, "a-different-secret-of-enough-length-000000", "InvalidSignature"),
        ({"role": "system"}, TEST_JWT_SECRET, "role"),
        ({"role": "janitor"}, TEST_JWT_SECRET, "role"),
        ({"role": "handler"}, TEST_JWT_SECRET, "department"),
        ({"role": "handler", "department": "moon"}, TEST_JWT_SECRET, "department"),
    ],
    ids=["expired", "audience", "issuer", "signature", "system-role", "unknown-role", "handler-no-dept", "bad-dept"],
)
async def test_an_invalid_token_is_401_and_never_echoed(
    api: httpx.AsyncClient, claims: dict, secret: str, says: str
) -> None:
    extra = dict(claims)  # the parameters are shared by both backends' runs: never mutate them
    bad = token("agent-li", extra.pop("role", "agent"), extra.pop("department", None), secret=secret, **extra)

    response = await api.get("/cases", headers=bearer(bad))

    problem = assert_401(response, bad, bad.split(".")[1], bad.split(".")[2])
    assert says in problem["detail"]
    assert 'error="invalid_token"' in response.headers["www-authenticate"]


async def test_unsigned_and_subjectless_tokens_are_401(api: httpx.AsyncClient) -> None:
    now = _now()
    base = {"role": "admin", "iss": "aftersales", "aud": "aftersales-api", "exp": now + timedelta(hours=1)}
    unsigned = jwt.encode(base | {"sub": "admin-chen"}, None, algorithm="none")
    no_subject = jwt.encode(base, TEST_JWT_SECRET, algorithm="HS256")
    no_expiry = jwt.encode(
        {k: v for k, v in base.items() if k != "exp"} | {"sub": "x"}, TEST_JWT_SECRET, algorithm="HS256"
    )
    for bad in (unsigned, no_subject, no_expiry):
        assert_401(await api.get("/cases", headers=bearer(bad)), bad)


async def test_a_valid_token_acts_as_its_subject(api: httpx.AsyncClient) -> None:
    mine = token("agent-qin", "agent")
    created = await api.post("/cases", json=intake(), headers=bearer(mine))
    assert created.status_code == 201, created.text
    number = created.json()["number"]
    await wait_for_stage(api, number, "received", AGENT, "record")
    (received,) = (await api.get(f"/cases/{number}/timeline", headers=AGENT)).json()
    assert (received["actor_id"], received["actor_role"]) == ("agent-qin", "agent")


async def test_two_credentials_at_once_are_401(api: httpx.AsyncClient) -> None:
    both = AGENT | {"X-API-Key": "ask_000000000000_whatever"}
    assert_401(await api.get("/cases", headers=both), "whatever")


@pytest.fixture
async def es256_api(
    env: WorkflowEnvironment, database: Database, worker: str
) -> AsyncIterator[tuple[httpx.AsyncClient, object]]:
    private = ec.generate_private_key(ec.SECP256R1())
    pem = private.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    settings = Settings(
        task_queue=worker, database_url=database.url, case_number_prefix=database.prefix, rate_limit="",
        jwt_algorithm="ES256", jwt_public_key=pem.decode(), jwt_secret=None,
    )  # fmt: skip
    app = create_app(settings, temporal=env.client, sessions=session_factory(database.engine))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://aftersales.test") as client:
        yield client, private


async def test_tokens_signed_by_an_identity_provider_key(es256_api: tuple[httpx.AsyncClient, object]) -> None:
    api, private = es256_api
    claims = {"sub": "supervisor-zhao", "role": "supervisor", "iss": "aftersales", "aud": "aftersales-api",
              "exp": _now() + timedelta(minutes=5)}  # fmt: skip
    signed = jwt.encode(claims, private, algorithm="ES256")
    assert (await api.get("/ops/stuck", params={"limit": 1}, headers=bearer(signed))).status_code == 200
    # A token signed with a shared secret is refused: one algorithm, the configured one.
    assert_401(await api.get("/cases", headers=AGENT))


# ---- API keys --------------------------------------------------------------------------------


async def _cli(database: Database, monkeypatch: pytest.MonkeyPatch, *args: str):  # noqa: ANN202 - click Result
    monkeypatch.setattr(cli_common, "get_settings", lambda: Settings(database_url=database.url))
    # The command runs its own event loop: give it a thread.
    return await asyncio.to_thread(CliRunner().invoke, cli.app, ["apikey", *args], env={"COLUMNS": "160"})


async def test_an_api_key_from_the_command_line_works_end_to_end_and_is_hashed_at_rest(
    api: httpx.AsyncClient, database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    made = await _cli(database, monkeypatch, "create", "--role", "agent", "--name", "crm-intake")
    assert made.exit_code == 0, made.output
    key = made.stdout.strip().splitlines()[0]
    assert key.startswith("ask_")
    key_id, secret = key.split("_", 2)[1:]

    # At rest: the id and a hash, never the secret or the key.
    async with database.engine.connect() as connection:
        row = (await connection.execute(select(ApiKeyRow).where(ApiKeyRow.key_id == key_id))).one()
    stored = " ".join(str(value) for value in row)
    assert secret not in stored and key not in stored
    assert row.name == "crm-intake" and row.role == "agent" and len(row.secret_hash) == 64

    created = await api.post("/cases", json=intake(), headers={"X-API-Key": key})
    assert created.status_code == 201, created.text
    number = created.json()["number"]
    await wait_for_stage(api, number, "received", AGENT, "record")
    (received,) = (await api.get(f"/cases/{number}/timeline", headers={"X-API-Key": key})).json()
    assert (received["actor_id"], received["actor_role"]) == ("crm-intake", "agent")
    # The key's role is enforced like a person's.
    refused = await api.post("/admin/calendars", json={"toml": "version = 'x'"}, headers={"X-API-Key": key})
    assert refused.status_code == 403, refused.text

    listed = await _cli(database, monkeypatch, "list")
    assert listed.exit_code == 0 and key_id in listed.stdout and "crm-intake" in listed.stdout
    assert secret not in listed.stdout

    # A forged secret under a real id, and then the revoked key, are refused.
    assert_401(await api.get("/cases", headers={"X-API-Key": f"ask_{key_id}_{'A' * 43}"}))
    revoked = await _cli(database, monkeypatch, "revoke", key_id)
    assert revoked.exit_code == 0, revoked.output
    assert_401(await api.get("/cases", headers={"X-API-Key": key}), key, secret)
    assert (await _cli(database, monkeypatch, "revoke", key_id)).exit_code == 1


async def test_a_handler_key_needs_a_department_and_is_bound_to_it(
    api: httpx.AsyncClient, database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    refused = await _cli(database, monkeypatch, "create", "--role", "handler")
    assert refused.exit_code == 2 and "department" in refused.output
    assert (await _cli(database, monkeypatch, "create", "--role", "system")).exit_code == 2

    issued = await ApiKeyStore(session_factory(database.engine)).create(
        Role.HANDLER, name="wms-bridge", department=Department.LOGISTICS
    )
    created = (await api.post("/cases", json=intake(), headers=AGENT)).json()["number"]
    await wait_for_stage(api, created, "received", AGENT, "record")
    assert (await api.get(f"/cases/{created}", headers={"X-API-Key": issued.key})).status_code == 404  # not routed
    listed = (await api.get("/cases", params={"limit": 100}, headers={"X-API-Key": issued.key})).json()
    for item in listed["items"]:  # its department's cases, and those it assists (another test may have made one)
        assert item["department"] == "logistics" or "logistics" in await database.store.assisting(item["number"])


async def test_dev_keys_are_reused_across_restarts(database: Database, tmp_path: Path) -> None:
    store = ApiKeyStore(session_factory(database.engine))
    path = tmp_path / "data" / "dev-keys.json"

    first = await ensure_dev_keys(store, path)
    again = await ensure_dev_keys(store, path)

    assert first == again == json.loads(path.read_text())
    assert set(first) == {
        "agent",
        "handler",
        "logistics_handler",
        "supervisor",
        "head",
        "admin",
        "warehouse",
        "logistics",
    }
    assert path.stat().st_mode & 0o077 == 0
    for role_name, key in first.items():
        name, role, department = DEV_PEOPLE[role_name]
        actor = await store.authenticate(key)
        assert actor is not None and (actor.id, actor.role, actor.department) == (name, role, department)
    # A revoked key is replaced, alone.
    await store.revoke(first["head"].split("_")[1])
    third = await ensure_dev_keys(store, path)
    assert third["head"] != first["head"] and {k: v for k, v in third.items() if k != "head"} == {
        k: v for k, v in first.items() if k != "head"
    }
    async with database.engine.connect() as connection:
        count = (
            await connection.execute(select(func.count()).select_from(ApiKeyRow).where(ApiKeyRow.key_id.in_(
                [key.split("_")[1] for key in (*first.values(), third["head"])]
            )))
        ).scalar_one()  # fmt: skip
    assert count == len(DEV_PEOPLE) + 1  # a key each, plus the one replacement
