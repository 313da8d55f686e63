"""API: print jobs, print-then-scan verification, and a dose with its label payloads."""
from typing import Any

from flask import Response
from flask.views import MethodView
from flask_smorest import Blueprint
from flask_babel import gettext as _
from sqlalchemy import select

from cell_chain.accounts.permissions import require_actor, roles_required
from cell_chain.accounts.roles import Role
from cell_chain.batches.models import Dose
from cell_chain.core.clock import utcnow
from cell_chain.core.db import db
from cell_chain.core.errors import DomainError, NotFound
from cell_chain.batches.loaders import get_or_404
from cell_chain.batches.models import Lot
from cell_chain.labels import scan_back, services
from cell_chain.labels import schemas as s
from cell_chain.labels.answers import lot_scan_answer
from cell_chain.labels.dose_view import dose_detail, dose_site_id
from cell_chain.labels.models import PrintJob
from cell_chain.web.api import domain_problem, problems
from cell_chain.core.messages import _l

blp = Blueprint("labels_api", __name__, url_prefix="/api", description="Labels and doses")

PRINTERS = (Role.LAB, Role.COORDINATOR)
SCANNERS = (Role.LAB,)  # bag labels are printed and scanned back by the GMP lab
DOSE_READERS = (Role.LAB, Role.QA, Role.ADMIN, Role.MONITOR, Role.COORDINATOR, Role.PHARMACIST, Role.NURSE)


class LabelMismatch(DomainError):
    status, code, title = 409, "LABEL_MISMATCH", "The scanned label does not match this dose"


class LabelNotPrinted(DomainError):
    status, code, title = 409, "LABEL_NOT_PRINTED", "Only a printed label can be verified"


class UnrecognizedBarcode(DomainError):
    status, code, title = 422, "UNRECOGNIZED_BARCODE", "The scan is not a label cell-chain prints"


def _dose(code: str) -> Dose:
    """A dose the caller may see: central roles any, site staff their own patients' doses."""
    dose = db.session.scalar(select(Dose).where(Dose.code == code))
    actor = require_actor()
    if dose is None or (actor.site_id is not None and dose_site_id(dose) != actor.site_id):
        raise NotFound(_l("No such dose."))
    return dose


_FILE = {"description": "The labels to print (PDF, or ZPL for a Zebra printer)",
         "content": {"application/pdf": {"schema": {"type": "string", "format": "binary"}},
                     "application/vnd.zebra.zpl": {"schema": {"type": "string"}}}}


@blp.route("/print-jobs")
class PrintJobsResource(MethodView):
    @roles_required(*PRINTERS)
    @blp.arguments(s.PrintJobIn)
    @blp.doc(responses={"201": _FILE})
    @problems(blp, 401, 403, 404, 409, 503)
    def post(self, args: dict[str, Any]) -> Response:
        """Print labels: one dose, a whole lot, an assignment, a wristband or a shipment."""
        output = services.print_labels(kind=args["kind"], target=args["target"], fmt=args["format"],
                                       reason=args.get("reason"), override=args.get("override"),
                                       actor=require_actor(), now=utcnow())
        db.session.commit()
        response = Response(output.content, status=201, mimetype=output.mimetype)
        response.headers["Content-Disposition"] = f'inline; filename="{output.filename}"'
        response.headers["X-Print-Job-Id"] = str(output.job.id)
        response.headers["X-Template-Version"] = output.job.template_version
        return response

    @roles_required(Role.LAB, Role.QA, Role.ADMIN, Role.MONITOR)
    @blp.arguments(s.PrintJobQuery, location="query")
    @blp.response(200, s.PrintJobOut(many=True))
    @problems(blp, 401, 403)
    def get(self, query: dict[str, Any]) -> list[PrintJob]:
        """Recorded print jobs, newest first."""
        stmt = select(PrintJob).order_by(PrintJob.id.desc())
        if "target" in query:
            stmt = stmt.where(PrintJob.target == query["target"])
        return list(db.session.scalars(stmt.limit(query["limit"]).offset(query["offset"])))


@blp.route("/doses/<code>/label-verification")
class LabelVerificationResource(MethodView):
    @roles_required(*PRINTERS)
    @blp.arguments(s.ScanIn)
    @blp.response(200, s.VerificationOut)
    @problems(blp, 401, 403, 404, 409)
    def post(self, args: dict[str, Any], code: str) -> Any:
        """Scan a printed label back: it counts as applied only when it matches the dose."""
        verification = services.verify_label(_dose(code), scan=args["scan"], actor=require_actor(),
                                             now=utcnow())
        db.session.commit()  # a mismatch is recorded too
        if verification.code == "LABEL_MISMATCH":
            return domain_problem(LabelMismatch(_l("The scanned label is not this dose's current label.")))
        if verification.code == "LABEL_NOT_PRINTED":
            return domain_problem(LabelNotPrinted(_l("No label with this content was printed for this dose: "
                                                     "print it, apply it, then scan the printed label.")))
        if verification.code == "UNRECOGNIZED_BARCODE":
            return domain_problem(UnrecognizedBarcode(_l("Scan the label's Data Matrix.")))
        return verification


@blp.route("/lots/<int:lot_id>/label-scans")
class LotLabelScanResource(MethodView):
    @roles_required(*SCANNERS)
    @blp.arguments(s.ScanIn)
    @blp.response(200, s.LotLabelScanOut)
    @problems(blp, 401, 403, 404)
    def post(self, args: dict[str, Any], lot_id: int) -> dict[str, Any]:
        """Scan a printed bag label back on its lot's page: the label names its dose. Each
        scan is judged and answered in words (verified, already verified, or refused and
        why); only a first matching scan changes the dose, and every attempt on a dose of
        the lot is recorded, in one transaction per scan."""
        lot = get_or_404(Lot, lot_id)
        outcome = scan_back.scan_label_back(args["scan"], label_kind="bag", doses=list(lot.doses),
                                            here=_("lot %(number)s", number=lot.lot_number), actor=require_actor(), now=utcnow())
        db.session.commit()  # a mismatch is recorded too
        return lot_scan_answer(lot, outcome)


@blp.route("/doses/<code>")
class DoseResource(MethodView):
    @roles_required(*DOSE_READERS)
    @blp.response(200, s.DoseDetailOut)
    @problems(blp, 401, 403, 404)
    def get(self, code: str) -> dict[str, Any]:
        """A dose, its state, custody and the exact payloads its labels carry."""
        return dose_detail(_dose(code))
