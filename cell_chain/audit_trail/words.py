"""The audit trail in words: what each action, record and field is called, and every stored id
in an event (its record, ids in its changes, its actor) named as people know it (a dose code,
a subject ID, a person's name and role). A page of events is named with a fixed number of
statements, whatever its size."""
import json
import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import String, cast, literal, null, select, union_all

from cell_chain.core.audit import AuditEvent
from cell_chain.core.db import db
from cell_chain.web.locale import local
from cell_chain.web.words import COMMON_WORDS, N_, role_words

ACTION_WORDS = {
    "allocation.label_verified": N_("Assignment label verified"),
    "custody.administer": N_("Custody: given to the patient"),
    "custody.destroy": N_("Custody: destroyed"),
    "custody.dispatch": N_("Custody: dispatched"),
    "custody.dispense": N_("Custody: dispensed to the ward"),
    "custody.handoff": N_("Custody: handed over"),
    "custody.other": N_("Custody: other hand-over"),
    "custody.receipt": N_("Custody: received at the site"),
    "custody.return": N_("Custody: returned"),
    "donor.eligible": N_("Donor found eligible"),
    "donor.ineligible": N_("Donor found ineligible"),
    "donor.registered": N_("Donor registered"),
    "dose.administered": N_("Dose administered"),
    "dose.allocated": N_("Dose allocated"),
    "dose.available": N_("Dose available"),
    "dose.bag_label_verified": N_("Bag label verified"),
    "dose.deallocated": N_("Dose allocation cancelled"),
    "dose.destroyed": N_("Dose destroyed"),
    "dose.dispensed": N_("Dose dispensed"),
    "dose.in_transit": N_("Dose in transit"),
    "dose.packed": N_("Dose packed"),
    "dose.prepared": N_("Dose prepared"),
    "dose.quarantine_lifted": N_("Dose quarantine lifted"),
    "dose.quarantined": N_("Dose quarantined"),
    "dose.received": N_("Dose received"),
    "dose.received_in_quarantine": N_("Dose received in quarantine"),
    "dose.rejected_at_fill": N_("Dose rejected at fill"),
    "dose.returned": N_("Dose returned"),
    "dose.thawed": N_("Dose thawed"),
    "excursion.accepted": N_("Temperature excursion accepted"),
    "excursion.rejected": N_("Temperature excursion rejected"),
    "infusion.corrected": N_("Infusion record corrected"),
    "infusion.recorded": N_("Infusion recorded"),
    "label.verified": N_("Label verified"),
    "labels.printed": N_("Labels printed"),
    "lot.completed": N_("Lot manufacturing completed"),
    "lot.created": N_("Lot created"),
    "lot.recalled": N_("Lot recalled"),
    "lot.rejected": N_("Lot rejected"),
    "lot.released": N_("Lot released"),
    "patient.enrolled": N_("Patient enrolled"),
    "patient.withdrawn": N_("Patient withdrawn"),
    "release_spec.published": N_("Release specification published"),
    "result.corrected": N_("Test result corrected"),
    "result.entered": N_("Test result entered"),
    "screening.corrected": N_("Screening result corrected"),
    "screening.entered": N_("Screening result entered"),
    "shipment.created": N_("Shipment created"),
    "shipment.dispatched": N_("Shipment dispatched"),
    "shipment.dose_accepted": N_("Shipment: dose accepted"),
    "shipment.dose_missing": N_("Shipment: dose missing"),
    "shipment.dose_packed": N_("Shipment: dose packed"),
    "shipment.dose_quarantined": N_("Shipment: dose quarantined"),
    "shipment.excursion": N_("Shipment: temperature excursion found"),
    "shipment.in_transit": N_("Shipment in transit"),
    "shipment.packed": N_("Shipment packed"),
    "shipment.partially_received": N_("Shipment partially received"),
    "shipment.received": N_("Shipment received"),
    "shipment.temperature_recorded": N_("Shipment: temperature data recorded"),
    "shipment.temperature_waived": N_("Shipment: temperature data waived"),
    "shipment.unexpected_item": N_("Shipment: unexpected item scanned"),
    "signature.created": N_("Signature"),
    "site.created": N_("Site created"),
    "user.corrected": N_("User corrected"),
    "user.created": N_("User created"),
    "user.locked": N_("User locked out"),
    "user.lockout_cleared": N_("User lock-out cleared"),
    "user.password_changed": N_("Password changed"),
    "user.password_set": N_("Password set"),
    "user.preferences_changed": N_("Language or time zone changed"),
    "user.signature_failures": N_("Wrong signature passwords"),
    "visit.done": N_("Visit done"),
    "visit.done_out_of_window": N_("Visit done out of window"),
    "visit.planned": N_("Visit planned"),
    "visit.skipped": N_("Visit skipped"),
}

