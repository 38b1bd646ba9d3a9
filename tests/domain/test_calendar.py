"""The business calendar: properties of the maths, and worked examples on real holiday data."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError
from temporalio.contrib.pydantic import pydantic_data_converter

from core.calendar_sources import china_calendar, country_calendar, load_calendar_file
from domain.calendar import BusinessCalendar, Weekday, WorkingWindow, apply_calendar_file

SHANGHAI = ZoneInfo("Asia/Shanghai")
BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")

YEARS = (2025, 2026, 2027)
CN = china_calendar(YEARS)
LUNCH_BREAK = tuple(WorkingWindow.model_validate(text) for text in ("09:00-12:00", "13:00-18:00"))
CN_LUNCH = china_calendar(YEARS, hours={day: LUNCH_BREAK for day in tuple(Weekday)[:5]})
DE = country_calendar("DE", YEARS, "Europe/Berlin")
US_NY = country_calendar("US", YEARS, "America/New_York", subdiv="NY")
# New York's holidays with windows around 02:00, where its clocks jump, and one ending at midnight.
NIGHT_NY = country_calendar(
    "US",
    YEARS,
    "America/New_York",
    subdiv="NY",
    hours={
        day: tuple(map(WorkingWindow.model_validate, ("00:30-02:15", "02:40-04:00", "22:00-24:00"))) for day in Weekday
    },
)
ALWAYS_BERLIN = BusinessCalendar(
    version="always", timezone="Europe/Berlin", hours={day: ("00:00-24:00",) for day in Weekday}
)

# The properties run on each; US_NY's office hours never meet its DST changes, NIGHT_NY's do.
CALENDARS = {"cn": CN, "cn-lunch": CN_LUNCH, "de": DE, "night-ny": NIGHT_NY}

PROPERTY = settings(max_examples=200, deadline=None, database=None)

# Local times that sit on or next to window edges and DST transitions.
EDGES = [
    time(0),
    time(0, 30),
    time(1, 59, 59),
    time(2),
    time(2, 15),
    time(2, 30),
    time(2, 40),
    time(3),
    time(8, 59, 59),
    time(9),
    time(11, 30),
    time(12),
    time(13),
    time(17, 30),
    time(17, 59, 59, 999999),
    time(18),
    time(22),
    time(23, 59, 59, 999999),
]
# Dates next to the Chinese holidays of 2026 and the European and US DST changes.
SPECIAL_DAYS = [
    date(2026, 2, 13),
    date(2026, 3, 8),
    date(2026, 3, 28),
    date(2026, 4, 3),
    date(2026, 9, 18),
    date(2026, 9, 30),
    date(2026, 10, 24),
    date(2026, 10, 31),
    date(2026, 12, 31),
    date(2027, 12, 31),
]


# A moment is zone-free data, placed on a calendar by `at`: either a local
# wall-clock time (often on a window edge, a DST change or a holiday
# boundary) or an instant anywhere in two years. Drawing plain values keeps
# the properties cheap enough to run 200 examples on every calendar.
_days = st.one_of(
    st.dates(date(2025, 12, 20), date(2027, 12, 20)),
    st.builds(lambda day, shift: day + timedelta(days=shift), st.sampled_from(SPECIAL_DAYS), st.integers(-3, 3)),
)
moments = st.one_of(
    st.tuples(_days, st.sampled_from(EDGES)),
    st.datetimes(datetime(2025, 12, 20), datetime(2027, 12, 20), timezones=st.just(UTC)),
)
# How far after a first instant a second one lies: deadlines are weeks, not years.
steps = st.one_of(
    st.tuples(st.integers(0, 45), st.sampled_from(EDGES)),  # a window edge some days on
    st.timedeltas(timedelta(0), timedelta(days=45)),  # anywhere
)
durations = st.one_of(
    st.timedeltas(timedelta(0), timedelta(hours=300)),
    # Whole quarter hours make results land exactly on window ends.
    st.integers(0, 30 * 9 * 4).map(lambda quarters: timedelta(minutes=15 * quarters)),
)
positive_durations = durations.filter(lambda duration: duration > timedelta(0))


Moment = tuple[date, time] | datetime
Step = tuple[int, time] | timedelta


def at(calendar: BusinessCalendar, moment: Moment) -> datetime:
    """The moment as an aware datetime; local ones stay in the calendar's zone, to test that input."""
    if isinstance(moment, datetime):
        return moment
    day, wall = moment
    return datetime.combine(day, wall, tzinfo=calendar.zone)


