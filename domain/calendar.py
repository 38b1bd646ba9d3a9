"""The business calendar: when "working hours" and "working days" tick.

Pure code. A `BusinessCalendar` is plain data (timezone, opening hours per
weekday, holidays, extra working days) that the API or worker builds once
(see `core.calendar_sources`) and pins into a workflow's input, so a
running case keeps the calendar it started with and replays identically.
Inside the Temporal sandbox this module must be passed through (worker.py
passes all of `domain`): the sandbox wraps `zoneinfo.ZoneInfo` results in a
proxy that `datetime` refuses as a tzinfo.

Conventions, the same for every method:

- Inputs are timezone-aware datetimes in any timezone; naive ones are refused
  because "09:00" means nothing without a place.
- Results are UTC. Same-zone arithmetic on ZoneInfo datetimes is wall-clock
  arithmetic (`b - a` across a DST change is off by an hour), so UTC is the
  only form that is safe to subtract and compare (Python also deems a local
  time inside a DST gap or fold unequal to every other zone's datetime, PEP
  495); convert with `.astimezone(calendar.zone)` to show a local time.
- Working time is the union of half-open windows [start, end) of local
  wall-clock time: 18:00 is not working, but `add` may *finish* exactly at
  18:00 (the business time is used up at that instant, not next morning).
- Business time is real elapsed time inside the windows, so a window that
  spans a DST change is an hour shorter or longer that day.
- A wall-clock time that does not exist (the spring-forward gap) maps to the
  first valid instant after the gap; a wall-clock time that occurs twice (the
  fall-back hour) maps to its first occurrence. A window that lies wholly in
  the gap is empty that day.
- `add(t, 0)` is `next_working_instant(t)`: the limit of `add(t, d)` as d
  shrinks to zero. So `add(add(t, d1), d2) == add(t, d1 + d2)` for every
  d2 > 0, while adding 0 to a deadline that ends a window moves it to the
  next opening. Negative durations are refused.
- `between(a, b)` is negative when b is before a: `between(a, b) == -between(b, a)`,
  so "business time left until the deadline" goes negative once it passes.

Days are classified in this order: a holiday is closed; an extra working day
(a weekend date China moves work onto) uses `adjusted_day_hours`, by default
Monday's windows; any other day uses its weekday's windows. Years outside
`covered_years` have no official holiday data: they fall back to plain
weekly hours, and `has_official_data` lets the API say so.

Calendar file (TOML, applied with `apply_calendar_file`, read from disk by
`core.calendar_sources.load_calendar_file`). Every key is optional:

    version = "acme-2026-03"                 # default: base version + "+" + hash of the file
    timezone = "Asia/Shanghai"               # replaces the base timezone
    adjusted_day_hours = ["09:00-18:00"]     # windows of extra working days
    covered_years = [2027]                   # years this file supplies official data for
    remove_holidays = [2026-10-07]           # back to an ordinary day of its weekday
    remove_working_days = [2026-10-10]       # back to an ordinary weekend day

    [hours]                                  # replaces only the weekdays named
    monday = ["09:00-12:00", "13:00-18:00"]
    saturday = []                            # closed
    sunday = ["00:00-24:00"]                 # "24:00" ends a window at midnight

    [holidays]                               # added; the date stops being a working day
    2026-12-24 = "Company day"

    [working_days]                           # added; the date stops being a holiday
    2026-12-26 = "Stock-take Saturday"

Removals apply first, then additions; naming a date in both `holidays` and
`working_days`, or removing a date the base does not have, is an error.
"""

from __future__ import annotations

import hashlib
import itertools
import tomllib
from collections.abc import Iterator, Mapping
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from domain.text import OptionalText, Text

# A stretch this long without a single working minute means the calendar is
# broken (e.g. every day declared a holiday); stop instead of looping forever.
MAX_IDLE_DAYS = 3660

MIDNIGHT = time(0)


class Weekday(StrEnum):
    MONDAY = "monday"
    TUESDAY = "tuesday"
    WEDNESDAY = "wednesday"
    THURSDAY = "thursday"
    FRIDAY = "friday"
    SATURDAY = "saturday"
    SUNDAY = "sunday"

    @classmethod
    def of(cls, day: date) -> Weekday:
        return _WEEKDAYS[day.weekday()]


_WEEKDAYS = tuple(Weekday)  # in date.weekday() order: Monday is 0


