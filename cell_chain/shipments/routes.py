"""API: shipments, custody hand-offs, temperature, receipt, excursions, pharmacy actions, scans."""
import json
from datetime import datetime
from typing import Any

from flask import Response, request
from flask.views import MethodView
from flask_smorest import Blueprint
from sqlalchemy import select

from cell_chain.accounts.permissions import require_actor, roles_required, scope_to_site
from cell_chain.accounts.roles import Role
from cell_chain.accounts.signatures import SignatureInput, WitnessInput
from cell_chain.batches.models import Dose
from cell_chain.batches.workflow import DOSE_LIFECYCLE
from cell_chain.core.clock import utcnow
from cell_chain.core.db import db
from cell_chain.core.errors import NotFound, ValidationFailed
from cell_chain.core.scanning import read_scan
from cell_chain.labels.dose_view import dose_detail, dose_site_id
from cell_chain.labels.schemas import DoseDetailOut
from cell_chain.shipments import packing, pharmacy, services, temperature_data
from cell_chain.shipments import schemas as s
from cell_chain.shipments.excursions import CRYO, FRESH, find_excursions
from cell_chain.shipments.loaders import shipment_or_404
from cell_chain.shipments.loggers import LoggerFileError, Reading
from cell_chain.shipments.models import Shipment, TemperatureRecord
from cell_chain.shipments.scan_words import dose_whereabouts
from cell_chain.shipments.trace_svg import temperature_svg
from cell_chain.shipments.uploads import prepare_upload
from cell_chain.shipments.workflow import SHIPMENT_LIFECYCLE
from cell_chain.web.api import problems
from cell_chain.core.messages import _l, state

blp = Blueprint("shipments_api", __name__, url_prefix="/api", description="Shipments, custody and pharmacy")

SHIPMENT_READERS = (Role.LAB, Role.QA, Role.ADMIN, Role.MONITOR, Role.PHARMACIST)


def _signature(given: dict[str, Any]) -> SignatureInput:
    return SignatureInput(given["password"], given.get("meaning", ""))


def site_dose(code: str) -> Dose:
    """A dose the caller may see: central roles any; site staff only their patients' doses."""
    actor = require_actor()
    dose = db.session.scalar(select(Dose).where(Dose.code == code))
    if dose is None or (actor.site_id is not None and dose_site_id(dose) != actor.site_id):
        raise NotFound(_l("No such dose."))
    return dose


@blp.route("/shipments")
class ShipmentsResource(MethodView):
    @roles_required(*SHIPMENT_READERS)
    @blp.arguments(s.ShipmentQuery, location="query")
    @blp.response(200, s.ShipmentOut(many=True))
    @problems(blp, 401, 403)
    def get(self, query: dict[str, Any]) -> list[Shipment]:
        """Shipments the caller may see (a pharmacist: those to their site)."""
        stmt = scope_to_site(select(Shipment), Shipment, require_actor()).order_by(Shipment.id.desc())
        if "status" in query:
            stmt = stmt.where(Shipment.status == query["status"])
        return list(db.session.scalars(stmt.limit(query["limit"]).offset(query["offset"])))

    @roles_required(*services.CREATORS)
    @blp.arguments(s.ShipmentIn)
    @blp.response(201, s.ShipmentOut)
    @problems(blp, 401, 403)
    def post(self, args: dict[str, Any]) -> Shipment:
        """Start a draft shipment to a site at one storage condition."""
        shipment = services.create_shipment(**args, actor=require_actor(), now=utcnow())
        db.session.commit()
        return shipment


@blp.route("/shipments/<int:shipment_id>")
class ShipmentResource(MethodView):
    @roles_required(*SHIPMENT_READERS)
    @blp.response(200, s.ShipmentOut)
    @problems(blp, 401, 403, 404)
    def get(self, shipment_id: int) -> Shipment:
        """A shipment and its doses."""
        return shipment_or_404(shipment_id)


@blp.route("/shipments/<int:shipment_id>/pack")
class PackResource(MethodView):
    @roles_required(*SHIPMENT_LIFECYCLE.roles("pack"))
    @blp.arguments(s.PackIn)
    @blp.response(200, s.ShipmentOut)
    @problems(blp, 401, 403, 404, 409)
    def post(self, args: dict[str, Any], shipment_id: int) -> Shipment:
        """Scan a dose into the box; refused with the reason's code."""
        shipment = shipment_or_404(shipment_id)
        services.pack_dose(shipment, scan=args["scan"], actor=require_actor(), now=utcnow())
        db.session.commit()
        return shipment


