"""The discrepancy list: every way the records disagree with the protocol or with each other,
each with a stable code, the objects involved and a plain explanation. One statement per kind
of discrepancy, whatever the size of the trial; it reads and changes nothing."""
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from flask import current_app
from sqlalchemy import Select, and_, func, literal, or_, select, union

from cell_chain.accounts.models import Site, User
from cell_chain.batches.models import Dose, Lot
from cell_chain.core.db import db
from cell_chain.core.messages import Joined, Message, _l, state
from cell_chain.infusions.models import Infusion
from cell_chain.labels.models import PrintedLabel, PrintJob
from cell_chain.patients.models import Allocation, Patient, Visit
from cell_chain.reconciliation import rules
from cell_chain.reconciliation.bulk import without_gc
from cell_chain.reconciliation.lots import lot_accounts
from cell_chain.reconciliation.scope import Scope, scope_for
from cell_chain.reconciliation.sites import reconcile_sites
from cell_chain.shipments.models import CustodyEvent, Shipment, ShipmentItem, UnexpectedItem

# A printed label should be scanned back at once; after this long it counts as never verified.
LABEL_VERIFICATION_GRACE = timedelta(hours=24)


class Code(StrEnum):
    CUSTODY_CHAIN_BROKEN = "CUSTODY_CHAIN_BROKEN"
    SHIPMENT_SHORT = "SHIPMENT_SHORT"
    SHIPMENT_OVER = "SHIPMENT_OVER"
    SHIPMENT_UNEXPECTED_ITEM = "SHIPMENT_UNEXPECTED_ITEM"
    RECALLED_DOSE_ADMINISTERED = "RECALLED_DOSE_ADMINISTERED"
    VISIT_MISSED = "VISIT_MISSED"
    OUT_OF_WINDOW = "OUT_OF_WINDOW"
    PARTIAL_INFUSION = "PARTIAL_INFUSION"
    CONTROL_ARM_EXPOSURE = "CONTROL_ARM_EXPOSURE"
    DISPENSED_NOT_ADMINISTERED = "DISPENSED_NOT_ADMINISTERED"
    LABEL_NOT_VERIFIED = "LABEL_NOT_VERIFIED"
    SITE_IMBALANCE = "SITE_IMBALANCE"
    LOT_IMBALANCE = "LOT_IMBALANCE"


TITLES = {
    Code.CUSTODY_CHAIN_BROKEN: _l("Broken custody chain"),
    Code.SHIPMENT_SHORT: _l("Shipment short: doses missing at receipt"),
    Code.SHIPMENT_OVER: _l("Shipment over: a dose arrived that was not packed in it"),
    Code.SHIPMENT_UNEXPECTED_ITEM: _l("Unexpected item scanned at receipt"),
    Code.RECALLED_DOSE_ADMINISTERED: _l("Dose given from a lot recalled later (lookback)"),
    Code.VISIT_MISSED: _l("Missed visit"),
    Code.OUT_OF_WINDOW: _l("Dose given outside the visit window"),
    Code.PARTIAL_INFUSION: _l("Partial infusion"),
    Code.CONTROL_ARM_EXPOSURE: _l("Control-arm patient exposed to MSC"),
    Code.DISPENSED_NOT_ADMINISTERED: _l("Dispensed but not given (overdue)"),
    Code.LABEL_NOT_VERIFIED: _l("Label never verified"),
    Code.SITE_IMBALANCE: _l("Site accountability does not balance"),
    Code.LOT_IMBALANCE: _l("Lot accountability does not balance"),
}


@dataclass(slots=True)  # tens of thousands at 100× the trial: slots, not frozen, to build fast
class Involved:
    """One object a discrepancy is about: its type, the API's identifier for it (dose code,
    subject ID, lot id, shipment id, site code …) and a readable label."""

    type: str
    id: str
    label: str | Message


@dataclass(slots=True)
class Discrepancy:
    code: Code
    explanation: Message  # read in the reader's words, its times on the reader's clock
    objects: list[Involved] = field(default_factory=list)
    site_code: str | None = None  # None: the manufacturer's side (central roles only)
    occurred_at: datetime | None = None

    @property
    def title(self) -> Message:
        return TITLES[self.code]


def _dose(code: str) -> Involved:
    return Involved("dose", code, code)


def _patient(subject_id: str) -> Involved:
    return Involved("patient", subject_id, subject_id)


