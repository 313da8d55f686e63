"""API: donors, lots, release testing, release, recall and dose preparation."""
from typing import Any

from flask.views import MethodView
from flask_smorest import Blueprint
from sqlalchemy import select

from cell_chain.accounts.permissions import require_actor, roles_required
from cell_chain.accounts.roles import Role
from cell_chain.accounts.signatures import SignatureInput
from cell_chain.batches import schemas as s
from cell_chain.batches import services
from cell_chain.batches.loaders import get_or_404
from cell_chain.batches.models import Donor, Dose, Lot
from cell_chain.batches.visibility import show_to
from cell_chain.core.clock import utcnow
from cell_chain.core.db import db
from cell_chain.core.schemas import PageArgs
from cell_chain.web.api import problems

blp = Blueprint("batches_api", __name__, url_prefix="/api", description="Donors, lots and doses")

BATCH_READERS = (Role.LAB, Role.QA, Role.ADMIN, Role.MONITOR)
LOT_READERS = (*BATCH_READERS, Role.COORDINATOR)


def _signature(args: dict[str, Any]) -> SignatureInput:
    given = args["signature"]
    return SignatureInput(password=given["password"], meaning=given.get("meaning", ""))


@blp.route("/donors")
class DonorsResource(MethodView):
    @roles_required(*BATCH_READERS)
    @blp.arguments(PageArgs, location="query")
    @blp.response(200, s.DonorBrief(many=True))
    @problems(blp, 401, 403)
    def get(self, page: dict[str, int]) -> list[Donor]:
        """Donors, newest first."""
        stmt = select(Donor).order_by(Donor.id.desc()).limit(page["limit"]).offset(page["offset"])
        return list(db.session.scalars(stmt))

    @roles_required(Role.LAB)
    @blp.arguments(s.DonorIn)
    @blp.response(201, s.DonorOut)
    @problems(blp, 401, 403)
    def post(self, args: dict[str, Any]) -> Donor:
        """Register a cord donor; the donation gets its DIN."""
        donor = services.register_donor(**args, actor=require_actor(), now=utcnow())
        db.session.commit()
        return donor


@blp.route("/donors/<int:donor_id>")
class DonorResource(MethodView):
    @roles_required(*BATCH_READERS)
    @blp.response(200, s.DonorOut)
    @problems(blp, 401, 403, 404)
    def get(self, donor_id: int) -> Donor:
        """A donor with screening results and eligibility signature."""
        return get_or_404(Donor, donor_id)


@blp.route("/donors/<int:donor_id>/screening")
class ScreeningResource(MethodView):
    @roles_required(Role.LAB)
    @blp.arguments(s.ScreeningIn)
    @blp.response(201, s.ScreeningOut)
    @problems(blp, 401, 403, 404, 409)
    def post(self, args: dict[str, Any], donor_id: int) -> Any:
        """Enter (or, with a reason, correct) a screening marker result."""
        donor = get_or_404(Donor, donor_id)
        entry = services.record_screening(donor, **args | {"reason": args.get("reason")},
                                          actor=require_actor(), now=utcnow())
        db.session.commit()
        return entry


@blp.route("/donors/<int:donor_id>/eligibility")
class EligibilityResource(MethodView):
    @roles_required(Role.QA)
    @blp.arguments(s.SignedIn)
    @blp.response(200, s.DonorOut)
    @problems(blp, 401, 403, 404, 409, 423)
    def post(self, args: dict[str, Any], donor_id: int) -> Donor:
        """QA determines eligibility from the screening results (e-signature)."""
        donor = services.determine_eligibility(get_or_404(Donor, donor_id), signature=_signature(args),
                                               actor=require_actor(), now=utcnow())
        db.session.commit()
        return donor


@blp.route("/lots")
class LotsResource(MethodView):
    @roles_required(*LOT_READERS)
    @blp.arguments(s.LotQuery, location="query")
    @blp.response(200, s.LotBrief(many=True))
    @problems(blp, 401, 403)
    def get(self, query: dict[str, Any]) -> list[Lot]:
        """Lots, newest first, optionally by status."""
        stmt = select(Lot).order_by(Lot.id.desc())
        if "status" in query:
            stmt = stmt.where(Lot.status == query["status"])
        return list(db.session.scalars(stmt.limit(query["limit"]).offset(query["offset"])))

    @roles_required(Role.LAB)
    @blp.arguments(s.LotIn)
    @blp.response(201, s.LotOut)
    @problems(blp, 401, 403, 404, 409)
    def post(self, args: dict[str, Any]) -> Lot:
        """Start a lot from a donor; it gets its own DIN."""
        donor = get_or_404(Donor, args.pop("donor_id"))
        lot = services.create_lot(donor=donor, **args, actor=require_actor(), now=utcnow())
        db.session.commit()
        return lot


