"""What a FHIR caller may read: the records behind each resource, under the one site-scoping
rule (central roles see the whole trial, site staff their own site; another site's subject
or product answers 404, as on /api)."""
from typing import Any

from fhir.resources.resource import Resource
from flask import current_app
from sqlalchemy import Select, or_, select
from sqlalchemy.orm import aliased

from cell_chain.accounts.models import Site, User
from cell_chain.accounts.permissions import scope_to_site, scoped_get_or_404
from cell_chain.batches.models import Dose, Lot
from cell_chain.core.db import MAX_ID, db
from cell_chain.core.errors import NotFound
from cell_chain.accounts.signatures import Signature
from cell_chain.exchange import fhir
from cell_chain.exchange.fhir import (
    DOSE_CODE,
    ISBT128_DIN,
    ISBT128_PRODUCT,
    Facility,
    ProductRecord,
    SubjectRecords,
)
from cell_chain.patients.models import Allocation, Patient, Visit
from cell_chain.infusions.models import Infusion
from cell_chain.shipments.models import CustodyEvent, ShipmentItem
from cell_chain.core.messages import _l


def facility() -> Facility:
    return Facility(fin=current_app.config["FACILITY_FIN"], name=current_app.config["FACILITY_NAME"])


def _with_subjects(stmt: Select[Any], actor: User) -> list[ProductRecord]:
    """The doses `stmt` selects, each with its subject (given to, else allocated to), those of
    another site left out: a dose belongs to the site of the patient it is allocated to."""
    given, allocated = aliased(Patient), aliased(Patient)
    stmt = (stmt.add_columns(given.subject_id, allocated.subject_id, allocated.site_id)
            .outerjoin(Infusion, Infusion.dose_id == Dose.id)
            .outerjoin(given, given.id == Infusion.patient_id)
            .outerjoin(Allocation, (Allocation.dose_id == Dose.id) & Allocation.active)
            .outerjoin(Visit, Visit.id == Allocation.visit_id)
            .outerjoin(allocated, allocated.id == Visit.patient_id))
    if actor.site_id is not None:
        stmt = stmt.where(allocated.site_id == actor.site_id)
    return [ProductRecord(dose, given_to or allocated_to)
            for dose, given_to, allocated_to, _ in db.session.execute(stmt.order_by(Dose.code))]


def product(code: str, actor: User) -> ProductRecord:
    """A dose the actor may see. Raises NotFound (unknown, or another site's)."""
    found = _with_subjects(select(Dose).where(Dose.code == code), actor)
    if not found:
        raise NotFound(_l("No BiologicallyDerivedProduct %(code)s.", code=code))
    return found[0]


def products_by_identifier(system: str | None, value: str, actor: User) -> list[ProductRecord]:
    """Doses whose DIN, DIN with product code and division, or dose code is `value` (within
    `system` when given), among those the actor may see."""
    criteria = []
    if system in (None, ISBT128_DIN):
        criteria.append(Lot.din == value)
    if system in (None, DOSE_CODE):
        criteria.append(Dose.code == value)
    if system in (None, ISBT128_PRODUCT) and len(value) > 13:
        din, product_code = value[:13], value[13:]
        criteria.append((Lot.din == din) & (Lot.product_code + "V" + Dose.division == product_code))
    if not criteria:
        return []
    return _with_subjects(select(Dose).join(Lot, Lot.id == Dose.lot_id).where(or_(*criteria)), actor)


def subject(subject_id: str, actor: User) -> Patient:
    """A subject the actor may see. Raises NotFound."""
    return scoped_get_or_404(Patient, actor, Patient.subject_id == subject_id)


def infusion(infusion_id: int, actor: User) -> tuple[Infusion, Dose, Visit, User, User, Patient]:
    """An infusion of a subject the actor may see. Raises NotFound."""
    found = db.session.get(Infusion, infusion_id) if 0 < infusion_id <= MAX_ID else None
    patient = db.session.get(Patient, found.patient_id) if found is not None else None
    if found is None or patient is None or (actor.site_id is not None and patient.site_id != actor.site_id):
        raise NotFound(_l("No Procedure %(id)s.", id=infusion_id))
    return (found, db.session.get(Dose, found.dose_id), db.session.get(Visit, found.visit_id),
            db.session.get(User, found.nurse_id), db.session.get(User, found.witness_id), patient)


def visible_sites(actor: User) -> list[Site]:
    return list(db.session.scalars(scope_to_site(select(Site).order_by(Site.code), Site, actor)))


