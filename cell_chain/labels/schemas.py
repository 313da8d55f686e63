"""API schemas for print jobs, label verification and the dose view."""
import marshmallow as ma
from marshmallow import validate

from cell_chain.core.schemas import StrictSchema
from cell_chain.labels.models import FORMATS, JOB_KINDS


class OverrideIn(StrictSchema):
    username = ma.fields.String(required=True, validate=validate.Length(min=1, max=64))
    password = ma.fields.String(required=True, validate=validate.Length(min=1, max=200))


class PrintJobIn(StrictSchema):
    kind = ma.fields.String(required=True, validate=validate.OneOf(JOB_KINDS))
    target = ma.fields.String(required=True, validate=validate.Length(min=1, max=64))
    format = ma.fields.String(load_default="pdf", validate=validate.OneOf(FORMATS))
    reason = ma.fields.String(validate=validate.Length(max=2000))
    override = ma.fields.Nested(OverrideIn)


class PrintJobOut(ma.Schema):
    id = ma.fields.Integer()
    kind = ma.fields.String()
    target = ma.fields.String()
    format = ma.fields.String()
    label_kind = ma.fields.String()
    template_version = ma.fields.String()
    copies = ma.fields.Integer()
    is_reprint = ma.fields.Boolean()
    reason = ma.fields.String(allow_none=True)
    printed_at = ma.fields.DateTime()


class PrintJobQuery(StrictSchema):
    target = ma.fields.String(validate=validate.Length(max=64))
    limit = ma.fields.Integer(load_default=50, validate=validate.Range(min=1, max=500))
    offset = ma.fields.Integer(load_default=0, validate=validate.Range(min=0, max=10**9))


class ScanIn(StrictSchema):
    scan = ma.fields.String(required=True, validate=validate.Length(min=1, max=512))


class VerificationOut(ma.Schema):
    verified = ma.fields.Boolean(attribute="matched")
    label = ma.fields.String(attribute="label_kind", allow_none=True)


class BarcodesOut(ma.Schema):
    din = ma.fields.String()
    product = ma.fields.String()
    compound = ma.fields.String()
    assignment = ma.fields.String(allow_none=True)


class DoseDetailOut(ma.Schema):
    code = ma.fields.String()
    lot_number = ma.fields.String()
    din = ma.fields.String()
    status = ma.fields.String()
    expires_at = ma.fields.DateTime()
    subject_id = ma.fields.String(allow_none=True)
    visit = ma.fields.Integer(allow_none=True)
    custody = ma.fields.List(ma.fields.Dict())
    custody_unbroken = ma.fields.Boolean()
    bag_label_verified = ma.fields.Boolean()
    barcodes = ma.fields.Nested(BarcodesOut)


class ScanAnswerOut(ma.Schema):
    """One scan on a scanning page, judged: what happened in the reader's words, so the page
    shows it in place without a reload."""

    outcome = ma.fields.String(
        metadata={"description": "what the scan did: verified, already_verified or refused"})
    tone = ma.fields.String(
        metadata={"description": "ok (green), warn (amber: nothing changed) or stop (red)"})
    title = ma.fields.String()
    detail = ma.fields.String()
    code = ma.fields.String(allow_none=True, metadata={"description": "the stable refusal or outcome code"})


class LabelDoseOut(ma.Schema):
    code = ma.fields.String()
    status = ma.fields.String()
    status_words = ma.fields.String()
    status_tone = ma.fields.String()
    label_verified = ma.fields.Boolean()


class LabelCountsOut(ma.Schema):
    verified = ma.fields.Integer()
    total = ma.fields.Integer()
    waiting = ma.fields.List(ma.fields.String(), metadata={"description": "dose codes still to verify"})
    text = ma.fields.String()


class LotLabelScanOut(ScanAnswerOut):
    dose = ma.fields.Nested(LabelDoseOut, allow_none=True, metadata={
        "description": "the dose of this lot the label names (none for a label of another lot)"})
    counts = ma.fields.Nested(LabelCountsOut)
    reprint = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.String(), allow_none=True, metadata={
        "description": "once the lot's bag labels were printed: the reprint form's words (label, hint, button)"})