MEANING_WORDS = {
    "Approved": N_("Approved"), "Eligibility determined": N_("Eligibility determined"),
    "Released": N_("Released"), "Rejected": N_("Rejected"), "Recalled": N_("Recalled"),
    "Dispatched": N_("Dispatched"), "Received": N_("Received"), "Dispositioned": N_("Dispositioned"),
    "Withdrawn": N_("Withdrawn"), "Destroyed": N_("Destroyed"), "Returned": N_("Returned"),
    "Administered": N_("Administered"), "Witnessed": N_("Witnessed"), "Waived": N_("Waived"),
    "Corrected": N_("Corrected"),
}

# What a record is called, and the column that names it as people know it.
RECORD_WORDS = {
    "doses": N_("Dose"), "lots": N_("Lot"), "donors": N_("Donor"), "patients": N_("Patient"),
    "shipments": N_("Shipment"), "users": N_("User"), "sites": N_("Site"), "visits": N_("Visit"),
    "allocations": N_("Allocation"), "shipment_items": N_("Shipment item"), "custody_events": N_("Custody event"),
    "infusions": N_("Infusion"), "signatures": N_("Signature"), "print_jobs": N_("Print job"),
    "test_results": N_("Test result"), "screening_results": N_("Screening result"),
    "excursions": N_("Temperature excursion"), "temperature_records": N_("Temperature data"),
    "temperature_waivers": N_("Temperature waiver"), "unexpected_items": N_("Unexpected item"),
    "release_specs": N_("Release specification"), "label_verifications": N_("Label verification"),
    "api_tokens": N_("API token"),
}
NAMING_COLUMN = {"doses": "code", "lots": "lot_number", "donors": "donor_code", "patients": "subject_id",
                 "shipments": "code", "users": "display_name", "sites": "code"}
# A change's field holding another record's id: the record it names.
REFERENCE_FIELDS = {"dose_id": "doses", "lot_id": "lots", "donor_id": "donors", "patient_id": "patients",
                    "shipment_id": "shipments", "site_id": "sites"}

