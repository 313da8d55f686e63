"""Histories for the reconciliation reports, built through the services: two hospitals with
their staff, and helpers to ship, dispense, infuse, destroy and return doses."""
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event

from cell_chain.accounts.services import user_by_username
from cell_chain.core.clock import utcnow
from cell_chain.core.db import db
from cell_chain.accounts.signatures import SignatureInput, WitnessInput
from cell_chain.infusions import bedside
from cell_chain.patients.allocation import active_allocation_of_dose, allocate_dose
from cell_chain.patients.labels import assignment_payload
from cell_chain.patients.enrolment import enrol_patient
from cell_chain.labels.payloads import bag_payloads
from cell_chain.labels.services import print_labels, verify_label
from cell_chain.shipments import pharmacy
from cell_chain.shipments import services as shipping
from tests.conftest import PASSWORD, make_site, make_user
from tests.factories import record_logger_file, signed

SITES = ("LZ", "BJ")
# Pictures of printed reports, for a person to look at.
REPORTS = Path(__file__).resolve().parents[2] / "test-output" / "reports"


@pytest.fixture
def clinic(app: Any, staff: Any) -> Any:
    """Sites LZ and BJ with a coordinator, pharmacist and two nurses each; a monitor."""
    for code in SITES:
        make_site(code)
        for role in ("coordinator", "pharmacist", "nurse"):
            make_user(f"{code.lower()}-{role}", role, code, name=f"{role.title()} {code}")
        make_user(f"{code.lower()}-nurse2", "nurse", code, name=f"Second Nurse {code}")
    make_user("monitor", "monitor", name="Mona Monitor")
    return staff


def user(name: str) -> Any:
    return user_by_username(name)


def enrol(site: str = "LZ", *, arm: str = "msc", days_ago: int = 0, now: datetime | None = None) -> Any:
    now = now or utcnow()
    patient = enrol_patient(site_code=site, arm=arm, enrolled_on=(now - timedelta(days=days_ago)).date(),
                            initials="AB", birth_year=1975, actor=user(f"{site.lower()}-coordinator"), now=now)
    db.session.commit()
    return patient


def allocate(patient: Any, dose: Any, visit: int = 1, *, label: bool = True, now: datetime | None = None) -> Any:
    now = now or utcnow()
    coordinator = user(f"{patient.site.code.lower()}-coordinator")
    allocation = allocate_dose(patient.visits[visit - 1], dose=dose, actor=coordinator, now=now)
    if label:
        print_labels(kind="assignment", target=dose.code, fmt="zpl", reason=None, override=None,
                     actor=coordinator, now=now)
        verify_label(dose, scan=assignment_payload(allocation), actor=coordinator, now=now)
    db.session.commit()
    return allocation


@dataclass
class Shipped:
    shipment: Any
    result: Any


def ship(staff: Any, site: str, doses: list[Any], *, scans: list[str] | None = None, receive: bool = True,
         seal_intact: bool = True, now: datetime | None = None) -> Shipped:
    """Pack, dispatch and (by default) receive `doses`; `scans` replaces the receipt scans."""
    now = now or utcnow()
    shipment = shipping.create_shipment(site_code=site, storage="cryo", actor=staff.lab, now=now)
    for dose in doses:
        shipping.pack_dose(shipment, scan=bag_payloads(dose).compound, actor=staff.lab, now=now)
    shipping.dispatch(shipment, courier="ColdChain", logger_id="QT-1", signature=signed(), actor=staff.lab, now=now)
    result = None
    if receive:
        given = scans if scans is not None else [bag_payloads(d).compound for d in doses]
        result = shipping.receive(shipment, scans=given, seal_intact=seal_intact, signature=signed(),
                                  actor=user(f"{site.lower()}-pharmacist"), now=now)
        record_logger_file(shipment, user(f"{site.lower()}-pharmacist"), now=now)
    db.session.commit()
    return Shipped(shipment, result)


def subject_of(dose: Any) -> str:
    return active_allocation_of_dose(dose).visit.patient.subject_id


def dispense(dose: Any, site: str = "LZ", *, now: datetime | None = None, thaw: bool = True) -> None:
    """Thawed (if frozen, an hour before `now`, unless `thaw` is off) and handed to the ward's nurse."""
    now = now or utcnow()
    pharmacist = user(f"{site.lower()}-pharmacist")
    if thaw and dose.lot.presentation == "cryopreserved" and dose.thawed_at is None:
        pharmacy.thaw(dose, thawed_at=now - timedelta(minutes=60), actor=pharmacist, now=now)
    pharmacy.dispense(dose, to=f"{site.lower()}-nurse", actor=pharmacist, now=now)
    db.session.commit()


