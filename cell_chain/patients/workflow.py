"""The patient's and the visit's life cycles: one table each, with who may act. A visit's
stored state is what was recorded; upcoming, due, overdue and missed follow from the date
(schedule.visit_state)."""
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
