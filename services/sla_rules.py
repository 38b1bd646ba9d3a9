"""Which SLA policy and business calendar a case is pinned to, and re-planning open cases."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import TypeVar

from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from core.action_signing import acting_as
from core.calendar_sources import china_calendar, load_calendar_file
from domain.calendar import BusinessCalendar
from domain.case import SYSTEM_ACTOR, Actor, Channel, CustomerTier, Priority
from domain.replanning import calendar_affects, policy_affects
from domain.sla import Replan, SlaPolicy
from store.rules import PinnedCase, RulesStore
from workflows.case import CaseWorkflow

logger = logging.getLogger(__name__)

# Signals in flight at once when a new version re-plans open cases.
REPLAN_CONCURRENCY = 20

_Rules = TypeVar("_Rules", SlaPolicy, BusinessCalendar)


@lru_cache(maxsize=8)
def _default_calendar(year: int, calendar_file: str | None) -> BusinessCalendar:
    calendar = china_calendar([year, year + 1])
    return load_calendar_file(Path(calendar_file), calendar) if calendar_file else calendar


# Released versions kept validated per process; an admin uploads a handful a year.
RELEASED_KEPT = 32


@lru_cache(maxsize=1)
def _default_policy() -> SlaPolicy:
    """DOMAIN.md's table, built once (read only, like every pinned policy)."""
    return SlaPolicy()


async def _released(
    kept: dict[str, _Rules], version: str, read: Callable[[str], Awaitable[_Rules | None]]
) -> _Rules | None:
    """The released version `version` from `kept`, else read (and kept, the oldest read going)."""
    if (rules := kept.get(version)) is None:
        rules = await read(version)
        if rules is not None:
            if len(kept) >= RELEASED_KEPT:
                kept.pop(next(iter(kept)))  # a later case asking for it reads it again
            kept[version] = rules
    return rules


class SlaRulebook:
    """The newest uploaded versions, else the built-in defaults (DOMAIN.md's table and
    mainland China's official days, optionally adjusted by a calendar file)."""

    def __init__(self, rules: RulesStore, calendar_file: Path | None = None) -> None:
        self._rules = rules
        self._calendar_file = str(calendar_file) if calendar_file else None
        # A version's body never changes once uploaded (RulesStore refuses another body under
        # its name), so each is read and validated once, not for every case opened.
        self._released_policies: dict[str, SlaPolicy] = {}
        self._released_calendars: dict[str, BusinessCalendar] = {}

    def default_calendar(self, year: int) -> BusinessCalendar:
        # The receipt year and the next: enough for any deadline, small enough to carry in every case.
        return _default_calendar(year, self._calendar_file)

    async def pinned_for(self, received_at: datetime) -> tuple[SlaPolicy, BusinessCalendar]:
        """The versions in force at `received_at`: the newest uploaded, else the defaults."""
        policy_version, calendar_version = await self._rules.latest_versions()
        policy = await self._released_policy(policy_version) if policy_version else None
        calendar = await self._released_calendar(calendar_version) if calendar_version else None
        return policy or _default_policy(), calendar or self.default_calendar(received_at.year)

    async def _policy(self, version: str | None) -> SlaPolicy | None:
        if version == _default_policy().version:
            return _default_policy()
        return await self._released_policy(version) if version else None

    async def _calendar(self, version: str | None, year: int) -> BusinessCalendar | None:
        default = self.default_calendar(year)
        if version == default.version:
            return default
        return await self._released_calendar(version) if version else None

    async def _released_policy(self, version: str) -> SlaPolicy | None:
        return await _released(self._released_policies, version, self._rules.policy)

    async def _released_calendar(self, version: str) -> BusinessCalendar | None:
        return await _released(self._released_calendars, version, self._rules.calendar)

    async def cases_affected_by_policy(self, policy: SlaPolicy) -> list[PinnedCase]:
        affected = []
        for case in await self._rules.open_cases_not_on(policy_version=policy.version):
            old = await self._policy(case.policy_version)
            priority = Priority(case.priority) if case.priority else None
            if old is None or policy_affects(
                old, policy, priority, CustomerTier(case.customer_tier), Channel(case.channel)
            ):
                affected.append(case)
        return affected

    async def cases_affected_by_calendar(self, calendar: BusinessCalendar, today: datetime) -> list[PinnedCase]:
        affected = []
        for case in await self._rules.open_cases_not_on(calendar_version=calendar.version):
            old = await self._calendar(case.calendar_version, today.year)
            if old is None or calendar_affects(old, calendar, calendar.local_date(today)):
                affected.append(case)
        return affected


async def replan(
    temporal: Client, cases: list[PinnedCase], change: Replan, rpc_timeout: timedelta | None = None,
    actor: Actor = SYSTEM_ACTOR,
) -> list[str]:  # fmt: skip
    """Signal each affected case, signed for `actor` (who uploaded the rules); returns those signalled.
    A case that finished meanwhile ignores the signal; one whose workflow is gone is skipped and logged."""
    gate = asyncio.Semaphore(REPLAN_CONCURRENCY)

    async def one(number: str) -> str | None:
        async with gate:
            try:
                with acting_as(actor):
                    await temporal.get_workflow_handle_for(CaseWorkflow.run, number).signal(
                        CaseWorkflow.replan, change, rpc_timeout=rpc_timeout
                    )
                return number
            except RPCError as error:
                if error.status is not RPCStatusCode.NOT_FOUND:
                    raise
                logger.warning("case %s is open in the record but has no running workflow", number)
                return None

    return [number for number in await asyncio.gather(*(one(case.number) for case in cases)) if number]
