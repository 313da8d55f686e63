"""Trace for recall and lookback (DESIGN §6): forward from a donor's DIN to its lots, their
doses, where each dose is now or which patient received it; backward from a patient to the
doses they were given or allocated, their lots (with recall status) and donors. A fixed number
of set-based statements each, whatever the number of lots, doses and events."""
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from flask_babel import gettext
from sqlalchemy import Select, and_, func, literal, or_, select, union
from sqlalchemy.orm import lazyload

from cell_chain.accounts.models import Site, User
from cell_chain.accounts.permissions import scope_to_site
from cell_chain.accounts.roles import Role
from cell_chain.accounts.signatures import Meaning, Signature
from cell_chain.batches.models import Donor, Dose, Lot, din_from_code
from cell_chain.core.db import db
from cell_chain.core.errors import NotFound, ValidationFailed
from cell_chain.core.isbt128 import Isbt128Error, mod37_2_check
from cell_chain.core.scanning import UnrecognizedBarcode, read_scan
from cell_chain.infusions.models import Infusion
from cell_chain.patients.models import Allocation, Patient, Visit
from cell_chain.reconciliation.rules import allocation_active
from cell_chain.reconciliation.trace_identifiers import (
    Identifier,
    normalise_identifier,
    parse_din,
    parse_subject_id,
)
from cell_chain.shipments import custody
from cell_chain.shipments.parties import WORDS as PARTY_WORDS
from cell_chain.shipments.parties import Party
from cell_chain.core.messages import _l

# Recall and lookback are QA's; monitors audit them; the lab runs the physical side of a
# recall (it may already read every lot, dose and patient, so the trace shows it nothing
# new); admins see everything. Site pharmacists and coordinators trace their own site's
# doses and patients. Nurses are not given it: their recall safeguard is the bedside stop.
TRACE_READERS = (Role.QA, Role.MONITOR, Role.ADMIN, Role.LAB, Role.PHARMACIST, Role.COORDINATOR)

def din_check(din: str) -> str:
    try:
        return din_from_code(din).check
    except (Isbt128Error, ValueError):
        return mod37_2_check(din)


def eye_readable(din: str) -> str:
    """A DIN as printed under its barcode, the check character after it: A9999 26 000123 K."""
    return f"{din[:5]} {din[5:7]} {din[7:]} {din_check(din)}"


# Where a custodian puts the dose, as the trace says it.
WHERE_WORDS = {**PARTY_WORDS, "lab": "Manufacturing facility {name}", "courier": "In transit: courier {name}",
               "ward": "{name} ward, with {nurse}"}


def describe_custodian(party: str) -> str:
    return Party.parse(party).words(phrasing=WHERE_WORDS)


# ---- what a trace holds ---------------------------------------------------------------------

@dataclass(frozen=True)
class SignatureView:
    printed_name: str
    meaning: str
    signed_at: datetime
    entity_type: str = ""  # the signed record's table: donors, lots, doses or infusions


@dataclass(frozen=True)
class Administration:
    """The patient a dose is allocated to, and its infusion once given."""

    subject_id: str
    site_code: str
    visit: int
    coi: str
    administered_at: datetime | None = None
    ended_at: datetime | None = None
    volume_ml: float | None = None
    partial: bool | None = None
    out_of_window: bool | None = None


@dataclass
class DoseTrace:
    code: str
    number: int
    status: str
    expires_at: datetime
    custodian: str
    location: str
    custody_unbroken: bool
    patient: Administration | None
    signatures: list[SignatureView] = field(default_factory=list)


@dataclass(frozen=True)
class DonorView:
    donor_code: str
    din: str
    din_check: str
    collected_on: date
    status: str


@dataclass
class LotView:
    lot_number: str
    din: str
    din_check: str
    status: str
    presentation: str
    manufactured_on: date
    status_reason: str | None
    recalled_at: datetime | None = None
    signatures: list[SignatureView] = field(default_factory=list)

    @property
    def recalled(self) -> bool:
        return self.status == "recalled"


@dataclass
class LotTrace(LotView):
    doses: list[DoseTrace] = field(default_factory=list)


@dataclass
class DonorTrace:
    """Forward: donor → lots → doses → where each is now, or its patient."""

    requested: str
    matched: str  # "donor" or "lot": whose DIN was asked for
    donor: DonorView
    lots: list[LotTrace]
    signatures: list[SignatureView] = field(default_factory=list)  # the donor's eligibility

    @property
    def doses(self) -> list[DoseTrace]:
        return [d for lot in self.lots for d in lot.doses]

    @property
    def patients(self) -> list[str]:
        return sorted({d.patient.subject_id for d in self.doses
                       if d.patient is not None and d.patient.administered_at is not None})


