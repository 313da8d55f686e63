"""The dose as scanners and outside checks read it (GET /api/doses/{code})."""
from collections.abc import Callable
from typing import Any

from cell_chain.batches.models import Dose
from cell_chain.labels.payloads import bag_payloads

# Later domains (allocation, custody) contribute their parts of the view.
_CONTRIBUTORS: list[Callable[[Dose, dict[str, Any]], None]] = []


def register_dose_view(contributor: Callable[[Dose, dict[str, Any]], None]) -> None:
    _CONTRIBUTORS.append(contributor)


# Which site a dose belongs to (its patient's), told by the allocation domain; the lot views
# of batches ask the same question, so the registry lives there.
from cell_chain.batches.visibility import dose_site_id, register_dose_sites  # noqa: E402,F401


def dose_detail(dose: Dose) -> dict[str, Any]:
    view: dict[str, Any] = {
        "code": dose.code, "lot_number": dose.lot.lot_number, "din": dose.lot.din,
        "status": dose.status, "expires_at": dose.expires_at,
        "subject_id": None, "visit": None, "custody": [], "custody_unbroken": True,
        "bag_label_verified": dose.bag_label_verified_at is not None,
        "barcodes": bag_payloads(dose).as_dict() | {"assignment": None},
    }
    for contribute in _CONTRIBUTORS:
        contribute(dose, view)
    return view
