"""Every multi-step service with a database fault at each of its statements in turn: the
call raises, nothing of it is kept (no partial state, no orphan audit event), the audit chain
still verifies, and the same call then goes through. The services run as a dose's journey,
each step's successful call setting up the next, so the records are built once."""
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from cell_chain.accounts.services import user_by_username
from cell_chain.batches import services as batches
from cell_chain.batches.models import MARKERS
from cell_chain.core.clock import utcnow
from cell_chain.core.db import db
from cell_chain.accounts.signatures import SignatureInput, WitnessInput
from cell_chain.infusions import bedside
from cell_chain.patients import allocation
from cell_chain.patients import enrolment as patients
from cell_chain.patients.labels import assignment_payload
from cell_chain.labels import services as labels
from cell_chain.labels.payloads import bag_payloads
from cell_chain.shipments import pharmacy
from cell_chain.shipments import services as shipping
from tests.conftest import PASSWORD
from tests.factories import GOOD_DOSE, PASSING_VALUES, Staff, doses_at_site, logger_file, released_lot, shippable_doses, signed
from tests.faults.conftest import Fault, fail_each_statement


class Journey:
    """Runs each step under `fail_each_statement`, naming the step in any failure."""

    def __init__(self, fault: Fault) -> None:
        self.fault = fault
        self.steps: list[tuple[str, int]] = []

    def step(self, name: str, call: Callable[[], Any], *, changes: set[str] = frozenset(),
             audited: bool = True) -> Any:
        try:
            outcome = fail_each_statement(call, fault=self.fault, audited=audited)
            assert outcome.statements >= 2, outcome
            assert changes <= set(outcome.changed_tables), outcome.changed_tables
        except AssertionError as error:
            raise AssertionError(f"{name}: {error}") from None
        self.steps.append((name, outcome.statements))
        return outcome.result


def user(name: str) -> Any:
    return user_by_username(name)


def test_from_donor_to_infusion_a_fault_at_any_statement_leaves_nothing_behind(app, ward, staff, fault):
    journey = Journey(fault)
    lab, qa, coordinator = staff.lab, staff.qa, user("lz-coordinator")
    pharmacist, nurse = user("lz-pharmacist"), user("lz-nurse")
    now = utcnow()
    today = now.date()

    donor = journey.step("register_donor", lambda: batches.register_donor(
        donor_code="D-FAULT", collected_on=today - timedelta(days=2), actor=lab, now=utcnow()),
        changes={"donors", "din_sequences"})
    for marker in MARKERS:
        batches.record_screening(donor, marker=marker, result="non_reactive", tested_on=today - timedelta(days=2),
                                 reason=None, actor=lab, now=now)
    journey.step("determine_eligibility", lambda: batches.determine_eligibility(
        donor, signature=signed(), actor=qa, now=utcnow()), changes={"donors", "signatures"})
    lot = journey.step("create_lot", lambda: batches.create_lot(
        donor=donor, lot_number="L-FAULT", manufactured_on=today, passage=3, presentation="cryopreserved",
        actor=lab, now=utcnow()), changes={"lots", "din_sequences"})
    journey.step("prepare_dose", lambda: batches.prepare_dose(lot, **GOOD_DOSE, actor=lab, now=utcnow()),
                 changes={"doses"})
    batches.complete_lot(lot, actor=lab, now=now)
    for test, value in PASSING_VALUES.items():
        batches.record_result(lot, test=test, value=value, performed_on=today, method="SOP-1", analyst="A. Analyst",
                              reason=None, actor=lab, now=now)
    journey.step("print_labels", lambda: labels.print_labels(
        kind="lot", target=str(lot.id), fmt="zpl", reason=None, override=None, actor=lab, now=utcnow()),
        changes={"print_jobs", "printed_labels"})
    [dose] = lot.doses
    journey.step("verify_label (bag)", lambda: labels.verify_label(
        dose, scan=bag_payloads(dose).compound, actor=lab, now=utcnow()), changes={"label_verifications", "doses"})
    journey.step("release_lot", lambda: batches.release_lot(lot, signature=signed(), actor=qa, now=utcnow()),
                 changes={"lots", "doses", "signatures"})
    patient = journey.step("enrol_patient", lambda: patients.enrol_patient(
        site_code="LZ", arm="msc", enrolled_on=today, initials="AB", birth_year=1970, actor=coordinator,
        now=utcnow()), changes={"patients", "visits", "subject_sequences"})
    made = journey.step("allocate_dose", lambda: allocation.allocate_dose(
        patient.visits[0], dose=None, actor=coordinator, now=utcnow()), changes={"allocations", "doses", "coi_sequences"})
    labels.print_labels(kind="assignment", target=dose.code, fmt="zpl", reason=None, override=None,
                        actor=coordinator, now=now)
    journey.step("verify_label (assignment)", lambda: labels.verify_label(
        dose, scan=assignment_payload(made), actor=coordinator, now=utcnow()),
        changes={"label_verifications", "allocations"})
    shipment = journey.step("create_shipment", lambda: shipping.create_shipment(
        site_code="LZ", storage="cryo", actor=lab, now=utcnow()), changes={"shipments"})
    journey.step("pack_dose", lambda: shipping.pack_dose(
        shipment, scan=bag_payloads(dose).compound, actor=lab, now=utcnow()),
        changes={"shipment_items", "doses", "shipments"})
    journey.step("dispatch", lambda: shipping.dispatch(
        shipment, courier="ColdChain", logger_id="QT-1", signature=signed(), actor=lab, now=utcnow()),
        changes={"shipments", "doses", "custody_events", "signatures"})
    journey.step("handoff", lambda: shipping.handoff(
        shipment, from_party="ColdChain", to_party="Local Courier", place="Airport", actor=lab, now=utcnow()),
        changes={"shipments", "custody_events"})
    journey.step("receive", lambda: shipping.receive(
        shipment, scans=[bag_payloads(dose).compound, "garbage"], seal_intact=True, signature=signed(),
        actor=pharmacist, now=utcnow()),
        changes={"shipments", "shipment_items", "doses", "custody_events", "unexpected_items", "signatures"})
    journey.step("record_temperature", lambda: shipping.record_temperature(
        shipment, data=logger_file(shipment), filename="QT-1.csv", actor=pharmacist, now=utcnow()),
        changes={"temperature_records"})
    journey.step("thaw", lambda: pharmacy.thaw(
        dose, thawed_at=utcnow() - timedelta(minutes=20), actor=pharmacist, now=utcnow()), changes={"doses"})
    journey.step("dispense", lambda: pharmacy.dispense(dose, to="lz-nurse", actor=pharmacist, now=utcnow()),
                 changes={"doses", "custody_events"})
    scans = (patient.subject_id, bag_payloads(dose).compound)
    journey.step("verify_infusion", lambda: bedside.verify_infusion(*scans, actor=nurse, now=utcnow()),
                 changes={"bedside_checks"}, audited=False)

    def record() -> Any:
        at = utcnow() + timedelta(minutes=40)  # recorded when the infusion ends
        given = bedside.InfusionInput(started_at=at - timedelta(minutes=38), ended_at=at - timedelta(minutes=2),
                                      volume_ml=40.0, tolerance_grade=0, adverse_events=None, serious=False,
                                      acknowledged_warnings={})
        return bedside.record_infusion(*scans, given=given, signature=SignatureInput(PASSWORD, ""),
                                       witnessed_by=WitnessInput("lz-nurse2", PASSWORD), actor=nurse, now=at)
    journey.step("record_infusion", record, changes={"infusions", "doses", "visits", "custody_events", "signatures"})
    db.session.expire_all()
    assert dose.status == "administered"
    assert len(journey.steps) == 20