@blp.route("/shipments/<int:shipment_id>/pack-scans")
class PackScanResource(MethodView):
    @roles_required(*SHIPMENT_LIFECYCLE.roles("pack"))
    @blp.arguments(s.PackIn)
    @blp.response(200, s.PackScanOut)
    @problems(blp, 401, 403, 404)
    def post(self, args: dict[str, Any], shipment_id: int) -> dict[str, Any]:
        """Scan a dose into the box from the packing page: every scan is judged and answered
        in words (packed, or refused and why, with its code) with the packed dose's row, one
        transaction per scan; a refused scan (a second scan of a packed dose included) changes
        nothing."""
        shipment = shipment_or_404(shipment_id)
        now = utcnow()
        result = packing.scan_into(shipment, args["scan"], actor=require_actor(), now=now)
        return packing.scan_answer(shipment_or_404(shipment_id), result, now=now)


@blp.route("/shipments/<int:shipment_id>/unpack")
class UnpackResource(MethodView):
    @roles_required(*SHIPMENT_LIFECYCLE.roles("unpack"))
    @blp.arguments(s.UnpackIn)
    @blp.response(200, s.ShipmentOut)
    @problems(blp, 401, 403, 404, 409, 422)
    def post(self, args: dict[str, Any], shipment_id: int) -> Shipment:
        """Take a mis-packed dose out of a box not yet dispatched (reason required); the dose is
        allocated again. 409 SHIPMENT_STATE once the box is dispatched."""
        shipment = shipment_or_404(shipment_id)
        services.unpack_dose(shipment, dose_code=args["dose_code"], reason=args["reason"], actor=require_actor(),
                             now=utcnow())
        db.session.commit()
        return shipment


@blp.route("/shipments/<int:shipment_id>/dispatch")
class DispatchResource(MethodView):
    @roles_required(*SHIPMENT_LIFECYCLE.roles("dispatch"))
    @blp.arguments(s.DispatchIn)
    @blp.response(200, s.ShipmentOut)
    @problems(blp, 401, 403, 404, 409, 423)
    def post(self, args: dict[str, Any], shipment_id: int) -> Shipment:
        """Hand the box to the courier (e-signature)."""
        shipment = services.dispatch(shipment_or_404(shipment_id), courier=args["courier"], logger_id=args["logger_id"],
                                     signature=_signature(args["signature"]), actor=require_actor(), now=utcnow())
        db.session.commit()
        return shipment


@blp.route("/shipments/<int:shipment_id>/handoffs")
class HandoffResource(MethodView):
    @roles_required(*SHIPMENT_LIFECYCLE.roles("handoff"))
    @blp.arguments(s.HandoffIn)
    @blp.response(200, s.ShipmentOut)
    @problems(blp, 401, 403, 404, 409)
    def post(self, args: dict[str, Any], shipment_id: int) -> Shipment:
        """Record a courier hand-off of the whole box."""
        shipment = services.handoff(shipment_or_404(shipment_id), **args, actor=require_actor(), now=utcnow())
        db.session.commit()
        return shipment


