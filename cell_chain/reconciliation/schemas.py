"""API schemas for the reconciliation reports."""
import marshmallow as ma
from marshmallow import validate

from cell_chain.core.schemas import StrictSchema
from cell_chain.patients.schemas import VISIT_STATES
from cell_chain.reconciliation.discrepancies import Code
from cell_chain.reconciliation.lots import COUNTS as LOT_COUNTS
from cell_chain.reconciliation.patients import OUTCOMES, TOTAL_FIELDS
from cell_chain.reconciliation.sites import COUNTS as SITE_COUNTS

_SITE_CODE = validate.Length(min=1, max=8)


def _nullable_string(**kwargs: object) -> ma.fields.String:
    return ma.fields.String(allow_none=True, **kwargs)


# ---- queries ---------------------------------------------------------------------------------

class ReportPage(StrictSchema):
    """Reports list up to 5,000 rows a page; totals always cover the whole scope."""

    limit = ma.fields.Integer(load_default=500, validate=validate.Range(min=1, max=5000))
    offset = ma.fields.Integer(load_default=0, validate=validate.Range(min=0, max=10**9))


class SiteScopedPage(ReportPage):
    site_code = ma.fields.String(validate=_SITE_CODE, metadata={
        "description": "One site only (site staff: their own site is the only one they may name)"})


class SitesQuery(StrictSchema):
    site_code = ma.fields.String(validate=_SITE_CODE)
    signatures = ma.fields.Boolean(load_default=False, metadata={
        "description": "Include the signatures behind the numbers (every receipt, destruction and return: "
                       "long for a whole trial; the CSV and PDF always carry them)"})


class DiscrepancyQuery(SiteScopedPage):
    code = ma.fields.String(validate=validate.OneOf([c.value for c in Code]))


# ---- shared ----------------------------------------------------------------------------------

class SignedByOut(ma.Schema):
    """An e-signature behind a report row, as printed."""

    printed_name = ma.fields.String()
    meaning = ma.fields.String()
    signed_at = ma.fields.DateTime()
    record = ma.fields.String(metadata={"description": "What was signed (dose code, shipment code, lot …)"})


# ---- patients --------------------------------------------------------------------------------

class InfusionFactsOut(ma.Schema):
    started_at = ma.fields.DateTime()
    ended_at = ma.fields.DateTime()
    volume_ml = ma.fields.Float()
    partial = ma.fields.Boolean()
    out_of_window = ma.fields.Boolean()
    deviation_reason = _nullable_string()
    tolerance_grade = ma.fields.Integer()
    adverse_events = _nullable_string()
    serious = ma.fields.Boolean(metadata={"description": "Serious adverse event"})
    signatures = ma.fields.List(ma.fields.Nested(SignedByOut))


class VisitLineOut(ma.Schema):
    number = ma.fields.Integer()
    target_date = ma.fields.Date()
    window_start = ma.fields.Date()
    window_end = ma.fields.Date()
    schedule_state = ma.fields.String(validate=validate.OneOf(VISIT_STATES))
    outcome = ma.fields.String(validate=validate.OneOf(OUTCOMES))
    skip_reason = _nullable_string()
    dose_code = _nullable_string()
    dose_status = _nullable_string()
    lot_number = _nullable_string()
    din = _nullable_string()
    cells = ma.fields.Float(allow_none=True)
    dose_volume_ml = ma.fields.Float(allow_none=True)
    infusion = ma.fields.Nested(InfusionFactsOut, allow_none=True)


class PatientLineOut(ma.Schema):
    subject_id = ma.fields.String()
    site_code = ma.fields.String()
    arm = ma.fields.String()
    status = ma.fields.String()
    enrolled_on = ma.fields.Date()
    withdrawal_reason = _nullable_string()
    planned = ma.fields.Integer()
    administered = ma.fields.Integer()
    visits = ma.fields.List(ma.fields.Nested(VisitLineOut))
    withdrawal_signatures = ma.fields.List(ma.fields.Nested(SignedByOut))


