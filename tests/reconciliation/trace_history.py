"""A donor's history for the trace tests, built through the services: two lots, doses at two
hospitals (one given, one in transit, one destroyed, one in a pharmacy, one still at the lab),
then a recall of the first lot."""
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from cell_chain.accounts.services import user_by_username
from cell_chain.batches import services as batches
from cell_chain.core.db import db
from cell_chain.accounts.signatures import SignatureInput, WitnessInput
from cell_chain.infusions import bedside
from cell_chain.patients.allocation import allocate_dose
from cell_chain.patients.labels import assignment_payload
from cell_chain.patients.enrolment import enrol_patient
from cell_chain.labels.payloads import bag_payloads
from cell_chain.labels.services import print_labels, verify_label
from cell_chain.shipments import pharmacy
from cell_chain.shipments import services as shipping
from tests.conftest import PASSWORD, make_site, make_user
from tests.factories import Staff, make_donor, make_lot, record_logger_file, signed

RECALL_REASON = "Retained sample: mycoplasma detected on re-test"


def hospitals() -> None:
    for code in ("LZ", "BJ"):
        make_site(code)
        for role in ("coordinator", "pharmacist", "nurse"):
            make_user(f"{code.lower()}-{role}", role, code, name=f"{role.title()} {code}")
        make_user(f"{code.lower()}-nurse2", "nurse", code, name=f"Second Nurse {code}")
    make_user("monitor", "monitor", name="Mona Monitor")


def user(username: str) -> Any:
    return user_by_username(username)


def patient_with(dose: Any, site: str, now: datetime) -> Any:
    """Enrol a patient at `site` and allocate `dose` to visit 1, its assignment label verified."""
    coordinator = user(f"{site.lower()}-coordinator")
    patient = enrol_patient(site_code=site, arm="msc", enrolled_on=now.date(), initials="TR", birth_year=1970,
                            actor=coordinator, now=now)
    allocation = allocate_dose(patient.visits[0], dose=dose, actor=coordinator, now=now)
    print_labels(kind="assignment", target=dose.code, fmt="zpl", reason=None, override=None, actor=coordinator, now=now)
    verify_label(dose, scan=assignment_payload(allocation), actor=coordinator, now=now)
    return patient


def ship(staff: Staff, site: str, doses: list[Any], now: datetime, *, receive: bool = True) -> Any:
    shipment = shipping.create_shipment(site_code=site, storage="cryo", actor=staff.lab, now=now)
    for dose in doses:
        shipping.pack_dose(shipment, scan=bag_payloads(dose).compound, actor=staff.lab, now=now)
    shipping.dispatch(shipment, courier="ColdChain", logger_id="QT-7", signature=signed(), actor=staff.lab, now=now)
    if receive:
        shipping.receive(shipment, scans=[bag_payloads(d).compound for d in doses], seal_intact=True,
                         signature=signed(), actor=user(f"{site.lower()}-pharmacist"), now=now)
        record_logger_file(shipment, user(f"{site.lower()}-pharmacist"), now=now)
    return shipment


def infuse(dose: Any, subject_id: str, site: str, now: datetime) -> Any:
    nurse, pharmacist = user(f"{site.lower()}-nurse"), user(f"{site.lower()}-pharmacist")
    if dose.lot.presentation == "cryopreserved":
        pharmacy.thaw(dose, thawed_at=now - timedelta(minutes=60), actor=pharmacist, now=now)
    pharmacy.dispense(dose, to=nurse.username, actor=pharmacist, now=now)
    bag = bag_payloads(dose).compound
    bedside.verify_infusion(subject_id, bag, actor=nurse, now=now - timedelta(minutes=41))  # just before the start
    given = bedside.InfusionInput(started_at=now - timedelta(minutes=40), ended_at=now - timedelta(minutes=5),
                                  volume_ml=40.0, tolerance_grade=0, adverse_events=None, serious=False,
                                  acknowledged_warnings={})
    return bedside.record_infusion(subject_id, bag, given=given, signature=SignatureInput(PASSWORD, ""),
                                   witnessed_by=WitnessInput(f"{site.lower()}-nurse2", PASSWORD), actor=nurse, now=now)


def destroy(dose: Any, site: str, now: datetime) -> None:
    pharmacy.destroy(dose, reason="Bag punctured on receipt", signature=signed(),
                     witnessed_by=WitnessInput(f"{site.lower()}-nurse", PASSWORD),
                     actor=user(f"{site.lower()}-pharmacist"), now=now)


@dataclass
class History:
    donor: Any
    first: Any  # lot L-T1, recalled at the end
    second: Any  # lot L-T2, released
    given: Any  # L-T1 dose 1, given to an LZ patient
    travelling: Any  # L-T1 dose 2, for a BJ patient, with the courier (quarantined by the recall)
    destroyed: Any  # L-T1 dose 3, destroyed at LZ
    stocked: Any  # L-T2 dose 1, in the BJ pharmacy
    at_lab: Any  # L-T2 dose 2, never allocated
    lz_given: Any  # patient
    bj_waiting: Any
    lz_destroyed: Any
    bj_stocked: Any
    infusion: Any
    recall: Any
    recalled_at: datetime
    now: datetime


def donor_history(staff: Staff, now: datetime) -> History:
    donor = make_donor(staff, "D-TRACE", now=now)
    first = make_lot(staff, donor, "L-T1", doses=3, now=now)
    second = make_lot(staff, donor, "L-T2", doses=2, now=now)
    for lot in (first, second):
        batches.release_lot(lot, signature=signed(), actor=staff.qa, now=now)
    given, travelling, destroyed = first.doses
    stocked, at_lab = second.doses
    lz_given, lz_destroyed = patient_with(given, "LZ", now), patient_with(destroyed, "LZ", now)
    bj_waiting, bj_stocked = patient_with(travelling, "BJ", now), patient_with(stocked, "BJ", now)
    ship(staff, "LZ", [given, destroyed], now)
    ship(staff, "BJ", [travelling], now, receive=False)
    ship(staff, "BJ", [stocked], now)
    infusion = infuse(given, lz_given.subject_id, "LZ", now)
    destroy(destroyed, "LZ", now)
    db.session.commit()
    recalled_at = now + timedelta(minutes=30)
    recall = batches.recall_lot(first, reason=RECALL_REASON, signature=signed(), actor=staff.qa, now=recalled_at)
    db.session.commit()
    return History(donor, first, second, given, travelling, destroyed, stocked, at_lab, lz_given, bj_waiting,
                   lz_destroyed, bj_stocked, infusion, recall, recalled_at, now)
