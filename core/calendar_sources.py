"""Where business calendars come from: published holiday data and calendar files.

The one module of `domain` that reads anything: installed packages' holiday
tables and, in `load_calendar_file`, a file on disk. The API and the worker
call it at startup; workflow code never imports it and only ever receives the
ready `BusinessCalendar` it builds, pinned in its input.

No day is invented here. A year the source has no data for gets no holidays
(plain weekly hours) and is left out of `covered_years`, so the calendar can
tell its users that it is guessing.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
from collections.abc import Iterable, Mapping
from datetime import date
from os import PathLike
from pathlib import Path
from typing import Any

import chinese_calendar
import holidays as holidays_package

from domain.calendar import NINE_TO_SIX, BusinessCalendar, Weekday, Windows, apply_calendar_file

_WEEKDAYS = tuple(Weekday)


def china_calendar(
    years: Iterable[int],
    *,
    hours: Mapping[Weekday, Windows] | None = None,
    adjusted_day_hours: Windows | None = None,
    version: str | None = None,
) -> BusinessCalendar:
    """The default calendar: Asia/Shanghai, office hours, mainland China's official days.

    Holidays and the weekend dates moved onto work (调休) come from the
    `chinese-calendar` package, which follows the State Council's yearly
    notices and raises NotImplementedError for years not yet published.
    """
    wanted = sorted(set(years))
    covered = [year for year in wanted if _chinese_calendar_has(year)]
    package = f"chinese-calendar {importlib.metadata.version('chinese-calendar')}"
    calendar = BusinessCalendar(
        timezone="Asia/Shanghai",
        hours=dict(hours) if hours is not None else _office_week(),
        adjusted_day_hours=adjusted_day_hours,
        holidays=_in_years(chinese_calendar.holidays, covered),
        extra_working_days=_in_years(chinese_calendar.workdays, covered),
        covered_years=tuple(covered),
        source=package,
    )
    return _versioned(calendar, "cn", version)


def _chinese_calendar_has(year: int) -> bool:
    try:
        chinese_calendar.is_workday(date(year, 1, 1))
    except NotImplementedError:
        return False
    return True


def country_calendar(
    country_code: str,
    years: Iterable[int],
    timezone: str,
    *,
    subdiv: str | None = None,
    hours: Mapping[Weekday, Windows] | None = None,
    adjusted_day_hours: Windows | None = None,
    version: str | None = None,
) -> BusinessCalendar:
    """A calendar from the `holidays` package for any country it knows.

    That package computes holidays from rules, so it covers every year in its
    supported range (`start_year`..`end_year`); a year outside it gets plain
    weekly hours. Office hours default to 09:00-18:00 on the country's
    non-weekend days. Weekend dates the country moves work onto are taken
    where the package records them (`weekend_workdays`).
    """
    wanted = sorted(set(years))
    entity = holidays_package.country_holidays(country_code, subdiv=subdiv, years=wanted)
    covered = [year for year in wanted if entity.start_year <= year <= entity.end_year]
    workdays: set[Any] = getattr(entity, "weekend_workdays", set())
    package = f"holidays {importlib.metadata.version('holidays')} {country_code}" + (f"-{subdiv}" if subdiv else "")
    calendar = BusinessCalendar(
        timezone=timezone,
        hours=dict(hours) if hours is not None else _office_week(exclude={_WEEKDAYS[day] for day in entity.weekend}),
        adjusted_day_hours=adjusted_day_hours,
        holidays=_in_years(dict(entity.items()), covered),
        # A date both a holiday and a moved working day would contradict itself; the holiday wins.
        extra_working_days=_in_years({day: "working day" for day in workdays if day not in entity}, covered),
        covered_years=tuple(covered),
        source=package,
    )
    return _versioned(calendar, country_code.lower() + (f"-{subdiv.lower()}" if subdiv else ""), version)


def load_calendar_file(path_or_text: str | PathLike[str], base: BusinessCalendar) -> BusinessCalendar:
    """`base` with a TOML calendar file applied (format: `domain.calendar` docstring).

    A `Path` (any os.PathLike) is read from disk; a `str` is the file's text.
    """
    text = Path(path_or_text).read_text(encoding="utf-8") if isinstance(path_or_text, PathLike) else path_or_text
    return apply_calendar_file(text, base)


def _office_week(exclude: set[Weekday] | None = None) -> dict[Weekday, Windows]:
    closed = exclude if exclude is not None else {Weekday.SATURDAY, Weekday.SUNDAY}
    return {day: NINE_TO_SIX for day in _WEEKDAYS if day not in closed}


def _in_years(days: Mapping[date, str], years: Iterable[int]) -> dict[date, str]:
    keep = set(years)
    return {day: str(name) for day, name in sorted(days.items()) if day.year in keep}


def _versioned(calendar: BusinessCalendar, prefix: str, version: str | None) -> BusinessCalendar:
    """Name the calendar after its content unless the caller named it.

    Two workers building the same calendar get the same version, and any
    change of hours or days (a package upgrade, other years) gets a new one.
    """
    if version is None:
        content = calendar.model_dump_json(exclude={"version"})
        version = f"{prefix}-{hashlib.sha256(content.encode()).hexdigest()[:12]}"
    return calendar.model_copy(update={"version": version})
