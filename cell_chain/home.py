"""The home page: each role's jobs."""
from dataclasses import dataclass
from typing import Any

from flask import Blueprint, Flask, g, render_template
from flask_babel import lazy_gettext as _l
from werkzeug.wrappers import Response

from cell_chain.accounts.roles import Role
from cell_chain.web.errors import login_redirect

bp = Blueprint("home", __name__)


@dataclass(frozen=True)
class Job:
    title: Any  # lazy: translated when shown
    summary: Any
    endpoint: str | None = None  # None until the job's screen exists


_AUDIT = Job(_l("Audit trail"), _l("Every change with who, when, old → new and why; chain verification."),
             "audit_pages.index")

JOBS: dict[str, tuple[str, list[Job]]] = {
    Role.ADMIN: (_l("Administration"), [
        Job(_l("Users and sites"), _l("Create accounts, correct printed names, deactivate leavers (API: /api/users, /api/sites).")),
        _AUDIT,
    ]),
    Role.LAB: (_l('GMP laboratory'), [
        Job(_l("Donors"), _l("Register cord donors and their screening results."), "batches_pages.donors"),
        Job(_l("Lots, doses and labels"), _l("Release test results, prepare doses, print and verify bag labels."),
            "batches_pages.board"),
        Job(_l("Shipments"), _l("Pack shipments by scanning doses and dispatch them."),
            "shipment_pages.shipment_list"),
    ]),
    Role.QA: (_l('Quality assurance'), [
        Job(_l("Eligibility and release"), _l("Determine donor eligibility and release lots with your e-signature."),
            "batches_pages.board"),
        Job(_l("Recalls and excursions"), _l("Recall lots and decide on temperature excursions."),
            "shipment_pages.shipment_list"),
        Job(_l("Trace"), _l("Donor to patient and back, for recall and lookback."), "trace_pages.search"),
        _AUDIT,
    ]),
    Role.PHARMACIST: (_l('Site pharmacy'), [
        Job(_l("Receive shipments"), _l("Scan every dose in the box, check seal and temperature, sign receipt."),
            "shipment_pages.shipment_list"),
        Job(_l("Store, thaw and dispense"), _l("Record thaws and dispense doses to the ward."),
            "shipment_pages.inventory"),
    ]),
    Role.NURSE: (_l("Bedside"), [
        Job(_l("Verify and record an infusion"), _l("Scan wristband and dose bag, then record the infusion with a witness."),
            "bedside_pages.scan"),
    ]),
    Role.COORDINATOR: (_l('Study coordination'), [
        Job(_l("Patients and visits"), _l("Enrol patients and follow their four-dose schedule."),
            "patient_pages.patient_list"),
        Job(_l("Allocate doses"), _l("Allocate a released dose to a patient's visit."),
            "patient_pages.waiting_for_dose"),
        Job(_l("Site progress"), _l("Doses given per visit, visits overdue or due soon, open discrepancies."),
            "monitor_pages.index"),
    ]),
    Role.MONITOR: (_l("Monitoring"), [
        Job(_l("Donors and lots"), _l("Read-only: lots by state, release tests, doses and signatures."),
            "batches_pages.board"),
        Job(_l("Reconciliation"), _l("Doses against the four-dose schedule, per patient, site and lot."),
            "monitor_pages.index"),
        Job(_l("Trace"), _l("Donor to patient and back, for recall and lookback."), "trace_pages.search"),
        Job(_l("SDTM datasets"), _l("Exposure, drug accountability and deviations for the submission (XPT, CSV)."),
            "exchange_pages.downloads"),
        _AUDIT,
    ]),
}


@bp.get("/")
def index() -> str | Response:
    actor = g.get("actor")
    if actor is None:
        return login_redirect()
    heading, jobs = JOBS[actor.role]
    return render_template("home.html", heading=heading, jobs=jobs)


def init_templates(app: Flask) -> None:
    @app.context_processor
    def _actor() -> dict[str, object]:
        return {"actor": g.get("actor")}
