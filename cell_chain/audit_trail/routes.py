"""API: the audit trail and its verification (monitor, QA, admin)."""
from typing import Any

from flask import current_app
from flask.views import MethodView
from flask_smorest import Blueprint

from cell_chain.accounts.permissions import roles_required
from cell_chain.accounts.roles import Role
from cell_chain.audit_trail.queries import list_events
from cell_chain.audit_trail.schemas import AuditEventOut, AuditQuery, ChainReportOut
from cell_chain.core.audit import AuditEvent
from cell_chain.core.audit_chain import ChainStatus, request_bound, verify_recent
from cell_chain.web.api import problems

AUDIT_READERS = (Role.ADMIN, Role.QA, Role.MONITOR)

blp = Blueprint("audit_api", __name__, url_prefix="/api/audit", description="Audit trail")


@blp.route("")
class AuditResource(MethodView):
    @roles_required(*AUDIT_READERS)
    @blp.arguments(AuditQuery, location="query")
    @blp.response(200, AuditEventOut(many=True))
    @problems(blp, 401, 403)
    def get(self, query: dict[str, Any]) -> list[AuditEvent]:
        """Audit events, newest first, optionally for one entity."""
        return list_events(**query)


@blp.route("/verify")
class AuditVerifyResource(MethodView):
    @roles_required(*AUDIT_READERS)
    @blp.response(200, ChainReportOut)
    @problems(blp, 401, 403)
    def get(self) -> ChainStatus:
        """Verify the last checkpoint and at most a fixed number of events after it; name the
        first broken event, if any. `complete` is false when newer events wait for the next
        full verification (`flask audit verify`)."""
        return verify_recent(bound=request_bound(current_app.config))