def _visit(subject_id: str, number: int) -> Involved:
    return Involved("visit", f"{subject_id}/{number}", _l("%(subject)s visit %(number)s", subject=subject_id,
                                                          number=number))


def _lot(lot_id: int, lot_number: str) -> Involved:
    return Involved("lot", str(lot_id), lot_number)


def _shipment(shipment_id: int, code: str) -> Involved:
    return Involved("shipment", str(shipment_id), code)


# ---- scoping -----------------------------------------------------------------------------------

def _patient_scope(stmt: Select[Any], scope: Scope) -> Select[Any]:
    return stmt if scope.site_id is None else stmt.where(Patient.site_id == scope.site_id)


def _with_dose_site(stmt: Select[Any], scope: Scope) -> Select[Any]:
    """Outer-join the dose's patient and site (its active allocation's): a dose allocated to
    nobody is the manufacturer's and shows to central roles only."""
    stmt = (stmt.outerjoin_from(Dose, Allocation, and_(Allocation.dose_id == Dose.id, rules.allocation_active()))
            .outerjoin(Visit, Visit.id == Allocation.visit_id).outerjoin(Patient, Patient.id == Visit.patient_id)
            .outerjoin(Site, Site.id == Patient.site_id))
    return _patient_scope(stmt, scope)


# ---- one finder per kind -----------------------------------------------------------------------

def _custody_breaks(scope: Scope, now: datetime) -> list[Discrepancy]:
    where = [] if scope.site_id is None else [CustodyEvent.dose_id.in_(
        select(Allocation.dose_id).join(Visit, Visit.id == Allocation.visit_id)
        .join(Patient, Patient.id == Visit.patient_id).where(rules.allocation_active(), Patient.site_id == scope.site_id))]
    # The flagged events alone first (joining anything to the ledger-wide window makes SQLite
    # materialise the whole ledger), then the few doses they concern.
    flagged: dict[int, list[Any]] = defaultdict(list)
    for row in db.session.execute(rules.chain_breaks(*where)):
        flagged[row.dose_id].append(row)
    doses = _with_dose_site(select(Dose.id, Dose.code, Patient.subject_id, Site.code.label("site_code"))
                            .where(Dose.id.in_(list(flagged))), scope)
    found: dict[str, list[Any]] = {}
    for dose_id, code, subject_id, site_code in db.session.execute(doses.order_by(Dose.code)):
        found[code] = [(event, subject_id, site_code) for event in
                       sorted(flagged[dose_id], key=lambda e: (e.occurred_at, e.id))]
    result = []
    for dose_code, rows in found.items():
        events = [event for event, _, _ in rows]
        _, subject_id, site_code = rows[0]
        reasons = Joined(_l("%(event)s at %(time)s: %(reason)s", event=state(e.kind), time=e.occurred_at,
                            reason=rules.break_reason(e.from_party, e.holder, e.after_end)) for e in events)
        objects = [_dose(dose_code), *(Involved("custody_event", str(e.id),
                                                _l("%(event)s %(time)s", event=state(e.kind), time=e.occurred_at))
                                       for e in events)]
        if subject_id:
            objects.append(_patient(subject_id))
        result.append(Discrepancy(Code.CUSTODY_CHAIN_BROKEN,
                                  _l("The custody chain of dose %(code)s is broken — %(reasons)s.",
                                     code=dose_code, reasons=reasons),
                                  objects, site_code, events[0].occurred_at))
    return result


def _shipments_short(scope: Scope, now: datetime) -> list[Discrepancy]:
    short = select(ShipmentItem.shipment_id).where(ShipmentItem.receipt == "missing")
    stmt = (select(Shipment.id, Shipment.code, Shipment.received_at, Site.code.label("site_code"),
                   Dose.code.label("dose_code"), ShipmentItem.receipt)
            .join(Site, Site.id == Shipment.site_id)
            .join(ShipmentItem, and_(ShipmentItem.shipment_id == Shipment.id, ShipmentItem.removed_at.is_(None)))
            .join(Dose, Dose.id == ShipmentItem.dose_id).where(Shipment.id.in_(short))
            .order_by(Shipment.code, Dose.code))
    if scope.site_id is not None:
        stmt = stmt.where(Shipment.site_id == scope.site_id)
    packed: dict[int, list[Any]] = defaultdict(list)
    for row in db.session.execute(stmt):
        packed[row.id].append(row)
    result = []
    for rows in packed.values():
        first, missing = rows[0], [r.dose_code for r in rows if r.receipt == "missing"]
        result.append(Discrepancy(
            Code.SHIPMENT_SHORT,
            _l("Shipment %(shipment)s to %(site)s was received without %(missing)s of its %(packed)s packed doses: "
               "%(doses)s. Find them or account for their loss.", shipment=first.code, site=first.site_code,
               missing=len(missing), packed=len(rows), doses=", ".join(missing)),
            [_shipment(first.id, first.code), *(_dose(c) for c in missing)], first.site_code, first.received_at))
    return result


