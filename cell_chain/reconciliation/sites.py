"""Per site, drug accountability (DESIGN §6): received = administered + destroyed + returned +
on hand, each side counted from its own record (receipts, infusion records, the custody
ledger), so that an imbalance shows a dose the records lose or count twice."""
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import and_, case, distinct, func, literal, or_, select

from cell_chain.accounts.models import Site
from cell_chain.accounts.signatures import Meaning
from cell_chain.batches.models import Dose
from cell_chain.core.db import db
from cell_chain.infusions.models import Infusion
from cell_chain.patients.models import Patient
from cell_chain.reconciliation import rules
from cell_chain.reconciliation.evidence import Records, SignedBy, as_ids, signatures_of
from cell_chain.reconciliation.scope import Scope
from cell_chain.shipments.models import CustodyEvent, Shipment, ShipmentItem

RECEIVED_ITEMS = ("accepted", "quarantined")
UNDER_WAY = ("dispatched", "in_transit")
DISPOSAL_MEANINGS = (Meaning.DESTROYED.value, Meaning.WITNESSED.value, Meaning.RETURNED.value)


@dataclass(frozen=True)
class SiteLine:
    site_code: str | None  # None: the scope's total
    site_name: str
    received: int = 0
    administered: int = 0
    destroyed: int = 0
    returned: int = 0
    on_hand: int = 0
    # Parts of on hand (a dose may be both quarantined and expired).
    at_ward: int = 0
    quarantined: int = 0
    expired_awaiting_destruction: int = 0
    # Not yet the site's: on their way, or packed for it but missing at receipt.
    in_transit: int = 0
    missing_at_receipt: int = 0

    @property
    def accounted(self) -> int:
        return self.administered + self.destroyed + self.returned + self.on_hand

    @property
    def imbalance(self) -> int:
        """Received minus accounted for: positive = doses unaccounted for, negative = more
        doses accounted for than received."""
        return self.received - self.accounted

    @property
    def balanced(self) -> bool:
        return self.imbalance == 0


COUNTS = ("received", "administered", "destroyed", "returned", "on_hand", "at_ward", "quarantined",
          "expired_awaiting_destruction", "in_transit", "missing_at_receipt")


@dataclass(frozen=True)
class SitesReconciliation:
    generated_at: datetime
    scope: Scope
    sites: list[SiteLine]
    total: SiteLine
    signatures: list[SignedBy] = field(default_factory=list)


def _sites(scope: Scope) -> Any:
    stmt = select(Site.id, Site.code, Site.name)
    return stmt if scope.site_id is None else stmt.where(Site.id == scope.site_id)


def _by_site(stmt: Any) -> dict[int, list[int]]:
    """{site id: its counts} (sums arrive as decimals on PostgreSQL)."""
    return {site_id: [site_id, *(int(n or 0) for n in counts)] for site_id, *counts in db.session.execute(stmt)}


def _disposal_site(site: Any, events: Any = CustodyEvent) -> Any:
    """A destruction at the site, or a return that left the site's pharmacy or a ward
    (`events`: the ledger, or a selection of its columns)."""
    return or_(and_(events.kind == "destroy", events.to_party == literal("destroyed:") + site.c.code),
               and_(events.kind == "return", rules.held_at_site(events.from_party, site.c)))


