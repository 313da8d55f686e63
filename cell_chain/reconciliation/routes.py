"""API: the reconciliation reports as JSON (monitor, QA, admin: the whole trial; site staff:
their own site; lots: the manufacturer's side)."""
from collections import Counter
from typing import Any

from flask.views import MethodView
from flask_smorest import Blueprint

from cell_chain.accounts.permissions import require_actor, roles_required
from cell_chain.core.clock import utcnow
from cell_chain.reconciliation import schemas as s
from cell_chain.reconciliation.discrepancies import find_discrepancies
from cell_chain.reconciliation.lots import reconcile_lots
from cell_chain.reconciliation.patients import reconcile_patients
from cell_chain.reconciliation.scope import READERS, scope_for
from cell_chain.reconciliation.sites import reconcile_sites
from cell_chain.web.api import problems

blp = Blueprint("reconciliation_api", __name__, url_prefix="/api/reconciliation",
                description="Reconciliation: patients, sites, lots and discrepancies")


@blp.route("/patients")
class PatientsReport(MethodView):
    @roles_required(*READERS["patients"])
    @blp.arguments(s.SiteScopedPage, location="query")
    @blp.response(200, s.PatientsReportOut)
    @problems(blp, 401, 403, 404)
    def get(self, query: dict[str, Any]) -> dict[str, Any]:
        """The four planned doses of each patient against what happened; totals per site."""
        scope = scope_for(require_actor(), "patients", query.get("site_code"))
        result = reconcile_patients(scope, now=utcnow(), limit=query["limit"], offset=query["offset"])
        return {"generated_at": result.generated_at, "site_code": scope.site_code,
                "total_patients": result.total_patients, "limit": query["limit"], "offset": query["offset"],
                "patients": result.patients, "sites": result.sites, "total": result.total}


@blp.route("/sites")
class SitesReport(MethodView):
    @roles_required(*READERS["sites"])
    @blp.arguments(s.SitesQuery, location="query")
    @blp.response(200, s.SitesReportOut)
    @problems(blp, 401, 403, 404)
    def get(self, query: dict[str, Any]) -> dict[str, Any]:
        """Drug accountability per site: received = administered + destroyed + returned + on hand."""
        scope = scope_for(require_actor(), "sites", query.get("site_code"))
        result = reconcile_sites(scope, now=utcnow(), with_signatures=query["signatures"])
        return {"generated_at": result.generated_at, "site_code": scope.site_code, "sites": result.sites,
                "total": result.total, "signatures": result.signatures}


@blp.route("/lots")
class LotsReport(MethodView):
    @roles_required(*READERS["lots"])
    @blp.arguments(s.ReportPage, location="query")
    @blp.response(200, s.LotsReportOut)
    @problems(blp, 401, 403)
    def get(self, query: dict[str, Any]) -> dict[str, Any]:
        """Per lot: prepared = rejected at fill + administered + destroyed + returned + in stock."""
        scope = scope_for(require_actor(), "lots")
        result = reconcile_lots(scope, now=utcnow(), limit=query["limit"], offset=query["offset"])
        return {"generated_at": result.generated_at, "total_lots": result.total_lots, "limit": query["limit"],
                "offset": query["offset"], "lots": result.lots, "total": result.total}


@blp.route("/discrepancies")
class DiscrepanciesReport(MethodView):
    @roles_required(*READERS["discrepancies"])
    @blp.arguments(s.DiscrepancyQuery, location="query")
    @blp.response(200, s.DiscrepanciesReportOut)
    @problems(blp, 401, 403, 404)
    def get(self, query: dict[str, Any]) -> dict[str, Any]:
        """Every discrepancy with its code, the objects involved and a plain explanation."""
        scope = scope_for(require_actor(), "discrepancies", query.get("site_code"))
        now = utcnow()
        found = find_discrepancies(scope, now=now)
        by_code = Counter(d.code.value for d in found)
        if "code" in query:
            found = [d for d in found if d.code == query["code"]]
        page = found[query["offset"]:query["offset"] + query["limit"]]
        return {"generated_at": now, "site_code": scope.site_code, "count": len(found), "by_code": dict(by_code),
                "limit": query["limit"], "offset": query["offset"], "discrepancies": page}