def _unexpected_items(scope: Scope, now: datetime) -> list[Discrepancy]:
    stmt = (select(UnexpectedItem.payload, UnexpectedItem.recorded_at, Shipment.id, Shipment.code,
                   Site.code.label("site_code"), Dose.code.label("dose_code"))
            .join(Shipment, Shipment.id == UnexpectedItem.shipment_id).join(Site, Site.id == Shipment.site_id)
            .outerjoin(Dose, Dose.id == UnexpectedItem.dose_id).order_by(Shipment.code, UnexpectedItem.id))
    if scope.site_id is not None:
        stmt = stmt.where(Shipment.site_id == scope.site_id)
    result = []
    for row in db.session.execute(stmt):
        shipment = _shipment(row.id, row.code)
        if row.dose_code:
            result.append(Discrepancy(
                Code.SHIPMENT_OVER,
                _l("Dose %(code)s was scanned at receipt of shipment %(shipment)s at %(site)s, but it was not "
                   "packed in that shipment. Quarantine it and tell the GMP lab.", code=row.dose_code,
                   shipment=row.code, site=row.site_code),
                [shipment, _dose(row.dose_code)], row.site_code, row.recorded_at))
        else:
            payload = row.payload if len(row.payload) <= 60 else row.payload[:57] + "…"
            result.append(Discrepancy(
                Code.SHIPMENT_UNEXPECTED_ITEM,
                _l("At receipt of shipment %(shipment)s at %(site)s a scan named no dose of this trial: "
                   "“%(scan)s”. Identify the item.", shipment=row.code, site=row.site_code, scan=payload),
                [shipment, Involved("scan", payload, payload)], row.site_code, row.recorded_at))
    return result


def _infusions(scope: Scope, *where: Any) -> Any:
    stmt = (select(Infusion.started_at, Infusion.volume_ml, Infusion.deviation_reason, Dose.code.label("dose_code"),
                   Dose.volume_ml.label("dose_volume_ml"), Lot.id.label("lot_id"), Lot.lot_number,
                   Lot.status_reason, Patient.subject_id, Site.code.label("site_code"), Visit.number,
                   Visit.window_start, Visit.window_end)
            .join(Dose, Dose.id == Infusion.dose_id).join(Lot, Lot.id == Dose.lot_id)
            .join(Patient, Patient.id == Infusion.patient_id).join(Site, Site.id == Patient.site_id)
            .join(Visit, Visit.id == Infusion.visit_id).where(*where).order_by(Patient.subject_id, Visit.number))
    return db.session.execute(_patient_scope(stmt, scope))


def _recalled_given(scope: Scope, now: datetime) -> list[Discrepancy]:
    return [Discrepancy(
        Code.RECALLED_DOSE_ADMINISTERED,
        _l("Dose %(code)s of lot %(lot)s was given to %(subject)s on %(time)s; the lot was recalled afterwards "
           "(%(reason)s). Follow the patient up (lookback).", code=r.dose_code, lot=r.lot_number,
           subject=r.subject_id, time=r.started_at, reason=r.status_reason or _l("no reason recorded")),
        [_lot(r.lot_id, r.lot_number), _dose(r.dose_code), _patient(r.subject_id)], r.site_code, r.started_at)
        for r in _infusions(scope, Lot.status == "recalled")]


def _out_of_window(scope: Scope, now: datetime) -> list[Discrepancy]:
    return [Discrepancy(
        Code.OUT_OF_WINDOW,
        _l("%(subject)s visit %(number)s was given dose %(code)s on %(time)s, outside its window %(start)s to "
           "%(end)s (protocol deviation; reason given: %(reason)s).", subject=r.subject_id, number=r.number,
           code=r.dose_code, time=r.started_at, start=r.window_start, end=r.window_end,
           reason=r.deviation_reason or _l("none")),
        [_patient(r.subject_id), _visit(r.subject_id, r.number), _dose(r.dose_code)], r.site_code, r.started_at)
        for r in _infusions(scope, Infusion.out_of_window)]