def later(calendar: BusinessCalendar, a: datetime, step: Step) -> datetime:
    """An instant at or after `a`, in UTC so that == means the same instant (see `utc`)."""
    if isinstance(step, timedelta):
        return utc(a) + step
    shift, wall = step
    b = datetime.combine(calendar.local_date(a) + timedelta(days=shift), wall, tzinfo=calendar.zone)
    return max(utc(a), utc(b))


def utc(t: datetime) -> datetime:
    # Python deems a datetime whose wall-clock time is in a DST gap or fold
    # unequal to every datetime of another timezone, even at the same instant
    # (PEP 495), so equality checks compare UTC forms.
    return t.astimezone(UTC)


def ends_a_stretch_inside(calendar: BusinessCalendar, t: datetime) -> bool:
    """Inside a window, or exactly at its end: start < t <= end."""
    day = calendar.local_date(t)
    return any(
        start < t <= end
        for candidate in (day - timedelta(days=1), day)
        for start, end in calendar.working_intervals(candidate)
    )


def opens_a_window(calendar: BusinessCalendar, t: datetime) -> bool:
    day = calendar.local_date(t)
    return any(start == utc(t) for start, _ in calendar.working_intervals(day))


def local(zone: ZoneInfo, *args: int) -> datetime:
    return datetime(*args, tzinfo=zone)


# -- properties, on every calendar --------------------------------------------

calendar_params = pytest.mark.parametrize("name", list(CALENDARS))


@calendar_params
@PROPERTY
@given(moment=moments, d1=durations, d2=durations)
def test_add_is_monotonic(name: str, moment: Moment, d1: timedelta, d2: timedelta) -> None:
    calendar = CALENDARS[name]
    t = at(calendar, moment)
    d1, d2 = sorted((d1, d2))
    assert calendar.add(t, d1) <= calendar.add(t, d2)


@calendar_params
@PROPERTY
@given(moment=moments, d1=durations, d2=durations)
def test_add_is_additive(name: str, moment: Moment, d1: timedelta, d2: timedelta) -> None:
    calendar = CALENDARS[name]
    t = at(calendar, moment)
    middle = calendar.add(t, d1)
    if d2 > timedelta(0):
        assert calendar.add(middle, d2) == calendar.add(t, d1 + d2)
    else:
        # Adding nothing moves a deadline that ends a window (18:00) on to the next opening.
        assert calendar.add(middle, d2) == calendar.next_working_instant(middle)


@calendar_params
@PROPERTY
@given(moment=moments, duration=positive_durations)
def test_positive_add_lands_in_working_time(name: str, moment: Moment, duration: timedelta) -> None:
    calendar = CALENDARS[name]
    t = at(calendar, moment)
    result = calendar.add(t, duration)
    assert result.tzinfo is UTC
    assert result > t
    assert ends_a_stretch_inside(calendar, result)


@calendar_params
@PROPERTY
@given(moment=moments, duration=durations)
def test_between_undoes_add(name: str, moment: Moment, duration: timedelta) -> None:
    calendar = CALENDARS[name]
    t = at(calendar, moment)
    assert calendar.between(t, calendar.add(t, duration)) == duration


@calendar_params
@PROPERTY
@given(moment=moments, step=steps)
def test_add_undoes_between(name: str, moment: Moment, step: Step) -> None:
    calendar = CALENDARS[name]
    a = at(calendar, moment)
    b = later(calendar, a, step)
    elapsed = calendar.between(a, b)
    landed = calendar.add(a, elapsed)
    if elapsed > timedelta(0):
        # add() finishes at the earliest instant with that much business time
        # behind it: b itself when b is inside a window or ends one, but the
        # end of the previous window when b is the opening instant of one.
        assert landed <= b
        assert calendar.between(landed, b) == timedelta(0)
        assert (landed == b) == ends_a_stretch_inside(calendar, b)
        if calendar.is_working(b) and not opens_a_window(calendar, b):
            assert landed == b
    else:
        assert landed == calendar.next_working_instant(a)
        if calendar.is_working(b):
            assert landed == b


