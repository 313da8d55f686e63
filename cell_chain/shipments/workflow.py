"""The shipment's and the excursion's life cycles: one table each, with who may act."""
from cell_chain.accounts.roles import Role
from cell_chain.core.workflow import SAME, lifecycle

LAB, QA, PHARMACIST = Role.LAB, Role.QA, Role.PHARMACIST

# draft → packed (scan each dose) → dispatched (e-signed) → in transit (courier hand-offs)
# → received | partially received.
SHIPMENT_LIFECYCLE = lifecycle("shipment", [
    ("pack", {"draft", "packed"}, "packed", {LAB}),
    # A mis-packed dose comes out again before dispatch; the last one out leaves a draft box.
    ("unpack", {"packed"}, SAME, {LAB}),
    ("empty", {"packed"}, "draft", set()),
    ("dispatch", {"packed"}, "dispatched", {LAB}),
    ("handoff", {"dispatched", "in_transit"}, "in_transit", {LAB, PHARMACIST}),
    ("receive", {"dispatched", "in_transit"}, "received", {PHARMACIST}),
    ("receive_partially", {"dispatched", "in_transit"}, "partially_received", {PHARMACIST}),
    # The logger file and QA's excursion decision, once the box has left the lab.
    ("record_temperature", {"dispatched", "in_transit", "received", "partially_received", "closed"},
     SAME, {LAB, PHARMACIST}),
    ("dispose_excursion", {"dispatched", "in_transit", "received", "partially_received", "closed"},
     SAME, {QA}),
    # Without the logger file (lost, failed), QA may waive the temperature data, signed.
    ("waive_temperature_data", {"dispatched", "in_transit", "received", "partially_received", "closed"},
     SAME, {QA}),
])
RECEIVED_STATES = frozenset({"received", "partially_received", "closed"})

EXCURSION_LIFECYCLE = lifecycle("excursion", [
    ("accept", {"open"}, "accepted", {QA}),
    ("reject", {"open"}, "rejected", {QA}),
])