def _partial(scope: Scope, now: datetime) -> list[Discrepancy]:
    return [Discrepancy(
        Code.PARTIAL_INFUSION,
        _l("%(subject)s visit %(number)s received %(volume)s ml of dose %(code)s (%(bag)s ml in the bag) on "
           "%(time)s.", subject=r.subject_id, number=r.number, volume=f"{r.volume_ml:g}", code=r.dose_code,
           bag=f"{r.dose_volume_ml:g}", time=r.started_at),
        [_patient(r.subject_id), _visit(r.subject_id, r.number), _dose(r.dose_code)], r.site_code, r.started_at)
        for r in _infusions(scope, Infusion.partial)]


def _missed(scope: Scope, now: datetime) -> list[Discrepancy]:
    following = rules.following_visit()
    days = rules.site_days(now)  # (each visit's window on its hospital's calendar)
    visit_state = rules.visit_state_sql(Visit, following, days, Patient.site_id)
    stmt = (select(Patient.subject_id, Site.code.label("site_code"), Visit.number, Visit.window_start,
                   Visit.window_end, Dose.code.label("dose_code"), Dose.status.label("dose_status"))
            .join(Patient, Patient.id == Visit.patient_id).join(Site, Site.id == Patient.site_id)
            .outerjoin(following, rules.next_visit_join(Visit, following))
            .outerjoin_from(Visit, Allocation, and_(Allocation.visit_id == Visit.id, rules.allocation_active()))
            .outerjoin(Dose, Dose.id == Allocation.dose_id)
            # (what visit_state needs for "missed", first: cheap tests that skip most visits)
            .where(Visit.recorded == "open", Visit.window_end < days.sql(Patient.site_id), visit_state == "missed")
            .order_by(Patient.subject_id, Visit.number))
    result = []
    # The most numerous discrepancy (tens of thousands at 100× the trial): positional rows, and
    # parameters a message shows as they are.
    for subject, site_code, number, start, end, dose_code, dose_status in db.session.execute(
            _patient_scope(stmt, scope)):
        start, end = start.isoformat(), end.isoformat()  # (as a message shows a day, done once)
        objects = [_patient(subject), _visit(subject, number)]
        if dose_code:
            objects.append(_dose(dose_code))
            what = _l("%(subject)s visit %(number)s (window %(start)s to %(end)s) passed without a dose. Its dose "
                      "%(code)s is %(status)s: give it to another visit or dispose of it.", subject=subject,
                      number=number, start=start, end=end, code=dose_code, status=state(dose_status))
        else:
            what = _l("%(subject)s visit %(number)s (window %(start)s to %(end)s) passed without a dose.",
                      subject=subject, number=number, start=start, end=end)
        result.append(Discrepancy(Code.VISIT_MISSED, what, objects, site_code))
    return result


def _control_exposure(scope: Scope, now: datetime) -> list[Discrepancy]:
    by_record = select(Infusion.patient_id, Infusion.dose_id, Infusion.started_at.label("at"))
    by_custody = (select(Patient.id, CustodyEvent.dose_id, CustodyEvent.occurred_at)
                  .join(CustodyEvent, CustodyEvent.to_party == literal("patient:") + Patient.subject_id)
                  .where(CustodyEvent.kind == "administer"))
    given = union(by_record, by_custody).subquery("given")
    stmt = (select(Patient.subject_id, Site.code.label("site_code"), Dose.code, func.min(given.c.at).label("at"))
            .join(Patient, Patient.id == given.c.patient_id).join(Site, Site.id == Patient.site_id)
            .join(Dose, Dose.id == given.c.dose_id).where(Patient.arm == "control")
            .group_by(Patient.subject_id, Site.code, Dose.code).order_by(Patient.subject_id, Dose.code))
    return [Discrepancy(
        Code.CONTROL_ARM_EXPOSURE,
        _l("%(subject)s is in the control arm but is recorded as given dose %(code)s. Report it as a protocol "
           "deviation and follow the patient up.", subject=r.subject_id, code=r.code),
        [_patient(r.subject_id), _dose(r.code)], r.site_code, _as_utc(r.at))
        for r in db.session.execute(_patient_scope(stmt, scope))]


def _as_utc(value: Any) -> datetime | None:
    """An aggregate over a UNION reaches us as stored (SQLite: naive text)."""
    from datetime import UTC

    if value is None or isinstance(value, datetime) and value.tzinfo is not None:
        return value
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return moment.replace(tzinfo=UTC)