@calendar_params
@PROPERTY
@given(moment=moments, step1=steps, step2=steps)
def test_between_is_additive_and_antisymmetric(name: str, moment: Moment, step1: Step, step2: Step) -> None:
    calendar = CALENDARS[name]
    a = at(calendar, moment)
    b, c = sorted((later(calendar, a, step1), later(calendar, a, step2)))
    assert calendar.between(a, b) + calendar.between(b, c) == calendar.between(a, c)
    assert calendar.between(c, a) == -calendar.between(a, c)
    assert timedelta(0) <= calendar.between(a, c) <= c - utc(a)


@calendar_params
@PROPERTY
@given(moment=moments)
def test_next_working_instant(name: str, moment: Moment) -> None:
    calendar = CALENDARS[name]
    t = at(calendar, moment)
    found = calendar.next_working_instant(t)
    assert found >= t
    assert calendar.is_working(found)
    assert calendar.between(t, found) == timedelta(0)
    assert (found == utc(t)) == calendar.is_working(t)
    assert calendar.add(t, timedelta(0)) == found


@PROPERTY
@given(moment=moments, step=steps, duration=durations)
def test_an_always_open_calendar_is_real_time_across_dst(moment: Moment, step: Step, duration: timedelta) -> None:
    # Business time is elapsed time: the 23- and 25-hour days count as such.
    # (In UTC: arithmetic between two Europe/Berlin datetimes is wall-clock arithmetic.)
    a = utc(at(ALWAYS_BERLIN, moment))
    b = later(ALWAYS_BERLIN, a, step)
    assert ALWAYS_BERLIN.add(a, duration) == a + duration
    assert ALWAYS_BERLIN.between(a, b) == b - a


# -- mainland China, 2026 -------------------------------------------------------


def _published(year: int) -> bool:
    import chinese_calendar

    try:
        chinese_calendar.is_workday(date(year, 1, 1))
    except NotImplementedError:
        return False
    return True


def test_which_years_chinese_calendar_covers() -> None:
    # chinese-calendar publishes up to the latest State Council notice (2026 in release 1.11);
    # each newer release adds a year, so the covered years are whatever the package has.
    assert CN.has_official_data(2025) and CN.has_official_data(2026)
    assert CN.covered_years == tuple(year for year in YEARS if _published(year))
    # A year no release can have yet is not covered, and says so.
    assert not _published(2099) and not china_calendar([2099]).has_official_data(2099)


def test_p2_on_friday_before_qingming_monday() -> None:
    # 2026: Tomb-sweeping Day is Sunday 5 April, observed Monday 6 April.
    # Received Friday 3 April 17:30, 4 working hours to respond:
    # 0:30 on Friday (until 18:00), weekend, Monday holiday, then 3:30 from
    # Tuesday 09:00 -> Tuesday 7 April 12:30 Shanghai (04:30 UTC).
    received = local(SHANGHAI, 2026, 4, 3, 17, 30)
    due = CN.add(received, timedelta(hours=4))
    assert due == datetime(2026, 4, 7, 4, 30, tzinfo=UTC)
    assert due.astimezone(SHANGHAI) == local(SHANGHAI, 2026, 4, 7, 12, 30)
    assert CN.holidays[date(2026, 4, 6)] == "Tomb-sweeping Day"


def test_national_day_week() -> None:
    # Wednesday 30 September 17:30 + 4 h: 0:30 that evening, 1-7 October off
    # (Golden Week), 3:30 from Thursday 8 October 09:00 -> 12:30.
    due = CN.add(local(SHANGHAI, 2026, 9, 30, 17, 30), timedelta(hours=4))
    assert due == local(SHANGHAI, 2026, 10, 8, 12, 30)
    assert all(not CN.is_working_day(date(2026, 10, day)) for day in range(1, 8))


