"""Run tests as if today were a bad day for them: an opt-in pytest plugin.

Cases opened through the API are pinned to the built-in calendar of the day they are
received, so a test that reaches their deadlines with a fixed `fast_forward`, or expects
a warning before the survey window closes, passes or fails with the date. This plugin
makes that date a bad one without waiting for it:

    AFTERSALES_TEST_BAD_DAY=eve    .venv/bin/python -m pytest -p tests.support.bad_day tests/...
    AFTERSALES_TEST_BAD_DAY=friday .venv/bin/python -m pytest -p tests.support.bad_day tests/...

`eve`: today and the nine days after it are holidays (the eve of Golden Week or the Spring
Festival, or a run during them). `friday`: tomorrow and the day after are off, so a case
received now is received on a Friday before a plain weekend. Only the API's
built-in calendar changes; cases a test pins with `start_case_at` keep theirs, which is
the point of pinning them. Without the variable the plugin does nothing.
"""

from __future__ import annotations

import os
from datetime import date, datetime, timedelta
from functools import lru_cache

from domain.calendar import BusinessCalendar
from tests.support.days import SHANGHAI

VARIABLE = "AFTERSALES_TEST_BAD_DAY"
DAYS_OFF = {"eve": range(0, 10), "friday": range(1, 3)}


def bad_day_calendar(calendar: BusinessCalendar, mode: str, today: date) -> BusinessCalendar:
    """`calendar` with the days `mode` closes (counted from `today`) made holidays."""
    if mode not in DAYS_OFF:
        raise ValueError(f"{VARIABLE} is one of {', '.join(DAYS_OFF)}, got {mode!r}")
    closed = {today + timedelta(days=d) for d in DAYS_OFF[mode]}
    return calendar.model_copy(
        update={
            "version": f"{calendar.version}+bad-day-{mode}",
            "holidays": dict(sorted((dict(calendar.holidays) | {day: f"bad day ({mode})" for day in closed}).items())),
            "extra_working_days": {day: name for day, name in calendar.extra_working_days.items() if day not in closed},
        }
    )


def pytest_configure(config) -> None:  # noqa: ANN001 - pytest's hook
    mode = os.environ.get(VARIABLE)
    if not mode:
        return
    import services.sla_rules as rules

    built_in = rules._default_calendar
    today = datetime.now(SHANGHAI).date()
    bad_day_calendar(BusinessCalendar(), mode, today)  # an unknown mode stops the run here

    @lru_cache(maxsize=8)
    def on_a_bad_day(year: int, calendar_file: str | None) -> BusinessCalendar:
        return bad_day_calendar(built_in(year, calendar_file), mode, today)

    rules._default_calendar = on_a_bad_day