# What each recorded field is called (every column of the audited records, and the details of
# events that are not field changes).
FIELD_WORDS = {
    "active": N_("Active"),
    "adverse_events": N_("Adverse events"),
    "allocated_at": N_("Allocated at"),
    "allocated_by_id": N_("Allocated by"),
    "analyst": N_("Analyst"),
    "arm": N_("Arm"),
    "assignment_label_verified_at": N_("Assignment label verified at"),
    "bag_label_verified_at": N_("Bag label verified at"),
    "birth_year": N_("Birth year"),
    "cells": N_("Cells"),
    "city": N_("City"),
    "code": N_("Code"),
    "coi": N_("COI"),
    "collected_on": N_("Collected on"),
    "condition": N_("Condition"),
    "content_hash": N_("Content hash"),
    "copies": N_("Copies"),
    "corrected_at": N_("Corrected at"),
    "courier": N_("Courier"),
    "created_at": N_("Created at"),
    "created_by_id": N_("Created by"),
    "decided_at": N_("Decided at"),
    "decided_by_id": N_("Decided by"),
    "decision_reason": N_("Reason for the decision"),
    "determined_at": N_("Determined at"),
    "deviation_reason": N_("Reason for the deviation"),
    "din": N_("DIN"),
    "dispatched_at": N_("Dispatched at"),
    "display_name": N_("Name"),
    "division": N_("Division"),
    "donor_code": N_("Donor code"),
    "donor_id": N_("Donor"),
    "dose_id": N_("Dose"),
    "duration_confirmed": N_("Duration confirmed"),
    "end": N_("End"),
    "end_reason": N_("Reason for the end"),
    "ended_at": N_("Ended at"),
    "enrolled_by_id": N_("Enrolled by"),
    "enrolled_on": N_("Enrolled on"),
    "entered_at": N_("Entered at"),
    "entered_by_id": N_("Entered by"),
    "entity_id": N_("Signed record number"),
    "entity_type": N_("Signed record"),
    "events": N_("Events"),
    "expires_at": N_("Expires"),
    "extreme_celsius": N_("Extreme temperature (°C)"),
    "filename": N_("File name"),
    "format": N_("Format"),
    "from_party": N_("From"),
    "id": N_("Number"),
    "initials": N_("Initials"),
    "is_reprint": N_("Reprint"),
    "kind": N_("Kind"),
    "label_kind": N_("Label kind"),
    "language": N_("Language"),
    "limits_json": N_("Limits"),
    "logger_id": N_("Logger"),
    "lookback_reason": N_("Reason for the lookback"),
    "lot_id": N_("Lot"),
    "lot_number": N_("Lot number"),
    "manufactured_on": N_("Manufactured on"),
    "marker": N_("Marker"),
    "matched": N_("Matched"),
    "meaning": N_("Meaning"),
    "method": N_("Method"),
    "minutes": N_("Minutes"),
    "name": N_("Name"),
    "number": N_("Number"),
    "nurse_id": N_("Nurse"),
    "occurred_at": N_("Occurred at"),
    "out_of_window": N_("Out of window"),
    "override_by_id": N_("Override by"),
    "packed_at": N_("Packed at"),
    "packed_by_id": N_("Packed by"),
    "partial": N_("Partial"),
    "partial_reason": N_("Reason for the partial infusion"),
    "passage": N_("Passage"),
    "passed": N_("Passed"),
    "patient_id": N_("Patient"),
    "payload": N_("Scanned code"),
    "performed_on": N_("Performed on"),
    "place": N_("Place"),
    "post_thaw_hours": N_("Hours after thaw"),
    "prepared_at": N_("Prepared"),
    "prepared_by_id": N_("Prepared by"),
    "presentation": N_("Presentation"),
    "printed_at": N_("Printed at"),
    "printed_by_id": N_("Printed by"),
    "printed_name": N_("Printed name"),
    "product_code": N_("Product code"),
    "quarantine_cause": N_("Cause of the quarantine"),
    "quarantine_reason": N_("Reason for the quarantine"),
    "quarantined_at": N_("Quarantined at"),
    "readings_count": N_("Readings"),
    "readings_sha256": N_("Readings hash"),
    "reason": N_("Reason"),
    "receipt": N_("Receipt"),
    "received_at": N_("Received at"),
    "received_by_id": N_("Received by"),
    "record_id": N_("Temperature data"),
    "recorded": N_("Recorded"),
    "recorded_at": N_("Recorded at"),
    "recorded_by_id": N_("Recorded by"),
    "registered_at": N_("Registered at"),
    "registered_by_id": N_("Registered by"),
    "rejection_reasons": N_("Reasons for the rejection"),
    "result": N_("Result"),
    "role": N_("Role"),
    "scanned": N_("Scanned"),
    "seal_intact": N_("Seal intact"),
    "sent_to": N_("Sent to"),
    "serious": N_("Serious"),
    "shelf_life_hours": N_("Shelf life (hours)"),
    "shelf_life_months": N_("Shelf life (months)"),
    "shipment_id": N_("Shipment"),
    "signed_at": N_("Signed at"),
    "signer_id": N_("Signer"),
    "site_id": N_("Site"),
    "skip_reason": N_("Reason for skipping"),
    "source_format": N_("Source format"),
    "spec_version": N_("Specification version"),
    "start": N_("Start"),
    "started_at": N_("Started at"),
    "status": N_("Status"),
    "status_before_quarantine": N_("Status before the quarantine"),
    "status_reason": N_("Reason for the status"),
    "storage": N_("Storage"),
    "subject_id": N_("Subject ID"),
    "target": N_("Target"),
    "target_date": N_("Target date"),
    "template_version": N_("Template version"),
    "test": N_("Test"),
    "tested_on": N_("Tested on"),
    "thawed_at": N_("Thawed at"),
    "through_hash": N_("Through hash"),
    "through_seq": N_("Through event"),
    "time_zone": N_("Time zone"),
    "to_party": N_("To"),
    "tolerance_grade": N_("Tolerance grade"),
    "uploaded_at": N_("Uploaded at"),
    "uploaded_by_id": N_("Uploaded by"),
    "username": N_("Username"),
    "value": N_("Value"),
    "verified_at": N_("Verified at"),
    "verified_by_id": N_("Verified by"),
    "version": N_("Version"),
    "viability_pct": N_("Viability (%)"),
    "visit_id": N_("Visit"),
    "volume_ml": N_("Volume (ml)"),
    "waived_at": N_("Waived at"),
    "waived_by_id": N_("Waived by"),
    "window_end": N_("Window end"),
    "window_start": N_("Window start"),
    "withdrawal_reason": N_("Reason for the withdrawal"),
    "withdrawn_at": N_("Withdrawn at"),
    "witness_for_id": N_("Witness for"),
    "witness_id": N_("Witness"),
    "locked_until": N_("Locked until"),
    "failures": N_("Failures"),
    "as": N_("As"),
    "by": N_("By"),
    "credentials_ended": N_("Sign-ins ended"),
}
_ISO_MOMENT = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(\+00:00|Z)")
# Fields named "<person>_id" or "<person>_by_id" hold a user's id.
_USER_SUFFIXES = ("_by_id", "nurse_id", "witness_id", "signer_id", "actor_id")