def test_adjusted_weekend_days_are_worked() -> None:
    # Sunday 20 September and Saturday 10 October 2026 are worked for National Day.
    assert CN.is_working(local(SHANGHAI, 2026, 9, 20, 10))
    assert CN.is_working(local(SHANGHAI, 2026, 10, 10, 17, 59))
    assert not CN.is_working(local(SHANGHAI, 2026, 9, 13, 10))  # an ordinary Sunday
    # Friday 18 September 17:30 + 4 h: 0:30 on Friday, Saturday off, then the
    # working Sunday from 09:00 -> Sunday 20 September 12:30.
    assert CN.add(local(SHANGHAI, 2026, 9, 18, 17, 30), timedelta(hours=4)) == local(SHANGHAI, 2026, 9, 20, 12, 30)


def test_spring_festival_with_its_working_saturday() -> None:
    # Friday 13 February 17:30 + 13 h: 0:30 Friday, 9:00 on the working
    # Saturday 14th, 15-23 February off, 3:30 from Tuesday 24th 09:00 -> 12:30.
    due = CN.add(local(SHANGHAI, 2026, 2, 13, 17, 30), timedelta(hours=13))
    assert due == local(SHANGHAI, 2026, 2, 24, 12, 30)


def test_thirty_working_days_across_spring_festival() -> None:
    # From Monday 2 February 09:00, 30 working days of 9 h: 2-6, 9-13, Sat 14,
    # 24-27, Sat 28 February (16 days), 2-6, 9-13 March (26), 16-19 March (30)
    # -> ends Thursday 19 March 18:00.
    start = local(SHANGHAI, 2026, 2, 2, 9)
    due = CN.add(start, timedelta(hours=30 * 9))
    assert due == local(SHANGHAI, 2026, 3, 19, 18)
    assert CN.between(start, due) == timedelta(hours=270)


def test_a_year_without_data_falls_back_to_weekends() -> None:
    # 2099: far past any published notice, whichever release is installed.
    calendar = china_calendar([2026, 2099])
    assert calendar.covered_years == (2026,)
    assert calendar.has_official_data(2026) and not calendar.has_official_data(2099)
    # No invented New Year's Day: Thursday 1 January 2099 is an ordinary working day.
    assert calendar.is_working(local(SHANGHAI, 2099, 1, 1, 10))
    assert not calendar.is_working(local(SHANGHAI, 2099, 1, 3, 10))  # Saturday
    assert all(day.year == 2026 for day in (*calendar.holidays, *calendar.extra_working_days))
    assert calendar.years_without_official_data(local(SHANGHAI, 2026, 12, 30), local(SHANGHAI, 2099, 1, 2))[:3] == (
        2027,
        2028,
        2029,
    )


def test_defaults() -> None:
    plain = BusinessCalendar()
    assert plain.timezone == "Asia/Shanghai" and plain.covered_years == ()
    assert not plain.has_official_data(2026)
    assert plain.windows_for(date(2026, 10, 1)) == (WorkingWindow(start=time(9), end=time(18)),)
    assert CN.timezone == "Asia/Shanghai"
    assert CN.windows_for(date(2026, 10, 10)) == CN.hours[Weekday.MONDAY]


# -- lunch break ----------------------------------------------------------------


def test_lunch_break_is_skipped() -> None:
    assert not CN_LUNCH.is_working(local(SHANGHAI, 2026, 3, 10, 12, 30))
    assert CN_LUNCH.is_working(local(SHANGHAI, 2026, 3, 10, 13))
    assert CN_LUNCH.add(local(SHANGHAI, 2026, 3, 10, 11, 30), timedelta(hours=1)) == local(
        SHANGHAI, 2026, 3, 10, 13, 30
    )
    # Finishing as the window closes is on time.
    assert CN_LUNCH.add(local(SHANGHAI, 2026, 3, 10, 11), timedelta(hours=1)) == local(SHANGHAI, 2026, 3, 10, 12)
    assert CN_LUNCH.next_working_instant(local(SHANGHAI, 2026, 3, 10, 12)) == local(SHANGHAI, 2026, 3, 10, 13)
    assert CN_LUNCH.between(local(SHANGHAI, 2026, 3, 10, 11), local(SHANGHAI, 2026, 3, 10, 14)) == timedelta(hours=2)


