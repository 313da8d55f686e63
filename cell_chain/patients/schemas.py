"""API schemas for patients, visits and allocation."""
from typing import Any

import marshmallow as ma
from marshmallow import validate

from cell_chain.core.clock import site_date, utcnow
from cell_chain.core.schemas import PageArgs, SignatureIn, StrictSchema
from cell_chain.patients.enrolment import visit_state
from cell_chain.patients.labels import wristband_payload
from cell_chain.patients.models import ARMS

VISIT_STATES = ["upcoming", "due", "overdue", "missed", "done", "done_out_of_window", "skipped"]


class PatientIn(StrictSchema):
    site_code = ma.fields.String(required=True, validate=validate.Length(min=1, max=8))
    arm = ma.fields.String(required=True, validate=validate.OneOf(ARMS))
    enrolled_on = ma.fields.Date(required=True)
    initials = ma.fields.String(required=True, validate=validate.Length(min=1, max=8))
    birth_year = ma.fields.Integer(required=True, strict=True, validate=validate.Range(min=1900, max=2100))


class VisitOut(ma.Schema):
    number = ma.fields.Integer()
    target_date = ma.fields.Date()
    window_start = ma.fields.Date()
    window_end = ma.fields.Date()
    status = ma.fields.Method("_status", metadata={"type": "string", "enum": VISIT_STATES})
    dose_code = ma.fields.Method("_dose", metadata={"type": "string", "nullable": True})
    coi = ma.fields.Method("_coi", metadata={"type": "string", "nullable": True})
    skip_reason = ma.fields.String(allow_none=True)

    def _status(self, visit: Any) -> str:
        # (the window is days of the patient's hospital's calendar)
        return visit_state(visit, site_date(utcnow(), visit.patient.site.time_zone))

    def _dose(self, visit: Any) -> str | None:
        return visit.active_allocation.dose.code if visit.active_allocation else None

    def _coi(self, visit: Any) -> str | None:
        return visit.active_allocation.coi if visit.active_allocation else None


class PatientOut(ma.Schema):
    subject_id = ma.fields.String()
    site_code = ma.fields.Function(lambda p: p.site.code)
    arm = ma.fields.String()
    initials = ma.fields.String()
    birth_year = ma.fields.Integer()
    enrolled_on = ma.fields.Date()
    status = ma.fields.String()
    withdrawal_reason = ma.fields.String(allow_none=True)
    wristband = ma.fields.Function(wristband_payload)
    visits = ma.fields.List(ma.fields.Nested(VisitOut))


class PatientQuery(PageArgs):
    site_code = ma.fields.String(validate=validate.Length(max=8))
    arm = ma.fields.String(validate=validate.OneOf(ARMS))


class WithdrawIn(StrictSchema):
    reason = ma.fields.String(required=True, validate=validate.Length(min=1, max=2000))
    signature = ma.fields.Nested(SignatureIn, required=True)


class AllocateIn(StrictSchema):
    dose_code = ma.fields.String(validate=validate.Length(min=1, max=24))


class AllocationOut(ma.Schema):
    dose_code = ma.fields.Function(lambda a: a.dose.code)
    coi = ma.fields.String()
    subject_id = ma.fields.Function(lambda a: a.visit.patient.subject_id)
    visit = ma.fields.Function(lambda a: a.visit.number)
    expires_at = ma.fields.Function(lambda a: a.dose.expires_at.isoformat())


class DeallocateIn(StrictSchema):
    reason = ma.fields.String(required=True, validate=validate.Length(min=1, max=2000))
