"""The reconciliation reports as documents for export.py's CSV and PDF: the same numbers as
the JSON, with the e-signatures behind them, when and by whom the copy was printed."""
from collections import Counter
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import Any

from cell_chain.accounts.models import User
from cell_chain.batches.models import din_from_code
from cell_chain.core.messages import Message, _l, catalogue
from cell_chain.reconciliation.discrepancies import TITLES as DISCREPANCY_TITLES
from cell_chain.reconciliation.discrepancies import Code, Discrepancy
from cell_chain.reconciliation.export import Column, Report, SignatureLine, Table
from cell_chain.reconciliation.lots import COUNTS as LOT_COUNTS
from cell_chain.reconciliation.lots import LotLine, reconcile_lots
from cell_chain.reconciliation.patients import (TOTAL_FIELDS, PatientLine, PatientsReconciliation,
                                                reconcile_patients)
from cell_chain.reconciliation.scope import Scope
from cell_chain.reconciliation.sites import COUNTS as SITE_COUNTS
from cell_chain.reconciliation.sites import SiteLine, reconcile_sites

TITLES = {
    "patients": _l("Patients"), "msc_patients": _l("MSC arm"), "control_patients": _l("Control arm"), "withdrawn": _l("Withdrawn"),
    "planned": _l("Planned doses"), "administered": _l("Administered"), "administered_in_window": _l("Given in window"),
    "administered_out_of_window": _l("Given out of window"), "partial": _l("Partial"), "missed": _l("Missed"),
    "skipped": _l("Skipped"), "pending": _l("Pending"), "allocated": _l("Allocated"), "in_transit": _l("In transit"),
    "at_site": _l("At site"), "quarantined": _l("Quarantined"), "serious_adverse_events": _l("SAEs"),
    **{f"grade_{g}": _l("Grade %(grade)s", grade=g) for g in range(5)},
    "received": _l("Received"), "destroyed": _l("Destroyed"), "returned": _l("Returned"), "on_hand": _l("On hand"),
    "at_ward": _l("On hand: at ward"), "expired_awaiting_destruction": _l("On hand: expired, awaiting destruction"),
    "missing_at_receipt": _l("Missing at receipt"), "accounted": _l("Accounted for"), "imbalance": _l("Imbalance"),
    "balanced": _l("Balanced"), "prepared": _l("Prepared"), "rejected_at_fill": _l("Rejected at fill"),
    "in_stock": _l("In stock"),
}


def printed_by(actor: User) -> str:
    return f"{actor.display_name} ({actor.username}, {actor.role})"


def _columns(keys: tuple[str, ...]) -> list[Column]:
    return [Column(k, TITLES[k], numeric=True) for k in keys]


def _signature(signed: Any, record: str) -> SignatureLine:
    return SignatureLine(signed.printed_name, signed.meaning, signed.signed_at, record)


# ---- per patient -------------------------------------------------------------------------------

VISIT_COLUMNS = [
    Column("subject_id", _l("Subject")), Column("visit", _l("Visit"), numeric=True), Column("window", _l("Window")),
    Column("schedule_state", _l("Schedule")), Column("outcome", _l("Outcome")), Column("dose_code", _l("Dose")),
    Column("lot_number", _l("Lot")), Column("volume_ml", _l("Given (ml)"), numeric=True),
    Column("tolerance_grade", _l("Grade"), numeric=True), Column("serious", "SAE"), Column("notes", _l("Notes")),
]


def words(code: str | None) -> str | None:
    return code.replace("_", " ") if code else code


def _visit_notes(visit: Any) -> str:
    infusion, notes = visit.infusion, []
    if infusion is not None:
        if infusion.partial:
            notes.append(f"partial: {infusion.volume_ml:g} of {visit.dose_volume_ml:g} ml")
        if infusion.out_of_window:
            notes.append(f"out of window: {infusion.deviation_reason or 'no reason recorded'}")
        if infusion.adverse_events:
            notes.append(f"adverse events: {infusion.adverse_events}")
    elif visit.skip_reason:
        notes.append(f"skipped: {visit.skip_reason}")
    if visit.dose_status and visit.infusion is None and visit.outcome == "pending":
        notes.append(f"allocated dose {visit.dose_status}")
    return "; ".join(notes)


