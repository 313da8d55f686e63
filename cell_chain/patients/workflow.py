"""The patient's and the visit's life cycles: one table each, with who may act. A visit's
stored state is what was recorded; upcoming, due, overdue and missed follow from the date
(schedule.visit_state)."""
from collections.abc import Iterable

from cell_chain.accounts.roles import Role
from cell_chain.core.workflow import SAME, lifecycle

COORDINATOR, NURSE, LAB = Role.COORDINATOR, Role.NURSE, Role.LAB

PATIENT_LIFECYCLE = lifecycle("patient", [
    ("withdraw", {"active"}, "withdrawn", {COORDINATOR}),
])

VISIT_LIFECYCLE = lifecycle("visit", [
    ("allocate", {"open"}, SAME, {COORDINATOR, LAB}),
    ("record_infusion", {"open"}, "done", {NURSE}),
    ("record_infusion_out_of_window", {"open"}, "done_out_of_window", {NURSE}),
    # A withdrawn patient's open visits are skipped with the withdrawal.
    ("skip", {"open"}, "skipped", {COORDINATOR}),
], field="recorded")

# Computed visit states (schedule.visit_state) in which a visit still waits for its dose.
WAITING_STATES = frozenset({"due", "overdue", "upcoming"})


def visit_actions(*, arm: str, patient_status: str, recorded: str, state: str, dose_status: str | None,
                  reversible_dose_states: Iterable[str], role: str, is_next_visit: bool) -> set[str]:
    """What this role may do to a visit now (the patient page draws these). A missed visit
    keeps its stored state `open`, but no dose goes to a visit whose successor's window has
    begun. A dose goes only to the patient's next visit (next_action.next_visit): a dose
    allocated months ahead would sit reserved, and may expire, while others wait."""
    actions: set[str] = set()
    if (dose_status is None and arm == "msc" and patient_status == "active" and state in WAITING_STATES
            and is_next_visit and VISIT_LIFECYCLE.allowed("allocate", recorded, role)):
        actions.add("allocate")
    if dose_status is not None and dose_status in reversible_dose_states and role in VISIT_LIFECYCLE.roles("allocate"):
        actions.add("deallocate")
    return actions
