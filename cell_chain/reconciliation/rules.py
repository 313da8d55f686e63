"""The domains' per-row rules restated once in SQL, so that a report decides over whole tables
what a service decides for one row. tests/reconciliation/test_rules.py checks that each
agrees with the Python rule it restates; nothing else in this package restates them."""
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Date, Select, and_, case, func, literal, literal_column, or_, select, tuple_
from sqlalchemy.orm import aliased

from cell_chain.accounts.models import Site
from cell_chain.batches.models import Dose
from cell_chain.core.clock import site_date
from cell_chain.core.db import db
from cell_chain.core.messages import Message, _l
from cell_chain.patients.models import Allocation, Visit
from cell_chain.patients.schedule import LAST_VISIT_GRACE
from cell_chain.shipments import custody
from cell_chain.shipments.models import TERMINAL_CUSTODY, CustodyEvent
from cell_chain.shipments.parties import COURIER_PREFIX, LAB_PREFIX, SITE_PREFIX, WARD_PREFIX

# Dose statuses by where the dose stands in the accounting (DESIGN §3 life cycle).
STOCK_STATUSES = ("prepared", "available", "allocated", "packed", "in_transit", "received", "dispensed")
# Custody parties as shipments.parties writes them.
SITE_PARTY_PREFIX, WARD_PARTY_PREFIX = SITE_PREFIX, WARD_PREFIX
COURIER_PARTY_PREFIX, LAB_PARTY_PREFIX = COURIER_PREFIX, LAB_PREFIX


# ---- schedule.visit_state ------------------------------------------------------------------

def following_visit() -> Any:
    """An alias of Visit to outer-join (with next_visit_join) as the next visit."""
    return aliased(Visit, name="following_visit")


def next_visit_join(visit: Any, following: Any) -> ColumnElement[bool]:
    return and_(following.patient_id == visit.patient_id, following.number == visit.number + 1)


@dataclass(frozen=True)
class SiteDays:
    """Today on each site's own calendar (site id → day): a visit window is days of its
    hospital's calendar, and at 01:30 in Lanzhou it is already tomorrow there."""

    by_site: dict[int, date]
    utc_day: date  # for a site not listed (none is: every site is read)

    def sql(self, site_id: Any, shift: timedelta = timedelta()) -> Any:
        """The day, moved by `shift`, for the row's site: a plain date when every site's
        calendar shows the same one (most hours, in a trial whose sites share a zone), else a
        CASE over the site."""
        days = {day + shift for day in self.by_site.values()}
        if len(days) <= 1:
            return days.pop() if days else self.utc_day + shift
        return case({site: literal(day + shift, Date()) for site, day in self.by_site.items()}, value=site_id,
                    else_=literal(self.utc_day + shift, Date()))


def site_days(now: datetime) -> SiteDays:
    """Today at every site, read from the sites' zones (one statement)."""
    return SiteDays({site_id: site_date(now, zone) for site_id, zone in db.session.execute(
        select(Site.id, Site.time_zone))}, now.astimezone(UTC).date())


def visit_state_sql(visit: Any, following: Any, today: date | SiteDays, site_id: Any = None) -> ColumnElement[str]:
    """schedule.visit_state: upcoming → due → overdue → missed unless recorded done,
    done_out_of_window or skipped. `following` is the outer-joined next visit; `today` one
    day, or each site's (`site_id`: the row's site)."""
    if isinstance(today, SiteDays):
        day, grace_day = today.sql(site_id), today.sql(site_id, -LAST_VISIT_GRACE)
    else:
        day, grace_day = today, today - LAST_VISIT_GRACE
    return case(
        (visit.recorded != "open", visit.recorded),
        (visit.window_start > day, "upcoming"),
        (visit.window_end >= day, "due"),
        (or_(and_(following.id.is_not(None), following.window_start <= day),
             and_(following.id.is_(None), visit.window_end <= grace_day)), "missed"),
        else_="overdue",
    )


# ---- custody: the current custodian and check_chain ---------------------------------------

def _order() -> tuple[Any, Any]:
    return CustodyEvent.occurred_at, CustodyEvent.id


def custodian_sql(dose_id: Any) -> Any:
    """custody.current_custodian of the dose `dose_id` names (a correlated column): the last
    hand-over's recipient, NULL before any (the lab holds it). One probe of the ledger's
    (dose, time, id) index per dose: cheaper than ranking the whole ledger."""
    return (select(CustodyEvent.to_party).where(CustodyEvent.dose_id == dose_id)
            .order_by(CustodyEvent.occurred_at.desc(), CustodyEvent.id.desc()).limit(1).scalar_subquery())


def custodians(*columns: Any, where: Any = None) -> Any:
    """Doses (`columns` of Dose, filtered by `where`) with their current custodian as
    `holder`, materialised once: the custodian is then grouped and matched to sites without
    being looked up again for every mention."""
    stmt = select(*columns, custodian_sql(Dose.id).label("holder"))
    if where is not None:
        stmt = stmt.where(where)
    return stmt.cte("custodians").prefix_with("MATERIALIZED")


