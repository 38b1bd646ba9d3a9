"""Which SLA policy and business calendar a new case is pinned to."""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache
from pathlib import Path

from domain.calendar import BusinessCalendar
from domain.calendar_sources import china_calendar, load_calendar_file
from domain.sla import SlaPolicy


@lru_cache(maxsize=8)
def _default_calendar(year: int, calendar_file: str | None) -> BusinessCalendar:
    calendar = china_calendar([year, year + 1])
    return load_calendar_file(Path(calendar_file), calendar) if calendar_file else calendar


class SlaRulebook:
    """The built-in defaults (DOMAIN.md's table, mainland China's official days),
    optionally adjusted by a calendar file."""

    def __init__(self, calendar_file: Path | None = None) -> None:
        self._calendar_file = str(calendar_file) if calendar_file else None

    async def pinned_for(self, received_at: datetime) -> tuple[SlaPolicy, BusinessCalendar]:
        # The receipt year and the next: enough for any deadline, small enough to carry in every case.
        return SlaPolicy(), _default_calendar(received_at.year, self._calendar_file)
