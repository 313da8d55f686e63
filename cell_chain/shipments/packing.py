"""Packing by scanning, as the shipment page shows it: each scan's outcome in words (packed,
or refused and why), and the answer a page scanning in place gets. Packing itself is
services.pack_dose: one transaction per scan, a refused scan changes nothing."""
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from cell_chain.accounts.models import User
from cell_chain.batches import workflow as batch_rules
from cell_chain.core.db import db
from cell_chain.core.errors import DomainError, Forbidden, NotFound, Unauthenticated
from cell_chain.patients.allocation import active_allocation_of_dose
from cell_chain.shipments import custody, services
from cell_chain.shipments.models import Shipment, ShipmentItem
from cell_chain.shipments.vocabulary import VOCABULARY

REFUSAL_WORDS = {
    "PACK_DUPLICATE": _l('Already in this box'),
    "PACK_WRONG_SITE": _l('For another site'),
    "PACK_WRONG_STATE": _l('Not ready to ship'),
    "PACK_EXPIRED": _l('Expired'),
    "PACK_WRONG_STORAGE": _l('Wrong storage for this box'),
    "PACK_LABELS_NOT_VERIFIED": _l('Labels not verified'),
    "UNRECOGNIZED_BARCODE": _l('Not a dose label'),
    "UNKNOWN_DOSE": _l('Unknown dose'),
    "SHIPMENT_STATE": _l('Box closed for packing'),
}


@dataclass(frozen=True)
class PackResult:
    """One packing scan's outcome for the page: `tone` ok (packed) or stop (refused)."""

    tone: str
    title: str
    detail: str
    code: str | None = None
    item: ShipmentItem | None = None
    status: int = 200  # the page's HTTP status for a browser without JavaScript

    @property
    def outcome(self) -> str:
        return "packed" if self.item is not None else "refused"


def in_the_box(count: int) -> str:
    if count == 1:
        return _("1 dose in the box. Scan the next one.")
    return _("%(count)s doses in the box. Scan the next one.", count=count)


def packed(item: ShipmentItem, count: int) -> PackResult:
    allocation = active_allocation_of_dose(item.dose)
    title = (_("PACKED: dose %(code)s for %(subject_id)s", code=item.dose.code,
               subject_id=allocation.visit.patient.subject_id) if allocation
             else _("PACKED: dose %(code)s", code=item.dose.code))
    return PackResult("ok", title, in_the_box(count), None, item)


def refused(error: DomainError) -> PackResult:
    words = REFUSAL_WORDS.get(error.code, error.title)
    return PackResult("stop", _("NOT PACKED: %(words)s", words=words), _(error.detail), error.code,
                      status=error.status)


def scan_into(shipment: Shipment, scan: str, *, actor: User, now: datetime) -> PackResult:
    """Pack the scanned dose and commit, or roll back and say why; one scan, one transaction.
    Who may pack and whether the box exists are not scan outcomes: those errors propagate."""
    try:
        item = services.pack_dose(shipment, scan=scan, actor=actor, now=now)
        db.session.commit()
    except (Forbidden, NotFound, Unauthenticated):
        raise
    except DomainError as error:
        db.session.rollback()
        return refused(error)
    return packed(item, len(shipment.items))


def scan_answer(shipment: Shipment, result: PackResult, *, now: datetime) -> dict[str, Any]:
    """The JSON a packing page scanning in place shows: the outcome and, once packed, the
    dose's row for the box's table, its statuses named as the page names them."""
    words, tone = VOCABULARY.words, VOCABULARY.tone
    row = None
    if result.item is not None:
        dose = result.item.dose
        allocation = active_allocation_of_dose(dose)
        row = {"code": dose.code, "subject_id": allocation.visit.patient.subject_id if allocation else None,
               "status": dose.status, "status_words": words(dose.status), "status_tone": tone(dose.status),
               "expires_at": dose.expires_at.isoformat(),
               "expired": batch_rules.is_expired(dose.expires_at, now),
               "chain_unbroken": custody.check_chain(custody.events_of([dose.id])[dose.id],
                                                     custody.lab_party()).unbroken}
    return {"outcome": result.outcome, "tone": result.tone, "title": result.title, "detail": result.detail,
            "code": result.code, "dose": row, "doses_in_box": len(shipment.items),
            "shipment_status": shipment.status, "shipment_status_words": words(shipment.status),
            "shipment_status_tone": tone(shipment.status)}
