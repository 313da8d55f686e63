"""API: bedside verification and the infusion record (nurses)."""
from typing import Any

import marshmallow as ma
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import validate

from cell_chain.accounts.permissions import require_actor, roles_required
from cell_chain.accounts.signatures import SignatureInput, WitnessInput
from cell_chain.core.clock import utcnow
from cell_chain.core.db import db
from cell_chain.core.schemas import SignatureIn, StrictSchema, WitnessIn
from cell_chain.infusions import bedside, corrections
from cell_chain.web.api import problems

blp = Blueprint("infusions_api", __name__, url_prefix="/api/infusions", description="Bedside")

_SCAN = validate.Length(min=1, max=512)


class VerifyIn(StrictSchema):
    patient_scan = ma.fields.String(required=True, validate=_SCAN)
    dose_scan = ma.fields.String(required=True, validate=_SCAN)


# One instance, not the class: webargs would build a schema for every request.
_VERIFY_IN = VerifyIn()


class CodeMessage(ma.Schema):
    code = ma.fields.String(metadata={"description": "A stable code. Stops, in the order checked: "
                                      + ", ".join(bedside.STOP_ORDER) + ". Warnings: "
                                      + ", ".join(bedside.WARNING_CODES) + "."})
    message = ma.fields.String(metadata={"description": "Plain words for the nurse: what is wrong, what to do."})


class VerifyOut(ma.Schema):
    ok = ma.fields.Boolean(required=True)
    stops = ma.fields.List(ma.fields.Nested(CodeMessage), required=True)
    warnings = ma.fields.List(ma.fields.Nested(CodeMessage), required=True)
    patient = ma.fields.Dict(allow_none=True)
    dose = ma.fields.Dict(allow_none=True)
    visit = ma.fields.Dict(allow_none=True)


class AcknowledgedIn(StrictSchema):
    code = ma.fields.String(required=True, validate=validate.OneOf(bedside.WARNING_CODES))
    reason = ma.fields.String(required=True, validate=validate.Length(min=1, max=2000))


class InfusionIn(VerifyIn):
    started_at = ma.fields.AwareDateTime(required=True)
    ended_at = ma.fields.AwareDateTime(required=True)
    volume_ml = ma.fields.Float(required=True, validate=validate.Range(min=0, max=1000))
    tolerance_grade = ma.fields.Integer(required=True, strict=True, validate=validate.Range(min=0, max=4))
    adverse_events = ma.fields.String(load_default=None, allow_none=True, validate=validate.Length(max=4000))
    serious = ma.fields.Boolean(load_default=False)
    acknowledged_warnings = ma.fields.List(ma.fields.Nested(AcknowledgedIn), load_default=list,
                                           validate=validate.Length(max=5))
    partial_reason = ma.fields.String(load_default=None, allow_none=True, validate=validate.Length(max=2000),
                                      metadata={"description": "Required when volume_ml is below the full dose."})
    confirm_duration = ma.fields.Boolean(load_default=False, metadata={
        "description": "Confirms a duration under INFUSION_MIN_MINUTES or over INFUSION_MAX_MINUTES."})
    signature = ma.fields.Nested(SignatureIn, required=True)
    witness = ma.fields.Nested(WitnessIn, required=True)


class InfusionOut(ma.Schema):
    id = ma.fields.Integer()
    coi = ma.fields.String()
    started_at = ma.fields.DateTime()
    ended_at = ma.fields.DateTime()
    volume_ml = ma.fields.Float()
    partial = ma.fields.Boolean()
    partial_reason = ma.fields.String(allow_none=True)
    duration_confirmed = ma.fields.Boolean()
    tolerance_grade = ma.fields.Integer()
    adverse_events = ma.fields.String(allow_none=True)
    serious = ma.fields.Boolean()
    out_of_window = ma.fields.Boolean()
    recorded_at = ma.fields.DateTime()
    flagged_for_lookback = ma.fields.Boolean()
    lookback_reason = ma.fields.String(allow_none=True)
    corrected = ma.fields.Boolean()


