"""Downloads: each reconciliation report as CSV and as a printable PDF, from the same numbers
as its JSON (/reports/reconciliation/<name>.csv and .pdf)."""
from typing import Any

from flask import Blueprint, request
from flask_babel import gettext as _

from cell_chain.accounts.permissions import require_actor, roles_required
from cell_chain.core.messages import _l
from cell_chain.core.clock import utcnow
from cell_chain.core.errors import NotFound, ValidationFailed
from cell_chain.reconciliation import documents
from cell_chain.reconciliation.discrepancies import Code, iter_discrepancies
from cell_chain.reconciliation.export import Report, csv_response, pdf_response
from cell_chain.reconciliation.scope import READERS, scope_for
from cell_chain.web.words import N_

bp = Blueprint("reconciliation_reports", __name__)

# The printed reports' headings, translated for the reader where the PDF is made.
REPORT_TITLES = (N_("Reconciliation per patient: planned doses against what happened"),
                 N_("Reconciliation per site: drug accountability"), N_("Reconciliation per lot: dose accounting"),
                 N_("Reconciliation: discrepancies"))

ANY_READER = tuple(dict.fromkeys(role for roles in READERS.values() for role in roles))


def _argument(name: str, max_length: int) -> str | None:
    value = request.args.get(name, "").strip()
    if len(value) > max_length:
        raise ValidationFailed({name: [_l("At most %(length)s characters.", length=max_length)]})
    return value or None


def build_report(name: str, *, streamed: bool = False) -> Report:
    """The report `name` for the caller, narrowed by ?site_code= (and ?code= for
    discrepancies). The arguments are checked here; the numbers are computed when the report
    is read (`streamed`: in the order a download writes them)."""
    if name not in READERS:
        raise NotFound(_('No report %(name)s.', name=name))
    actor, now = require_actor(), utcnow()
    scope = scope_for(actor, name, _argument("site_code", 8))
    if name == "patients":
        return documents.patients_report(scope, actor, now)
    if name == "sites":
        return documents.sites_report(scope, actor, now)
    if name == "lots":
        return documents.lots_report(scope, actor, now)
    code = _argument("code", 40)
    if code is not None and code not in Code.__members__:
        raise ValidationFailed({"code": [_l("One of: %(codes)s.", codes=", ".join(Code))]})
    found = iter_discrepancies(scope, now=now)
    if code is not None:
        found = (d for d in found if d.code == code)
    return documents.discrepancies_report(found, scope, actor, now, streamed=streamed)


@bp.get("/reports/reconciliation/<name>.csv")
@roles_required(*ANY_READER)
def report_csv(name: str) -> Any:
    return csv_response(build_report(name, streamed=True))


@bp.get("/reports/reconciliation/<name>.pdf")
@roles_required(*ANY_READER)
def report_pdf(name: str) -> Any:
    return pdf_response(build_report(name))