class WorkingWindow(BaseModel):
    """One stretch of local wall-clock opening time within a day.

    `end` 00:00 means midnight at the end of the day (written "24:00" in a
    calendar file), so "00:00-24:00" is a whole day.
    """

    model_config = ConfigDict(frozen=True)

    start: time
    end: time

    @model_validator(mode="before")
    @classmethod
    def _parse_text(cls, value: Any) -> Any:
        # Calendar files write windows as "09:00-12:00": shorter and harder to get wrong.
        if isinstance(value, str):
            start, separator, end = value.partition("-")
            if not separator:
                raise ValueError(f"a window is written 'HH:MM-HH:MM', got {value!r}")
            start, end = start.strip(), end.strip()
            return {"start": start, "end": "00:00" if end in ("24:00", "24:00:00") else end}
        return value

    @model_validator(mode="after")
    def _check(self) -> WorkingWindow:
        if self.start.tzinfo is not None or self.end.tzinfo is not None:
            raise ValueError("window times are local wall-clock times, without a timezone")
        if self.end != MIDNIGHT and self.end <= self.start:
            raise ValueError(f"a window must end after it starts: {self.label}")
        return self

    @property
    def label(self) -> str:
        end = "24:00" if self.end == MIDNIGHT else self.end.isoformat("minutes")
        return f"{self.start.isoformat('minutes')}-{end}"

    def bounds(self, day: date) -> tuple[datetime, datetime]:
        """Naive local wall-clock start and end of this window on `day`."""
        end_day = day + timedelta(days=1) if self.end == MIDNIGHT else day
        return datetime.combine(day, self.start), datetime.combine(end_day, self.end)


Windows = tuple[WorkingWindow, ...]

NINE_TO_SIX: Windows = (WorkingWindow(start=time(9), end=time(18)),)


def _office_week() -> dict[Weekday, Windows]:
    # DOMAIN.md: the default calendar is Monday-Friday 09:00-18:00.
    return {day: NINE_TO_SIX for day in _WEEKDAYS[:5]}


def _checked_windows(windows: Windows) -> Windows:
    ordered = tuple(sorted(windows, key=lambda window: window.start))
    for before, after in itertools.pairwise(ordered):
        # Touching windows (12:00-13:00 then 13:00-18:00) are fine; overlapping ones double-count.
        if before.end == MIDNIGHT or after.start < before.end:
            raise ValueError(f"windows overlap: {before.label} and {after.label}")
    return ordered


def _one_or_the_other(holidays: Mapping[date, str], working_days: Mapping[date, str], message: str) -> None:
    """A day is a holiday or a working day, never both: name the days that are."""
    both = sorted(set(holidays) & set(working_days))
    if both:
        raise ValueError(f"{message}: {', '.join(map(str, both))}")


