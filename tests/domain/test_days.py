"""The helpers that give tests their instants work from any day of the year."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

import pytest

from core.calendar_sources import china_calendar
from domain.calendar import BusinessCalendar
from tests.support.bad_day import bad_day_calendar
from tests.support.days import (
    MARGIN,
    ORDINARY_SPAN_DAYS,
    SHANGHAI,
    friday_before_holiday,
    is_ordinary,
    ordinary_tuesday_morning,
)

CN = china_calendar([2025, 2026, 2027])


def every_hour_of(year: int, step: timedelta = timedelta(hours=7)) -> list[datetime]:
    # Every day of the year, at an hour that walks round the clock (7 is prime to 24).
    start = datetime(year, 1, 1, tzinfo=SHANGHAI)
    return [start + step * i for i in range(int(timedelta(days=365) / step))]


@pytest.mark.parametrize("year", [2025, 2026])
def test_the_friday_before_a_holiday_from_every_day_of_a_year(year: int) -> None:
    for now in every_hour_of(year):
        friday = friday_before_holiday(now, CN)
        local = friday.astimezone(SHANGHAI)
        assert (local.weekday(), local.time()) == (4, time(17, 30)), now
        assert friday >= now + MARGIN, now
        assert friday - now < timedelta(days=7 * 8), now  # never far: Golden Week is one week
        days = [local.date() + timedelta(days=d) for d in range(ORDINARY_SPAN_DAYS)]
        assert all(is_ordinary(CN, day) for day in days), now
        # The first such Friday: the one a week earlier (if still ahead) was not ordinary.
        earlier = friday - timedelta(days=7)
        if earlier >= now + MARGIN:
            assert not all(is_ordinary(CN, earlier.date() + timedelta(days=d)) for d in range(ORDINARY_SPAN_DAYS))


def test_spring_festival_and_golden_week_are_passed_over() -> None:
    # Friday 13 February 2026 is followed by a worked Saturday and the Spring Festival.
    friday = friday_before_holiday(datetime(2026, 2, 10, tzinfo=SHANGHAI), CN)
    assert friday.date() > datetime(2026, 2, 23).date()
    # From late September the next ordinary fortnight starts after the make-up Saturday 10 October.
    friday = friday_before_holiday(datetime(2026, 9, 21, tzinfo=SHANGHAI), CN)
    assert friday.date() > datetime(2026, 10, 10).date()


def test_a_calendar_without_data_has_every_friday_ordinary() -> None:
    now = datetime(2026, 12, 1, 9, tzinfo=SHANGHAI)
    assert friday_before_holiday(now, BusinessCalendar()) == datetime(2026, 12, 4, 17, 30, tzinfo=SHANGHAI)
    # Less than an hour before it, the next week's.
    late = datetime(2026, 12, 4, 17, tzinfo=SHANGHAI)
    assert friday_before_holiday(late, BusinessCalendar()) == datetime(2026, 12, 11, 17, 30, tzinfo=SHANGHAI)


def test_the_next_tuesday_morning_from_every_day_of_a_year() -> None:
    for now in every_hour_of(2026):
        tuesday = ordinary_tuesday_morning(now).astimezone(SHANGHAI)
        assert (tuesday.weekday(), tuesday.time()) == (1, time(10)), now
        assert now + MARGIN <= tuesday < now + MARGIN + timedelta(days=7), now


def test_a_bad_day_closes_ten_days_from_today_or_the_two_after_it() -> None:
    # Run on 1 October 2026, in Golden Week: through Saturday 10 October, which the State
    # Council has worked, nothing is open; Monday 12 October is.
    today = date(2026, 10, 1)
    eve = bad_day_calendar(CN, "eve", today)
    assert CN.is_working_day(date(2026, 10, 10)) and CN.is_working_day(date(2026, 10, 9))
    assert not any(eve.is_working_day(today + timedelta(days=d)) for d in range(10))
    assert date(2026, 10, 10) not in eve.extra_working_days and eve.is_working_day(date(2026, 10, 12))
    assert eve.version != CN.version
    # "friday": the two days after today are off; today and the day after them are not.
    friday = bad_day_calendar(BusinessCalendar(), "friday", date(2026, 12, 1))  # a Tuesday
    assert [friday.is_working_day(date(2026, 12, d)) for d in range(1, 5)] == [True, False, False, True]
    with pytest.raises(ValueError, match="eve, friday"):
        bad_day_calendar(CN, "monday", today)
