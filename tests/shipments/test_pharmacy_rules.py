"""What the site pharmacy may do to a dose now: the dose life cycle for its state and the
role, then the facts each action needs. Pure rules, no database."""
import pytest

from cell_chain.shipments.pharmacy import DoseFacts, action_blockers, actions_for, blocked_actions
from cell_chain.shipments.temperature_data import MISSING, RECORDED, WAIVED, DoseJourney

RECORDED_TRIP = DoseJourney(1, "SHP-1", RECORDED)


def facts(status: str = "received", *, expired: bool = False, frozen: bool = False,
          journey: DoseJourney = RECORDED_TRIP, cause: str | None = None) -> DoseFacts:
    return DoseFacts(status=status, expired=expired, frozen=frozen, journey=journey, quarantine_cause=cause)


def test_a_frozen_received_dose_is_thawed_dispensed_or_taken_out_of_use():
    assert actions_for(facts(frozen=True), "pharmacist") == ["thaw", "dispense", "destroy", "return"]
    assert actions_for(facts(), "pharmacist") == ["dispense", "destroy", "return"]
    assert actions_for(facts(frozen=True), "nurse") == []


@pytest.mark.parametrize("temperature, allowed", [(RECORDED, True), (WAIVED, True), (MISSING, False)])
def test_dispense_needs_the_shipments_temperature_data_or_a_waiver(temperature: str, allowed: bool):
    trip = DoseJourney(1, "SHP-1", temperature)
    assert ("dispense" in actions_for(facts(journey=trip), "pharmacist")) is allowed
    assert (action_blockers("dispense", facts(journey=trip)) == []) is allowed


def test_an_expired_dose_is_only_destroyed_or_returned():
    assert actions_for(facts(expired=True), "pharmacist") == ["destroy", "return"]
    assert actions_for(facts(expired=True, frozen=True), "pharmacist") == ["destroy", "return"]
    assert blocked_actions(facts(expired=True), "pharmacist") == {"thaw": ["NOT_FROZEN", "DOSE_EXPIRED"],
                                                                  "dispense": ["DOSE_EXPIRED"]}


def test_a_dose_quarantined_until_qa_decides_on_an_excursion_offers_nothing():
    awaiting = facts("quarantined", cause="excursion", journey=DoseJourney(1, "SHP-1", RECORDED, open_excursion=True))
    assert actions_for(awaiting, "pharmacist") == []
    assert blocked_actions(awaiting, "pharmacist") == {"destroy": ["AWAITING_QA_DECISION"],
                                                       "return": ["AWAITING_QA_DECISION"]}


@pytest.mark.parametrize("cause, open_excursion", [
    ("recall", False), ("lot_rejected", False), ("seal_broken", False),
    ("excursion", False),  # QA rejected the excursion: decided
    ("recall", True),  # recalled while an excursion is open: the recall settles it
])
def test_a_settled_quarantine_may_be_destroyed_or_returned(cause: str, open_excursion: bool):
    held = facts("quarantined", cause=cause, journey=DoseJourney(1, "SHP-1", RECORDED, open_excursion=open_excursion))
    assert actions_for(held, "pharmacist") == ["destroy", "return"]


def test_an_expired_dose_awaiting_qa_may_leave_all_the_same():
    held = facts("quarantined", expired=True, cause="excursion",
                 journey=DoseJourney(1, "SHP-1", RECORDED, open_excursion=True))
    assert actions_for(held, "pharmacist") == ["destroy", "return"]