# -- calendar files ----------------------------------------------------------------

CALENDAR_FILE = """
covered_years = [2027]
remove_holidays = [2026-10-07]

[holidays]
2026-12-24 = "Company day"

[working_days]
2026-12-26 = "Stock-take Saturday"
"""


def test_a_calendar_file_adds_and_removes_days(tmp_path: Path) -> None:
    path = tmp_path / "acme.toml"
    path.write_text(CALENDAR_FILE, encoding="utf-8")
    calendar = load_calendar_file(path, CN)
    assert calendar == load_calendar_file(CALENDAR_FILE, CN)
    assert calendar.version.startswith(CN.version + "+") and calendar.version != CN.version
    assert not calendar.is_working(local(SHANGHAI, 2026, 12, 24, 10))  # a Thursday, now closed
    assert calendar.is_working(local(SHANGHAI, 2026, 12, 26, 10))  # a Saturday, now worked
    assert calendar.is_working(local(SHANGHAI, 2026, 10, 7, 10))  # no longer a holiday
    assert calendar.has_official_data(2027)
    # Wednesday 23 December 17:30 + 4 h: 0:30, Thursday closed, Friday 25th 09:00-12:30.
    assert calendar.add(local(SHANGHAI, 2026, 12, 23, 17, 30), timedelta(hours=4)) == local(
        SHANGHAI, 2026, 12, 25, 12, 30
    )
    # And the Saturday counts: Friday 17:30 + 4 h -> Saturday 26th 12:30.
    assert calendar.add(local(SHANGHAI, 2026, 12, 25, 17, 30), timedelta(hours=4)) == local(
        SHANGHAI, 2026, 12, 26, 12, 30
    )


def test_a_calendar_file_can_change_hours_and_version() -> None:
    calendar = apply_calendar_file(
        """
        version = "acme-2026-03"
        adjusted_day_hours = ["10:00-16:00"]
        [hours]
        monday = ["09:00-12:00", "13:00-18:00"]
        saturday = ["10:00-14:00"]
        sunday = []
        """,
        CN,
    )
    assert calendar.version == "acme-2026-03"
    assert calendar.hours[Weekday.MONDAY] == LUNCH_BREAK
    assert calendar.is_working(local(SHANGHAI, 2026, 3, 7, 11))  # an ordinary Saturday, now open
    assert calendar.windows_for(date(2026, 10, 10)) == (WorkingWindow.model_validate("10:00-16:00"),)


@pytest.mark.parametrize(
    "text",
    [
        "remove_holidays = [2026-10-08]\n",  # a working day in the base: a typo, not a no-op
        "[holidays]\n2026-12-24 = 'a'\n[working_days]\n2026-12-24 = 'b'\n",
        "unknown_key = 1\n",
        "[hours]\nmonday = ['18:00-09:00']\n",
        "[hours]\nmonday = ['09:00-13:00', '12:00-18:00']\n",
        "timezone = 'Mars/Olympus'\n",
        "this is not toml",
    ],
)
def test_a_bad_calendar_file_is_refused(text: str) -> None:
    with pytest.raises(ValueError):
        apply_calendar_file(text, CN)


# -- other countries and DST ---------------------------------------------------------


def test_germany_across_the_spring_dst_change_and_easter() -> None:
    # Friday 27 March 2026 17:00 CET + 2 h: 1 h on Friday, clocks go forward on
    # Sunday 29th, 1 h from Monday 09:00 CEST -> 10:00 CEST = 08:00 UTC.
    due = DE.add(local(BERLIN, 2026, 3, 27, 17), timedelta(hours=2))
    assert due == datetime(2026, 3, 30, 8, tzinfo=UTC)
    # Good Friday (3 April) and Easter Monday (6 April) are closed.
    assert DE.add(local(BERLIN, 2026, 4, 2, 17), timedelta(hours=2)) == local(BERLIN, 2026, 4, 7, 10)
    assert DE.covered_years == YEARS