def infuse(dose: Any, site: str = "LZ", *, volume_ml: float = 40.0, grade: int = 0, serious: bool = False,
           adverse_events: str | None = None, reason: str | None = None, now: datetime | None = None) -> Any:
    """Verify at the bedside, then record the infusion with the nurse's signature and a witness."""
    now = now or utcnow()
    nurse = user(f"{site.lower()}-nurse")
    if dose.status == "received":
        dispense(dose, site, now=now)
    subject, bag = subject_of(dose), bag_payloads(dose).compound
    bedside.verify_infusion(subject, bag, actor=nurse, now=now - timedelta(minutes=41))  # just before the start
    given = bedside.InfusionInput(
        started_at=now - timedelta(minutes=40), ended_at=now - timedelta(minutes=5), volume_ml=volume_ml,
        tolerance_grade=grade, adverse_events=adverse_events, serious=serious,
        acknowledged_warnings={"OUT_OF_WINDOW": reason} if reason else {},
        partial_reason="Line occluded" if volume_ml < 40 else None)
    infusion = bedside.record_infusion(subject, bag, given=given, signature=SignatureInput(PASSWORD, ""),
                                       witnessed_by=WitnessInput(f"{site.lower()}-nurse2", PASSWORD),
                                       actor=nurse, now=now)
    db.session.commit()
    return infusion


def destroy(dose: Any, site: str = "LZ", *, now: datetime | None = None) -> None:
    pharmacy.destroy(dose, reason="bag damaged", signature=signed(), witnessed_by=WitnessInput(
        f"{site.lower()}-nurse", PASSWORD), actor=user(f"{site.lower()}-pharmacist"), now=now or utcnow())
    db.session.commit()


def return_dose(dose: Any, site: str = "LZ", *, now: datetime | None = None) -> None:
    pharmacy.return_to_manufacturer(dose, reason="patient withdrawn", signature=signed(),
                                    actor=user(f"{site.lower()}-pharmacist"), now=now or utcnow())
    db.session.commit()


class StatementCounter:
    """Counts the SQL statements run inside `with counter:`."""

    def __init__(self) -> None:
        self.statements: list[str] = []

    def _count(self, *args: Any) -> None:
        self.statements.append(args[2])

    def __enter__(self) -> "StatementCounter":
        db.session.commit()
        db.session.expire_all()  # as in a fresh request: nothing cached
        self.statements.clear()
        event.listen(db.engine, "before_cursor_execute", self._count)
        return self

    def __exit__(self, *exc: Any) -> None:
        event.remove(db.engine, "before_cursor_execute", self._count)

    def __len__(self) -> int:
        return len(self.statements)


def withdraw(patient: Any, *, now: datetime | None = None) -> None:
    from cell_chain.patients.enrolment import withdraw_patient

    withdraw_patient(patient, reason="moved away", signature=signed(),
                     actor=user(f"{patient.site.code.lower()}-coordinator"), now=now or utcnow())
    db.session.commit()


def balanced_trial(staff: Any) -> dict[str, Any]:
    """A small trial in which every record agrees (hand-computed in test_balanced_trial.py):
    LZ: 3 doses of L-ONE received (one given, one destroyed, one on hand) and one dose of
    L-LAB in transit; BJ: 2 doses of L-TWO received (one given with an SAE, one returned after
    its patient withdrew) and a control-arm patient; L-LAB keeps a dose at the lab and one
    rejected at fill."""
    from cell_chain.batches import services as batches
    from tests.factories import doses_at_site, make_donor, make_lot

    now = utcnow()
    given, destroyed, on_hand = doses_at_site(staff, "LZ", count=3, lot_number="L-ONE", now=now)
    dispense(given, "LZ", now=now)
    infuse(given, "LZ", grade=1, now=now)
    destroy(destroyed, "LZ", now=now)
    sae, returned = doses_at_site(staff, "BJ", count=2, lot_number="L-TWO", now=now)
    infuse(sae, "BJ", grade=3, serious=True, adverse_events="Anaphylaxis, resolved", now=now)
    withdraw(active_allocation_of_dose(returned).visit.patient, now=now)
    return_dose(returned, "BJ", now=now)
    control = enrol("BJ", arm="control", now=now)
    lot = make_lot(staff, make_donor(staff, "D-LAB", now=now), "L-LAB", doses=2, now=now)
    batches.prepare_dose(lot, cells=1.0e7, volume_ml=40.0, viability_pct=91.0, actor=staff.lab, now=now)
    batches.release_lot(lot, signature=signed(), actor=staff.qa, now=now)
    db.session.commit()
    travelling = lot.doses[0]
    patient = enrol("LZ", now=now)
    allocate(patient, travelling, now=now)
    ship(staff, "LZ", [travelling], receive=False, now=now)
    return {"now": now, "given": given, "destroyed": destroyed, "on_hand": on_hand, "sae": sae,
            "returned": returned, "control": control, "lab_lot": lot, "travelling": travelling,
            "in_transit_patient": patient}