def test_quality_and_site_actions_a_fault_at_any_statement_leaves_nothing_behind(app, ward, staff: Staff, fault):
    journey = Journey(fault)
    pharmacist, coordinator = user("lz-pharmacist"), user("lz-coordinator")
    kept, spoilt = doses_at_site(staff, count=2)
    journey.step("destroy", lambda: pharmacy.destroy(
        spoilt, reason="Bag leaked", signature=signed(), witnessed_by=WitnessInput("lz-pharmacist2", PASSWORD),
        actor=pharmacist, now=utcnow()), changes={"doses", "custody_events", "signatures"})
    journey.step("recall_lot", lambda: batches.recall_lot(
        kept.lot, reason="Mycoplasma found late", signature=signed(), actor=staff.qa, now=utcnow()),
        changes={"lots", "doses", "signatures"})
    # a patient whose first dose is allocated but still in the lab: withdrawal gives it back
    released_lot(staff, "L-WITHDRAW", doses=1)
    patient = patients.enrol_patient(site_code="LZ", arm="msc", enrolled_on=utcnow().date(), initials="WD",
                                     birth_year=1970, actor=coordinator, now=utcnow())
    allocation.allocate_dose(patient.visits[0], dose=None, actor=coordinator, now=utcnow())
    journey.step("withdraw_patient", lambda: patients.withdraw_patient(
        patient, reason="Consent withdrawn", signature=signed(), actor=coordinator, now=utcnow()),
        changes={"patients", "visits", "allocations", "doses", "signatures"})
    # a box of fresh doses whose logger shows twenty minutes above 8 °C
    doses = shippable_doses(staff, count=2, presentation="fresh", lot_number="L-WARM")
    box = shipping.create_shipment(site_code="LZ", storage="2-8C", actor=staff.lab, now=utcnow())
    for dose in doses:
        shipping.pack_dose(box, scan=bag_payloads(dose).compound, actor=staff.lab, now=utcnow())
    shipping.dispatch(box, courier="ColdChain", logger_id="QT-2", signature=signed(), actor=staff.lab,
                      now=utcnow() - timedelta(hours=3))
    start = box.dispatched_at + timedelta(minutes=1)
    trace = ["timestamp,celsius"] + [f"{(start + timedelta(minutes=10 * i)).isoformat()},{t}"
                                     for i, t in enumerate([5.0, 6.0, 9.5, 10.0, 7.0, 5.0])]
    journey.step("record_temperature", lambda: shipping.record_temperature(
        box, data="\n".join(trace).encode(), filename="trace.csv", actor=staff.lab, now=utcnow()),
        changes={"temperature_records", "excursions", "doses"})
    journey.step("dispose_excursion", lambda: shipping.dispose_excursion(
        box, decision="accept", reason="Within stability data", signature=signed(), actor=staff.qa, now=utcnow()),
        changes={"excursions", "doses", "signatures"})
    db.session.expire_all()
    assert (spoilt.status, kept.status, patient.status) == ("destroyed", "quarantined", "withdrawn")
    assert {d.status for d in doses} == {"in_transit"}
