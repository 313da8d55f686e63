"""The forward and backward traces as documents for export.py's CSV and PDF."""
from datetime import datetime
from typing import Any

from cell_chain.accounts.models import User
from cell_chain.core.messages import Joined, Message, _l, state
from cell_chain.reconciliation.export import Column, Report, SignatureLine, Table
from cell_chain.reconciliation.trace import (
    DonorTrace,
    PatientTrace,
    dose_signature_records,
    eye_readable,
    patient_signature_records,
)


def printed_by(actor: User) -> str:
    return f"{actor.display_name} ({actor.username}, {actor.role})"


def words(code: str | None) -> Message:
    return state(code)


def _scope(actor: User) -> Message:
    if actor.site_id is not None:
        return _l("Site %(site)s only (doses of its patients)", site=actor.site_code)
    return _l("Whole trial")


def _recall(lot: Any) -> Message | str:
    if not lot.recalled:
        return ""
    reason = lot.status_reason or _l("no reason recorded")
    if lot.recalled_at:
        return _l("recalled %(time)s: %(reason)s", time=lot.recalled_at, reason=reason)
    return _l("recalled: %(reason)s", reason=reason)


LOT_COLUMNS = [Column("lot_number", _l("Lot")), Column("din", _l("Lot DIN")), Column("status", _l("Status")),
               Column("presentation", _l("Presentation")), Column("manufactured_on", _l("Manufactured")),
               Column("doses", _l("Doses"), numeric=True), Column("administered", _l("Given"), numeric=True),
               Column("recall", _l("Recall"))]
DOSE_COLUMNS = [Column("lot_number", _l("Lot")), Column("code", _l("Dose")), Column("status", _l("Status")),
                Column("location", _l("Where now")), Column("chain", _l("Custody chain")),
                Column("subject_id", _l("Patient")), Column("visit", _l("Visit"), numeric=True), Column("coi", "COI"),
                Column("administered_at", _l("Given (UTC)")), Column("volume_ml", _l("Volume (ml)"), numeric=True)]


def donor_report(trace: DonorTrace, actor: User, now: datetime) -> Report:
    lots, doses = [], []
    for lot in trace.lots:
        given = [d for d in lot.doses if d.patient is not None and d.patient.administered_at is not None]
        lots.append({"lot_number": lot.lot_number, "din": eye_readable(lot.din), "status": words(lot.status),
                     "presentation": words(lot.presentation), "manufactured_on": lot.manufactured_on,
                     "doses": len(lot.doses), "administered": len(given), "recall": _recall(lot)})
        for dose in lot.doses:
            patient = dose.patient
            doses.append({"lot_number": lot.lot_number, "code": dose.code, "status": words(dose.status),
                          "location": dose.location, "chain": _l("unbroken") if dose.custody_unbroken else _l("BROKEN"),
                          "subject_id": patient.subject_id if patient else None,
                          "visit": patient.visit if patient else None, "coi": patient.coi if patient else None,
                          "administered_at": patient.administered_at if patient else None,
                          "volume_ml": patient.volume_ml if patient else None})
    donor = trace.donor
    notes: list[Message] = [_l("Donor %(donor)s, DIN %(din)s, collected %(day)s, %(status)s.", donor=donor.donor_code,
                               din=eye_readable(donor.din), day=donor.collected_on, status=words(donor.status))]
    if trace.matched == "lot":
        lot_number = next((lot.lot_number for lot in trace.lots if lot.din == trace.requested), "")
        notes.append(_l("Traced from DIN %(din)s, lot %(lot)s of this donor.", din=eye_readable(trace.requested),
                        lot=lot_number))
    exposed = sorted({d.patient.subject_id for lot in trace.lots if lot.recalled for d in lot.doses
                      if d.patient is not None and d.patient.administered_at is not None})
    if exposed:
        notes.append(_l("Lookback: patients given doses of a recalled lot: %(patients)s.", patients=", ".join(exposed)))
    signatures = [SignatureLine(s.printed_name, s.meaning, s.signed_at, record)
                  for record, s in dose_signature_records(trace)]
    return Report(
        f"trace-donor-{donor.din}", _l("Forward trace: donor %(donor)s to patients", donor=donor.donor_code),
        _scope(actor), now,
        printed_by(actor),
        [Table(_l("Lots of the donor"), LOT_COLUMNS, lots,
               {"doses": sum(r["doses"] for r in lots), "administered": sum(r["administered"] for r in lots)}),
         Table(_l("Doses: where each is now, or its patient"), DOSE_COLUMNS, doses,
               {"lot_number": _l("Total"), "code": _l("%(count)s doses", count=len(doses)),
                "subject_id": _l("%(count)s given", count=len(trace.patients))})],
        signatures, notes)


PATIENT_DOSE_COLUMNS = [
    Column("visit", _l("Visit"), numeric=True), Column("code", _l("Dose")), Column("status", _l("Status")),
    Column("coi", "COI"), Column("administered_at", _l("Given (UTC)")), Column("volume_ml", _l("Volume (ml)"), numeric=True),
    Column("notes", _l("Notes")), Column("lot_number", _l("Lot")), Column("lot_status", _l("Lot status")),
    Column("donor_din", _l("Donor DIN")), Column("location", _l("Where now"))]


def patient_report(trace: PatientTrace, actor: User, now: datetime) -> Report:
    rows = []
    for dose in trace.doses:
        notes = [n for n, flag in ((_l("partial"), dose.partial), (_l("out of window"), dose.out_of_window),
                                   (_l("LOOKBACK: lot recalled after it was given"), dose.lookback)) if flag]
        rows.append({"visit": dose.visit, "code": dose.code, "status": words(dose.status), "coi": dose.coi,
                     "administered_at": dose.administered_at, "volume_ml": dose.volume_ml, "notes": Joined(notes),
                     "lot_number": dose.lot.lot_number,
                     "lot_status": _l("%(status)s (%(recall)s)", status=words(dose.lot.status), recall=_recall(dose.lot))
                     if dose.lot.recalled else words(dose.lot.status),
                     "donor_din": eye_readable(dose.donor.din), "location": dose.location})
    given = [d for d in trace.doses if d.administered_at is not None]
    notes: list[Message] = [_l("Patient %(subject)s, site %(site)s, %(arm)s arm, %(status)s, enrolled %(day)s.",
                               subject=trace.subject_id, site=trace.site_code, arm=words(trace.arm),
                               status=words(trace.status), day=trace.enrolled_on)]
    if trace.lookback_doses:
        notes.append(_l("Lookback: doses given from lots since recalled: %(doses)s.",
                        doses=", ".join(trace.lookback_doses)))
    signatures = [SignatureLine(s.printed_name, s.meaning, s.signed_at, record)
                  for record, s in patient_signature_records(trace)]
    return Report(
        f"trace-patient-{trace.subject_id}", _l("Backward trace: patient %(subject)s to donors", subject=trace.subject_id),
        _scope(actor),
        now, printed_by(actor),
        [Table(_l("Doses given or allocated, their lots and donors"), PATIENT_DOSE_COLUMNS, rows,
               {"code": _l("%(count)s doses", count=len(rows)), "volume_ml": sum(d.volume_ml or 0 for d in given),
                "administered_at": _l("%(count)s given", count=len(given))})],
        signatures, notes)
