"""Page: the monitor's dashboard (/monitor); a coordinator sees it for their own site."""
from datetime import timedelta
from typing import Any

from flask import Blueprint, current_app, render_template, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from cell_chain.accounts.models import User
from cell_chain.accounts.permissions import require_actor, roles_required
from cell_chain.core.clock import utcnow
from cell_chain.reconciliation import dashboard
from cell_chain.reconciliation.discrepancies import Involved
from cell_chain.reconciliation.progress_chart import Group, progress_svg
from cell_chain.reconciliation.scope import READERS as REPORT_READERS
from cell_chain.web.locale import reader_zone

bp = Blueprint("monitor_pages", __name__, template_folder="templates")

FIRST_DISCREPANCIES = 10
FIRST_VISITS = 15
REPORT_TITLES = {"patients": _l('Per patient'), "sites": _l('Per site (drug accountability)'), "lots": _l('Per lot'),
                 "discrepancies": _l('Discrepancies')}
STATE_WORDS = {"due": _l('Due now'), "upcoming": _l('Window opens soon'), "overdue": _l('Overdue')}


def _may_open(endpoint: str, actor: User) -> bool:
    """Whether the page behind `endpoint` lets the actor in (its roles_required roles)."""
    view = current_app.view_functions.get(endpoint)
    return view is not None and actor.role in getattr(view, "allowed_roles", ())


def involved_link(item: Involved, actor: User) -> str | None:
    """Where to look at an object a discrepancy names, if the actor may open it."""
    if item.type == "patient" and _may_open("patient_pages.patient_page", actor):
        return url_for("patient_pages.patient_page", subject_id=item.id)
    if item.type == "visit" and _may_open("patient_pages.patient_page", actor):
        subject_id, _, number = item.id.partition("/")
        return url_for("patient_pages.patient_page", subject_id=subject_id, _anchor=f"visit-{number}")
    if item.type == "dose" and _may_open("trace_pages.donor", actor):
        # A dose code starts with its lot's DIN.
        return url_for("trace_pages.donor", din=item.id.partition("-")[0], _anchor=f"dose-{item.id}")
    if item.type == "lot" and item.id.isdigit() and _may_open("batches_pages.lot_page", actor):
        return url_for("batches_pages.lot_page", lot_id=int(item.id))
    if item.type == "shipment" and item.id.isdigit() and _may_open("shipment_pages.shipment_page", actor):
        return url_for("shipment_pages.shipment_page", shipment_id=int(item.id))
    return None


@bp.get("/monitor")
@roles_required(*dashboard.DASHBOARD_READERS)
def index() -> str:
    actor, now = require_actor(), utcnow()
    board = dashboard.build_dashboard(actor, now, reader_zone())
    chart = progress_svg([Group(s.site_code, [s.given[n] for n in dashboard.VISIT_NUMBERS], s.msc_patients)
                          for s in board.sites])
    reports = [(name, title) for name, title in REPORT_TITLES.items() if actor.role in REPORT_READERS[name]]
    context: dict[str, Any] = {
        "board": board, "chart": chart, "now": now, "reports": reports, "visit_numbers": dashboard.VISIT_NUMBERS,
        "first_discrepancies": board.discrepancies[:FIRST_DISCREPANCIES], "first_visits": FIRST_VISITS,
        "state_words": STATE_WORDS, "state_tones": {"due": "info"}, "link": lambda item: involved_link(item, actor),
        "may_trace": _may_open("trace_pages.search", actor), "due_soon_days": dashboard.DUE_SOON.days,
        "one_day": timedelta(days=1),
    }
    return render_template("reconciliation/monitor_dashboard.html", **context)
