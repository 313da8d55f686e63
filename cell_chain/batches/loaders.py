"""Loading a lot, donor or dose for a route or page: 404 in the reader's words when it is not there."""
from typing import TypeVar

from sqlalchemy import select

from cell_chain.batches.models import Dose
from cell_chain.core.db import MAX_ID, db
from cell_chain.core.errors import NotFound
from cell_chain.web.words import N_
from cell_chain.core.messages import _l, state

T = TypeVar("T")


def get_or_404(model: type[T], ident: int) -> T:
    obj = db.session.get(model, ident) if 0 < ident <= MAX_ID else None
    if obj is None:
        raise NotFound(_l("There is no %(record)s number %(number)s.", record=state(model.__name__.lower()), number=ident))
    return obj


def dose_by_code_or_404(code: str) -> Dose:
    dose = db.session.scalar(select(Dose).where(Dose.code == code))
    if dose is None:
        raise NotFound(N_("No such dose."))
    return dose
