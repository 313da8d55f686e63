"""Pages: the audit trail with its verification status, filtered by record, person, action
and the reader's local dates, in pages of a fixed size; the filtered trail as CSV and PDF."""
from datetime import date
from typing import Any

from flask import Blueprint, current_app, render_template, request
from flask_babel import gettext as _
from sqlalchemy import select
from werkzeug.wrappers import Response

from cell_chain.accounts.models import User
from cell_chain.accounts.permissions import require_actor, roles_required
from cell_chain.audit_trail.export import audit_report, describe_filters
from cell_chain.audit_trail.queries import (
    MAX_RECORD_TEXT,
    PAGE_SIZE,
    AuditFilter,
    conditions,
    find_records,
    page_of,
)
from cell_chain.audit_trail.routes import AUDIT_READERS
from cell_chain.audit_trail.words import ACTION_WORDS, describe
from cell_chain.core.audit_chain import request_bound, verify_recent
from cell_chain.core.clock import utcnow
from cell_chain.core.db import db
from cell_chain.reconciliation.export import csv_response, pdf_response
from cell_chain.web.locale import reader_zone
from cell_chain.web.words import role_words

bp = Blueprint("audit_pages", __name__)

Errors = dict[str, list[str]]
MAX_PAGE = 1_000_000


def _people() -> list[tuple[str, str]]:
    """(username, "Name (role)") of everyone who may have acted: one statement."""
    rows = db.session.execute(select(User.username, User.display_name, User.role).order_by(User.display_name))
    return [("system", _("System")), *((r.username, f"{r.display_name} ({role_words(r.role)})") for r in rows)]


def _actions() -> list[tuple[str, str]]:
    return sorted(((code, _(words)) for code, words in ACTION_WORDS.items()), key=lambda pair: pair[1])


def _day(args: Any, name: str, errors: Errors) -> date | None:
    text = (args.get(name) or "").strip()
    if not text:
        return None
    try:
        day = date.fromisoformat(text) if len(text) == 10 else None
    except ValueError:
        day = None
    if day is None or not 2000 <= day.year <= 2100:
        errors.setdefault(name, []).append(_("Give the date as year-month-day, e.g. 2026-12-03."))
    return day


def read_filters(args: Any, people: list[tuple[str, str]]) -> tuple[AuditFilter, int, Errors]:
    """The filters and page asked for in the query string, each checked; errors say how to fix."""
    errors: Errors = {}
    record = (args.get("record") or "").strip() or None
    if record is not None and len(record) > MAX_RECORD_TEXT:
        errors["record"] = [_("A record is named in at most %(count)s characters: a dose code, lot number, "
                              "subject ID, shipment code or donor code.", count=MAX_RECORD_TEXT)]
    person = (args.get("person") or "").strip() or None
    if person is not None and person not in dict(people):
        errors["person"] = [_("Choose a person from the list.")]
    action = (args.get("action") or "").strip() or None
    if action is not None and action not in ACTION_WORDS:
        errors["action"] = [_("Choose an action from the list.")]
    date_from, date_to = _day(args, "from", errors), _day(args, "to", errors)
    if date_from and date_to and date_from > date_to and "from" not in errors and "to" not in errors:
        errors["to"] = [_("The end date comes before the start date: swap them.")]
    page_text = (args.get("page") or "1").strip()
    page = int(page_text) if page_text.isdigit() and len(page_text) <= 7 else 0
    if not 1 <= page <= MAX_PAGE:
        errors["page"] = [_("The page is a whole number from 1.")]
    given = AuditFilter(record, person, action, date_from, date_to, reader_zone())
    return (AuditFilter(zone=reader_zone()), 1, errors) if errors else (given, page, {})


def _query_args(given: AuditFilter) -> dict[str, str]:
    args = {"record": given.record, "person": given.person, "action": given.action,
            "from": given.date_from.isoformat() if given.date_from else None,
            "to": given.date_to.isoformat() if given.date_to else None}
    return {key: value for key, value in args.items() if value}


def _filtered(people: list[tuple[str, str]]) -> tuple[AuditFilter, int, Errors, list[Any], bool]:
    given, page, errors = read_filters(request.args, people)
    records = find_records(given.record) if given.record else None
    return given, page, errors, conditions(given, records), given.record is not None and not records


def _filters_text(given: AuditFilter, people: list[tuple[str, str]]) -> str:
    return describe_filters(given, action_words=_(ACTION_WORDS[given.action]) if given.action else None,
                            person_words=dict(people).get(given.person or ""))


@bp.get("/audit")
@roles_required(*AUDIT_READERS)
def index() -> tuple[str, int]:
    people = _people()
    given, page, errors, where, unmatched = _filtered(people)
    found = page_of(where, page)
    return render_template(
        "audit/index.html", report=verify_recent(bound=request_bound(current_app.config)),
        events=describe(found.events) if not errors else [], found=found, given=given, errors=errors,
        form=request.args, people=people, actions=_actions(), unmatched=unmatched, page_size=PAGE_SIZE,
        query=_query_args(given), filters_text=_filters_text(given, people),
    ), 422 if errors else 200


def _document(for_print: bool) -> Any:
    people = _people()
    given, _page, errors, where, _unmatched = _filtered(people)
    if errors:
        return None
    total = page_of(where, 1).total
    return audit_report(given, where, filters_text=_filters_text(given, people), total=total,
                        actor=require_actor(), now=utcnow(), for_print=for_print)


@bp.get("/audit.csv")
@roles_required(*AUDIT_READERS)
def export_csv() -> Response | tuple[str, int]:
    document = _document(for_print=False)
    return csv_response(document) if document is not None else index()


@bp.get("/audit.pdf")
@roles_required(*AUDIT_READERS)
def export_pdf() -> Response | tuple[str, int]:
    document = _document(for_print=True)
    return pdf_response(document) if document is not None else index()
