"""Factories for donors, lots and doses, built through the services by the staff (`Staff`,
the `staff` fixture of tests/conftest.py)."""
from datetime import date, datetime, timedelta
from typing import Any


from cell_chain.batches import services
from cell_chain.batches.models import MARKERS, Donor, Lot
from cell_chain.batches.workflow import DEFAULT_SPEC
from cell_chain.core.clock import utcnow
from cell_chain.core.db import db
from cell_chain.accounts.signatures import SignatureInput
from tests.conftest import PASSWORD, Staff

PASSING_VALUES: dict[str, Any] = {
    "sterility": "no_growth", "mycoplasma": "not_detected", "endotoxin_eu_ml": 0.2,
    "viability_pct": 92, "cd73_pct": 98.5, "cd90_pct": 99.1, "cd105_pct": 97.0,
    "cd34_pct": 0.4, "cd45_pct": 0.3, "cd14_pct": 0.2, "cd19_pct": 0.1, "hla_dr_pct": 0.5,
    "karyotype": "normal",
}
assert set(PASSING_VALUES) == set(DEFAULT_SPEC)
GOOD_DOSE = {"cells": 4.0e7, "volume_ml": 40.0, "viability_pct": 91.0}


def signed(password: str = PASSWORD, meaning: str = "") -> SignatureInput:
    return SignatureInput(password=password, meaning=meaning)


def make_donor(staff: Staff, code: str = "D-001", *, collected_on: date | None = None,
               screening: str | None = "non_reactive", tested_offset_days: int = 0,
               determine: bool = True, now: datetime | None = None) -> Donor:
    now = now or utcnow()
    collected = collected_on or (now.date() - timedelta(days=20))
    donor = services.register_donor(donor_code=code, collected_on=collected, actor=staff.lab, now=now)
    if screening:
        for marker in MARKERS:
            services.record_screening(donor, marker=marker, result=screening,
                                      tested_on=collected + timedelta(days=tested_offset_days),
                                      reason=None, actor=staff.lab, now=now)
    if screening and determine:
        services.determine_eligibility(donor, signature=signed(), actor=staff.qa, now=now)
    db.session.commit()
    return donor


def make_lot(staff: Staff, donor: Donor, number: str = "L-001", *, presentation: str = "cryopreserved",
             results: dict[str, Any] | None = PASSING_VALUES, doses: int = 2, complete: bool = True,
             verify_labels: bool = True, now: datetime | None = None) -> Lot:
    now = now or utcnow()
    lot = services.create_lot(donor=donor, lot_number=number, manufactured_on=now.date(),
                              passage=3, presentation=presentation, actor=staff.lab, now=now)
    for _ in range(doses):
        services.prepare_dose(lot, **GOOD_DOSE, actor=staff.lab, now=now)
    if complete:
        services.complete_lot(lot, actor=staff.lab, now=now)
    for test, value in (results or {}).items():
        services.record_result(lot, test=test, value=value, performed_on=now.date(), method="SOP-1",
                               analyst="A. Analyst", reason=None, actor=staff.lab, now=now)
    if verify_labels:
        from cell_chain.labels.payloads import bag_payloads
        from cell_chain.labels.services import print_labels, verify_label

        if any(d.status != "rejected" for d in lot.doses):
            print_labels(kind="lot", target=str(lot.id), fmt="zpl", reason=None, override=None,
                         actor=staff.lab, now=now)
        for dose in lot.doses:
            if dose.status != "rejected":
                verify_label(dose, scan=bag_payloads(dose).compound, actor=staff.lab, now=now)
    db.session.commit()
    return lot


def released_lot(staff: Staff, number: str = "L-001", **kwargs: Any) -> Lot:
    donor = make_donor(staff, f"D-{number}")
    lot = make_lot(staff, donor, number, **kwargs)
    services.release_lot(lot, signature=signed(), actor=staff.qa, now=utcnow())
    db.session.commit()
    return lot