@dataclass
class PatientDose:
    code: str
    visit: int
    status: str
    coi: str
    administered_at: datetime | None
    ended_at: datetime | None
    volume_ml: float | None
    partial: bool | None
    out_of_window: bool | None
    custodian: str
    location: str
    lot: LotView
    donor: DonorView
    signatures: list[SignatureView] = field(default_factory=list)

    @property
    def lookback(self) -> bool:
        """Given to the patient from a lot since recalled."""
        return self.administered_at is not None and self.lot.recalled


@dataclass
class PatientTrace:
    """Backward: patient → doses (given or allocated) → lots (recall status) → donors."""

    subject_id: str
    site_code: str
    arm: str
    status: str
    enrolled_on: date
    doses: list[PatientDose]

    @property
    def lookback_doses(self) -> list[str]:
        return [d.code for d in self.doses if d.lookback]


# ---- the statements -------------------------------------------------------------------------

def _signatures(records: dict[str, list[int]]) -> dict[tuple[str, int], list[SignatureView]]:
    """Every signature on these records (table name → ids), in one statement."""
    found: dict[tuple[str, int], list[SignatureView]] = defaultdict(list)
    criteria = [and_(Signature.entity_type == table, Signature.entity_id.in_([str(i) for i in ids]))
                for table, ids in records.items() if ids]
    if not criteria:
        return found
    stmt = (select(Signature.entity_type, Signature.entity_id, Signature.printed_name, Signature.meaning,
                   Signature.signed_at)
            .where(or_(*criteria)).order_by(Signature.signed_at, Signature.id))
    for row in db.session.execute(stmt):
        found[(row.entity_type, int(row.entity_id))].append(
            SignatureView(row.printed_name, row.meaning, row.signed_at, row.entity_type))
    return found


def _recalled_at(signatures: list[SignatureView]) -> datetime | None:
    return next((s.signed_at for s in reversed(signatures) if s.meaning == Meaning.RECALLED.value), None)


def _custody(dose_ids: list[int]) -> dict[int, tuple[str, bool]]:
    """(current custodian, chain unbroken) per dose: the custody module's rules, over the
    events of all the doses fetched in one statement."""
    origin = custody.lab_party()
    result = {}
    for dose_id, events in custody.events_of(dose_ids).items():
        holder = events[-1].to_party if events else origin  # as custody.current_custodian
        result[dose_id] = (holder, custody.check_chain(events, origin).unbroken)
    return result


def _lot_view(lot: Lot, signatures: list[SignatureView], cls: type = LotView, **extra: Any) -> Any:
    return cls(lot_number=lot.lot_number, din=lot.din, din_check=din_check(lot.din), status=lot.status,
               presentation=lot.presentation, manufactured_on=lot.manufactured_on,
               status_reason=lot.status_reason, recalled_at=_recalled_at(signatures),
               signatures=signatures, **extra)


def _donor_view(donor: Donor) -> DonorView:
    return DonorView(donor.donor_code, donor.din, din_check(donor.din), donor.collected_on, donor.status)


def _patient_columns() -> tuple[Any, ...]:
    return (Patient.subject_id, Site.code.label("site_code"), Visit.number.label("visit"),
            func.coalesce(Infusion.coi, Allocation.coi).label("coi"), Infusion.started_at, Infusion.ended_at,
            Infusion.volume_ml, Infusion.partial, Infusion.out_of_window, Infusion.id.label("infusion_id"))


def _dose_signatures(signatures: dict[tuple[str, int], list[SignatureView]], row: Any) -> list[SignatureView]:
    """A dose's own signatures (destroyed, returned) and its infusion's (administered, witnessed)."""
    found = signatures.get(("doses", row.id), []) + signatures.get(("infusions", row.infusion_id or -1), [])
    return sorted(found, key=lambda s: s.signed_at)


def _joined_to_patient(stmt: Select[Any]) -> Select[Any]:
    """A dose's patient: the infusion's once given, else its active allocation's."""
    return (stmt.outerjoin(Infusion, Infusion.dose_id == Dose.id)
            .outerjoin(Allocation, and_(Allocation.dose_id == Dose.id, allocation_active()))
            .outerjoin(Visit, Visit.id == func.coalesce(Infusion.visit_id, Allocation.visit_id))
            .outerjoin(Patient, Patient.id == Visit.patient_id)
            .outerjoin(Site, Site.id == Patient.site_id))


def _administration(row: Any) -> Administration | None:
    if row.subject_id is None:
        return None
    return Administration(row.subject_id, row.site_code, row.visit, row.coi, row.started_at, row.ended_at,
                          row.volume_ml, row.partial, row.out_of_window)


