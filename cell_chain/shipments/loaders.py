"""Loading a shipment for a route or page, scoped to what the reader may see."""
from cell_chain.accounts.permissions import require_actor, scoped_get_or_404
from cell_chain.core.db import MAX_ID
from cell_chain.core.errors import NotFound
from cell_chain.shipments.models import Shipment
from cell_chain.web.words import N_


def shipment_or_404(shipment_id: int) -> Shipment:
    """Another site's shipment is not found; an id past the column's range names nothing."""
    if not 0 < shipment_id <= MAX_ID:
        raise NotFound(N_("There is no such shipment."))
    return scoped_get_or_404(Shipment, require_actor(), Shipment.id == shipment_id)
