"""Which of a lot's doses a caller may see: central roles every dose, site staff only the
doses of their own site's patients (the site of a dose is told by the allocation domain)."""
from collections.abc import Callable, Collection, Iterable, Mapping
from typing import Any

from cell_chain.batches.models import Dose, Lot

# Each finder answers for many doses at once (dose id -> site id, for the doses it places), so
# that a lot of any size costs the same few statements.
_SITES_OF: list[Callable[[Collection[Dose]], Mapping[int, int]]] = []


def register_dose_sites(sites_of: Callable[[Collection[Dose]], Mapping[int, int]]) -> None:
    _SITES_OF.append(sites_of)


def dose_site_ids(doses: Iterable[Dose]) -> dict[int, int]:
    """The site of each dose that has one, by dose id (doses of no site are left out)."""
    doses = list(doses)
    sites: dict[int, int] = {}
    if doses:
        for sites_of in _SITES_OF:
            for dose_id, site_id in sites_of(doses).items():
                sites.setdefault(dose_id, site_id)
    return sites


def dose_site_id(dose: Dose) -> int | None:
    return dose_site_ids([dose]).get(dose.id)


def show_to(lot: Lot, actor: Any) -> Lot:
    """The lot as `actor` may see it: its `visible_doses` (what the API and pages list) are
    narrowed to the actor's site for site staff."""
    show_all_to([lot], actor)
    return lot


def show_all_to(lots: Iterable[Lot], actor: Any) -> None:
    """`show_to` for many lots, their doses' sites looked up together (the lot board)."""
    lots = list(lots)
    if actor.site_id is None:
        for lot in lots:
            lot.shown_doses = None
        return
    sites = dose_site_ids(dose for lot in lots for dose in lot.doses)
    for lot in lots:
        lot.shown_doses = [dose for dose in lot.doses if sites.get(dose.id) == actor.site_id]