def everything(patient: Patient) -> SubjectRecords:
    """The subject's doses (given or allocated), their dispenses to the ward, the infusions and
    the e-signatures on the infusions, the doses and the subject."""
    records = SubjectRecords(patient)
    infusions = list(db.session.scalars(select(Infusion).where(Infusion.patient_id == patient.id)
                                        .order_by(Infusion.started_at, Infusion.id)))
    allocated = select(Allocation.dose_id).join(Visit, Visit.id == Allocation.visit_id).where(
        Visit.patient_id == patient.id, Allocation.active)
    given = [i.dose_id for i in infusions]
    doses = list(db.session.scalars(select(Dose).where(or_(Dose.id.in_(allocated), Dose.id.in_(given)))
                                    .order_by(Dose.code)))
    by_id = {d.id: d for d in doses}
    records.products = [ProductRecord(d, patient.subject_id) for d in doses]
    users = {u.id: u for u in db.session.scalars(select(User).where(User.id.in_(
        {i.nurse_id for i in infusions} | {i.witness_id for i in infusions})))}
    visits = {v.id: v for v in patient.visits}
    records.infusions = [(i, by_id[i.dose_id], visits[i.visit_id], users[i.nurse_id], users[i.witness_id])
                         for i in infusions]
    events = db.session.scalars(select(CustodyEvent).where(CustodyEvent.dose_id.in_(list(by_id)),
                                                           CustodyEvent.kind == "dispense")
                                .order_by(CustodyEvent.occurred_at, CustodyEvent.id))
    events = list(events)
    # A dispense hands the dose to a nurse, named in its to-party (ward:<site>:<username>).
    names = {event.to_party.rsplit(":", 1)[-1] for event in events}
    nurses = {u.username: u for u in db.session.scalars(select(User).where(User.username.in_(names)))}
    records.dispenses = [(event, by_id[event.dose_id], nurses.get(event.to_party.rsplit(":", 1)[-1]))
                         for event in events]
    # What each signed record is in the bundle: the infusion's Procedure, the dose's product,
    # the subject; a lot's release or recall and a shipment's dispatch or receipt sign for the
    # subject's products in them.
    targets: dict[tuple[str, str], list[str]] = {}
    for i in infusions:
        targets[("infusions", str(i.id))] = [f"Procedure/{i.id}"]
    for d in doses:
        product = f"BiologicallyDerivedProduct/{d.code}"
        targets[("doses", str(d.id))] = [product]
        targets.setdefault(("lots", str(d.lot_id)), []).append(product)
    for shipment_id, dose_id in db.session.execute(select(ShipmentItem.shipment_id, ShipmentItem.dose_id)
                                                   .where(ShipmentItem.dose_id.in_(list(by_id)))):
        targets.setdefault(("shipments", str(shipment_id)), []).append(
            f"BiologicallyDerivedProduct/{by_id[dose_id].code}")
    targets[("patients", str(patient.id))] = [f"Patient/{patient.subject_id}"]
    kinds: dict[str, list[str]] = {}
    for kind, ident in targets:
        kinds.setdefault(kind, []).append(ident)
    signatures = db.session.scalars(select(Signature).where(or_(*(
        (Signature.entity_type == kind) & Signature.entity_id.in_(idents) for kind, idents in kinds.items())))
        .order_by(Signature.signed_at, Signature.id))
    records.signatures = [(s, targets[(s.entity_type, s.entity_id)]) for s in signatures]
    return records


def returned_doses(dose_ids: list[int]) -> set[int]:
    """Doses that went back from the ward or the pharmacy (a dispense that was undone)."""
    if not dose_ids:
        return set()
    return set(db.session.scalars(select(CustodyEvent.dose_id).where(
        CustodyEvent.dose_id.in_(dose_ids), CustodyEvent.kind == "return")))


def site_of(patient: Patient) -> Site:
    site = db.session.get(Site, patient.site_id)
    if site is None:  # the foreign key makes this impossible; kept for the type checker
        raise NotFound(_l("No site."))
    return site


def everything_resources(patient: Patient, actor: User) -> list[Resource]:
    """The resources of Patient/$everything, the subject first."""
    records = everything(patient)
    site, facility_ = site_of(patient), facility()
    subject_id = patient.subject_id
    returned = returned_doses([r.dose.id for r in records.products])
    signers = {s.signer_id: s.signer for s, _ in records.signatures}
    resources: list[Resource] = [
        fhir.patient(patient), fhir.research_subject(patient), fhir.research_study(visible_sites(actor)),
        fhir.site_organization(site), fhir.site_location(site), fhir.facility_organization(facility_),
    ]
    resources += [fhir.biologically_derived_product(r, facility_) for r in records.products]
    resources += [fhir.dispense(event, dose, subject_id, nurse, dose.id in returned)
                  for event, dose, nurse in records.dispenses]
    for infusion, dose, visit, nurse, witness in records.infusions:
        resources.append(fhir.procedure(infusion, dose, visit, nurse, witness, subject_id, site.code))
        if infusion.serious:
            resources.append(fhir.adverse_event(infusion, dose, subject_id, nurse))
    resources += [fhir.provenance(signature, targets, signers.get(signature.signer_id))
                  for signature, targets in records.signatures]
    return resources
