"""Triage rules versions an admin uploads (immutable once stored), which one is active, and
the worker's short cache of the active rules.

The latest activated version is in force; with none activated, the worker's own rules
(TRIAGE_RULES_FILE or the built-in defaults) are. A version's body never changes, so the
cache keeps bodies for good and only asks "which version is active?" at most once per
`ttl` seconds: a case does not cost a query, and an activation reaches every worker
within `ttl`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from domain.triage import TriageRules
from store.models import TriageRuleVersionRow
from store.rules import VersionExists

DEFAULT_CACHE_SECONDS = 30.0


@dataclass(frozen=True)
class TriageRulesVersion:
    version: str
    created_at: datetime
    created_by: str
    activated_at: datetime | None
    activated_by: str | None


def _version(row: TriageRuleVersionRow) -> TriageRulesVersion:
    return TriageRulesVersion(row.version, row.created_at, row.created_by, row.activated_at, row.activated_by)


class TriageRulesStore:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def add(self, rules: TriageRules, actor_id: str) -> bool:
        """Store a version; False when this exact version was stored before, VersionExists
        when the name is taken by other rules."""
        body = rules.model_dump(mode="json")
        try:
            async with self._sessions.begin() as session:
                existing = await session.get(TriageRuleVersionRow, rules.version)
                if existing is not None:
                    if existing.body != body:
                        raise VersionExists(rules.version)
                    return False
                session.add(
                    TriageRuleVersionRow(
                        version=rules.version, body=body, created_at=datetime.now(UTC), created_by=actor_id
                    )
                )
            return True
        except IntegrityError:  # the same version stored concurrently: compare with it
            return await self.add(rules, actor_id)

    async def activate(self, version: str, actor_id: str) -> TriageRulesVersion | None:
        """Put `version` in force for cases received from now on; None when it was never
        uploaded. Activating the version already in force changes nothing."""
        async with self._sessions.begin() as session:
            row = await session.get(TriageRuleVersionRow, version)
            if row is None:
                return None
            if await self._active_row(session) is not row:
                await session.execute(
                    update(TriageRuleVersionRow)
                    .where(TriageRuleVersionRow.version == version)
                    .values(activated_at=datetime.now(UTC), activated_by=actor_id)
                )
                await session.refresh(row)
            return _version(row)

    async def active_version(self) -> str | None:
        async with self._sessions() as session:
            row = await self._active_row(session)
            return row.version if row else None

    @staticmethod
    async def _active_row(session: AsyncSession) -> TriageRuleVersionRow | None:
        query = (
            select(TriageRuleVersionRow)
            .where(TriageRuleVersionRow.activated_at.is_not(None))
            .order_by(TriageRuleVersionRow.activated_at.desc(), TriageRuleVersionRow.version.desc())
            .limit(1)
        )
        return (await session.execute(query)).scalar_one_or_none()

    async def rules(self, version: str) -> TriageRules | None:
        async with self._sessions() as session:
            row = await session.get(TriageRuleVersionRow, version)
            return TriageRules.model_validate(row.body) if row else None

    async def versions(self, limit: int) -> list[TriageRulesVersion]:
        """The newest uploads first."""
        async with self._sessions() as session:
            rows = await session.execute(
                select(TriageRuleVersionRow)
                .order_by(TriageRuleVersionRow.created_at.desc(), TriageRuleVersionRow.version.desc())
                .limit(limit)
            )
            return [_version(row) for row in rows.scalars()]


class ActiveTriageRules:
    """The triage rules in force, as the `suggest_triage` activity uses them."""

    def __init__(
        self,
        store: TriageRulesStore,
        fallback: TriageRules,
        *,
        ttl_seconds: float = DEFAULT_CACHE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        self._fallback = fallback
        self._ttl = ttl_seconds
        self._clock = clock
        self._bodies: dict[str, TriageRules] = {}  # versions are immutable: kept for good
        self._current = fallback
        self._checked_at: float | None = None
        self._lock = asyncio.Lock()

    async def current(self) -> TriageRules:
        if self._fresh():
            return self._current
        async with self._lock:  # one look-up however many cases arrive at once
            if not self._fresh():
                version = await self._store.active_version()
                self._current = await self._body(version) if version else self._fallback
                self._checked_at = self._clock()
        return self._current

    def _fresh(self) -> bool:
        return self._checked_at is not None and self._clock() - self._checked_at < self._ttl

    async def _body(self, version: str) -> TriageRules:
        if version not in self._bodies:
            rules = await self._store.rules(version)
            if rules is None:  # pragma: no cover - versions are never deleted
                return self._fallback
            self._bodies[version] = rules
        return self._bodies[version]