def donor_doses_statement(lot_ids: list[int], *, site_id: int | None) -> Select[Any]:
    """The doses of these lots with their patients (only this site's when `site_id`)."""
    stmt = (_joined_to_patient(select(Dose.id, Dose.lot_id, Dose.code, Dose.number, Dose.status, Dose.expires_at,
                                      *_patient_columns()).select_from(Dose))
            .where(Dose.lot_id.in_(lot_ids))
            .order_by(Dose.lot_id, Dose.number))
    if site_id is not None:
        stmt = stmt.where(Patient.site_id == site_id)
    return stmt


def patient_dose_ids(patient_id: int) -> list[int]:
    """Every dose given or allocated to the patient: a UNION of two indexed look-ups, read
    first (as one `OR` of two `IN (subquery)` filters PostgreSQL scanned every dose and
    allocation to test them)."""
    given = select(Infusion.dose_id).where(Infusion.patient_id == patient_id)
    allocated = (select(Allocation.dose_id).select_from(Visit)
                 .join(Allocation, and_(Allocation.visit_id == Visit.id, allocation_active()))
                 .where(Visit.patient_id == patient_id))
    return sorted(db.session.scalars(union(given, allocated)))


def patient_doses_statement(dose_ids: list[int]) -> Select[Any]:
    return (_joined_to_patient(select(Dose.id, Dose.code, Dose.status, Lot, *_patient_columns())
                               .select_from(Dose).join(Lot, Lot.id == Dose.lot_id))
            .where(Dose.id.in_(dose_ids))
            .order_by(Visit.number, Dose.code))


def trace_donor(din: str, *, actor: User) -> DonorTrace:
    """Forward trace from a donor's DIN (a lot's DIN finds its donor). Site staff see only
    their own site's doses; a donor with none of them answers 404. Raises ValidationFailed,
    NotFound."""
    code = parse_din(din)
    donor = db.session.scalar(select(Donor).where(Donor.din == code))
    matched = "donor"
    if donor is None:
        donor = db.session.scalar(select(Donor).join(Lot, Lot.donor_id == Donor.id).where(Lot.din == code))
        matched = "lot"
    if donor is None:
        raise NotFound(_l("No donor or lot has DIN %(code)s.", code=code))
    lots = list(db.session.scalars(select(Lot).where(Lot.donor_id == donor.id).order_by(Lot.lot_number)))
    stmt = donor_doses_statement([lot.id for lot in lots], site_id=actor.site_id)
    rows = db.session.execute(stmt).all() if lots else []
    if actor.site_id is not None and not rows:
        raise NotFound(_l("No donor or lot has DIN %(code)s among your site's doses.", code=code))
    holders = _custody([r.id for r in rows])
    signatures = _signatures({"donors": [donor.id], "lots": [lot.id for lot in lots],
                              "doses": [r.id for r in rows], "infusions": [r.infusion_id for r in rows if r.infusion_id]})
    doses: dict[int, list[DoseTrace]] = defaultdict(list)
    for row in rows:
        holder, unbroken = holders[row.id]
        doses[row.lot_id].append(DoseTrace(row.code, row.number, row.status, row.expires_at, holder,
                                           describe_custodian(holder), unbroken, _administration(row),
                                           _dose_signatures(signatures, row)))
    shown = [lot for lot in lots if actor.site_id is None or doses.get(lot.id)]
    return DonorTrace(code, matched, _donor_view(donor),
                      [_lot_view(lot, signatures.get(("lots", lot.id), []), LotTrace, doses=doses.get(lot.id, []))
                       for lot in shown],
                      signatures.get(("donors", donor.id), []))


def trace_patient(subject_id: str, *, actor: User) -> PatientTrace:
    """Backward trace from a patient: every dose given or allocated to them, its lot (with
    recall status) and donor. Another site's patient answers 404. Raises ValidationFailed,
    NotFound."""
    code = parse_subject_id(subject_id)
    # The schedule is not needed here: the visits' numbers come with the doses.
    patient = db.session.scalar(scope_to_site(select(Patient).options(lazyload(Patient.visits))
                                              .where(Patient.subject_id == code), Patient, actor))
    if patient is None:
        raise NotFound(_l("No patient %(code)s.", code=code))
    stmt = patient_doses_statement(patient_dose_ids(patient.id))
    rows = db.session.execute(stmt).all()
    holders = _custody([r.id for r in rows])
    lots = {r.Lot.id: r.Lot for r in rows}
    signatures = _signatures({"lots": list(lots), "doses": [r.id for r in rows],
                              "infusions": [r.infusion_id for r in rows if r.infusion_id]})
    doses = []
    for row in rows:
        lot: Lot = row.Lot
        holder, _ = holders[row.id]
        doses.append(PatientDose(
            code=row.code, visit=row.visit, status=row.status, coi=row.coi, administered_at=row.started_at,
            ended_at=row.ended_at, volume_ml=row.volume_ml, partial=row.partial, out_of_window=row.out_of_window,
            custodian=holder, location=describe_custodian(holder),
            lot=_lot_view(lot, signatures.get(("lots", lot.id), [])), donor=_donor_view(lot.donor),
            signatures=_dose_signatures(signatures, row)))
    return PatientTrace(patient.subject_id, patient.site.code, patient.arm, patient.status, patient.enrolled_on, doses)