PATIENT_NOTES = (
    "Planned doses = administered + missed + skipped + pending + allocated + in transit + at site + "
    "quarantined. "
    "Partial infusions count as partial whether or not they were in the window.",
    "A dose code is its lot's DIN followed by the dose number.")


def _visit_rows(patients: Iterable[PatientLine], signatures: list[SignatureLine]) -> Iterator[tuple[Any, ...]]:
    """One row per planned dose (one for a patient without any), in VISIT_COLUMNS' order, as
    the patients arrive; the signatures behind them are gathered into `signatures` on the way."""
    for patient in patients:
        subject = patient.subject_id
        if not patient.visits:
            yield (subject, None, None, None, "no doses planned (control arm)" if patient.arm == "control"
                   else "no visits", None, None, None, None, None, None)
        for visit in patient.visits:
            infusion = visit.infusion
            yield (subject, visit.number, f"{visit.window_start.isoformat()} – {visit.window_end.isoformat()}",
                   words(visit.schedule_state), words(visit.outcome), visit.dose_code, visit.lot_number,
                   *((infusion.volume_ml, infusion.tolerance_grade, infusion.serious) if infusion else _NO_INFUSION),
                   _visit_notes(visit))
            if infusion is not None:
                for signed in infusion.signatures:
                    signatures.append(_signature(signed, f"Infusion of dose {visit.dose_code} to {subject}, "
                                                         f"visit {visit.number}"))
        for signed in patient.withdrawal_signatures:
            signatures.append(_signature(signed, f"Withdrawal of {subject}"))


_NO_INFUSION = (None, None, None)


def _patient_totals(result: PatientsReconciliation) -> Table:
    # One column per site (six at most) and one row per measure: it fits a page.
    return Table(_l("Totals per site"), [Column("measure", _l("Measure")),
                                     *(Column(site.site_code or "", site.site_code or "", numeric=True)
                                       for site in result.sites), Column("total", _l("Total"), numeric=True)],
                 [{"measure": TITLES[k], **{site.site_code or "": site[k] for site in result.sites},
                   "total": result.total[k]} for k in TOTAL_FIELDS])


def patients_report(scope: Scope, actor: User, now: datetime) -> Report:
    """Every patient of `scope`, computed as the report is read: the visits come from the
    database straight into the rows (a download writes them as they arrive)."""
    signatures: list[SignatureLine] = []

    def tables() -> Iterator[Table]:
        result = reconcile_patients(scope, now=now, streamed=True, download=True)
        yield Table(_l("Planned doses per patient"), VISIT_COLUMNS, _visit_rows(result.patients, signatures))
        yield _patient_totals(result)

    return Report("reconciliation-patients", _l("Reconciliation per patient: planned doses against what happened"),
                  scope.description, now, printed_by(actor), tables(), signatures, PATIENT_NOTES)


# ---- per site ----------------------------------------------------------------------------------

BALANCE = ("accounted", "imbalance", "balanced")


def _site_row(line: SiteLine) -> dict[str, Any]:
    return {"site_code": line.site_code or "Total", "site_name": line.site_name,
            **{k: getattr(line, k) for k in (*SITE_COUNTS, *BALANCE)}}


def _site_record(signed: Any) -> str:
    if signed.entity_type == "shipments":
        return f"Receipt of shipment {signed.record}"
    return {"Destroyed": "Destruction", "Witnessed": "Destruction (witness)",
            "Returned": "Return"}.get(signed.meaning, signed.meaning) + f" of dose {signed.record}"


def sites_report(scope: Scope, actor: User, now: datetime) -> Report:
    """Drug accountability of `scope`, computed when the report is read."""
    keys = ("received", "administered", "destroyed", "returned", "on_hand", *BALANCE, "at_ward", "quarantined",
            "expired_awaiting_destruction", "in_transit", "missing_at_receipt")
    columns = [Column("site_code", _l("Site")), *(Column(k, TITLES[k], numeric=k != "balanced") for k in keys)]
    signatures: list[SignatureLine] = []

    def tables() -> Iterator[Table]:
        result = reconcile_sites(scope, now=now)
        signatures.extend(_signature(s, _site_record(s)) for s in result.signatures)
        yield Table(_l("Drug accountability per site"), columns, [_site_row(line) for line in result.sites],
                    _site_row(result.total))

    notes = ["Received = administered + destroyed + returned + on hand; any imbalance is a discrepancy.",
             "At ward, quarantined and expired are parts of on hand (a dose can be both quarantined and expired). "
             "In transit and missing at receipt are not yet the site's."]
    return Report("reconciliation-sites", _l("Reconciliation per site: drug accountability"), scope.description,
                  now, printed_by(actor), tables(), signatures, notes)


