"""API schemas of the forward (donor) and backward (patient) traces."""
import marshmallow as ma

from cell_chain.batches.models import DONOR_STATUSES, DOSE_STATUSES, LOT_STATUSES, PRESENTATIONS
from cell_chain.patients.models import ARMS, PATIENT_STATUSES


def _enum(values: tuple[str, ...]) -> dict[str, object]:
    return {"enum": list(values)}


class TraceSignatureOut(ma.Schema):
    printed_name = ma.fields.String()
    meaning = ma.fields.String()
    signed_at = ma.fields.DateTime()


class TraceDonorOut(ma.Schema):
    donor_code = ma.fields.String()
    din = ma.fields.String(metadata={"description": "13-character DIN (ISBT 128 data structure 001)"})
    din_check = ma.fields.String(metadata={"description": "ISO 7064 Mod 37-2 check character, printed boxed"})
    collected_on = ma.fields.Date()
    status = ma.fields.String(metadata=_enum(DONOR_STATUSES))


class TraceLotOut(ma.Schema):
    lot_number = ma.fields.String()
    din = ma.fields.String()
    din_check = ma.fields.String()
    status = ma.fields.String(metadata=_enum(LOT_STATUSES))
    recalled = ma.fields.Boolean()
    recall_reason = ma.fields.Function(lambda lot: lot.status_reason if lot.recalled else None,
                                       metadata={"type": "string", "nullable": True})
    recalled_at = ma.fields.DateTime(allow_none=True)
    presentation = ma.fields.String(metadata=_enum(PRESENTATIONS))
    manufactured_on = ma.fields.Date()
    signatures = ma.fields.List(ma.fields.Nested(TraceSignatureOut))


class TraceAdministrationOut(ma.Schema):
    subject_id = ma.fields.String()
    site_code = ma.fields.String()
    visit = ma.fields.Integer(metadata={"description": "Visit number, 1-4"})
    coi = ma.fields.String(metadata={"description": "Chain of Identity identifier of the allocation"})
    administered_at = ma.fields.DateTime(allow_none=True, metadata={"description": "Infusion start; null until given"})
    ended_at = ma.fields.DateTime(allow_none=True)
    volume_ml = ma.fields.Float(allow_none=True)
    partial = ma.fields.Boolean(allow_none=True)
    out_of_window = ma.fields.Boolean(allow_none=True)


class TraceDoseOut(ma.Schema):
    code = ma.fields.String()
    number = ma.fields.Integer()
    status = ma.fields.String(metadata=_enum(DOSE_STATUSES))
    expires_at = ma.fields.DateTime()
    custodian = ma.fields.String(metadata={"description": "Current custodian per the custody chain"})
    location = ma.fields.String(metadata={"description": "The custodian in words"})
    custody_unbroken = ma.fields.Boolean()
    patient = ma.fields.Nested(TraceAdministrationOut, allow_none=True,
                               metadata={"description": "The patient it is allocated to or was given to"})
    signatures = ma.fields.List(ma.fields.Nested(TraceSignatureOut))


class TraceLotWithDosesOut(TraceLotOut):
    doses = ma.fields.List(ma.fields.Nested(TraceDoseOut))


class DonorTraceOut(ma.Schema):
    din = ma.fields.String(attribute="requested", metadata={"description": "The DIN asked for"})
    matched = ma.fields.String(metadata={"enum": ["donor", "lot"],
                                         "description": "Whether that DIN is the donor's or one of its lots'"})
    donor = ma.fields.Nested(TraceDonorOut)
    signatures = ma.fields.List(ma.fields.Nested(TraceSignatureOut), metadata={"description": "Eligibility determination"})
    lots = ma.fields.List(ma.fields.Nested(TraceLotWithDosesOut))
    patients = ma.fields.List(ma.fields.String(), metadata={"description": "Subject IDs given a dose of this donor"})


class TracePatientDoseOut(ma.Schema):
    code = ma.fields.String()
    visit = ma.fields.Integer()
    status = ma.fields.String(metadata=_enum(DOSE_STATUSES))
    coi = ma.fields.String()
    administered_at = ma.fields.DateTime(allow_none=True)
    ended_at = ma.fields.DateTime(allow_none=True)
    volume_ml = ma.fields.Float(allow_none=True)
    partial = ma.fields.Boolean(allow_none=True)
    out_of_window = ma.fields.Boolean(allow_none=True)
    custodian = ma.fields.String()
    location = ma.fields.String()
    lookback = ma.fields.Boolean(metadata={"description": "Given to the patient from a lot since recalled"})
    lot = ma.fields.Nested(TraceLotOut)
    donor = ma.fields.Nested(TraceDonorOut)
    signatures = ma.fields.List(ma.fields.Nested(TraceSignatureOut))


class PatientTraceOut(ma.Schema):
    subject_id = ma.fields.String()
    site_code = ma.fields.String()
    arm = ma.fields.String(metadata=_enum(ARMS))
    status = ma.fields.String(metadata=_enum(PATIENT_STATUSES))
    enrolled_on = ma.fields.Date()
    doses = ma.fields.List(ma.fields.Nested(TracePatientDoseOut))
    lookback_doses = ma.fields.List(ma.fields.String(),
                                    metadata={"description": "Codes of doses given from lots since recalled"})
