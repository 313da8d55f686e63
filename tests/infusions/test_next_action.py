"""The patient's one next step, from the patient's state alone (no database)."""
import pytest

from cell_chain.patients.next_action import (
    ALLOCATE,
    NOTHING,
    PRINT_ASSIGNMENT,
    PRINT_WRISTBAND,
    VERIFY_ASSIGNMENT,
    NextAction,
    VisitFacts,
    next_action,
    next_visit,
)
from cell_chain.patients.workflow import visit_actions


def schedule(*states, allocated=(), printed=(), verified=()):
    return [VisitFacts(n, state, allocated=n in allocated, label_printed=n in printed, label_verified=n in verified)
            for n, state in enumerate(states, start=1)]


def active(visits, wristband=True):
    return next_action(arm="msc", patient_status="active", wristband_printed=wristband, visits=visits)


def test_the_wristband_comes_first_even_with_four_visits_waiting():
    assert active(schedule("due", "upcoming", "upcoming", "upcoming"), wristband=False) == NextAction(PRINT_WRISTBAND)


def test_then_the_next_due_visit_gets_its_dose_its_label_printed_and_scanned_back():
    assert active(schedule("due", "upcoming", "upcoming", "upcoming")) == NextAction(ALLOCATE, 1)
    assert active(schedule("due", "upcoming", "upcoming", "upcoming", allocated={1})) == NextAction(PRINT_ASSIGNMENT, 1)
    assert active(schedule("due", "upcoming", "upcoming", "upcoming", allocated={1}, printed={1})) == \
        NextAction(VERIFY_ASSIGNMENT, 1)
    assert active(schedule("due", "upcoming", "upcoming", "upcoming", allocated={1}, printed={1}, verified={1})) == \
        NextAction(NOTHING, 1)


def test_missed_and_done_visits_are_passed_over_for_the_one_due_now():
    assert active(schedule("missed", "due", "upcoming", "upcoming")) == NextAction(ALLOCATE, 2)
    assert active(schedule("done", "done_out_of_window", "overdue", "upcoming")) == NextAction(ALLOCATE, 3)
    assert active(schedule("done", "upcoming", "upcoming", "upcoming")) == NextAction(ALLOCATE, 2)
    assert active(schedule("done", "done", "done", "skipped")) == NextAction(NOTHING)


def test_control_arm_and_withdrawn_patients_have_no_next_step():
    visits = schedule("due", "upcoming", "upcoming", "upcoming")
    assert next_action(arm="control", patient_status="active", wristband_printed=False, visits=visits).kind == NOTHING
    assert next_action(arm="msc", patient_status="withdrawn", wristband_printed=False, visits=visits).kind == NOTHING


def test_next_visit_prefers_a_due_visit_over_an_earlier_upcoming_one_and_ignores_order_given():
    assert next_visit(list(reversed(schedule("done", "due", "upcoming", "upcoming")))).number == 2
    assert next_visit(schedule("done", "done", "done", "missed")) is None


@pytest.mark.parametrize("is_next, expected", [(True, {"allocate"}), (False, set())])
def test_allocate_is_offered_only_for_the_next_visit(is_next, expected):
    assert visit_actions(arm="msc", patient_status="active", recorded="open", state="upcoming", dose_status=None,
                         reversible_dose_states=("allocated",), role="coordinator", is_next_visit=is_next) == expected