PatientTotalsOut = ma.Schema.from_dict(
    {"site_code": _nullable_string(metadata={"description": "null: the total over the scope"}),
     **{name: ma.fields.Integer() for name in TOTAL_FIELDS}}, name="PatientTotalsOut")


class PatientsReportOut(ma.Schema):
    generated_at = ma.fields.DateTime()
    site_code = _nullable_string(metadata={"description": "The site the report covers; null: the whole trial"})
    total_patients = ma.fields.Integer()
    limit = ma.fields.Integer()
    offset = ma.fields.Integer()
    patients = ma.fields.List(ma.fields.Nested(PatientLineOut))
    sites = ma.fields.List(ma.fields.Nested(PatientTotalsOut))
    total = ma.fields.Nested(PatientTotalsOut)


# ---- sites -----------------------------------------------------------------------------------

SiteLineOut = ma.Schema.from_dict(
    {"site_code": _nullable_string(metadata={"description": "null: the total over the scope"}),
     "site_name": ma.fields.String(),
     **{name: ma.fields.Integer() for name in SITE_COUNTS},
     "accounted": ma.fields.Integer(metadata={"description": "administered + destroyed + returned + on hand"}),
     "imbalance": ma.fields.Integer(metadata={"description": "received − accounted; 0 when it balances"}),
     "balanced": ma.fields.Boolean()}, name="SiteLineOut")


class SitesReportOut(ma.Schema):
    generated_at = ma.fields.DateTime()
    site_code = _nullable_string()
    sites = ma.fields.List(ma.fields.Nested(SiteLineOut))
    total = ma.fields.Nested(SiteLineOut)
    signatures = ma.fields.List(ma.fields.Nested(SignedByOut),
                                metadata={"description": "Receipts, destructions and returns behind the numbers"})


# ---- lots ------------------------------------------------------------------------------------

LotLineOut = ma.Schema.from_dict(
    {"lot_id": ma.fields.Integer(allow_none=True, metadata={"description": "null: the total"}),
     "lot_number": ma.fields.String(),
     "din": _nullable_string(),
     "status": _nullable_string(),
     "presentation": _nullable_string(),
     **{name: ma.fields.Integer() for name in LOT_COUNTS},
     "in_stock_by_location": ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.Integer(), metadata={
         "description": "Doses in stock by where they are: lab, in_transit or a site code"}),
     "accounted": ma.fields.Integer(metadata={
         "description": "rejected at fill + administered + destroyed + returned + in stock"}),
     "imbalance": ma.fields.Integer(metadata={"description": "prepared − accounted; 0 when it balances"}),
     "balanced": ma.fields.Boolean(),
     "signatures": ma.fields.List(ma.fields.Nested(SignedByOut))}, name="LotLineOut")


class LotsReportOut(ma.Schema):
    generated_at = ma.fields.DateTime()
    total_lots = ma.fields.Integer()
    limit = ma.fields.Integer()
    offset = ma.fields.Integer()
    lots = ma.fields.List(ma.fields.Nested(LotLineOut))
    total = ma.fields.Nested(LotLineOut)


# ---- discrepancies ---------------------------------------------------------------------------

class InvolvedOut(ma.Schema):
    type = ma.fields.String(metadata={"description": "dose, patient, visit, lot, shipment, site, custody_event, scan"})
    id = ma.fields.String()
    label = ma.fields.String()


class DiscrepancyOut(ma.Schema):
    code = ma.fields.String(validate=validate.OneOf([c.value for c in Code]))
    title = ma.fields.String()
    explanation = ma.fields.String()
    site_code = _nullable_string()
    occurred_at = ma.fields.DateTime(allow_none=True)
    objects = ma.fields.List(ma.fields.Nested(InvolvedOut))


class DiscrepanciesReportOut(ma.Schema):
    generated_at = ma.fields.DateTime()
    site_code = _nullable_string()
    count = ma.fields.Integer()
    by_code = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.Integer())
    limit = ma.fields.Integer()
    offset = ma.fields.Integer()
    discrepancies = ma.fields.List(ma.fields.Nested(DiscrepancyOut))