# ---- per lot -----------------------------------------------------------------------------------

def _eye_readable(din: str | None) -> str | None:
    """The DIN as printed under its barcode (facility, year, sequence)."""
    return din_from_code(din).eye_readable if din else din


def _lot_row(line: LotLine) -> dict[str, Any]:
    where = ", ".join(f"{words(place)} {count}" for place, count in line.in_stock_by_location.items())
    return {"lot_number": line.lot_number, "din": _eye_readable(line.din), "status": line.status,
            **{k: getattr(line, k) for k in (*LOT_COUNTS, "imbalance")}, "locations": where}


def lots_report(scope: Scope, actor: User, now: datetime) -> Report:
    """Dose accounting for every lot, computed when the report is read."""
    columns = [Column("lot_number", _l("Lot")), Column("din", "DIN"), Column("status", _l("Status")), *_columns(LOT_COUNTS),
               Column("locations", _l("In stock by location")), Column("imbalance", TITLES["imbalance"], numeric=True)]
    signatures: list[SignatureLine] = []

    def tables() -> Iterator[Table]:
        result = reconcile_lots(scope, now=now)
        signatures.extend(_signature(s, f"Lot {s.record}") for line in result.lots for s in line.signatures)
        yield Table(_l("Dose accounting per lot"), columns, [_lot_row(line) for line in result.lots],
                    _lot_row(result.total) | {"lot_number": "Total"})

    notes = ["Prepared = rejected at fill + administered + destroyed + returned + in stock; any imbalance is a "
             "discrepancy (0 when the lot balances). Quarantined is part of in stock."]
    return Report("reconciliation-lots", _l("Reconciliation per lot: dose accounting"), _l("Whole trial (all lots)"), now,
                  printed_by(actor), tables(), signatures, notes)


# ---- discrepancies -----------------------------------------------------------------------------

DISCREPANCY_COLUMNS = [Column("code", _l("Code")), Column("site_code", _l("Site")), Column("occurred_at", _l("When")),
                       Column("objects", _l("Involved")), Column("explanation", _l("Explanation"))]


def discrepancies_report(found: Iterable[Discrepancy], scope: Scope, actor: User, now: datetime, *,
                         streamed: bool = False) -> Report:
    """The discrepancies `found`, with a count per code. Printed, the counts come first;
    `streamed` (a download that writes each discrepancy as its kind is found), they follow
    the list they count."""
    counts: Counter[Code] = Counter()

    def listed() -> Iterator[dict[str, Any]]:
        words = catalogue()
        for d in found:
            counts[d.code] += 1
            yield {"code": d.code.value, "site_code": d.site_code, "occurred_at": d.occurred_at,
                   "objects": ", ".join(f"{o.type} {o.label.text(UTC, words) if isinstance(o.label, Message) else o.label}"
                                        for o in d.objects),
                   "explanation": d.explanation}

    def summary() -> Table:
        columns = [Column("code", _l("Code")), Column("title", _l("What")), Column("count", _l("Count"), numeric=True)]
        rows = [{"code": c.value, "title": DISCREPANCY_TITLES[c], "count": counts[c]}
                for c in Code if counts[c]]
        return Table(_l("Discrepancies by code"), columns, rows, {"code": "Total", "count": sum(counts.values())})

    def listing_then_summary() -> Iterator[Table]:
        yield Table(_l("Discrepancies"), DISCREPANCY_COLUMNS, listed())
        yield summary()

    if streamed:
        return Report("reconciliation-discrepancies", _l("Reconciliation: discrepancies"), scope.description, now,
                      printed_by(actor), listing_then_summary())
    rows = list(listed())
    return Report("reconciliation-discrepancies", _l("Reconciliation: discrepancies"), scope.description, now,
                  printed_by(actor), [summary(), Table(_l("Discrepancies"), DISCREPANCY_COLUMNS, rows)], (),
                  ["No discrepancies: every record agrees."] if not rows else [])