def reconcile_sites(scope: Scope, *, now: datetime, with_signatures: bool = True) -> SitesReconciliation:
    """Drug accountability per site in `scope`, in six statements (five without the
    signatures behind the numbers: receipts, destructions, returns)."""
    sites = _sites(scope).subquery("scope_sites")
    received = _by_site(
        select(Shipment.site_id,
               func.count(distinct(case((ShipmentItem.receipt.in_(RECEIVED_ITEMS), ShipmentItem.dose_id)))),
               func.count(case((ShipmentItem.receipt == "missing", 1))),
               func.count(distinct(case((and_(Shipment.status.in_(UNDER_WAY), ShipmentItem.receipt.is_(None)),
                                         ShipmentItem.dose_id)))))
        .join(ShipmentItem, and_(ShipmentItem.shipment_id == Shipment.id, ShipmentItem.removed_at.is_(None)))
        .where(Shipment.site_id.in_(select(sites.c.id))).group_by(Shipment.site_id))
    administered = _by_site(
        select(Patient.site_id, func.count(Infusion.id)).join(Infusion, Infusion.patient_id == Patient.id)
        .where(Patient.site_id.in_(select(sites.c.id))).group_by(Patient.site_id))
    # The (few) disposals first, in one pass over the ledger, then matched to their site:
    # matching the ledger to each site in turn reads it once per site.
    disposals = (select(CustodyEvent.dose_id, CustodyEvent.kind, CustodyEvent.from_party, CustodyEvent.to_party)
                 .where(CustodyEvent.kind.in_(("destroy", "return"))).cte("disposals").prefix_with("MATERIALIZED"))
    disposed = _by_site(
        select(sites.c.id, func.count(distinct(case((disposals.c.kind == "destroy", disposals.c.dose_id)))),
               func.count(distinct(case((disposals.c.kind == "return", disposals.c.dose_id)))))
        .join(disposals, _disposal_site(sites, disposals.c)).group_by(sites.c.id))
    # Custodians first (a few per site), matched to their site after: a dose-by-site match
    # would test every dose against every site.
    doses = rules.custodians(Dose.status, Dose.expires_at)
    held = (select(doses.c.holder, func.count().label("doses"),
                   func.count(case((doses.c.status == "quarantined", 1))).label("quarantined"),
                   func.count(case((rules.expired_sql(doses.c.expires_at, now), 1))).label("expired"))
            .where(rules.held_at_any_site(doses.c.holder)).group_by(doses.c.holder).subquery("held"))
    on_hand = _by_site(
        select(sites.c.id, func.sum(held.c.doses),
               func.sum(case((held.c.holder.like(rules.WARD_PARTY_PREFIX + "%"), held.c.doses), else_=0)),
               func.sum(held.c.quarantined), func.sum(held.c.expired))
        .join(held, rules.held_at_site(held.c.holder, sites.c)).group_by(sites.c.id))
    lines = []
    for site_id, code, name in db.session.execute(select(sites).order_by(sites.c.code)):
        got, given, gone, held = (received.get(site_id), administered.get(site_id), disposed.get(site_id),
                                  on_hand.get(site_id))
        lines.append(SiteLine(
            code, name, received=got[1] if got else 0, administered=given[1] if given else 0,
            destroyed=gone[1] if gone else 0, returned=gone[2] if gone else 0,
            on_hand=held[1] if held else 0, at_ward=held[2] if held else 0, quarantined=held[3] if held else 0,
            expired_awaiting_destruction=held[4] if held else 0,
            in_transit=got[3] if got else 0, missing_at_receipt=got[2] if got else 0))
    total = SiteLine(None, "All sites" if scope.site_id is None else scope.description,
                     **{k: sum(getattr(line, k) for line in lines) for k in COUNTS})
    if not with_signatures:
        return SitesReconciliation(now, scope, lines, total)
    signed = signatures_of({
        "shipments": Records(select(as_ids(Shipment.id)).where(Shipment.site_id.in_(select(sites.c.id)),
                                                               Shipment.received_at.is_not(None)),
                             select(Shipment.code), Shipment.id),
        "doses": Records(select(as_ids(CustodyEvent.dose_id)).join(sites, _disposal_site(sites))
                         .where(CustodyEvent.kind.in_(("destroy", "return"))), select(Dose.code), Dose.id),
    }, meanings=(Meaning.RECEIVED.value, *DISPOSAL_MEANINGS))
    return SitesReconciliation(now, scope, lines, total, signed)