def verification_body(result: bedside.Verification) -> dict[str, Any]:
    facts = result.facts
    patient = facts.patient if facts.patient and facts.patient.site_id == facts.nurse_site_id else None
    dose = facts.dose if facts.dose and result.ok else None
    allocation = facts.allocation if facts.allocation and result.ok else None
    return {
        "ok": result.ok,
        "stops": [{"code": c, "message": bedside.message(c)} for c in result.decision.stops],
        "warnings": [{"code": c, "message": bedside.message(c)} for c in result.decision.warnings],
        "patient": {"subject_id": patient.subject_id, "initials": patient.initials,
                    "birth_year": patient.birth_year} if patient else None,
        "dose": {"code": dose.code, "expires_at": dose.expires_at.isoformat(),
                 "thawed_at": dose.thawed_at.isoformat() if dose.thawed_at else None,
                 "lot_number": dose.lot_number} if dose else None,
        "visit": {"number": allocation.visit_number, "target_date": allocation.target_date.isoformat(),
                  "window_start": allocation.window_start.isoformat(),
                  "window_end": allocation.window_end.isoformat()} if allocation else None,
    }


@blp.route("/verify")
class VerifyResource(MethodView):
    @roles_required(*bedside.NURSES)
    @blp.arguments(_VERIFY_IN)
    @blp.response(200, VerifyOut)
    @problems(blp, 401, 403)
    def post(self, args: dict[str, Any]) -> dict[str, Any]:
        """Check a wristband and a dose bag (either order): every stop and warning by code."""
        result = bedside.verify_infusion(args["patient_scan"], args["dose_scan"], actor=require_actor(),
                                         now=utcnow())
        body = verification_body(result)
        db.session.commit()  # the check's log entry only
        return body


@blp.route("")
class InfusionsResource(MethodView):
    @roles_required(*bedside.NURSES)
    @blp.arguments(InfusionIn)
    @blp.response(201, InfusionOut)
    @problems(blp, 401, 403, 409, 423)
    def post(self, args: dict[str, Any]) -> Any:
        """Record the infusion when it ends (nurse's e-signature and a witness): judged at
        `started_at`; the bedside check must come in the minutes before it."""
        given = bedside.InfusionInput(
            started_at=args["started_at"], ended_at=args["ended_at"], volume_ml=args["volume_ml"],
            tolerance_grade=args["tolerance_grade"], adverse_events=args["adverse_events"],
            serious=args["serious"],
            acknowledged_warnings={w["code"]: w["reason"] for w in args["acknowledged_warnings"]},
            partial_reason=args["partial_reason"], confirm_duration=args["confirm_duration"])
        infusion = bedside.record_infusion(
            args["patient_scan"], args["dose_scan"], given=given,
            signature=SignatureInput(args["signature"]["password"], args["signature"].get("meaning", "")),
            witnessed_by=WitnessInput(args["witness"]["username"], args["witness"]["password"]),
            actor=require_actor(), now=utcnow())
        db.session.commit()
        return infusion


class CorrectionIn(StrictSchema):
    reason = ma.fields.String(load_default=None, allow_none=True, validate=validate.Length(max=2000),
                              metadata={"description": "Why the record is corrected (required: 422 REASON_REQUIRED)."})
    started_at = ma.fields.AwareDateTime()
    ended_at = ma.fields.AwareDateTime()
    volume_ml = ma.fields.Float(validate=validate.Range(min=0, max=1000))
    tolerance_grade = ma.fields.Integer(strict=True, validate=validate.Range(min=0, max=4))
    adverse_events = ma.fields.String(allow_none=True, validate=validate.Length(max=4000))
    serious = ma.fields.Boolean()
    partial_reason = ma.fields.String(allow_none=True, validate=validate.Length(max=2000))
    confirm_duration = ma.fields.Boolean(load_default=False, metadata={
        "description": "Confirms corrected times that make the infusion shorter or longer than usual "
                       "(else 422 with errors.confirm_duration)."})
    signature = ma.fields.Nested(SignatureIn, required=True)


@blp.route("/<int:infusion_id>/correction")
class InfusionCorrectionResource(MethodView):
    @roles_required(*corrections.CORRECTORS)
    @blp.arguments(CorrectionIn)
    @blp.response(200, InfusionOut)
    @problems(blp, 401, 403, 404, 423)
    def post(self, args: dict[str, Any], infusion_id: int) -> Any:
        """Correct a recorded infusion (the recording nurse or a coordinator; reason and
        e-signature): the original values stay in the audit trail."""
        actor = require_actor()
        infusion = corrections.infusion_at_site(infusion_id, actor)
        values = {k: v for k, v in args.items() if k in corrections.FIELDS}
        corrections.correct_infusion(
            infusion, correction=corrections.Correction(values, args["confirm_duration"]), reason=args["reason"],
            signature=SignatureInput(args["signature"]["password"], args["signature"].get("meaning", "")),
            actor=actor, now=utcnow())
        db.session.commit()
        return infusion