def troubled_trial(staff: Any) -> dict[str, Any]:
    """A trial with one of every discrepancy (what each is, in test_discrepancies.py). Built at
    `now`; the reports read it three hours later (a dispensed dose is overdue by then)."""
    from cell_chain.batches import services as batches
    from cell_chain.shipments import custody
    from tests.factories import doses_at_site, make_donor, make_lot, released_lot, shippable_doses

    now = utcnow()
    [recalled] = doses_at_site(staff, "LZ", lot_number="L-RECALL", now=now)
    infuse(recalled, now=now)
    batches.recall_lot(recalled.lot, reason="Retained sample grew mycoplasma", signature=signed(),
                       actor=staff.qa, now=now)
    db.session.commit()
    [partial] = doses_at_site(staff, "LZ", lot_number="L-PART", now=now)
    infuse(partial, volume_ml=30.0, grade=2, now=now)
    [dispensed] = doses_at_site(staff, "LZ", lot_number="L-DISP", now=now)
    dispense(dispensed, now=now, thaw=False)
    late_patient = enrol("LZ", days_ago=20, now=now)
    late = released_lot(staff, "L-OOW", doses=1).doses[0]
    allocate(late_patient, late, now=now)
    ship(staff, "LZ", [late], now=now)
    infuse(late, reason="Patient was in hospital with pneumonia", now=now)
    missed_patient = enrol("LZ", days_ago=120, now=now)
    control = enrol("LZ", arm="control", days_ago=120, now=now)
    [exposed] = doses_at_site(staff, "LZ", lot_number="L-CTRL", now=now)
    # The ledger says the dose went into a control-arm patient (given outside the bedside
    # check, which would have stopped it): no infusion record, so the site cannot account for it.
    custody.record_handover(exposed, kind="administer", to_party=f"patient:{control.subject_id}",
                            place="LZ Hospital", actor=user("lz-nurse"), now=now)
    db.session.commit()
    [broken] = shippable_doses(staff, "LZ", lot_number="L-CHAIN", now=now)
    box = ship(staff, "LZ", [broken], receive=False, now=now).shipment
    shipping.handoff(box, from_party="Wrong Courier", to_party="Local Courier", place="Airport",
                     actor=staff.lab, now=now)
    shipping.receive(box, scans=[bag_payloads(broken).compound], seal_intact=True, signature=signed(),
                     actor=user("lz-pharmacist"), now=now)
    db.session.commit()
    [other] = shippable_doses(staff, "BJ", lot_number="L-OTHER", now=now)
    elsewhere = ship(staff, "BJ", [other], receive=False, now=now).shipment
    arrived, lost = shippable_doses(staff, "BJ", count=2, lot_number="L-BOX", now=now)
    short = ship(staff, "BJ", [arrived, lost], scans=[
        bag_payloads(arrived).compound, bag_payloads(other).compound, "NOT-A-DOSE-123"], now=now).shipment
    earlier = now - timedelta(days=2)
    unlabelled = make_lot(staff, make_donor(staff, "D-LABEL", now=earlier), "L-LABEL", doses=1, verify_labels=False,
                          now=earlier)
    print_labels(kind="lot", target=str(unlabelled.id), fmt="zpl", reason=None, override=None, actor=staff.lab,
                 now=earlier)
    orphan = released_lot(staff, "L-ORPHAN", doses=1).doses[0]
    # A status written outside the services (a bad data fix, audited as such): administered,
    # but no infusion record.
    from cell_chain.core import audit

    orphan.status = "administered"
    audit.record_change(orphan, "dose.corrected", actor=staff.qa, at=now, reason="status fixed by hand")
    db.session.commit()
    return {"now": now, "as_of": now + timedelta(hours=3), "recalled": recalled, "partial": partial,
            "dispensed": dispensed, "late": late, "late_patient": late_patient, "missed_patient": missed_patient,
            "control": control, "exposed": exposed, "broken": broken, "broken_box": box, "other": other,
            "elsewhere": elsewhere, "arrived": arrived, "lost": lost, "short": short, "unlabelled": unlabelled,
            "orphan": orphan}
