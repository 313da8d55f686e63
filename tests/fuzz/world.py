"""A realistic trial to fuzz and probe: the demo seed (six sites, every role, lots in every
state, patients on both arms) plus shipments in every state, so that path parameters can
name real objects of the caller's site and of another site."""
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import select, update

from cell_chain.accounts.models import Site, User
from cell_chain.accounts.services import user_by_username
from cell_chain.batches.models import Donor, Dose, Lot
from cell_chain.core.db import db
from cell_chain.accounts.signatures import SignatureInput, WitnessInput
from cell_chain.demo import DEMO_PASSWORD, seed_demo
from cell_chain.infusions import bedside
from cell_chain.patients.allocation import active_allocation_of_dose, allocate_dose
from cell_chain.patients.labels import assignment_payload
from cell_chain.patients.models import Patient
from cell_chain.infusions.models import Infusion
from cell_chain.patients.enrolment import enrol_patient
from cell_chain.labels.payloads import bag_payloads
from cell_chain.labels.services import print_labels, verify_label
from cell_chain.shipments import pharmacy
from cell_chain.shipments import services as shipping
from cell_chain.shipments.models import Shipment

# The account each role acts through: site staff of LZ, whose objects are "own site"; BJ is
# "another site".
ACTORS = {
    "admin": "admin", "lab": "lab", "qa": "qa", "monitor": "monitor",
    "pharmacist": "lz-pharmacist", "nurse": "lz-nurse", "coordinator": "lz-coordinator",
}
HOME, AWAY = "LZ", "BJ"


def _allocated_doses(site_code: str, count: int, now: datetime) -> list[Dose]:
    """`count` doses allocated to patients of `site_code`, both labels verified: the demo's
    allocation there, and patients enrolled today for the rest."""
    site_id = db.session.scalar(select(Site.id).where(Site.code == site_code))
    doses = []
    for dose in db.session.scalars(select(Dose).where(Dose.status == "allocated").order_by(Dose.id)):
        allocation = active_allocation_of_dose(dose)
        if allocation is not None and allocation.visit.patient.site_id == site_id:
            doses.append(dose)
    coordinator = user_by_username(f"{site_code.lower()}-coordinator")
    while len(doses) < count:
        patient = enrol_patient(site_code=site_code, arm="msc", enrolled_on=now.date(), initials="QZ",
                                birth_year=1980, actor=coordinator, now=now)
        allocation = allocate_dose(patient.visits[0], dose=None, actor=coordinator, now=now)
        print_labels(kind="assignment", target=allocation.dose.code, fmt="zpl", reason=None, override=None,
                     actor=coordinator, now=now)
        verify_label(allocation.dose, scan=assignment_payload(allocation), actor=coordinator, now=now)
        doses.append(allocation.dose)
    return doses[:count]


def _readings(start: datetime, end: datetime, celsius: float) -> bytes:
    rows, at = ["timestamp,celsius"], start
    while at <= end:
        rows.append(f"{at.isoformat()},{celsius}")
        at += timedelta(minutes=10)
    return "\n".join(rows).encode()


def _shipment(site_code: str, doses: list[Dose], *, until: str, now: datetime, celsius: float = -185.0) -> None:
    """A shipment of `doses` to `site_code` taken as far as `until`: draft, packed, dispatched
    (with its logger file, at `celsius`) or received (the first dose then given at the bedside,
    witnessed)."""
    lab = user_by_username("lab")
    signature = SignatureInput(DEMO_PASSWORD, "")
    shipment = shipping.create_shipment(site_code=site_code, storage="cryo", actor=lab, now=now)
    db.session.flush()
    for dose in doses:
        shipping.pack_dose(shipment, scan=bag_payloads(dose).compound, actor=lab, now=now)
    if until in ("draft", "packed"):
        return
    dispatched, arrived = now - timedelta(hours=6), now - timedelta(hours=1)
    shipping.dispatch(shipment, courier="ColdChain", logger_id="QT-1", signature=signature, actor=lab,
                      now=dispatched)
    if until == "dispatched":
        shipping.record_temperature(shipment, data=_readings(dispatched, now, celsius), filename="qt-1.csv",
                                    actor=lab, now=now)
        return
    pharmacist = user_by_username(f"{site_code.lower()}-pharmacist")
    shipping.receive(shipment, scans=[bag_payloads(d).compound for d in doses], seal_intact=True,
                     signature=signature, actor=pharmacist, now=arrived)
    shipping.record_temperature(shipment, data=_readings(dispatched, arrived, celsius), filename="qt-1.csv",
                                actor=pharmacist, now=now)
    nurse, given = user_by_username(f"{site_code.lower()}-nurse"), doses[0]
    wristband = active_allocation_of_dose(given).visit.patient.subject_id
    # The ward's path: thawed in the pharmacy, dispensed to the nurse, checked just before the start.
    if given.lot.presentation == "cryopreserved":
        pharmacy.thaw(given, thawed_at=now - timedelta(minutes=60), actor=pharmacist, now=now)
    pharmacy.dispense(given, to=nurse.username, actor=pharmacist, now=now)
    bedside.verify_infusion(wristband, bag_payloads(given).compound, actor=nurse, now=now - timedelta(minutes=41))
    infusion = bedside.InfusionInput(started_at=now - timedelta(minutes=40), ended_at=now - timedelta(minutes=5),
                                     volume_ml=40.0, tolerance_grade=0, adverse_events=None, serious=False,
                                     acknowledged_warnings={})
    bedside.record_infusion(wristband, bag_payloads(given).compound, given=infusion, signature=signature,
                            witnessed_by=WitnessInput(f"{site_code.lower()}-nurse2", DEMO_PASSWORD),
                            actor=nurse, now=now)