class BusinessCalendar(BaseModel):
    """Opening hours, holidays and working days, as data that travels with a case."""

    model_config = ConfigDict(frozen=True)

    version: Text = Field(default="office-week", min_length=1, max_length=64)  # as long as the record's column
    timezone: str = "Asia/Shanghai"
    hours: dict[Weekday, Windows] = Field(default_factory=_office_week)
    # None: extra working days keep Monday's hours.
    adjusted_day_hours: Windows | None = None
    holidays: dict[date, str] = Field(default_factory=dict)
    extra_working_days: dict[date, str] = Field(default_factory=dict)
    covered_years: tuple[int, ...] = ()
    # Where the day lists came from, for people reading a pinned calendar.
    source: str = ""

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as error:
            raise ValueError(f"unknown IANA timezone {value!r}") from error
        return value

    @field_validator("hours")
    @classmethod
    def _check_hours(cls, value: dict[Weekday, Windows]) -> dict[Weekday, Windows]:
        checked = {day: _checked_windows(value[day]) for day in _WEEKDAYS if value.get(day)}
        # Without one open weekday no deadline could ever be reached.
        if not checked:
            raise ValueError("at least one weekday needs working hours")
        return checked

    @field_validator("adjusted_day_hours")
    @classmethod
    def _check_adjusted(cls, value: Windows | None) -> Windows | None:
        return None if value is None else _checked_windows(value)

    @field_validator("covered_years")
    @classmethod
    def _sorted_years(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        return tuple(sorted(set(value)))

    @model_validator(mode="after")
    def _days_are_one_or_the_other(self) -> BusinessCalendar:
        _one_or_the_other(self.holidays, self.extra_working_days, "dates both holiday and working day")
        return self

    # -- days ---------------------------------------------------------------

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)  # ZoneInfo caches instances by key

    def has_official_data(self, year: int) -> bool:
        """False when `year`'s holidays are unknown and plain weekly hours stand in."""
        return year in self.covered_years

    def years_without_official_data(self, a: datetime, b: datetime) -> tuple[int, ...]:
        """The years between two instants (local dates, either order) the calendar has to guess."""
        first, last = sorted((self.local_date(a), self.local_date(b)))
        return tuple(year for year in range(first.year, last.year + 1) if not self.has_official_data(year))

    def windows_for(self, day: date) -> Windows:
        """The local opening windows of one calendar date."""
        if day in self.holidays:
            return ()
        if day in self.extra_working_days:
            return self.hours.get(Weekday.MONDAY, ()) if self.adjusted_day_hours is None else self.adjusted_day_hours
        return self.hours.get(Weekday.of(day), ())

    def is_working_day(self, day: date) -> bool:
        return bool(self.windows_for(day))

    def working_intervals(self, day: date) -> tuple[tuple[datetime, datetime], ...]:
        """The day's windows as UTC [start, end) intervals, empty ones (DST gap) dropped."""
        windows = self.windows_for(day)
        return _utc_intervals(self.timezone, windows, day) if windows else ()

    def local_date(self, t: datetime) -> date:
        return _utc(t).astimezone(self.zone).date()

    # -- instants -----------------------------------------------------------

    def is_working(self, t: datetime) -> bool:
        instant = _utc(t)
        day = self.local_date(instant)
        # The previous day too: its windows end at or before local midnight,
        # but checking costs nothing and keeps odd zones honest.
        return any(
            start <= instant < end
            for candidate in (day - timedelta(days=1), day)
            for start, end in self.working_intervals(candidate)
        )

    def next_working_instant(self, t: datetime) -> datetime:
        """`t` itself when it is working time, else the start of the next window (UTC)."""
        instant = _utc(t)
        for start, end in self._intervals_from(instant):
            if end > instant:
                return max(start, instant)
        raise AssertionError("unreachable: _intervals_from never runs dry")

    def add(self, start: datetime, duration: timedelta) -> datetime:
        """The instant (UTC) at which `duration` of business time has passed since `start`.

        Counting begins at the next working instant; a duration that runs out
        exactly at a window's end finishes there, not at the next opening.
        """
        if duration < timedelta(0):
            raise ValueError(f"business durations cannot be negative: {duration}")
        instant = _utc(start)
        if duration == timedelta(0):
            return self.next_working_instant(instant)
        remaining = duration
        for window_start, window_end in self._intervals_from(instant):
            if window_end <= instant:
                continue
            begin = max(window_start, instant)
            available = window_end - begin
            if remaining <= available:
                return begin + remaining
            remaining -= available
        raise AssertionError("unreachable: _intervals_from never runs dry")

    def between(self, a: datetime, b: datetime) -> timedelta:
        """Business time from `a` to `b`; negative when `b` is before `a`."""
        first, last = _utc(a), _utc(b)
        if last < first:
            return -self.between(last, first)
        total = timedelta(0)
        for start, end in self._intervals_from(first):
            if start >= last:
                break
            overlap = min(end, last) - max(start, first)
            if overlap > timedelta(0):
                total += overlap
        return total

    def _intervals_from(self, instant: datetime) -> Iterator[tuple[datetime, datetime]]:
        """UTC working intervals in order, day by day, from the local day before `instant`'s.

        Unbounded: callers stop when they have what they need. Walking whole
        days keeps a 30-working-day deadline across Spring Festival at a few
        dozen steps.
        """
        day = self.local_date(instant) - timedelta(days=1)
        idle = 0
        while True:
            intervals = self.working_intervals(day)
            if intervals:
                idle = 0
                yield from intervals
            else:
                idle += 1
                if idle > MAX_IDLE_DAYS:
                    raise ValueError(
                        f"calendar {self.version!r} has no working time for {MAX_IDLE_DAYS} days after {day}"
                    )
            day += timedelta(days=1)


@lru_cache(maxsize=4096)
def _utc_intervals(timezone: str, windows: Windows, day: date) -> tuple[tuple[datetime, datetime], ...]:
    # Cached on plain values, so calendars that share hours share the work:
    # converting wall-clock times dominates the cost of add() and between().
    zone = ZoneInfo(timezone)
    intervals = []
    for window in windows:
        start, end = (_wall_to_utc(wall, zone) for wall in window.bounds(day))
        if start < end:
            intervals.append((start, end))
    return tuple(intervals)