def action_words(action: str, changes: dict[str, Any] | None = None) -> str:
    """An action in the reader's language; a signature says its meaning ("Signature: Released")."""
    if action == "signature.created" and changes:
        meaning = _new_value(changes.get("meaning"))
        if meaning:
            return _("Signature: %(meaning)s", meaning=_(MEANING_WORDS.get(meaning, meaning)))
    if action in ACTION_WORDS:
        return _(ACTION_WORDS[action])
    return action.replace(".", ": ").replace("_", " ").capitalize()


def record_words(entity_type: str) -> str:
    return _(RECORD_WORDS[entity_type]) if entity_type in RECORD_WORDS else entity_type.replace("_", " ")


def field_words(field: str) -> str:
    if field in FIELD_WORDS:
        return _(FIELD_WORDS[field])
    return field.removesuffix("_id").replace("_", " ").capitalize()


def _new_value(value: Any) -> Any:
    return value[1] if isinstance(value, list) and len(value) == 2 else value


def _user_field(field: str) -> bool:
    return field.endswith(_USER_SUFFIXES)


@dataclass(frozen=True)
class Named:
    """A record as people call it: what it is ("Dose") and its name ("A999926000123-000004")."""

    kind: str
    name: str

    def __str__(self) -> str:
        return f"{self.kind} {self.name}"


@dataclass(frozen=True)
class Change:
    field: str
    old: str | None
    new: str | None


@dataclass(frozen=True)
class EventView:
    """One event as the page, the CSV and the PDF show it."""

    seq: int
    occurred_at: Any
    person: str
    action: str
    action_words: str
    record: Named
    changes: list[Change]
    reason: str | None
    meaning: str | None


