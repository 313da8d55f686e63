"""A label scanned back on the lot page, answered for the page to show in place: the outcome
in words, the dose's new state and the lot's label counts."""
from typing import Any

from flask_babel import gettext as _

from cell_chain.batches.models import Lot
from cell_chain.batches.views import VOCABULARY
from cell_chain.labels.scan_back import ScanBack, count_labels, counts_text
from cell_chain.labels.services import print_counts


def _reprint_words(count: int) -> dict[str, str]:
    """The lot page's print form once its labels were printed: a reprint, with its reason."""
    return {
        "label": _("Reason for reprinting"),
        "hint": _("These labels were printed before. Reprints are marked REPRINT on the label; destroy the "
                  "old labels. For example: labels damaged."),
        "button": _("%(part)s %(accepted)s bag %(value)s (PDF)", part=_("Reprint"), accepted=count,
                    value=_("label") if count == 1 else _("labels")),
    }


def lot_scan_answer(lot: Lot, outcome: ScanBack) -> dict[str, Any]:
    accepted = [d for d in lot.visible_doses if d.accepted_at_fill]
    counts = count_labels(accepted, [d for d in accepted if d.bag_label_verified_at])
    dose = outcome.dose if outcome.dose is not None and outcome.dose.lot_id == lot.id else None
    return {
        "outcome": outcome.outcome, "tone": outcome.tone, "title": outcome.title,
        "detail": outcome.detail, "code": outcome.code,
        "dose": None if dose is None else {
            "code": dose.code, "status": dose.status, "status_words": VOCABULARY.words(dose.status),
            "status_tone": VOCABULARY.tone(dose.status),
            "label_verified": dose.bag_label_verified_at is not None,
        },
        "reprint": _reprint_words(len(accepted)) if print_counts("bag", [d.code for d in accepted]) else None,
        "counts": {"verified": counts.verified, "total": counts.total, "waiting": counts.waiting,
                   "text": counts_text(counts, "bag") + (_("; still to verify:") if counts.waiting else "")},
    }
