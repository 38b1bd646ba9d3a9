"""API keys for services: created once (the key is shown then and never again), looked up by
their public id, compared by hash, revoked by id.

A key reads `ask_<key id>_<secret>`: the key id (12 hex characters) is public and finds
the row; the secret is 32 random bytes. Only the SHA-256 of the whole key is stored.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from domain.case import Actor, Department, Role
from store.db import rows_changed
from store.models import ApiKeyRow

PREFIX = "ask"


class InvalidKeyRequest(ValueError):
    """A key that could not be issued as asked (e.g. a handler without a department)."""


@dataclass(frozen=True)
class IssuedKey:
    key: str  # the plaintext: shown once, never stored
    key_id: str
    actor: Actor


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def key_id_of(key: str) -> str | None:
    """The public id of a well-formed key, else None."""
    prefix, _, rest = key.partition("_")
    key_id, _, secret = rest.partition("_")
    if prefix != PREFIX or len(key_id) != 12 or not secret:
        return None
    return key_id


def actor_of(row: ApiKeyRow) -> Actor:
    return Actor(id=row.name, role=Role(row.role), department=Department(row.department) if row.department else None)


class ApiKeyStore:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def create(self, role: Role, *, name: str | None = None, department: Department | None = None) -> IssuedKey:
        if role is Role.SYSTEM:
            raise InvalidKeyRequest("the system role is never given to a caller")
        if role is Role.HANDLER and department is None:
            raise InvalidKeyRequest("a handler key needs a department")
        if role is not Role.HANDLER and department is not None:
            raise InvalidKeyRequest("only handler keys are bound to a department")
        key_id = secrets.token_hex(6)
        key = f"{PREFIX}_{key_id}_{secrets.token_urlsafe(32)}"
        # The name is who the caller is in the timeline; rotating a key under the same name keeps that.
        actor = Actor(id=name or f"{role.value}-{key_id}", role=role, department=department)
        async with self._sessions.begin() as session:
            session.add(
                ApiKeyRow(
                    key_id=key_id,
                    secret_hash=_hash(key),
                    name=actor.id,
                    role=role.value,
                    department=department.value if department else None,
                    created_at=datetime.now(UTC),
                )
            )
        return IssuedKey(key=key, key_id=key_id, actor=actor)

    async def authenticate(self, key: str) -> Actor | None:
        """The actor a live key stands for; None for an unknown, revoked or forged key."""
        key_id = key_id_of(key)
        if key_id is None:
            return None
        async with self._sessions() as session:
            row = await session.get(ApiKeyRow, key_id)
        if row is None or row.revoked_at is not None:
            return None
        if not hmac.compare_digest(row.secret_hash, _hash(key)):
            return None
        return actor_of(row)

    async def list(self) -> list[ApiKeyRow]:
        async with self._sessions() as session:
            rows = await session.execute(select(ApiKeyRow).order_by(ApiKeyRow.created_at, ApiKeyRow.key_id))
            return list(rows.scalars())

    async def revoke(self, key_id: str) -> bool:
        """True when a live key was revoked now; False when unknown or already revoked."""
        async with self._sessions.begin() as session:
            revoked = await rows_changed(
                session,
                update(ApiKeyRow)
                .where(ApiKeyRow.key_id == key_id, ApiKeyRow.revoked_at.is_(None))
                .values(revoked_at=datetime.now(UTC)),
            )
            return revoked == 1


# `aftersales dev`: one key per role, the handler in quality, named like the README's people.
DEV_PEOPLE: dict[str, tuple[str, Role, Department | None]] = {
    "agent": ("agent-li", Role.AGENT, None),
    "handler": ("handler-wang", Role.HANDLER, Department.QUALITY),
    # Another department's handler, for multi-department cases (README: Handling rules).
    "logistics_handler": ("handler-qian", Role.HANDLER, Department.LOGISTICS),
    "supervisor": ("supervisor-zhao", Role.SUPERVISOR, None),
    "head": ("head-sun", Role.HEAD, None),
    "admin": ("admin-chen", Role.ADMIN, None),
    # The systems that report return and repair steps.
    "warehouse": ("wms-east", Role.WAREHOUSE, None),
    "logistics": ("tms-courier", Role.LOGISTICS, None),
}


async def ensure_dev_keys(store: ApiKeyStore, path: Path) -> dict[str, str]:
    """The development keys (role -> key) in `path`."""
    return await ensure_keys(store, path, DEV_PEOPLE)


async def ensure_keys(
    store: ApiKeyStore, path: Path, people: dict[str, tuple[str, Role, Department | None]]
) -> dict[str, str]:
    """A key per entry of `people` (label -> name, role, department), kept in `path`: keys
    still valid there are reused so a restart does not pile up keys; missing, revoked or
    changed ones are created anew, and the file is rewritten (mode 600)."""
    try:
        known = json.loads(path.read_text())
    except (OSError, ValueError):
        known = {}
    keys: dict[str, str] = {}
    for label, (name, role, department) in people.items():
        key = known.get(label) if isinstance(known, dict) else None
        actor = await store.authenticate(key) if isinstance(key, str) else None
        if (
            not isinstance(key, str)
            or actor is None
            or (actor.id, actor.role, actor.department) != (name, role, department)
        ):
            key = (await store.create(role, name=name, department=department)).key
        keys[label] = key
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600, exist_ok=True)
    path.chmod(0o600)
    path.write_text(json.dumps(keys, indent=2) + "\n")
    return keys