def _dispensed_overdue(scope: Scope, now: datetime) -> list[Discrepancy]:
    overdue = timedelta(minutes=current_app.config["DISPENSE_OVERDUE_MINUTES"])
    # From the (few) dispensed doses to their events by the ledger's dose index.
    at = func.max(CustodyEvent.occurred_at).label("at")
    stmt = _with_dose_site(
        select(Dose.code, at, Patient.subject_id, Site.code.label("site_code"))
        .join(CustodyEvent, and_(CustodyEvent.dose_id == Dose.id, CustodyEvent.kind == "dispense")), scope)
    stmt = (stmt.where(Dose.status == "dispensed").group_by(Dose.id, Dose.code, Patient.subject_id, Site.code)
            .having(at <= now - overdue).order_by(at))
    result = []
    for r in db.session.execute(stmt):
        at = _as_utc(r.at)
        hours = (now - at).total_seconds() / 3600
        objects = [_dose(r.code)] + ([_patient(r.subject_id)] if r.subject_id else [])
        result.append(Discrepancy(
            Code.DISPENSED_NOT_ADMINISTERED,
            _l("Dose %(code)s was dispensed to the ward at %(time)s (%(hours)s h ago) and is not recorded as "
               "given, destroyed or returned.", code=r.code, time=at, hours=f"{hours:.1f}"),
            objects, r.site_code, at))
    return result


_LABEL_WORDS = {(True, True): _l("bag and assignment"), (True, False): _l("bag"),
                (False, True): _l("assignment"), (False, False): _l("assignment")}


def _labels_not_verified(scope: Scope, now: datetime) -> list[Discrepancy]:
    assignment_pending = and_(Allocation.id.is_not(None), Allocation.assignment_label_verified_at.is_(None))
    shipped = _with_dose_site(
        select(Dose.code, Patient.subject_id, Site.code.label("site_code"),
               Dose.bag_label_verified_at.is_(None).label("bag"), assignment_pending.label("assignment"),
               literal(None).label("printed_at"))
        # (shipment_items has no index by dose: IN reads it once, EXISTS once per dose)
        .where(Dose.id.in_(select(ShipmentItem.dose_id)),
               or_(Dose.bag_label_verified_at.is_(None), Allocation.id.is_(None),
                   Allocation.assignment_label_verified_at.is_(None))), scope)
    printed = (select(PrintedLabel.dose_id, PrintedLabel.label_kind, func.min(PrintJob.printed_at).label("at"))
               .join(PrintJob, PrintJob.id == PrintedLabel.job_id)
               .where(PrintedLabel.dose_id.is_not(None), PrintedLabel.label_kind.in_(("bag", "assignment")))
               .group_by(PrintedLabel.dose_id, PrintedLabel.label_kind).subquery("printed"))
    left_unscanned = _with_dose_site(
        select(Dose.code, Patient.subject_id, Site.code.label("site_code"),
               (printed.c.label_kind == "bag").label("bag"), (printed.c.label_kind == "assignment").label("assignment"),
               printed.c.at.label("printed_at"))
        .join(printed, printed.c.dose_id == Dose.id)
        .where(printed.c.at <= now - LABEL_VERIFICATION_GRACE, Dose.status.not_in(("rejected", "destroyed")),
               or_(and_(printed.c.label_kind == "bag", Dose.bag_label_verified_at.is_(None)),
                   and_(printed.c.label_kind == "assignment", assignment_pending))), scope)
    labels: dict[str, dict[str, Any]] = {}
    for r in [*db.session.execute(shipped), *db.session.execute(left_unscanned)]:
        entry = labels.setdefault(r.code, {"subject": r.subject_id, "site": r.site_code, "bag": False,
                                           "assignment": False, "shipped": False, "printed_at": None})
        entry["bag"] |= bool(r.bag)
        entry["assignment"] |= bool(r.assignment)
        if r.printed_at is None:
            entry["shipped"] = True
        else:
            printed_at = _as_utc(r.printed_at)
            entry["printed_at"] = min(filter(None, (entry["printed_at"], printed_at)))
    result = []
    for code, e in sorted(labels.items()):
        which = _LABEL_WORDS[(e["bag"], e["assignment"])]
        if e["shipped"]:
            what = _l("Dose %(code)s left the lab without its %(which)s label scanned back and matched "
                      "(print-then-scan).", code=code, which=which)
        else:
            what = _l("The %(which)s label of dose %(code)s was printed at %(time)s and never scanned back: verify "
                      "it or destroy the printed label.", which=which, code=code, time=e["printed_at"])
        objects = [_dose(code)] + ([_patient(e["subject"])] if e["subject"] else [])
        result.append(Discrepancy(Code.LABEL_NOT_VERIFIED, what, objects, e["site"], e["printed_at"]))
    return result