def shippable_doses(staff: Staff, site: str = "LZ", *, count: int = 1, presentation: str = "cryopreserved",
                    lot_number: str = "L-SHIP", now: datetime | None = None) -> list[Any]:
    """Released, allocated doses with both labels verified, for patients at `site`
    (the site and its coordinator must exist)."""
    from cell_chain.accounts.services import user_by_username
    from cell_chain.patients.allocation import allocate_dose
    from cell_chain.patients.labels import assignment_payload
    from cell_chain.patients.enrolment import enrol_patient
    from cell_chain.labels.services import print_labels, verify_label

    now = now or utcnow()
    lot = released_lot(staff, lot_number, doses=count, presentation=presentation)
    coordinator = user_by_username(f"{site.lower()}-coordinator")
    doses = []
    for dose in lot.doses:
        patient = enrol_patient(site_code=site, arm="msc", enrolled_on=now.date(), initials="AB",
                                birth_year=1975, actor=coordinator, now=now)
        allocation = allocate_dose(patient.visits[0], dose=dose, actor=coordinator, now=now)
        print_labels(kind="assignment", target=dose.code, fmt="zpl", reason=None, override=None,
                     actor=coordinator, now=now)
        verify_label(dose, scan=assignment_payload(allocation), actor=coordinator, now=now)
        doses.append(dose)
    db.session.commit()
    return doses


def logger_file(shipment: Any, *, until: datetime | None = None) -> bytes:
    """The box's logger export (timestamp,celsius) from dispatch to receipt (or `until`), every
    few minutes, inside the shipment's storage range."""
    start = shipment.dispatched_at
    end = shipment.received_at or until or utcnow()
    celsius = -182.0 if shipment.storage == "cryo" else 5.0
    steps = max(1, int((end - start).total_seconds() // 300))
    moments = [start + (end - start) * i / steps for i in range(steps + 1)]
    return ("timestamp,celsius\n" + "".join(f"{at.isoformat()},{celsius}\n" for at in moments)).encode()


def record_logger_file(shipment: Any, actor: Any, *, now: datetime | None = None) -> None:
    """Upload the box's logger file, as the pharmacist does after receipt: its doses may then be
    dispensed."""
    from cell_chain.shipments import services as shipping

    now = now or utcnow()
    shipping.record_temperature(shipment, data=logger_file(shipment, until=now), filename="logger.csv", actor=actor,
                                now=now)


def doses_at_site(staff: Staff, site: str = "LZ", *, count: int = 1, presentation: str = "cryopreserved",
                  lot_number: str = "L-BED", now: datetime | None = None) -> list[Any]:
    """Doses shipped to `site`, received by its pharmacist (`{site}-pharmacist` must exist), with
    the box's logger file uploaded."""
    from cell_chain.accounts.services import user_by_username
    from cell_chain.labels.payloads import bag_payloads
    from cell_chain.shipments import services as shipping

    now = now or utcnow()
    doses = shippable_doses(staff, site, count=count, presentation=presentation, lot_number=lot_number, now=now)
    shipment = shipping.create_shipment(site_code=site, storage="cryo" if presentation == "cryopreserved" else "2-8C",
                                        actor=staff.lab, now=now)
    for dose in doses:
        shipping.pack_dose(shipment, scan=bag_payloads(dose).compound, actor=staff.lab, now=now)
    shipping.dispatch(shipment, courier="ColdChain", logger_id="QT-1", signature=signed(), actor=staff.lab, now=now)
    pharmacist = user_by_username(f"{site.lower()}-pharmacist")
    shipping.receive(shipment, scans=[bag_payloads(d).compound for d in doses], seal_intact=True,
                     signature=signed(), actor=pharmacist, now=now)
    record_logger_file(shipment, pharmacist, now=now)
    db.session.commit()
    return doses


def doses_on_ward(staff: Staff, site: str = "LZ", *, count: int = 1, presentation: str = "cryopreserved",
                  lot_number: str = "L-BED", now: datetime | None = None, nurse: str | None = None,
                  thawed_minutes_ago: int = 20) -> list[Any]:
    """The ward's path: received by `site`'s pharmacy, thawed there if cryopreserved
    (`thawed_minutes_ago`), then dispensed to the ward's nurse (`{site}-nurse` unless named)."""
    from cell_chain.accounts.services import user_by_username
    from cell_chain.shipments import pharmacy

    now = now or utcnow()
    doses = doses_at_site(staff, site, count=count, presentation=presentation, lot_number=lot_number, now=now)
    pharmacist = user_by_username(f"{site.lower()}-pharmacist")
    for dose in doses:
        if presentation == "cryopreserved":
            pharmacy.thaw(dose, thawed_at=now - timedelta(minutes=thawed_minutes_ago), actor=pharmacist, now=now)
        pharmacy.dispense(dose, to=nurse or f"{site.lower()}-nurse", actor=pharmacist, now=now)
    db.session.commit()
    return doses
