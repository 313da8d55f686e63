"""API: patients, their schedule and dose allocation."""
from typing import Any

from flask.views import MethodView
from flask_smorest import Blueprint
from sqlalchemy import select

from cell_chain.accounts.models import Site
from cell_chain.accounts.permissions import require_actor, roles_required, scope_to_site
from cell_chain.accounts.roles import Role
from cell_chain.accounts.signatures import SignatureInput
from cell_chain.batches.models import Dose
from cell_chain.core.clock import utcnow
from cell_chain.core.db import db
from cell_chain.core.errors import NotFound
from cell_chain.patients import allocation as allocations
from cell_chain.patients import enrolment as patients
from cell_chain.patients import schemas as s
from cell_chain.patients.loaders import patient_or_404, visit_or_404
from cell_chain.patients.models import Patient
from cell_chain.web.api import problems
from cell_chain.core.messages import _l

blp = Blueprint("patients_api", __name__, url_prefix="/api/patients", description="Patients and schedule")

PATIENT_READERS = (Role.COORDINATOR, Role.NURSE, Role.PHARMACIST, Role.LAB, Role.QA, Role.ADMIN, Role.MONITOR)


@blp.route("")
class PatientsResource(MethodView):
    @roles_required(*PATIENT_READERS)
    @blp.arguments(s.PatientQuery, location="query")
    @blp.response(200, s.PatientOut(many=True))
    @problems(blp, 401, 403)
    def get(self, query: dict[str, Any]) -> list[Patient]:
        """Patients the caller may see (site staff: their own site's)."""
        stmt = scope_to_site(select(Patient), Patient, require_actor()).order_by(Patient.subject_id)
        if "site_code" in query:
            stmt = stmt.join(Site).where(Site.code == query["site_code"])
        if "arm" in query:
            stmt = stmt.where(Patient.arm == query["arm"])
        return list(db.session.scalars(stmt.limit(query["limit"]).offset(query["offset"])))

    @roles_required(*patients.ENROLLERS)
    @blp.arguments(s.PatientIn)
    @blp.response(201, s.PatientOut)
    @problems(blp, 401, 403, 404)
    def post(self, args: dict[str, Any]) -> Patient:
        """Enrol a patient at the coordinator's site; the MSC arm gets four visits."""
        patient = patients.enrol_patient(**args, actor=require_actor(), now=utcnow())
        db.session.commit()
        return patient


@blp.route("/<subject_id>")
class PatientResource(MethodView):
    @roles_required(*PATIENT_READERS)
    @blp.response(200, s.PatientOut)
    @problems(blp, 401, 403, 404)
    def get(self, subject_id: str) -> Patient:
        """A patient with visits, allocated doses and the wristband payload."""
        return patient_or_404(subject_id)


@blp.route("/<subject_id>/withdraw")
class WithdrawResource(MethodView):
    @roles_required(*patients.WITHDRAWERS)
    @blp.arguments(s.WithdrawIn)
    @blp.response(200, s.PatientOut)
    @problems(blp, 401, 403, 404, 409, 423)
    def post(self, args: dict[str, Any], subject_id: str) -> Patient:
        """Withdraw the patient (reason, e-signature); open visits are skipped."""
        given = SignatureInput(args["signature"]["password"], args["signature"].get("meaning", ""))
        patient = patients.withdraw_patient(patient_or_404(subject_id), reason=args["reason"], signature=given,
                                            actor=require_actor(), now=utcnow())
        db.session.commit()
        return patient


@blp.route("/<subject_id>/visits/<int:number>/allocate")
class AllocateResource(MethodView):
    @roles_required(*allocations.ALLOCATORS)
    @blp.arguments(s.AllocateIn)
    @blp.response(200, s.AllocationOut)
    @problems(blp, 401, 403, 404, 409)
    def post(self, args: dict[str, Any], subject_id: str, number: int) -> Any:
        """Allocate the given dose, or the earliest-expiring suitable one, to the visit."""
        visit = visit_or_404(patient_or_404(subject_id), number)
        dose = None
        if code := args.get("dose_code"):
            dose = db.session.scalar(select(Dose).where(Dose.code == code))
            if dose is None:
                raise NotFound(_l("No dose %(code)s.", code=code))
        allocation = allocations.allocate_dose(visit, dose=dose, actor=require_actor(), now=utcnow())
        db.session.commit()
        return allocation


@blp.route("/<subject_id>/visits/<int:number>/deallocate")
class DeallocateResource(MethodView):
    @roles_required(*allocations.ALLOCATORS)
    @blp.arguments(s.DeallocateIn)
    @blp.response(200, s.AllocationOut)
    @problems(blp, 401, 403, 404, 409)
    def post(self, args: dict[str, Any], subject_id: str, number: int) -> Any:
        """Take the dose back before dispatch (reason required)."""
        visit = visit_or_404(patient_or_404(subject_id), number)
        allocation = allocations.deallocate(visit, reason=args["reason"], actor=require_actor(), now=utcnow())
        db.session.commit()
        return allocation
