"""The dose page: one dose's whole record, read-only, for every role within its site scope.
Dose codes everywhere link here (the `dose_link` macro in templates/_dose.html)."""
from typing import Any

from flask import Blueprint, render_template
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from cell_chain.accounts.permissions import require_actor, roles_required
from cell_chain.accounts.roles import READERS, Role
from cell_chain.batches.routes import LOT_READERS
from cell_chain.batches.views import VOCABULARY as BATCH_VOCABULARY
from cell_chain.patients.routes import PATIENT_READERS
from cell_chain.reconciliation.dose_record import ACTION_WORDS, dose_record
from cell_chain.shipments.parties import Party
from cell_chain.shipments.routes import SHIPMENT_READERS
from cell_chain.shipments.vocabulary import TONES as SHIPMENT_TONES
from cell_chain.shipments.vocabulary import WORDS as SHIPMENT_WORDS

bp = Blueprint("dose_pages", __name__, template_folder="templates")

# A dose's states and custody kinds, in the shipment pages' words where the lot pages have none.
VOCABULARY = BATCH_VOCABULARY.extended(words={
    **SHIPMENT_WORDS, "prepared": _l("Prepared"), "available": _l("Available"), "in_transit": _l("In transit"),
    "received": _l("Received"), "bag": _l("Bag label"), "assignment": _l("Assignment label"),
}, tones=SHIPMENT_TONES)


@bp.context_processor
def _helpers() -> dict[str, Any]:
    return {**VOCABULARY.helpers(), "Role": Role}


def _action_words(action: str) -> str:
    known = ACTION_WORDS.get(action)
    return _(known) if known else action.split(".")[-1].replace("_", " ").capitalize()


@bp.get("/doses/<code>")
@roles_required(*READERS)
def dose_page(code: str) -> str:
    actor = require_actor()
    record = dose_record(code, actor=actor)
    return render_template(
        "reconciliation/dose.html", r=record, d=record.dose,
        party=lambda name: Party.parse(name).words(), action_words=_action_words,
        can_open_lot=actor.role in LOT_READERS, can_open_patient=actor.role in PATIENT_READERS,
        can_open_shipment=lambda shipment: actor.role in SHIPMENT_READERS
        and (actor.site_id is None or actor.site_id == shipment.site_id),
    )
