"""What a FHIR caller may read: the records behind each resource, under the one site-scoping
rule (central roles see the whole trial, site staff their own site; another site's subject
or product answers 404, as on /api)."""
from flask import current_app
from sqlalchemy import or_, select

from cell_chain.accounts.models import Site, User
from cell_chain.accounts.permissions import scope_to_site, scoped_get_or_404
from cell_chain.batches.models import Dose, Lot
from cell_chain.core.db import db
from cell_chain.core.errors import NotFound
from cell_chain.core.signatures import Signature
from cell_chain.exchange.fhir import Facility, ProductRecord, SubjectRecords
from cell_chain.infusions.models import Allocation, Infusion, Patient, Visit
from cell_chain.labels.dose_view import dose_site_id
from cell_chain.shipments.models import CustodyEvent


def facility() -> Facility:
    return Facility(fin=current_app.config["FACILITY_FIN"], name=current_app.config["FACILITY_NAME"])


def _subject_of(dose: Dose) -> str | None:
    """The subject a dose went to (its infusion) or is allocated to."""
    given = db.session.scalar(select(Patient.subject_id).join(Infusion, Infusion.patient_id == Patient.id)
                              .where(Infusion.dose_id == dose.id))
    if given is not None:
        return given
    return db.session.scalar(select(Patient.subject_id).join(Visit, Visit.patient_id == Patient.id)
                             .join(Allocation, Allocation.visit_id == Visit.id)
                             .where(Allocation.dose_id == dose.id, Allocation.active))


def _visible(dose: Dose, actor: User) -> bool:
    return actor.site_id is None or dose_site_id(dose) == actor.site_id


def product(code: str, actor: User) -> ProductRecord:
    """A dose the actor may see. Raises NotFound (unknown, or another site's)."""
    dose = db.session.scalar(select(Dose).where(Dose.code == code))
    if dose is None or not _visible(dose, actor):
        raise NotFound(f"No BiologicallyDerivedProduct {code}.")
    return ProductRecord(dose, _subject_of(dose))


def products_by_identifier(system: str | None, value: str, actor: User) -> list[ProductRecord]:
    """Doses whose DIN, DIN with product code and division, or dose code is `value` (within
    `system` when given), among those the actor may see."""
    from cell_chain.exchange.fhir import DOSE_CODE, ISBT128, ISBT128_DIN

    stmt = select(Dose).join(Lot, Lot.id == Dose.lot_id)
    product_system = f"{ISBT128}.2.3"
    criteria = []
    if system in (None, ISBT128_DIN):
        criteria.append(Lot.din == value)
    if system in (None, DOSE_CODE):
        criteria.append(Dose.code == value)
    if system in (None, product_system) and len(value) > 13:
        din, product_code = value[:13], value[13:]
        criteria.append((Lot.din == din) & (Lot.product_code + "V" + Dose.division == product_code))
    if not criteria:
        return []
    doses = db.session.scalars(stmt.where(or_(*criteria)).order_by(Dose.code))
    return [ProductRecord(dose, _subject_of(dose)) for dose in doses if _visible(dose, actor)]


def subject(subject_id: str, actor: User) -> Patient:
    """A subject the actor may see. Raises NotFound."""
    return scoped_get_or_404(Patient, actor, Patient.subject_id == subject_id)


def infusion(infusion_id: int, actor: User) -> tuple[Infusion, Dose, Visit, User, User, Patient]:
    """An infusion of a subject the actor may see. Raises NotFound."""
    found = db.session.get(Infusion, infusion_id)
    patient = db.session.get(Patient, found.patient_id) if found is not None else None
    if found is None or patient is None or (actor.site_id is not None and patient.site_id != actor.site_id):
        raise NotFound(f"No Procedure {infusion_id}.")
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
    for event in events:
        nurse_name = event.to_party.rsplit(":", 1)[-1]
        nurse = db.session.scalar(select(User).where(User.username == nurse_name))
        records.dispenses.append((event, by_id[event.dose_id], nurse))
    targets = {("infusions", str(i.id)): f"Procedure/{i.id}" for i in infusions}
    targets |= {("doses", str(d.id)): f"BiologicallyDerivedProduct/{d.code}" for d in doses}
    targets[("patients", str(patient.id))] = f"Patient/{patient.subject_id}"
    signatures = db.session.scalars(select(Signature).where(or_(*(
        (Signature.entity_type == kind) & (Signature.entity_id == ident) for kind, ident in targets)))
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
        raise NotFound("No site.")
    return site
