"""The home page: each role's jobs."""
from dataclasses import dataclass

from flask import Blueprint, Flask, g, render_template
from werkzeug.wrappers import Response

from cell_chain.accounts.roles import Role
from cell_chain.web.errors import login_redirect

bp = Blueprint("home", __name__)


@dataclass(frozen=True)
class Job:
    title: str
    summary: str
    endpoint: str | None = None  # None until the job's screen exists


_AUDIT = Job("Audit trail", "Every change with who, when, old → new and why; chain verification.",
             "audit_pages.index")

JOBS: dict[str, tuple[str, list[Job]]] = {
    Role.ADMIN: ("Administration", [
        Job("Users and sites", "Create accounts, correct printed names, deactivate leavers (API: /api/users, /api/sites)."),
        _AUDIT,
    ]),
    Role.LAB: ("GMP laboratory", [
        Job("Donors and lots", "Register cord donors, screening and release test results.",
            "batches_pages.board"),
        Job("Doses and labels", "Prepare doses, print and verify bag labels.", "batches_pages.board"),
        Job("Shipments", "Pack shipments by scanning doses and dispatch them.",
            "shipment_pages.shipment_list"),
    ]),
    Role.QA: ("Quality assurance", [
        Job("Eligibility and release", "Determine donor eligibility and release lots with your e-signature.",
            "batches_pages.board"),
        Job("Recalls and excursions", "Recall lots and decide on temperature excursions.",
            "shipment_pages.shipment_list"),
        Job("Trace", "Donor to patient and back, for recall and lookback.", "trace_pages.search"),
        _AUDIT,
    ]),
    Role.PHARMACIST: ("Site pharmacy", [
        Job("Receive shipments", "Scan every dose in the box, check seal and temperature, sign receipt.",
            "shipment_pages.shipment_list"),
        Job("Store, thaw and dispense", "Record thaws and dispense doses to the ward.",
            "shipment_pages.inventory"),
    ]),
    Role.NURSE: ("Bedside", [
        Job("Verify and record an infusion", "Scan wristband and dose bag, then record the infusion with a witness.",
            "bedside_pages.scan"),
    ]),
    Role.COORDINATOR: ("Study coordination", [
        Job("Patients and visits", "Enrol patients and follow their four-dose schedule.",
            "patient_pages.patient_list"),
        Job("Allocate doses", "Allocate a released dose to a patient's visit.",
            "patient_pages.waiting_for_dose"),
        Job("Site progress", "Doses given per visit, visits overdue or due soon, open discrepancies.",
            "monitor_pages.index"),
    ]),
    Role.MONITOR: ("Monitoring", [
        Job("Donors and lots", "Read-only: lots by state, release tests, doses and signatures.",
            "batches_pages.board"),
        Job("Reconciliation", "Doses against the four-dose schedule, per patient, site and lot.",
            "monitor_pages.index"),
        Job("Trace", "Donor to patient and back, for recall and lookback.", "trace_pages.search"),
        Job("SDTM datasets", "Exposure, drug accountability and deviations for the submission (XPT, CSV).",
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