def _utc(t: datetime) -> datetime:
    if t.tzinfo is None or t.utcoffset() is None:
        raise ValueError(f"a timezone-aware datetime is needed, got naive {t.isoformat()}")
    return t.astimezone(UTC)


def _shows(instant: datetime, wall: datetime, zone: ZoneInfo) -> bool:
    return instant.astimezone(zone).replace(tzinfo=None) == wall


def _wall_to_utc(wall: datetime, zone: ZoneInfo) -> datetime:
    """The first instant whose local wall-clock time in `zone` is `wall` or later.

    That is the first occurrence for a repeated (fall-back) time, and the end
    of the gap for a skipped (spring-forward) time.
    """
    # fold=0 is the first occurrence of a repeated time, and the usual case needs nothing more.
    first = wall.replace(tzinfo=zone).astimezone(UTC)
    if _shows(first, wall, zone):
        return first
    second = wall.replace(tzinfo=zone, fold=1).astimezone(UTC)
    # In a gap the two folds straddle the transition: the earlier instant shows
    # a time before `wall`, the later one a time after. Bisect to the transition
    # itself; tz transitions fall on whole seconds, so this ends exactly on it.
    low, high = sorted((first, second))
    while high - low > timedelta(microseconds=1):
        middle = low + (high - low) // 2
        if middle.astimezone(zone).replace(tzinfo=None) >= wall:
            high = middle
        else:
            low = middle
    return high


# -- calendar files -----------------------------------------------------------


class CalendarFile(BaseModel):
    """The keys a calendar file may hold; see the module docstring."""

    model_config = ConfigDict(extra="forbid")

    version: OptionalText = Field(default=None, min_length=1, max_length=64)
    timezone: str | None = None
    hours: dict[Weekday, Windows] = Field(default_factory=dict)
    adjusted_day_hours: Windows | None = None
    covered_years: tuple[int, ...] = ()
    holidays: dict[date, str] = Field(default_factory=dict)
    working_days: dict[date, str] = Field(default_factory=dict)
    remove_holidays: tuple[date, ...] = ()
    remove_working_days: tuple[date, ...] = ()

    @model_validator(mode="after")
    def _no_contradiction(self) -> CalendarFile:
        _one_or_the_other(self.holidays, self.working_days, "dates listed as both holiday and working day")
        return self


def apply_calendar_file(text: str, base: BusinessCalendar) -> BusinessCalendar:
    """`base` with the additions and overrides of a TOML calendar file's text."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ValueError(f"calendar file is not valid TOML: {error}") from error
    except RecursionError:
        # tomllib parses nested arrays and inline tables recursively; no calendar nests deeply.
        raise ValueError("calendar file is not valid TOML: it nests too deeply") from None
    changes = CalendarFile.model_validate(data)
    # Cut so the derived version stays within the record's 64 characters.
    version = changes.version or f"{base.version[:51]}+{hashlib.sha256(text.encode()).hexdigest()[:12]}"
    return merge_calendar(base, changes, version=version)


def merge_calendar(base: BusinessCalendar, changes: CalendarFile, *, version: str) -> BusinessCalendar:
    holidays = _without(base.holidays, changes.remove_holidays, "holiday")
    working_days = _without(base.extra_working_days, changes.remove_working_days, "extra working day")
    # The file is the later word: a date it names moves out of the other list.
    for day, name in changes.holidays.items():
        working_days.pop(day, None)
        holidays[day] = name
    for day, name in changes.working_days.items():
        holidays.pop(day, None)
        working_days[day] = name
    hours = dict(base.hours)
    hours.update(changes.hours)
    return BusinessCalendar(
        version=version,
        timezone=changes.timezone or base.timezone,
        hours=hours,
        adjusted_day_hours=changes.adjusted_day_hours
        if changes.adjusted_day_hours is not None
        else base.adjusted_day_hours,
        holidays=dict(sorted(holidays.items())),
        extra_working_days=dict(sorted(working_days.items())),
        covered_years=base.covered_years + changes.covered_years,
        source="; ".join(filter(None, (base.source, f"calendar file {version}"))),
    )


def _without(days: Mapping[date, str], removed: tuple[date, ...], kind: str) -> dict[date, str]:
    # A removal of a date the base lacks is most likely a typo: say so rather than ignore it.
    missing = [str(day) for day in removed if day not in days]
    if missing:
        raise ValueError(f"cannot remove {kind} {', '.join(missing)}: not in the base calendar")
    return {day: name for day, name in days.items() if day not in removed}