def seed_world(now: datetime) -> None:
    """The demo trial, then at LZ (home) and BJ (away) alike: a received shipment of two doses,
    one given to its patient and one in the pharmacy, and a shipment in transit; SH's box in
    transit with a temperature excursion, GZ's packed and an empty draft to CD (the caller
    commits)."""
    seed_demo(now)
    # The demo's Chinese-site staff read Chinese; these suites read the English pages.
    db.session.execute(update(User).values(language="en"))
    db.session.flush()
    for site in (HOME, AWAY):
        received, in_transit = _allocated_doses(site, 3, now)[:2], _allocated_doses(site, 3, now)[2:]
        _shipment(site, received, until="received", now=now)
        _shipment(site, in_transit, until="dispatched", now=now)
    _shipment("SH", _allocated_doses("SH", 1, now), until="dispatched", now=now, celsius=-120.0)
    _shipment("GZ", _allocated_doses("GZ", 1, now), until="packed", now=now)
    _shipment("CD", [], until="draft", now=now)


@dataclass
class World:
    """Names of real objects, by site where they belong to one."""

    donor_ids: list[int]
    dins: list[str]
    lot_ids: list[int]
    usernames: list[str]
    site_codes: list[str]
    scans: list[str]  # barcode payloads: bag, assignment label, wristband, shipment label
    home: dict[str, list[str | int]] = field(default_factory=dict)
    away: dict[str, list[str | int]] = field(default_factory=dict)


def _site_objects(site_code: str) -> dict[str, list[str | int]]:
    site_id = db.session.scalar(select(Site.id).where(Site.code == site_code))
    subjects = list(db.session.scalars(select(Patient.subject_id).where(Patient.site_id == site_id)
                                       .order_by(Patient.id)))
    # The received shipment first, then the one in transit.
    shipments = list(db.session.scalars(select(Shipment.id).where(Shipment.site_id == site_id).order_by(Shipment.id)))
    doses = []
    # In the pharmacy first: most dose routes act on a dose there.
    stock_first = {"received": 0, "in_transit": 1, "administered": 2}
    for dose in sorted(db.session.scalars(select(Dose).where(Dose.status.not_in(("prepared", "rejected")))),
                       key=lambda d: (stock_first.get(d.status, 3), d.id)):
        allocation = active_allocation_of_dose(dose)
        if allocation is not None and allocation.visit.patient.site_id == site_id:
            doses.append(dose.code)
    users = list(db.session.scalars(select(User.username).where(User.site_id == site_id)))
    infusions = list(db.session.scalars(select(Infusion.id).join(Patient, Infusion.patient_id == Patient.id)
                                        .where(Patient.site_id == site_id)))
    return {"subject_id": subjects, "shipment_id": shipments, "code": doses, "username": users,
            "infusion_id": infusions}


def _scans() -> list[str]:
    from cell_chain.patients.labels import wristband_payload

    payloads: list[str] = []
    for site in (HOME, AWAY):
        site_id = db.session.scalar(select(Site.id).where(Site.code == site))
        for dose in db.session.scalars(select(Dose).where(Dose.status.in_(("received", "in_transit"))).order_by(Dose.id)):
            allocation = active_allocation_of_dose(dose)
            if allocation is not None and allocation.visit.patient.site_id == site_id:
                payloads += [bag_payloads(dose).compound, assignment_payload(allocation),
                             wristband_payload(allocation.visit.patient)]
    payloads += list(db.session.scalars(select(Shipment.code).order_by(Shipment.id).limit(2)))
    return payloads


def describe_world() -> World:
    world = World(
        scans=_scans(),
        donor_ids=list(db.session.scalars(select(Donor.id).order_by(Donor.id))),
        dins=list(db.session.scalars(select(Donor.din).order_by(Donor.id))),
        lot_ids=list(db.session.scalars(select(Lot.id).order_by(Lot.id))),
        usernames=list(db.session.scalars(select(User.username).order_by(User.id))),
        site_codes=list(db.session.scalars(select(Site.code).order_by(Site.id))),
    )
    world.home, world.away = _site_objects(HOME), _site_objects(AWAY)
    return world
