"""The four-dose schedule as pure date rules."""
from datetime import date

import pytest

from cell_chain.patients import schedule


@pytest.mark.parametrize("enrolled, targets", [
    (date(2026, 1, 15), [date(2026, 1, 15), date(2026, 4, 15), date(2026, 7, 15), date(2026, 10, 15)]),
    (date(2026, 11, 30), [date(2026, 11, 30), date(2027, 2, 28), date(2027, 5, 30), date(2027, 8, 30)]),
    (date(2027, 11, 30), [date(2027, 11, 30), date(2028, 2, 29), date(2028, 5, 30), date(2028, 8, 30)]),
    (date(2028, 2, 29), [date(2028, 2, 29), date(2028, 5, 29), date(2028, 8, 29), date(2028, 11, 29)]),
    (date(2026, 5, 31), [date(2026, 5, 31), date(2026, 8, 31), date(2026, 11, 30), date(2027, 2, 28)]),
    (date(2026, 12, 31), [date(2026, 12, 31), date(2027, 3, 31), date(2027, 6, 30), date(2027, 9, 30)]),
])
def test_month_ends_and_leap_days(enrolled, targets):
    visits = schedule.plan_visits(enrolled, 14)
    assert [v.target_date for v in visits] == targets
    assert [v.number for v in visits] == [1, 2, 3, 4]
    assert all((v.window_end - v.window_start).days == 28 for v in visits)


@pytest.mark.parametrize("today, state", [
    (date(2026, 3, 31), "upcoming"), (date(2026, 4, 1), "due"), (date(2026, 4, 29), "due"),
    (date(2026, 4, 30), "overdue"), (date(2026, 7, 1), "missed"),
])
def test_window_states_move_with_the_clock(today, state):
    assert schedule.visit_state(recorded="open", window_start=date(2026, 4, 1), window_end=date(2026, 4, 29),
                                next_window_start=date(2026, 7, 1), today=today) == state


def test_recorded_states_do_not_move():
    for recorded in ("done", "done_out_of_window", "skipped"):
        assert schedule.visit_state(recorded=recorded, window_start=date(2026, 4, 1), window_end=date(2026, 4, 29),
                                    next_window_start=None, today=date(2030, 1, 1)) == recorded


def test_last_visit_is_missed_45_days_after_its_window():
    args = dict(recorded="open", window_start=date(2026, 4, 1), window_end=date(2026, 4, 29), next_window_start=None)
    assert schedule.visit_state(**args, today=date(2026, 6, 12)) == "overdue"
    assert schedule.visit_state(**args, today=date(2026, 6, 13)) == "missed"


@pytest.mark.parametrize("birth_year, ok", [(1996, True), (1966, True), (1997, False), (1965, False)])
def test_age_30_to_60_at_enrolment(birth_year, ok):
    assert (schedule.age_problem(birth_year, date(2026, 6, 1)) is None) is ok