class Names:
    """Stored ids → names, loaded with one statement per kind of record named on a page."""

    def __init__(self, wanted: dict[str, set[str]]) -> None:
        self._names: dict[tuple[str, str], str] = {}
        self._roles: dict[str, str] = {}
        parts = []
        for table_name, column in NAMING_COLUMN.items():
            table = db.metadata.tables[table_name]
            numbers = [int(i) for i in wanted.get(table_name, ()) if i.isdigit() and len(i) < 12]
            role = table.c.role if table_name == "users" else null()
            parts.append(select(literal(table_name).label("kind"), cast(table.c.id, String).label("id"),
                                cast(table.c[column], String).label("name"), cast(role, String).label("role"))
                         .where(table.c.id.in_(numbers)))
        # One statement whatever the page holds: every kind of record is asked for, most for none.
        for kind, record_id, name, role_code in db.session.execute(union_all(*parts)):
            self._names[(kind, record_id)] = name
            if kind == "users":
                self._roles[record_id] = role_code

    def record(self, table_name: str, entity_id: str) -> "Named":
        name = self._names.get((table_name, str(entity_id)))
        words = record_words(table_name)
        if table_name == "users" and name:
            return Named(words, self.person(str(entity_id), name))
        return Named(words, name or f"#{entity_id}")

    def person(self, user_id: str | None, fallback: str) -> str:
        name = self._names.get(("users", str(user_id))) if user_id is not None else None
        if name is None:
            return _("System") if fallback == "system" else fallback
        return f"{name} ({role_words(self._roles.get(str(user_id)))})"


def _wanted(events: Sequence[AuditEvent]) -> dict[str, set[str]]:
    wanted: dict[str, set[str]] = defaultdict(set)
    for ev in events:
        if ev.entity_type in NAMING_COLUMN:
            wanted[ev.entity_type].add(ev.entity_id)
        if ev.actor_id is not None:
            wanted["users"].add(str(ev.actor_id))
        for field, value in json.loads(ev.changes).items():
            table = REFERENCE_FIELDS.get(field) or ("users" if _user_field(field) else None)
            values = value if isinstance(value, list) else [value]
            if table:
                wanted[table].update(str(v) for v in values if v is not None)
            if ev.entity_type == "signatures" and field == "entity_type":
                signed_ids = json.loads(ev.changes).get("entity_id")
                signed_table = _new_value(value)
                if signed_table in NAMING_COLUMN and signed_ids is not None:
                    wanted[signed_table].add(str(_new_value(signed_ids)))
    return wanted


def _value_words(field: str, value: Any, names: Names) -> str | None:
    if value is None:
        return None
    if field in REFERENCE_FIELDS:
        return names.record(REFERENCE_FIELDS[field], str(value)).name
    if _user_field(field):
        return names.person(str(value), str(value))
    if isinstance(value, bool):
        return _("yes") if value else _("no")
    if isinstance(value, str) and value in COMMON_WORDS:
        return _(COMMON_WORDS[value])
    if isinstance(value, str) and _ISO_MOMENT.fullmatch(value):
        # Stored in UTC; read, as every time on the page, in the reader's zone.
        return f"{local(datetime.fromisoformat(value)):%Y-%m-%d %H:%M:%S}"
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def _record(ev: AuditEvent, changes: dict[str, Any], names: Names) -> Named:
    if ev.entity_type == "signatures":
        signed_table, signed_id = _new_value(changes.get("entity_type")), _new_value(changes.get("entity_id"))
        if signed_table and signed_id is not None:
            return names.record(str(signed_table), str(signed_id))
    return names.record(ev.entity_type, ev.entity_id)


def describe(events: Iterable[AuditEvent]) -> list[EventView]:
    """Name every id in a page (or a batch) of events: one statement per kind of record."""
    events = list(events)
    names = Names(_wanted(events))
    views = []
    for ev in events:
        changes = json.loads(ev.changes)
        meaning = _new_value(changes.get("meaning")) if ev.entity_type == "signatures" else None
        shown = [] if ev.entity_type == "signatures" else [
            Change(field_words(field), _value_words(field, old, names), _value_words(field, new, names))
            for field, old, new in ev.change_list()]
        views.append(EventView(
            seq=ev.seq, occurred_at=ev.occurred_at, person=names.person(
                str(ev.actor_id) if ev.actor_id is not None else None, ev.actor_username),
            action=ev.action, action_words=action_words(ev.action, changes), record=_record(ev, changes, names),
            changes=shown, reason=ev.reason,
            meaning=_(MEANING_WORDS.get(meaning, meaning)) if meaning else None))
    return views
