"""Per lot (DESIGN §6): prepared = rejected at fill + administered + destroyed + returned +
in stock (by location). Administered comes from the infusion records and the rest from the
doses' states, so a dose counted twice or lost between them shows as an imbalance."""
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import and_, case, func, select

from cell_chain.accounts.models import Site
from cell_chain.accounts.signatures import Meaning
from cell_chain.batches.models import Dose, Lot
from cell_chain.core.db import db
from cell_chain.infusions.models import Infusion
from cell_chain.reconciliation import rules
from cell_chain.reconciliation.evidence import Records, SignedBy, as_ids, by_record, signatures_of
from cell_chain.reconciliation.scope import Scope

COUNTS = ("prepared", "rejected_at_fill", "administered", "destroyed", "returned", "in_stock", "quarantined")
LOT_MEANINGS = (Meaning.RELEASED.value, Meaning.REJECTED.value, Meaning.RECALLED.value)


@dataclass(frozen=True)
class LotLine:
    lot_id: int | None  # None: the total
    lot_number: str
    din: str | None = None
    status: str | None = None
    presentation: str | None = None
    prepared: int = 0
    rejected_at_fill: int = 0
    administered: int = 0
    destroyed: int = 0
    returned: int = 0
    in_stock: int = 0
    quarantined: int = 0  # part of in stock
    in_stock_by_location: dict[str, int] = field(default_factory=dict)  # "lab", "in_transit", site codes
    signatures: list[SignedBy] = field(default_factory=list)

    @property
    def accounted(self) -> int:
        return self.rejected_at_fill + self.administered + self.destroyed + self.returned + self.in_stock

    @property
    def imbalance(self) -> int:
        """Prepared minus accounted for: positive = doses unaccounted for, negative = doses
        counted twice."""
        return self.prepared - self.accounted

    @property
    def balanced(self) -> bool:
        return self.imbalance == 0


@dataclass(frozen=True)
class LotsReconciliation:
    generated_at: datetime
    scope: Scope
    total_lots: int
    lots: list[LotLine]
    total: LotLine


def _lot_counts() -> Any:
    """Every lot with its dose accounting, in lot number order."""
    in_stock = rules.in_stock_sql()
    return (select(Lot.id, Lot.lot_number, Lot.din, Lot.status, Lot.presentation,
                   func.count(Dose.id).label("prepared"),
                   func.count(case((Dose.status == "rejected", 1))).label("rejected_at_fill"),
                   func.count(Infusion.id).label("administered"),
                   func.count(case((Dose.status == "destroyed", 1))).label("destroyed"),
                   func.count(case((rules.returned_sql(), 1))).label("returned"),
                   func.count(case((in_stock, 1))).label("in_stock"),
                   func.count(case((and_(in_stock, Dose.status == "quarantined"), 1))).label("quarantined"))
            .outerjoin(Dose, Dose.lot_id == Lot.id).outerjoin(Infusion, Infusion.dose_id == Dose.id)
            .group_by(Lot.id, Lot.lot_number, Lot.din, Lot.status, Lot.presentation).order_by(Lot.lot_number))


def _stock_locations() -> dict[int, dict[str, int]]:
    """{lot id: {location: doses in stock there}}, the location from the custody ledger."""
    # By lot and custodian first, matched to sites after (a few rows, not every dose).
    doses = rules.custodians(Dose.lot_id, where=rules.in_stock_sql())
    held = (select(doses.c.lot_id, doses.c.holder, func.count().label("doses"))
            .group_by(doses.c.lot_id, doses.c.holder).subquery("held"))
    location = rules.location_sql(held.c.holder, Site.code).label("location")
    stmt = (select(held.c.lot_id, location, func.sum(held.c.doses)).select_from(held)
            .outerjoin(Site, rules.held_at_site(held.c.holder, Site)).group_by(held.c.lot_id, location))
    found: dict[int, dict[str, int]] = defaultdict(dict)
    for lot_id, where, count in db.session.execute(stmt):
        found[lot_id][where] = int(count)
    return found


def lot_accounts() -> list[LotLine]:
    """Every lot's dose accounting (without locations or signatures), in one statement."""
    return [LotLine(r.id, r.lot_number, r.din, r.status, r.presentation, **{k: getattr(r, k) for k in COUNTS})
            for r in db.session.execute(_lot_counts())]


def reconcile_lots(scope: Scope, *, now: datetime, limit: int | None = None, offset: int = 0) -> LotsReconciliation:
    """Dose accounting for every lot (a page of them when `limit` is given; the total always
    over all lots), in three statements. Lots are the manufacturer's: the scope is the trial."""
    rows = db.session.execute(_lot_counts()).all()
    locations = _stock_locations()
    page = rows[offset:offset + limit] if limit is not None else rows[offset:]
    paged = select(Lot.id).order_by(Lot.lot_number).offset(offset)
    if limit is not None:
        paged = paged.limit(limit)
    signed = by_record(signatures_of(
        {"lots": Records(select(as_ids(paged.subquery().c.id)), select(Lot.lot_number), Lot.id)},
        meanings=LOT_MEANINGS))
    lots = [LotLine(r.id, r.lot_number, r.din, r.status, r.presentation,
                    **{k: getattr(r, k) for k in COUNTS}, in_stock_by_location=dict(sorted(locations[r.id].items())),
                    signatures=signed.get(("lots", str(r.id)), []))
            for r in page]
    everywhere: dict[str, int] = defaultdict(int)
    for by_place in locations.values():
        for where, count in by_place.items():
            everywhere[where] += count
    total = LotLine(None, "All lots", **{k: sum(getattr(r, k) for r in rows) for k in COUNTS},
                    in_stock_by_location=dict(sorted(everywhere.items())))
    return LotsReconciliation(now, scope, len(rows), lots, total)
