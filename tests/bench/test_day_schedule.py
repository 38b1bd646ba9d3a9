"""deadline_lag.py --day: the due instants a working day puts in the measured window."""

from collections import Counter

import pytest

from bench._day import GRADES, day_schedule

FRACTIONS = [0.75, 0.9, 1.0]  # the default policy's warnings, then the breach
DAY_S = 8 * 3600.0


def test_grades_are_the_domains_targets_and_their_shares_add_up() -> None:
    targets = {what: target for what, target, _ in GRADES}
    assert targets["respond, P1"] == 2 * 3600
    assert targets["first reply, VIP phone"] == 5 * 60
    assert sum(share for *_, share in GRADES) == pytest.approx(1.0)


@pytest.mark.parametrize(("cases", "window_s"), [(10_000, 300.0), (2_000, 900.0)])
def test_the_window_holds_the_days_density_of_warnings_and_breaches(cases: int, window_s: float) -> None:
    schedule = day_schedule(cases, DAY_S, window_s, FRACTIONS, seed=19)
    measured = [(case, f) for case in schedule for f in case.measured]

    assert all(0 <= case.due(f) < window_s for case, f in measured)
    # Every due instant of these cases that falls in the window is measured, and no other case has one.
    assert all((0 <= case.due(f) < window_s) == (f in case.measured) for case in schedule for f in FRACTIONS)
    # A steady stream of cases / day: each kind of due instant comes at cases / day a second.
    per_kind = cases * window_s / DAY_S
    kinds = Counter(f for _, f in measured)
    assert set(kinds) == set(FRACTIONS)
    for f in FRACTIONS:
        assert kinds[f] == pytest.approx(per_kind, rel=0.25), (f, kinds)
    assert len(measured) == pytest.approx(3 * per_kind, rel=0.12)
    # The cases that arrive during the window, at the same rate, are all opened in it.
    arriving = [case for case in schedule if case.arrival >= 0]
    assert len(arriving) == pytest.approx(per_kind, abs=1)
    # Due instants come from cases of several grades, some received hours before the window.
    assert len({case.grade for case, _ in measured}) >= 5
    assert min(case.arrival for case, _ in measured) < -3600


def test_the_schedule_is_drawn_from_the_seed() -> None:
    one = day_schedule(1000, DAY_S, 600.0, FRACTIONS, seed=1)
    assert one == day_schedule(1000, DAY_S, 600.0, FRACTIONS, seed=1)
    assert one != day_schedule(1000, DAY_S, 600.0, FRACTIONS, seed=2)
