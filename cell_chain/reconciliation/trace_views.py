"""Pages: the trace form (type or scan a DIN, a dose label or a subject ID), the forward and
backward traces as tables, and both as CSV and printable PDF."""
from typing import Any

from flask import Blueprint, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from cell_chain.accounts.permissions import require_actor, roles_required
from cell_chain.batches.models import din_from_code
from cell_chain.batches.views import VOCABULARY as BATCH_VOCABULARY
from cell_chain.core.clock import utcnow
from cell_chain.core.errors import ValidationFailed
from cell_chain.reconciliation import trace, trace_reports
from cell_chain.reconciliation.export import csv_response, pdf_response

bp = Blueprint("trace_pages", __name__, template_folder="templates")

VOCABULARY = BATCH_VOCABULARY.extended(tones={"administered": "ok", "returned": "", "rejected": "stop"})


@bp.context_processor
def _helpers() -> dict[str, Any]:
    return {**VOCABULARY.helpers(), "din_of": din_from_code,
            "eye_readable": trace.eye_readable}


@bp.get("/trace")
@roles_required(*trace.TRACE_READERS)
def search() -> str | tuple[str, int] | Response:
    """The form; with ?q= it finds what was typed or scanned and opens its trace."""
    if "q" not in request.args:
        return render_template("reconciliation/trace_search.html", entry="", errors={})
    entry = request.args.get("q", "")
    try:
        kind, key = trace.resolve_entry(entry, actor=require_actor())
    except ValidationFailed as error:
        return render_template("reconciliation/trace_search.html", entry=entry[:200],
                               errors=error.extra["errors"]), 422
    if kind == "patient":
        return redirect(url_for(".patient", subject_id=key))
    return redirect(url_for(".donor", din=key))


@bp.get("/trace/donors/<din>")
@roles_required(*trace.TRACE_READERS)
def donor(din: str) -> str:
    found = trace.trace_donor(din, actor=require_actor())
    return render_template("reconciliation/trace_donor.html", trace=found,
                           signatures=trace.dose_signature_records(found))


@bp.get("/trace/patients/<subject_id>")
@roles_required(*trace.TRACE_READERS)
def patient(subject_id: str) -> str:
    found = trace.trace_patient(subject_id, actor=require_actor())
    return render_template("reconciliation/trace_patient.html", trace=found,
                           signatures=trace.patient_signature_records(found))


def _donor_document(din: str) -> Any:
    actor = require_actor()
    return trace_reports.donor_report(trace.trace_donor(din, actor=actor), actor, utcnow())


def _patient_document(subject_id: str) -> Any:
    actor = require_actor()
    return trace_reports.patient_report(trace.trace_patient(subject_id, actor=actor), actor, utcnow())


@bp.get("/reports/trace/donors/<din>.csv")
@roles_required(*trace.TRACE_READERS)
def donor_csv(din: str) -> Response:
    return csv_response(_donor_document(din))


@bp.get("/reports/trace/donors/<din>.pdf")
@roles_required(*trace.TRACE_READERS)
def donor_pdf(din: str) -> Response:
    return pdf_response(_donor_document(din))


@bp.get("/reports/trace/patients/<subject_id>.csv")
@roles_required(*trace.TRACE_READERS)
def patient_csv(subject_id: str) -> Response:
    return csv_response(_patient_document(subject_id))


@bp.get("/reports/trace/patients/<subject_id>.pdf")
@roles_required(*trace.TRACE_READERS)
def patient_pdf(subject_id: str) -> Response:
    return pdf_response(_patient_document(subject_id))
