"""API schemas for donors, lots, results and doses."""
from typing import Any

import marshmallow as ma
from marshmallow import validate

from cell_chain.accounts.signatures import signatures_for
from cell_chain.batches import services
from cell_chain.batches.models import MARKERS, PRESENTATIONS, SCREENING_RESULTS
from cell_chain.batches.workflow import TESTS, screening_counts
from cell_chain.core.clock import utcnow
from cell_chain.core.schemas import PageArgs, SignatureIn, SignatureOut, StrictSchema

_TEXT = validate.Length(min=1, max=200)


class DonorIn(StrictSchema):
    donor_code = ma.fields.String(required=True, validate=validate.Length(min=1, max=32))
    collected_on = ma.fields.Date(required=True)


class ScreeningIn(StrictSchema):
    marker = ma.fields.String(required=True, validate=validate.OneOf(MARKERS))
    result = ma.fields.String(required=True, validate=validate.OneOf(SCREENING_RESULTS))
    tested_on = ma.fields.Date(required=True)
    reason = ma.fields.String(validate=validate.Length(max=2000))


class SignedIn(StrictSchema):
    signature = ma.fields.Nested(SignatureIn, required=True)


class ReasonSignedIn(SignedIn):
    reason = ma.fields.String(required=True, validate=validate.Length(min=1, max=2000))


class ScreeningOut(ma.Schema):
    marker = ma.fields.String()
    result = ma.fields.String()
    tested_on = ma.fields.Date()
    counts = ma.fields.Method("_counts", metadata={"type": "boolean",
                              "description": "Tested within 7 days of collection"})

    def _counts(self, obj: Any) -> bool:
        return screening_counts(obj, obj.donor.collected_on)


class DonorOut(ma.Schema):
    id = ma.fields.Integer()
    donor_code = ma.fields.String()
    din = ma.fields.String()
    din_check = ma.fields.Function(lambda d: d.din_structure.check)
    collected_on = ma.fields.Date()
    status = ma.fields.String()
    results = ma.fields.List(ma.fields.Nested(ScreeningOut))
    signatures = ma.fields.Function(lambda d: SignatureOut(many=True).dump(signatures_for(d)),
                                    metadata={"type": "array", "items": {"type": "object"}})


class DonorBrief(ma.Schema):
    id = ma.fields.Integer()
    donor_code = ma.fields.String()
    din = ma.fields.String()
    collected_on = ma.fields.Date()
    status = ma.fields.String()


class LotIn(StrictSchema):
    donor_id = ma.fields.Integer(required=True, strict=True, validate=validate.Range(min=1, max=2**31 - 1))
    lot_number = ma.fields.String(required=True, validate=validate.Length(min=1, max=32))
    manufactured_on = ma.fields.Date(required=True)
    passage = ma.fields.Integer(required=True, strict=True, validate=validate.Range(min=0, max=50))
    presentation = ma.fields.String(load_default="cryopreserved", validate=validate.OneOf(PRESENTATIONS))


class ResultValue(ma.fields.Field):
    """A qualitative word or a number, as the test needs; checked against the test."""

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> Any:
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise ma.ValidationError("Give a number or one of the test's words.")
        if isinstance(value, str) and not 0 < len(value) <= 32:
            raise ma.ValidationError("Give a value of 1 to 32 characters.")
        return value


class ResultIn(StrictSchema):
    test = ma.fields.String(required=True, validate=validate.OneOf(TESTS))
    value = ResultValue(required=True, metadata={"oneOf": [{"type": "string"}, {"type": "number"}]})
    performed_on = ma.fields.Date(required=True)
    method = ma.fields.String(validate=_TEXT)
    analyst = ma.fields.String(validate=_TEXT)
    reason = ma.fields.String(validate=validate.Length(max=2000))


class ResultOut(ma.Schema):
    test = ma.fields.String()
    value = ma.fields.String()
    passed = ma.fields.Boolean()
    spec_version = ma.fields.Integer()
    performed_on = ma.fields.Date()
    method = ma.fields.String(allow_none=True)
    analyst = ma.fields.String(allow_none=True)
    entered_by = ma.fields.Function(lambda r: r.entered_by.username)


class DoseIn(StrictSchema):
    cells = ma.fields.Float(required=True, validate=validate.Range(min=0, max=1e12))
    volume_ml = ma.fields.Float(required=True, validate=validate.Range(min=0, max=1000))
    viability_pct = ma.fields.Float(required=True, validate=validate.Range(min=0, max=100))


class DoseOut(ma.Schema):
    code = ma.fields.String()
    number = ma.fields.Integer()
    division = ma.fields.String()
    status = ma.fields.String()
    reasons = ma.fields.Function(lambda d: d.rejection_reasons.split("; ") if d.rejection_reasons else [],
                                 metadata={"type": "array", "items": {"type": "string"}})
    cells = ma.fields.Float()
    volume_ml = ma.fields.Float()
    viability_pct = ma.fields.Float()
    expires_at = ma.fields.DateTime()
    lot_number = ma.fields.Function(lambda d: d.lot.lot_number)
    din = ma.fields.Function(lambda d: d.lot.din)
    quarantine_reason = ma.fields.String(allow_none=True)


class BlockerOut(ma.Schema):
    code = ma.fields.String()
    test = ma.fields.String(allow_none=True)
    message = ma.fields.String()


class LotBrief(ma.Schema):
    id = ma.fields.Integer()
    lot_number = ma.fields.String()
    din = ma.fields.String()
    din_check = ma.fields.Function(lambda lot: lot.din_structure.check)
    presentation = ma.fields.String()
    storage = ma.fields.String()
    status = ma.fields.String()
    manufactured_on = ma.fields.Date()
    donor_code = ma.fields.Function(lambda lot: lot.donor.donor_code)


class LotOut(LotBrief):
    passage = ma.fields.Integer()
    product_code = ma.fields.String()
    status_reason = ma.fields.String(allow_none=True)
    donor = ma.fields.Nested(DonorBrief)
    results = ma.fields.List(ma.fields.Nested(ResultOut))
    # Site staff see their own site's doses only (batches.visibility.show_to).
    doses = ma.fields.List(ma.fields.Nested(DoseOut), attribute="visible_doses")
    release_readiness = ma.fields.Method("_readiness", metadata={"type": "object"})
    signatures = ma.fields.Function(lambda lot: SignatureOut(many=True).dump(signatures_for(lot)),
                                    metadata={"type": "array", "items": {"type": "object"}})

    def _readiness(self, lot: Any) -> dict[str, Any]:
        blockers = services.release_readiness(lot, now=utcnow())
        return {"ready": not blockers, "blocking": [b.key for b in blockers],
                "blockers": BlockerOut(many=True).dump(blockers)}


class RecallOut(ma.Schema):
    quarantined_doses = ma.fields.List(ma.fields.String())
    administered_doses = ma.fields.List(ma.fields.Dict())
    affected_patients = ma.fields.List(ma.fields.String())


class LotQuery(PageArgs):
    status = ma.fields.String(validate=validate.OneOf(
        ["in_process", "quarantine", "released", "rejected", "recalled"]))