@blp.route("/lots/<int:lot_id>")
class LotResource(MethodView):
    @roles_required(*LOT_READERS)
    @blp.response(200, s.LotOut)
    @problems(blp, 401, 403, 404)
    def get(self, lot_id: int) -> Lot:
        """A lot with results against the specification, release readiness and doses (site
        staff: their own site's doses only)."""
        return show_to(get_or_404(Lot, lot_id), require_actor())


@blp.route("/lots/<int:lot_id>/complete")
class LotCompleteResource(MethodView):
    @roles_required(Role.LAB)
    @blp.response(200, s.LotOut)
    @problems(blp, 401, 403, 404, 409)
    def post(self, lot_id: int) -> Lot:
        """Manufacturing finished: the lot goes into quarantine for release testing."""
        lot = services.complete_lot(get_or_404(Lot, lot_id), actor=require_actor(), now=utcnow())
        db.session.commit()
        return lot


@blp.route("/lots/<int:lot_id>/results")
class LotResultsResource(MethodView):
    @roles_required(Role.LAB)
    @blp.arguments(s.ResultIn)
    @blp.response(201, s.ResultOut)
    @problems(blp, 401, 403, 404, 409)
    def post(self, args: dict[str, Any], lot_id: int) -> Any:
        """Enter (or, with a reason, correct) a release test result; pass/fail is computed."""
        result = services.record_result(
            get_or_404(Lot, lot_id), test=args["test"], value=args["value"],
            performed_on=args["performed_on"], method=args.get("method"),
            analyst=args.get("analyst"), reason=args.get("reason"),
            actor=require_actor(), now=utcnow())
        db.session.commit()
        return result


@blp.route("/lots/<int:lot_id>/release")
class LotReleaseResource(MethodView):
    @roles_required(Role.QA)
    @blp.arguments(s.SignedIn)
    @blp.response(200, s.LotOut)
    @problems(blp, 401, 403, 404, 409, 423)
    def post(self, args: dict[str, Any], lot_id: int) -> Lot:
        """QA releases the lot (e-signature); refused with every blocker listed."""
        lot = services.release_lot(get_or_404(Lot, lot_id), signature=_signature(args),
                                   actor=require_actor(), now=utcnow())
        db.session.commit()
        return lot


@blp.route("/lots/<int:lot_id>/reject")
class LotRejectResource(MethodView):
    @roles_required(Role.QA)
    @blp.arguments(s.ReasonSignedIn)
    @blp.response(200, s.LotOut)
    @problems(blp, 401, 403, 404, 409, 423)
    def post(self, args: dict[str, Any], lot_id: int) -> Lot:
        """QA rejects the lot (reason, e-signature); its doses are quarantined."""
        lot = services.reject_lot(get_or_404(Lot, lot_id), reason=args["reason"],
                                  signature=_signature(args), actor=require_actor(), now=utcnow())
        db.session.commit()
        return lot


@blp.route("/lots/<int:lot_id>/recall")
class LotRecallResource(MethodView):
    @roles_required(Role.QA)
    @blp.arguments(s.ReasonSignedIn)
    @blp.response(200, s.RecallOut)
    @problems(blp, 401, 403, 404, 409, 423)
    def post(self, args: dict[str, Any], lot_id: int) -> services.RecallOutcome:
        """QA recalls a released lot: every dose not yet administered is quarantined."""
        outcome = services.recall_lot(get_or_404(Lot, lot_id), reason=args["reason"],
                                      signature=_signature(args), actor=require_actor(), now=utcnow())
        db.session.commit()
        return outcome


@blp.route("/lots/<int:lot_id>/doses")
class LotDosesResource(MethodView):
    @roles_required(Role.LAB)
    @blp.arguments(s.DoseIn)
    @blp.response(201, s.DoseOut)
    @problems(blp, 401, 403, 404, 409)
    def post(self, args: dict[str, Any], lot_id: int) -> Dose:
        """Fill a dose; out of tolerance it is kept as rejected with its reasons."""
        dose = services.prepare_dose(get_or_404(Lot, lot_id), **args, actor=require_actor(), now=utcnow())
        db.session.commit()
        return dose
