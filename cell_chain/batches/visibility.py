"""Which of a lot's doses a caller may see: central roles every dose, site staff only the
doses of their own site's patients (the site of a dose is told by the allocation domain)."""
from collections.abc import Callable
from typing import Any

from cell_chain.batches.models import Dose, Lot

_SITE_OF: list[Callable[[Dose], int | None]] = []


def register_dose_site(site_of: Callable[[Dose], int | None]) -> None:
    _SITE_OF.append(site_of)


def dose_site_id(dose: Dose) -> int | None:
    return next((site for site in (f(dose) for f in _SITE_OF) if site is not None), None)


def visible_doses(lot: Lot, actor: Any) -> list[Dose]:
    if actor.site_id is None:
        return list(lot.doses)
    return [dose for dose in lot.doses if dose_site_id(dose) == actor.site_id]


def show_to(lot: Lot, actor: Any) -> Lot:
    """The lot as `actor` may see it: its `visible_doses` (what the API and pages list) are
    narrowed to the actor's site for site staff."""
    lot.shown_doses = visible_doses(lot, actor) if actor.site_id is not None else None
    return lot
