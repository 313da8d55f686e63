"""Page: the audit trail with its verification status."""
from flask import Blueprint, current_app, render_template

from cell_chain.accounts.permissions import roles_required
from cell_chain.audit_trail.queries import list_events
from cell_chain.audit_trail.routes import AUDIT_READERS
from cell_chain.core.audit_chain import request_bound, verify_recent

bp = Blueprint("audit_pages", __name__)


@bp.get("/audit")
@roles_required(*AUDIT_READERS)
def index() -> str:
    return render_template("audit/index.html", report=verify_recent(bound=request_bound(current_app.config)), events=list_events(limit=200))