def test_new_york_across_the_autumn_dst_change() -> None:
    # Friday 30 October 2026 17:00 EDT + 2 h -> Monday 2 November 10:00 EST = 15:00 UTC.
    assert US_NY.add(local(NEW_YORK, 2026, 10, 30, 17), timedelta(hours=2)) == datetime(2026, 11, 2, 15, tzinfo=UTC)
    assert not US_NY.is_working(local(NEW_YORK, 2026, 11, 26, 10))  # Thanksgiving


def test_windows_in_the_dst_gap() -> None:
    # Sunday 8 March 2026, New York: 02:00 EST jumps to 03:00 EDT.
    day = date(2026, 3, 8)
    intervals = NIGHT_NY.working_intervals(day)
    # 00:30-02:15 ends at the first valid instant after the gap (03:00 EDT = 07:00 UTC);
    # 02:40-04:00 starts there too: the two windows touch and 00:30-04:00 holds 2:30 of real time.
    assert intervals[0] == (datetime(2026, 3, 8, 5, 30, tzinfo=UTC), datetime(2026, 3, 8, 7, tzinfo=UTC))
    assert intervals[1] == (datetime(2026, 3, 8, 7, tzinfo=UTC), datetime(2026, 3, 8, 8, tzinfo=UTC))
    assert NIGHT_NY.between(local(NEW_YORK, 2026, 3, 8, 0), local(NEW_YORK, 2026, 3, 8, 5)) == timedelta(
        hours=2, minutes=30
    )
    # A window wholly inside the gap is empty that day.
    gap_only = BusinessCalendar(timezone="America/New_York", hours={day: ("02:10-02:50",) for day in Weekday})
    assert gap_only.working_intervals(day) == ()
    assert gap_only.next_working_instant(local(NEW_YORK, 2026, 3, 8, 1)) == local(NEW_YORK, 2026, 3, 9, 2, 10)


def test_windows_in_the_repeated_hour() -> None:
    # Sunday 1 November 2026, New York: 02:00 EDT falls back to 01:00 EST. The
    # 00:30-02:15 window runs from 00:30 EDT to 02:15 EST: 2:45 of real time.
    first, _ = NIGHT_NY.working_intervals(date(2026, 11, 1))[:2]
    assert first == (datetime(2026, 11, 1, 4, 30, tzinfo=UTC), datetime(2026, 11, 1, 7, 15, tzinfo=UTC))


# -- the model ---------------------------------------------------------------------------


def test_a_calendar_survives_serialisation() -> None:
    for calendar in (*CALENDARS.values(), US_NY, ALWAYS_BERLIN):
        assert BusinessCalendar.model_validate_json(calendar.model_dump_json()) == calendar
        # The way Temporal carries it into a workflow.
        payloads = pydantic_data_converter.payload_converter.to_payloads([calendar])
        assert pydantic_data_converter.payload_converter.from_payloads(payloads, [BusinessCalendar]) == [calendar]


def test_the_same_data_gets_the_same_version() -> None:
    assert china_calendar(YEARS).version == CN.version
    assert china_calendar([2026]).version != CN.version
    assert CN_LUNCH.version != CN.version
    assert china_calendar([2026], version="pinned").version == "pinned"


def test_inputs_are_checked() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        CN.add(datetime(2026, 3, 10, 10), timedelta(hours=1))
    with pytest.raises(ValueError, match="negative"):
        CN.add(local(SHANGHAI, 2026, 3, 10, 10), timedelta(hours=-1))
    assert CN.between(local(SHANGHAI, 2026, 3, 10, 12), local(SHANGHAI, 2026, 3, 10, 10)) == timedelta(hours=-2)


@pytest.mark.parametrize(
    "fields",
    [
        {"timezone": "Nowhere/Special"},
        {"hours": {}},
        {"hours": {"monday": ["09:00-13:00", "12:00-18:00"]}},
        {"hours": {"monday": ["00:00-24:00", "09:00-10:00"]}},
        {"holidays": {"2026-10-01": "x"}, "extra_working_days": {"2026-10-01": "y"}},
    ],
)
def test_a_broken_calendar_is_refused(fields: dict) -> None:
    with pytest.raises(ValidationError):
        BusinessCalendar.model_validate(fields)
