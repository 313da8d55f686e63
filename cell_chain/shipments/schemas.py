"""API schemas for shipments, temperature, receipt and pharmacy actions."""
import marshmallow as ma
from marshmallow import validate

from cell_chain.core.schemas import PageArgs, SignatureIn, StrictSchema, WitnessIn
from cell_chain.shipments.models import SHIPMENT_STATUSES, STORAGE

_TEXT = validate.Length(min=1, max=200)


class ShipmentIn(StrictSchema):
    site_code = ma.fields.String(required=True, validate=validate.Length(min=1, max=8))
    storage = ma.fields.String(required=True, validate=validate.OneOf(STORAGE))


class ShipmentItemOut(ma.Schema):
    dose_code = ma.fields.Function(lambda i: i.dose.code)
    dose_status = ma.fields.Function(lambda i: i.dose.status)
    receipt = ma.fields.String(allow_none=True)


class ShipmentOut(ma.Schema):
    id = ma.fields.Integer()
    code = ma.fields.String()
    site_code = ma.fields.Function(lambda s: s.site.code)
    storage = ma.fields.String()
    status = ma.fields.String(validate=validate.OneOf(SHIPMENT_STATUSES))
    courier = ma.fields.String(allow_none=True)
    logger_id = ma.fields.String(allow_none=True)
    seal_intact = ma.fields.Boolean(allow_none=True)
    dispatched_at = ma.fields.DateTime(allow_none=True)
    received_at = ma.fields.DateTime(allow_none=True)
    items = ma.fields.List(ma.fields.Nested(ShipmentItemOut))


class ShipmentQuery(PageArgs):
    status = ma.fields.String(validate=validate.OneOf(SHIPMENT_STATUSES))


class PackIn(StrictSchema):
    scan = ma.fields.String(required=True, validate=validate.Length(min=1, max=512))


class UnpackIn(StrictSchema):
    dose_code = ma.fields.String(required=True, validate=validate.Length(min=1, max=24))
    reason = ma.fields.String(required=True, validate=validate.Length(min=1, max=2000))


class DispatchIn(StrictSchema):
    courier = ma.fields.String(required=True, validate=_TEXT)
    logger_id = ma.fields.String(required=True, validate=validate.Length(min=1, max=64))
    signature = ma.fields.Nested(SignatureIn, required=True)


class HandoffIn(StrictSchema):
    from_party = ma.fields.String(required=True, validate=_TEXT)
    to_party = ma.fields.String(required=True, validate=_TEXT)
    place = ma.fields.String(required=True, validate=_TEXT)


class ReceiveIn(StrictSchema):
    scans = ma.fields.List(ma.fields.String(validate=validate.Length(max=512)), required=True,
                           validate=validate.Length(max=500))
    seal_intact = ma.fields.Boolean(required=True)
    signature = ma.fields.Nested(SignatureIn, required=True)


class ReceiptOut(ma.Schema):
    status = ma.fields.String()
    accepted = ma.fields.List(ma.fields.String())
    missing = ma.fields.List(ma.fields.String())
    unexpected = ma.fields.List(ma.fields.String())
    quarantined = ma.fields.List(ma.fields.String())


class ExcursionOut(ma.Schema):
    start = ma.fields.DateTime()
    end = ma.fields.DateTime()
    minutes = ma.fields.Float()
    extreme_celsius = ma.fields.Float()
    status = ma.fields.String()


class TemperatureOut(ma.Schema):
    readings = ma.fields.Integer()
    source_format = ma.fields.String()
    excursions = ma.fields.List(ma.fields.Nested(ExcursionOut))


class DispositionIn(StrictSchema):
    decision = ma.fields.String(required=True, validate=validate.OneOf(["accept", "reject"]))
    reason = ma.fields.String(required=True, validate=validate.Length(min=1, max=2000))
    signature = ma.fields.Nested(SignatureIn, required=True)


class ThawIn(StrictSchema):
    thawed_at = ma.fields.AwareDateTime(required=True)


class DispenseIn(StrictSchema):
    to = ma.fields.String(required=True, validate=validate.Length(min=1, max=64))
    # The bag in hand, scanned again to confirm it is this dose (the pharmacy screen sends it).
    bag_scan = ma.fields.String(validate=validate.Length(min=1, max=512))


class WaiverIn(StrictSchema):
    reason = ma.fields.String(required=True, validate=validate.Length(min=1, max=2000))
    signature = ma.fields.Nested(SignatureIn, required=True)


class WaiverOut(ma.Schema):
    shipment_id = ma.fields.Integer()
    temperature_data = ma.fields.String(validate=validate.OneOf(["recorded", "waived", "missing"]))
    reason = ma.fields.String()
    waived_by = ma.fields.String()
    waived_at = ma.fields.DateTime()


class DestroyIn(StrictSchema):
    reason = ma.fields.String(required=True, validate=validate.Length(min=1, max=2000))
    signature = ma.fields.Nested(SignatureIn, required=True)
    witness = ma.fields.Nested(WitnessIn, required=True)


class ReturnIn(StrictSchema):
    reason = ma.fields.String(required=True, validate=validate.Length(min=1, max=2000))
    signature = ma.fields.Nested(SignatureIn, required=True)


class ScanQuery(StrictSchema):
    payload = ma.fields.String(required=True, validate=validate.Length(min=1, max=512))


class ScanOut(ma.Schema):
    type = ma.fields.String(required=True)
    payload = ma.fields.String()
    label = ma.fields.String(allow_none=True)
    dose_code = ma.fields.String(allow_none=True)
    subject_id = ma.fields.String(allow_none=True)
    lot_number = ma.fields.String(allow_none=True, metadata={"description": "a dose's lot"})
    shipment_code = ma.fields.String(allow_none=True, metadata={
        "description": "the shipment a dose was last packed in; null if never packed"})
    at_this_site = ma.fields.Boolean(allow_none=True, metadata={
        "description": "the dose was received at the caller's site; null for central roles"})
    shipment_id = ma.fields.Integer(allow_none=True)
    lot_id = ma.fields.Integer(allow_none=True)


class PackedDoseOut(ma.Schema):
    code = ma.fields.String()
    subject_id = ma.fields.String(allow_none=True)
    status = ma.fields.String()
    status_words = ma.fields.String()
    status_tone = ma.fields.String()
    expires_at = ma.fields.String(metadata={"description": "ISO 8601, UTC"})
    expired = ma.fields.Boolean()
    chain_unbroken = ma.fields.Boolean()


class PackScanOut(ma.Schema):
    """One packing scan, judged: what happened in the reader's words (Accept-Language)."""

    outcome = ma.fields.String(metadata={"description": "packed or refused"})
    tone = ma.fields.String(metadata={"description": "ok (green) or stop (red)"})
    title = ma.fields.String()
    detail = ma.fields.String()
    code = ma.fields.String(allow_none=True, metadata={"description": "the refusal's stable code"})
    dose = ma.fields.Nested(PackedDoseOut, allow_none=True,
                            metadata={"description": "the dose packed by this scan"})
    doses_in_box = ma.fields.Integer()
    shipment_status = ma.fields.String()
    shipment_status_words = ma.fields.String()
    shipment_status_tone = ma.fields.String()