def _site_imbalances(scope: Scope, now: datetime) -> list[Discrepancy]:
    result = []
    for line in reconcile_sites(scope, now=now, with_signatures=False).sites:
        if line.balanced:
            continue
        gap = (_l("%(count)s dose(s) unaccounted for", count=line.imbalance) if line.imbalance > 0
               else _l("%(count)s dose(s) more accounted for than received", count=-line.imbalance))
        result.append(Discrepancy(
            Code.SITE_IMBALANCE,
            _l("Site %(site)s received %(received)s dose(s) but accounts for %(accounted)s (administered "
               "%(administered)s, destroyed %(destroyed)s, returned %(returned)s, on hand %(on_hand)s): %(gap)s.",
               site=line.site_code, received=line.received, accounted=line.accounted,
               administered=line.administered, destroyed=line.destroyed, returned=line.returned,
               on_hand=line.on_hand, gap=gap),
            [Involved("site", line.site_code or "", line.site_name)], line.site_code))
    return result


def _lot_imbalances(scope: Scope, now: datetime) -> list[Discrepancy]:
    if scope.site_id is not None:
        return []  # lots are the manufacturer's
    result = []
    for line in lot_accounts():
        if line.balanced:
            continue
        gap = (_l("%(count)s dose(s) unaccounted for", count=line.imbalance) if line.imbalance > 0
               else _l("%(count)s dose(s) counted twice", count=-line.imbalance))
        result.append(Discrepancy(
            Code.LOT_IMBALANCE,
            _l("Lot %(lot)s prepared %(prepared)s dose(s) but accounts for %(accounted)s (rejected at fill "
               "%(rejected)s, administered %(administered)s, destroyed %(destroyed)s, returned %(returned)s, in "
               "stock %(in_stock)s): %(gap)s.", lot=line.lot_number, prepared=line.prepared,
               accounted=line.accounted, rejected=line.rejected_at_fill, administered=line.administered,
               destroyed=line.destroyed, returned=line.returned, in_stock=line.in_stock, gap=gap),
            [_lot(line.lot_id or 0, line.lot_number)]))
    return result


FINDERS: dict[Code, Callable[[Scope, datetime], list[Discrepancy]]] = {
    Code.CUSTODY_CHAIN_BROKEN: _custody_breaks,
    Code.SHIPMENT_SHORT: _shipments_short,
    Code.SHIPMENT_OVER: _unexpected_items,  # with SHIPMENT_UNEXPECTED_ITEM: one statement for both
    Code.RECALLED_DOSE_ADMINISTERED: _recalled_given,
    Code.VISIT_MISSED: _missed,
    Code.OUT_OF_WINDOW: _out_of_window,
    Code.PARTIAL_INFUSION: _partial,
    Code.CONTROL_ARM_EXPOSURE: _control_exposure,
    Code.DISPENSED_NOT_ADMINISTERED: _dispensed_overdue,
    Code.LABEL_NOT_VERIFIED: _labels_not_verified,
    Code.SITE_IMBALANCE: _site_imbalances,
    Code.LOT_IMBALANCE: _lot_imbalances,
}
ORDER = {code: index for index, code in enumerate(Code)}


def _order(d: Discrepancy) -> tuple[int, str]:
    return ORDER[d.code], d.site_code or ""


def iter_discrepancies(scope: Scope, *, now: datetime) -> Iterator[Discrepancy]:
    """Every discrepancy within `scope`, by code (in Code order), then site: each kind as
    soon as its statement has run (the finders go in Code order, none shares a code with
    another)."""
    for finder in FINDERS.values():
        with without_gc():
            found = finder(scope, now)
        yield from sorted(found, key=_order)


def find_discrepancies(scope: Scope, *, now: datetime) -> list[Discrepancy]:
    """Every discrepancy within `scope`, by code (in Code order), then site."""
    return list(iter_discrepancies(scope, now=now))


def list_discrepancies(actor: User, now: datetime) -> list[Discrepancy]:
    """Every discrepancy the actor may see (site staff: their own site's), by code."""
    return find_discrepancies(scope_for(actor, "discrepancies"), now=now)