@blp.route("/shipments/<int:shipment_id>/temperature")
class TemperatureResource(MethodView):
    @roles_required(*SHIPMENT_LIFECYCLE.roles("record_temperature"))
    @blp.doc(requestBody={"required": True, "content": {
        "text/csv": {"schema": {"type": "string"}},
        "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}},
        parameters=[{"in": "header", "name": "X-Filename", "required": False, "schema": {"type": "string"},
                     "description": "The logger file's name, a hint to recognise its layout"}])
    @blp.response(201, s.TemperatureOut)
    @problems(blp, 401, 403, 404, 409, 413, 422)
    def post(self, shipment_id: int) -> dict[str, Any]:
        """Upload the data logger's file (CSV timestamp,celsius or a supported export)."""
        shipment = shipment_or_404(shipment_id)  # another site's or no shipment: 404 before the file is read
        try:
            prepared = prepare_upload(shipment, request.get_data(), request.headers.get("X-Filename"))
            record, excursions = services.record_temperature(
                shipment_or_404(shipment_id), prepared=prepared,
                filename=request.headers.get("X-Filename"), actor=require_actor(), now=utcnow())
        except LoggerFileError as error:
            raise ValidationFailed({"file": [str(error)]}, detail=str(error)) from None
        db.session.commit()
        return {"readings": record.readings_count, "source_format": record.source_format,
                "excursions": excursions}


@blp.route("/shipments/<int:shipment_id>/temperature.svg")
class TemperatureSvgResource(MethodView):
    @roles_required(*SHIPMENT_READERS)
    @blp.doc(responses={"200": {"description": "The trace with the allowed band and excursions",
                                "content": {"image/svg+xml": {"schema": {"type": "string"}}}}})
    @problems(blp, 401, 403, 404)
    def get(self, shipment_id: int) -> Response:
        """The latest logger trace as a picture."""
        shipment = shipment_or_404(shipment_id)
        record = db.session.scalar(select(TemperatureRecord).where(TemperatureRecord.shipment_id == shipment.id)
                                   .order_by(TemperatureRecord.id.desc()).limit(1))
        if record is None:
            raise NotFound(_l("No temperature file has been uploaded for this shipment."))
        readings = [Reading(datetime.fromisoformat(at), celsius) for at, celsius in json.loads(record.readings_json)]
        allowed = FRESH if shipment.storage == "2-8C" else CRYO
        from flask import current_app

        found = find_excursions(readings, allowed,
                                allowance_minutes=current_app.config["EXCURSION_ALLOWANCE_MINUTES"])
        svg = temperature_svg(readings, allowed, found)
        return Response(svg, mimetype="image/svg+xml")


@blp.route("/shipments/<int:shipment_id>/receive")
class ReceiveResource(MethodView):
    @roles_required(*SHIPMENT_LIFECYCLE.roles("receive"))
    @blp.arguments(s.ReceiveIn)
    @blp.response(200, s.ReceiptOut)
    @problems(blp, 401, 403, 404, 409, 423)
    def post(self, args: dict[str, Any], shipment_id: int) -> services.ReceiptResult:
        """Receive the box: every dose scanned, seal checked, e-signed. Idempotent."""
        result = services.receive(shipment_or_404(shipment_id), scans=args["scans"], seal_intact=args["seal_intact"],
                                  signature=_signature(args["signature"]), actor=require_actor(), now=utcnow())
        db.session.commit()
        return result


@blp.route("/shipments/<int:shipment_id>/excursion-disposition")
class DispositionResource(MethodView):
    @roles_required(*SHIPMENT_LIFECYCLE.roles("dispose_excursion"))
    @blp.arguments(s.DispositionIn)
    @blp.response(200, s.ExcursionOut(many=True))
    @problems(blp, 401, 403, 404, 409, 423)
    def post(self, args: dict[str, Any], shipment_id: int) -> list[Any]:
        """QA accepts or rejects the shipment's open excursions (reason, e-signature)."""
        excursions = services.dispose_excursion(shipment_or_404(shipment_id), decision=args["decision"],
                                                reason=args["reason"], signature=_signature(args["signature"]),
                                                actor=require_actor(), now=utcnow())
        db.session.commit()
        return excursions


@blp.route("/shipments/<int:shipment_id>/temperature-waiver")
class TemperatureWaiverResource(MethodView):
    @roles_required(*SHIPMENT_LIFECYCLE.roles("waive_temperature_data"))
    @blp.arguments(s.WaiverIn)
    @blp.response(201, s.WaiverOut)
    @problems(blp, 401, 403, 404, 409, 423)
    def post(self, args: dict[str, Any], shipment_id: int) -> dict[str, Any]:
        """QA lets the shipment's doses be dispensed without its logger file (reason, e-signature)."""
        actor = require_actor()
        waiver = temperature_data.waive_temperature_data(
            shipment_or_404(shipment_id), reason=args["reason"], signature=_signature(args["signature"]),
            actor=actor, now=utcnow())
        db.session.commit()
        return {"shipment_id": waiver.shipment_id, "temperature_data": temperature_data.WAIVED,
                "reason": waiver.reason, "waived_by": actor.display_name, "waived_at": waiver.waived_at}


def _dose_action(code: str, action: Any, **kwargs: Any) -> dict[str, Any]:
    dose = action(site_dose(code), actor=require_actor(), now=utcnow(), **kwargs)
    db.session.commit()
    return dose_detail(dose)


@blp.route("/doses/<code>/thaw")
class ThawResource(MethodView):
    @roles_required(*DOSE_LIFECYCLE.roles("thaw"))
    @blp.arguments(s.ThawIn)
    @blp.response(200)
    @problems(blp, 401, 403, 404, 409)
    def post(self, args: dict[str, Any], code: str) -> dict[str, Any]:
        """Record the thaw of a cryopreserved dose; its expiry moves to the post-thaw window."""
        return _json(_dose_action(code, pharmacy.thaw, thawed_at=args["thawed_at"]))


@blp.route("/doses/<code>/dispense")
class DispenseResource(MethodView):
    @roles_required(*DOSE_LIFECYCLE.roles("dispense"))
    @blp.arguments(s.DispenseIn)
    @blp.response(200)
    @problems(blp, 401, 403, 404, 409)
    def post(self, args: dict[str, Any], code: str) -> dict[str, Any]:
        """Dispense to the ward, to the nurse who takes the dose; refused (409
        TEMPERATURE_DATA_MISSING) while the shipment has no logger file and no QA waiver;
        `bag_scan`, when sent, must be this dose's label (409 BAG_MISMATCH)."""
        return _json(_dose_action(code, pharmacy.dispense, to=args["to"], bag_scan=args.get("bag_scan")))


@blp.route("/doses/<code>/destroy")
class DestroyResource(MethodView):
    @roles_required(*DOSE_LIFECYCLE.roles("destroy"))
    @blp.arguments(s.DestroyIn)
    @blp.response(200)
    @problems(blp, 401, 403, 404, 409, 423)
    def post(self, args: dict[str, Any], code: str) -> dict[str, Any]:
        """Destroy a dose (reason, e-signature, witness)."""
        return _json(_dose_action(code, pharmacy.destroy, reason=args["reason"],
                                  signature=_signature(args["signature"]),
                                  witnessed_by=WitnessInput(args["witness"]["username"], args["witness"]["password"])))


@blp.route("/doses/<code>/return")
class ReturnResource(MethodView):
    @roles_required(*DOSE_LIFECYCLE.roles("return"))
    @blp.arguments(s.ReturnIn)
    @blp.response(200)
    @problems(blp, 401, 403, 404, 409, 423)
    def post(self, args: dict[str, Any], code: str) -> dict[str, Any]:
        """Return a dose to the manufacturer (reason, e-signature)."""
        return _json(_dose_action(code, pharmacy.return_to_manufacturer, reason=args["reason"],
                                  signature=_signature(args["signature"])))


def _json(view: dict[str, Any]) -> dict[str, Any]:
    return DoseDetailOut().dump(view)


@blp.route("/scan")
class ScanResource(MethodView):
    @roles_required(*Role)
    @blp.arguments(s.ScanQuery, location="query")
    @blp.response(200, s.ScanOut)
    @problems(blp, 401, 404, 422)
    def get(self, query: dict[str, Any]) -> dict[str, Any]:
        """What a scanned payload is: a dose, a patient (wristband), a shipment or a lot."""
        scan = read_scan(query["payload"])
        actor = require_actor()
        body: dict[str, Any] = {"type": scan.kind, "payload": scan.payload, "label": scan.label}
        obj = scan.obj
        if obj is None:
            raise NotFound(_l("This %(kind)s label names nothing known here.", kind=state(scan.kind)))
        if scan.kind == "dose":
            site_dose(obj.code)
            where = dose_whereabouts(obj, site_id=actor.site_id)
            body.update(dose_code=obj.code, subject_id=scan.details.get("subject_id"),
                        lot_number=where.lot_number, shipment_code=where.shipment_code,
                        at_this_site=where.at_this_site)
        elif scan.kind == "patient":
            if actor.site_id is not None and obj.site_id != actor.site_id:
                raise NotFound(_l("This patient label names nothing known here."))
            body["subject_id"] = obj.subject_id
        elif scan.kind == "shipment":
            body["shipment_id"] = shipment_or_404(obj.id).id
        elif scan.kind == "lot":
            if actor.site_id is not None:
                raise NotFound(_l("This lot label names nothing known here."))
            body["lot_id"] = obj.id
        return body