def _previous_recipient() -> Any:
    """The recipient of the previous event in the same dose's chain (NULL for its first), as a
    column of CustodyEvent. Both forms read only the ledger's (dose, time, id) index, which
    covers the parties: PostgreSQL's window over it is one ordered pass; SQLite's window
    copies every event through a buffer and costs twice its probe of the index per event."""
    if db.session.get_bind().dialect.name == "postgresql":
        return func.lag(CustodyEvent.to_party).over(partition_by=CustodyEvent.dose_id, order_by=_order())
    earlier = aliased(CustodyEvent)
    return (select(earlier.to_party)
            .where(earlier.dose_id == CustodyEvent.dose_id,
                   tuple_(earlier.occurred_at, earlier.id) < tuple_(CustodyEvent.occurred_at, CustodyEvent.id))
            .order_by(earlier.occurred_at.desc(), earlier.id.desc()).limit(1).scalar_subquery())


def chain_breaks(*where: Any) -> Select[Any]:
    """custody.check_chain for every dose at once: one row per flagged event, with what the
    dose's holder was (the previous event's recipient, the lab before any) and whether a
    final event came before it."""
    final, later = aliased(CustodyEvent), aliased(CustodyEvent)
    # Events after a final one, from the (few) final events by the ledger's index.
    after_end = (select(later.id).join(final, and_(final.dose_id == later.dose_id,
                                                  tuple_(later.occurred_at, later.id) > tuple_(final.occurred_at, final.id)))
                 .where(final.kind.in_(TERMINAL_CUSTODY)))
    events = (select(CustodyEvent.id, CustodyEvent.dose_id, CustodyEvent.kind, CustodyEvent.from_party,
                     CustodyEvent.occurred_at,
                     func.coalesce(_previous_recipient(), custody.lab_party()).label("holder"),
                     CustodyEvent.id.in_(after_end).label("after_end"))
              .where(*where).subquery("chain"))
    # Callers join what they need onto this select itself: wrapping it in another subquery
    # makes SQLite materialise every event of the ledger first.
    return select(events).where(or_(events.c.after_end, events.c.from_party != events.c.holder))


def break_reason(from_party: str, holder: str, after_end: int) -> Message:
    """check_chain's words for a flagged event."""
    if after_end:
        return _l("event after the dose's final event")
    return _l("handed over by %(sender)s but held by %(holder)s", sender=from_party, holder=holder)


def held_at_site(party: Any, site: Any = Site) -> ColumnElement[bool]:
    """The party is the site's pharmacy or one of its wards (custody.site_party, ward_party):
    the dose is in that hospital's custody, as bedside and pharmacy checks read it."""
    return or_(party == literal(SITE_PARTY_PREFIX) + site.code,
               party.like(literal(WARD_PARTY_PREFIX) + site.code + literal(":%")))


def held_at_any_site(party: Any) -> ColumnElement[bool]:
    """The party is some site's pharmacy or ward (held_at_site, for whichever site)."""
    return or_(party.like(literal(SITE_PARTY_PREFIX + "%")), party.like(literal(WARD_PARTY_PREFIX + "%")))


def location_sql(party: Any, site_code: Any) -> ColumnElement[str]:
    """Where a dose in stock is: the site's code (its pharmacy or a ward), 'in_transit' with
    a courier, 'lab' before any hand-over or back at the manufacturer, else 'elsewhere' (a
    custodian that holds no stock, e.g. a patient: the records disagree)."""
    return case((site_code.is_not(None), site_code),
                (party.like(literal(COURIER_PARTY_PREFIX + "%")), "in_transit"),
                (or_(party.is_(None), party.like(literal(LAB_PARTY_PREFIX + "%"))), "lab"),
                else_="elsewhere")


# ---- the active allocation ----------------------------------------------------------------

def allocation_active() -> ColumnElement[Any]:
    """Allocation.active written as the partial indexes' own predicate: SQLite uses an index
    only for a term it matches, and "active = 1" (how it renders a boolean column) does not.
    Untyped, so that no dialect rewrites it; join it with an explicit left side."""
    return literal_column(f"{Allocation.__tablename__}.active")


# ---- batches.workflow.is_expired -------------------------------------------------------------

def expired_sql(expires_at: Any, now: datetime) -> ColumnElement[bool]:
    """is_expired: expired from the expiry minute on."""
    return expires_at <= now


# ---- dose accounting -------------------------------------------------------------------------

def returned_sql() -> ColumnElement[bool]:
    """Returned to the manufacturer, also when quarantined afterwards (a recall quarantines
    returned doses too: they stay returned in the accounting)."""
    return or_(Dose.status == "returned",
               and_(Dose.status == "quarantined", Dose.status_before_quarantine == "returned"))


def in_stock_sql() -> ColumnElement[bool]:
    """Still in stock somewhere (lab, courier or site), quarantined or not."""
    return or_(Dose.status.in_(STOCK_STATUSES),
               and_(Dose.status == "quarantined",
                    func.coalesce(Dose.status_before_quarantine, "prepared") != "returned"))
