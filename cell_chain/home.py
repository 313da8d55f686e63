"""The home page: each role's jobs."""
from dataclasses import dataclass
from typing import Any

from datetime import datetime

from flask import Blueprint, Flask, g, render_template, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from werkzeug.wrappers import Response

from cell_chain.accounts.roles import Role
from cell_chain.core.clock import utcnow
from cell_chain.reconciliation.needs import Need, needs_for
from cell_chain.web.errors import login_redirect
from cell_chain.web.words import when

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


def _need_words(need: Need) -> str:
    """The item as a sentence in the reader's language, times in the reader's zone."""
    at = need.when
    moment = when(at) if isinstance(at, datetime) else (at.isoformat() if at else "")
    values = {"code": need.code, "when": moment, **need.detail}
    sentences = {
        "visit_due": lambda: _("%(code)s visit %(number)s: window open until %(when)s, no dose allocated", **values),
        "visit_opens": lambda: _("%(code)s visit %(number)s: window opens %(when)s, no dose allocated", **values),
        "box_coming": lambda: _("Shipment %(code)s is on its way here, dispatched %(when)s", **values),
        "not_given": lambda: _("Dose %(code)s dispensed %(when)s and not recorded as given", **values),
        "to_thaw": lambda: _("Dose %(code)s for %(subject_id)s visit %(number)s (window open today) is not thawed", **values),
        "at_ward": lambda: _("Dose %(code)s at the ward since %(when)s, waiting for the bedside", **values),
        "lot_to_release": lambda: _("Lot %(code)s awaits your release decision", **values),
        "excursion": lambda: _("Shipment %(code)s: a temperature excursion awaits your decision", **values),
        "no_doses": lambda: _("Lot %(code)s: no doses prepared yet", **values),
        "labels_unverified": lambda: _("Lot %(code)s: %(count)s bag labels not verified", **values),
        "box_open": lambda: _("Shipment %(code)s is not dispatched yet", **values),
        "discrepancy": lambda: _("%(title)s: %(code)s", **{**values, "title": _(need.detail.get("title", ""))}),
    }
    return sentences[need.kind]()


@bp.get("/")
def index() -> str | Response:
    actor = g.get("actor")
    if actor is None:
        return login_redirect()
    heading, jobs = JOBS[actor.role]
    needs = needs_for(actor, utcnow())
    items = ([(_need_words(n), url_for(n.endpoint, **n.args)) for n in needs] if needs is not None else None)
    return render_template("home.html", heading=heading, jobs=jobs, needs=items)


def init_templates(app: Flask) -> None:
    @app.context_processor
    def _actor() -> dict[str, object]:
        return {"actor": g.get("actor")}
