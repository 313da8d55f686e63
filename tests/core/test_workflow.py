"""The transition-table machinery and the dose's table: pure, no database."""
from dataclasses import dataclass

import pytest

from cell_chain.batches.workflow import DOSE_LIFECYCLE
from cell_chain.core.errors import InvalidTransition
from cell_chain.core.workflow import PREVIOUS, SAME, lifecycle


@dataclass
class Thing:
    status: str
    before: str | None = None


@dataclass
class DoseLike:
    status: str
    status_before_quarantine: str | None = None


BOX = lifecycle("box", [
    ("open", {"closed"}, "open", {"lab"}),
    ("look", {"open"}, SAME, {"lab", "qa"}),
    ("hold", {"open", "closed"}, "held", set()),
    ("free", {"held"}, PREVIOUS, {"qa"}),
], previous_field="before")


def test_apply_moves_the_thing_and_refuses_a_wrong_source():
    box = Thing("closed")
    assert BOX.apply(box, "open") == "open" and box.status == "open"
    with pytest.raises(InvalidTransition) as refused:
        BOX.apply(box, "open")
    assert refused.value.extra == {"state": "open", "action": "open"} and box.status == "open"


def test_same_keeps_the_state():
    box = Thing("open")
    assert BOX.apply(box, "look") == "open"
    with pytest.raises(InvalidTransition):
        BOX.apply(Thing("closed"), "look")


def test_a_set_aside_thing_returns_where_it_was():
    box = Thing("closed")
    BOX.apply(box, "hold")
    assert (box.status, box.before) == ("held", "closed")
    BOX.apply(box, "free")
    assert (box.status, box.before) == ("closed", None)
    with pytest.raises(InvalidTransition):
        BOX.apply(Thing("held", before=None), "free")


def test_roles_come_from_the_table():
    assert BOX.allowed("look", "open", "qa") and not BOX.allowed("open", "closed", "qa")
    assert BOX.actions_for("open", "qa") == ["look"]
    assert BOX.actions_for("open", "lab") == ["look"]
    assert BOX.roles("hold") == frozenset()  # a consequence, asked for by nobody


def test_a_dose_goes_from_fill_to_patient_in_order():
    dose = DoseLike("prepared")
    for action in ("make_available", "allocate", "pack", "dispatch", "receive", "dispense", "administer"):
        DOSE_LIFECYCLE.apply(dose, action)
    assert dose.status == "administered"
    assert DOSE_LIFECYCLE.actions_from("administered") == []


def test_a_quarantined_dose_returns_to_where_it_was_and_only_qa_lifts_it():
    dose = DoseLike("received")
    DOSE_LIFECYCLE.apply(dose, "quarantine")
    assert (dose.status, dose.status_before_quarantine) == ("quarantined", "received")
    assert DOSE_LIFECYCLE.actions_for("quarantined", "pharmacist") == ["destroy", "return"]
    assert DOSE_LIFECYCLE.actions_for("quarantined", "qa") == ["lift_quarantine"]
    DOSE_LIFECYCLE.apply(dose, "lift_quarantine")
    assert (dose.status, dose.status_before_quarantine) == ("received", None)


def test_an_administered_or_destroyed_dose_cannot_be_quarantined():
    for end in ("administered", "destroyed", "rejected"):
        assert not DOSE_LIFECYCLE.can("quarantine", end)
