"""The one next thing to do for a patient, from the patient's state alone. The patient page
draws this as its only primary button; everything else on the page is secondary. Pure: facts
in, an action out (no database, no clock: the visit states are computed by the caller)."""
from collections.abc import Sequence
from dataclasses import dataclass

from cell_chain.patients.workflow import WAITING_STATES

# What the next step can be, in the order a patient's dose is prepared at the site.
PRINT_WRISTBAND = "print_wristband"
ALLOCATE = "allocate"
PRINT_ASSIGNMENT = "print_assignment"
VERIFY_ASSIGNMENT = "verify_assignment"
NOTHING = "nothing"  # control arm, withdrawn, every visit closed, or the dose is ready


@dataclass(frozen=True)
class VisitFacts:
    number: int
    state: str  # schedule.visit_state: upcoming, due, overdue, missed, done, ...
    allocated: bool = False
    label_printed: bool = False
    label_verified: bool = False


@dataclass(frozen=True)
class NextAction:
    kind: str
    visit_number: int | None = None


def next_visit(visits: Sequence[VisitFacts]) -> VisitFacts | None:
    """The visit the patient's next dose is for: the first one due or overdue, otherwise the
    first upcoming one. Missed and closed visits never wait for a dose."""
    ordered = sorted(visits, key=lambda v: v.number)
    return (next((v for v in ordered if v.state in ("due", "overdue")), None)
            or next((v for v in ordered if v.state in WAITING_STATES), None))


def next_action(*, arm: str, patient_status: str, wristband_printed: bool,
                visits: Sequence[VisitFacts]) -> NextAction:
    """The wristband first (nothing reaches a bedside without it), then the next visit's dose:
    allocate it, print its assignment label, scan that label back."""
    if arm != "msc" or patient_status != "active":
        return NextAction(NOTHING)
    if not wristband_printed:
        return NextAction(PRINT_WRISTBAND)
    visit = next_visit(visits)
    if visit is None:
        return NextAction(NOTHING)
    if not visit.allocated:
        return NextAction(ALLOCATE, visit.number)
    if not visit.label_printed:
        return NextAction(PRINT_ASSIGNMENT, visit.number)
    if not visit.label_verified:
        return NextAction(VERIFY_ASSIGNMENT, visit.number)
    return NextAction(NOTHING, visit.number)
