"""The filtered audit trail as a document for the reports' CSV (streamed) and PDF: the
filters and the time zone stated, printed by whom, each event in words."""
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from flask_babel import gettext as _

from cell_chain.accounts.models import User
from cell_chain.audit_trail.queries import AuditFilter, batches
from cell_chain.audit_trail.words import EventView, describe
from cell_chain.reconciliation.export import Column, Report, Table
from cell_chain.reconciliation.trace_reports import printed_by

# A printout past this many events is no longer read: the PDF says so and the CSV has them all.
MAX_PDF_EVENTS = 1000


def describe_filters(given: AuditFilter, *, action_words: str | None, person_words: str | None) -> str:
    parts = []
    if given.record:
        parts.append(_("record %(record)s", record=given.record))
    if given.person:
        parts.append(_("person %(person)s", person=person_words or given.person))
    if given.action:
        parts.append(_("action %(action)s", action=action_words or given.action))
    if given.date_from:
        parts.append(_("from %(day)s", day=given.date_from.isoformat()))
    if given.date_to:
        parts.append(_("to %(day)s", day=given.date_to.isoformat()))
    return "; ".join(parts) if parts else _("all events")


def _changes(view: EventView) -> str:
    return "; ".join(f"{c.field}: {c.old} → {c.new or '—'}" if c.old is not None else f"{c.field}: {c.new or '—'}"
                     for c in view.changes)


def _rows(where: list[Any], zone: Any, limit: int | None) -> Iterator[dict[str, Any]]:
    for batch in batches(where, limit=limit):
        for view in describe(batch):
            yield {"seq": view.seq, "local": f"{view.occurred_at.astimezone(zone):%Y-%m-%d %H:%M:%S}",
                   "utc": view.occurred_at.astimezone(UTC).isoformat(timespec="seconds"),
                   "person": view.person, "action": view.action_words, "record": str(view.record),
                   "changes": _changes(view), "reason": view.reason or "", "meaning": view.meaning or ""}


def audit_report(given: AuditFilter, where: list[Any], *, filters_text: str, total: int, actor: User,
                 now: datetime, for_print: bool) -> Report:
    zone = given.zone
    columns = [Column("seq", "#", numeric=True), Column("local", _("When (%(zone)s)", zone=zone.key)),
               Column("utc", _("When (UTC)")), Column("person", _("Who")), Column("action", _("What")),
               Column("record", _("Record")), Column("changes", _("Changes")), Column("reason", _("Reason")),
               Column("meaning", _("Signature meaning"))]
    limit = MAX_PDF_EVENTS if for_print else None
    notes = [_("Filters: %(filters)s.", filters=filters_text),
             _("Times are shown in %(zone)s; the audit trail stores them in UTC.", zone=zone.key),
             _("%(total)s events match, newest first.", total=total)]
    if for_print and total > MAX_PDF_EVENTS:
        notes.append(_("This printout shows the newest %(shown)s of them: narrow the filters, or download "
                       "the CSV for all.", shown=MAX_PDF_EVENTS))
    table = Table(_("Audit trail"), columns, _rows(where, zone, limit))
    return Report("audit-trail", _("Audit trail"), filters_text, now, printed_by(actor), [table], (), notes)
