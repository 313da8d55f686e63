"""The forward and backward traces as documents for export.py's CSV and PDF."""
from datetime import datetime
from typing import Any

from cell_chain.accounts.models import User
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


def words(code: str | None) -> str:
    return (code or "").replace("_", " ")


def _scope(actor: User) -> str:
    return f"Site {actor.site_code} only (doses of its patients)" if actor.site_id is not None else "Whole trial"


def _recall(lot: Any) -> str:
    if not lot.recalled:
        return ""
    when = f" {lot.recalled_at:%Y-%m-%d %H:%M} UTC" if lot.recalled_at else ""
    return f"recalled{when}: {lot.status_reason or 'no reason recorded'}"


LOT_COLUMNS = [Column("lot_number", "Lot"), Column("din", "Lot DIN"), Column("status", "Status"),
               Column("presentation", "Presentation"), Column("manufactured_on", "Manufactured"),
               Column("doses", "Doses", numeric=True), Column("administered", "Given", numeric=True),
               Column("recall", "Recall")]
DOSE_COLUMNS = [Column("lot_number", "Lot"), Column("code", "Dose"), Column("status", "Status"),
                Column("location", "Where now"), Column("chain", "Custody chain"), Column("subject_id", "Patient"),
                Column("visit", "Visit", numeric=True), Column("coi", "COI"),
                Column("administered_at", "Given (UTC)"), Column("volume_ml", "Volume (ml)", numeric=True)]


def donor_report(trace: DonorTrace, actor: User, now: datetime) -> Report:
    lots, doses = [], []
    for lot in trace.lots:
        given = [d for d in lot.doses if d.patient is not None and d.patient.administered_at is not None]
        lots.append({"lot_number": lot.lot_number, "din": eye_readable(lot.din), "status": words(lot.status),
                     "presentation": lot.presentation, "manufactured_on": lot.manufactured_on,
                     "doses": len(lot.doses), "administered": len(given), "recall": _recall(lot)})
        for dose in lot.doses:
            patient = dose.patient
            doses.append({"lot_number": lot.lot_number, "code": dose.code, "status": words(dose.status),
                          "location": dose.location, "chain": "unbroken" if dose.custody_unbroken else "BROKEN",
                          "subject_id": patient.subject_id if patient else None,
                          "visit": patient.visit if patient else None, "coi": patient.coi if patient else None,
                          "administered_at": patient.administered_at if patient else None,
                          "volume_ml": patient.volume_ml if patient else None})
    donor = trace.donor
    notes = [f"Donor {donor.donor_code}, DIN {eye_readable(donor.din)}, collected {donor.collected_on.isoformat()}, "
             f"{words(donor.status)}."]
    if trace.matched == "lot":
        lot_number = next((lot.lot_number for lot in trace.lots if lot.din == trace.requested), "")
        notes.append(f"Traced from DIN {eye_readable(trace.requested)}, lot {lot_number} of this donor.")
    exposed = sorted({d.patient.subject_id for lot in trace.lots if lot.recalled for d in lot.doses
                      if d.patient is not None and d.patient.administered_at is not None})
    if exposed:
        notes.append("Lookback: patients given doses of a recalled lot: " + ", ".join(exposed) + ".")
    signatures = [SignatureLine(s.printed_name, s.meaning, s.signed_at, record)
                  for record, s in dose_signature_records(trace)]
    return Report(
        f"trace-donor-{donor.din}", f"Forward trace: donor {donor.donor_code} to patients", _scope(actor), now,
        printed_by(actor),
        [Table("Lots of the donor", LOT_COLUMNS, lots,
               {"doses": sum(r["doses"] for r in lots), "administered": sum(r["administered"] for r in lots)}),
         Table("Doses: where each is now, or its patient", DOSE_COLUMNS, doses,
               {"lot_number": "Total", "code": f"{len(doses)} doses",
                "subject_id": f"{len(trace.patients)} given"})],
        signatures, notes)


PATIENT_DOSE_COLUMNS = [
    Column("visit", "Visit", numeric=True), Column("code", "Dose"), Column("status", "Status"), Column("coi", "COI"),
    Column("administered_at", "Given (UTC)"), Column("volume_ml", "Volume (ml)", numeric=True),
    Column("notes", "Notes"), Column("lot_number", "Lot"), Column("lot_status", "Lot status"),
    Column("donor_din", "Donor DIN"), Column("location", "Where now")]


def patient_report(trace: PatientTrace, actor: User, now: datetime) -> Report:
    rows = []
    for dose in trace.doses:
        notes = [n for n, flag in (("partial", dose.partial), ("out of window", dose.out_of_window),
                                   ("LOOKBACK: lot recalled after it was given", dose.lookback)) if flag]
        rows.append({"visit": dose.visit, "code": dose.code, "status": words(dose.status), "coi": dose.coi,
                     "administered_at": dose.administered_at, "volume_ml": dose.volume_ml, "notes": "; ".join(notes),
                     "lot_number": dose.lot.lot_number,
                     "lot_status": words(dose.lot.status) + (f" ({_recall(dose.lot)})" if dose.lot.recalled else ""),
                     "donor_din": eye_readable(dose.donor.din), "location": dose.location})
    given = [d for d in trace.doses if d.administered_at is not None]
    notes = [f"Patient {trace.subject_id}, site {trace.site_code}, {trace.arm} arm, {trace.status}, "
             f"enrolled {trace.enrolled_on.isoformat()}."]
    if trace.lookback_doses:
        notes.append("Lookback: doses given from lots since recalled: " + ", ".join(trace.lookback_doses) + ".")
    signatures = [SignatureLine(s.printed_name, s.meaning, s.signed_at, record)
                  for record, s in patient_signature_records(trace)]
    return Report(
        f"trace-patient-{trace.subject_id}", f"Backward trace: patient {trace.subject_id} to donors", _scope(actor),
        now, printed_by(actor),
        [Table("Doses given or allocated, their lots and donors", PATIENT_DOSE_COLUMNS, rows,
               {"code": f"{len(rows)} doses", "volume_ml": sum(d.volume_ml or 0 for d in given),
                "administered_at": f"{len(given)} given"})],
        signatures, notes)