def _nothing_matches(entry: str) -> ValidationFailed:
    return ValidationFailed({"q": [gettext(
        "Nothing in cell-chain matches “%(entry)s”: no DIN, dose, lot, donor or subject ID has it. Enter a DIN "
        "(e.g. A9999 26 000123), a dose code, a lot number, a donor code or a subject ID (e.g. LZ-0042), or "
        "scan a dose label or wristband.", entry=entry[:40])]})


def _scanned(entry: str) -> tuple[str, str]:
    try:
        scan = read_scan(entry)
    except UnrecognizedBarcode:
        raise ValidationFailed({"q": [gettext("That scan is not one of our dose labels. Scan the bag label's "
                                              "Data Matrix or its DIN barcode, or type the DIN.")]}) from None
    if scan.kind == "dose" and scan.obj is not None:
        return "donor", scan.obj.lot.din
    if scan.kind == "lot" and scan.obj is not None:
        return "donor", scan.obj.din
    raise ValidationFailed({"q": [gettext("No dose in cell-chain carries that label.")]})


def _named_din(found: Identifier) -> str | None:
    """The DIN a dose code, lot number or donor code leads to (one statement)."""
    if found.kind == "dose":
        return db.session.scalar(select(Lot.din).join(Dose, Dose.lot_id == Lot.id).where(Dose.code == found.key))
    spellings = found.spellings
    stmt = union(select(Lot.din.label("din"), literal(0).label("rank"))
                 .where(func.upper(Lot.lot_number).in_(spellings)),
                 select(Donor.din.label("din"), literal(1).label("rank"))
                 .where(func.upper(Donor.donor_code).in_(spellings))).subquery()
    return db.session.scalar(select(stmt.c.din).order_by(stmt.c.rank).limit(1))


def resolve_entry(text: str, *, actor: User | None = None) -> tuple[str, str]:
    """What someone typed or scanned into the trace form: ("patient", subject ID) or
    ("donor", DIN). A dose label or code, a lot number or a donor code names its lot's or
    donor's DIN. Raises ValidationFailed with a message for the form, saying in words when
    nothing matches (another site's patient does not match for site staff)."""
    found = normalise_identifier(text)
    if found.kind == "scan":
        return _scanned(found.key)
    if found.kind == "subject":
        if actor is not None and db.session.scalar(scope_to_site(
                select(Patient.id).where(Patient.subject_id == found.key), Patient, actor)) is None:
            raise _nothing_matches(text.strip())
        return "patient", found.key
    if found.kind == "din":
        return "donor", found.key
    if (din := _named_din(found)) is None:
        raise _nothing_matches(text.strip())
    return "donor", din


def _dose_record(code: str, signature: SignatureView, patient: Administration | None) -> str:
    if signature.entity_type == "infusions" and patient is not None:
        return f"Infusion of dose {code} to {patient.subject_id}, visit {patient.visit}"
    return f"Dose {code}"


def dose_signature_records(trace: DonorTrace) -> list[tuple[str, SignatureView]]:
    """Every signature of a forward trace with the record it signs, for printing."""
    lines = [(f"Donor {trace.donor.donor_code} eligibility (DIN {eye_readable(trace.donor.din)})", s)
             for s in trace.signatures]
    for lot in trace.lots:
        lines += [(f"Lot {lot.lot_number} (DIN {eye_readable(lot.din)})", s) for s in lot.signatures]
        for dose in lot.doses:
            lines += [(_dose_record(dose.code, s, dose.patient), s) for s in dose.signatures]
    return sorted(lines, key=lambda item: item[1].signed_at)


def patient_signature_records(trace: PatientTrace) -> list[tuple[str, SignatureView]]:
    """Every signature of a backward trace with the record it signs, for printing."""
    lines: list[tuple[str, SignatureView]] = []
    seen_lots: set[str] = set()
    for dose in trace.doses:
        if dose.lot.lot_number not in seen_lots:
            seen_lots.add(dose.lot.lot_number)
            lines += [(f"Lot {dose.lot.lot_number} (DIN {eye_readable(dose.lot.din)})", s) for s in dose.lot.signatures]
        given = Administration(trace.subject_id, trace.site_code, dose.visit, dose.coi)
        lines += [(_dose_record(dose.code, s, given), s) for s in dose.signatures]
    return sorted(lines, key=lambda item: item[1].signed_at)
