"""Scanning printed labels back on a page: the lot page reads its doses' bag labels, the
patient page its doses' assignment labels. The label names its dose itself; the service
verifies it and records the attempt; this module says, for the page, what happened and how
to go on. A label that names no dose of the page is not verified here and nothing is recorded:
which dose it was meant for is unknown."""
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

from flask_babel import gettext as _

from cell_chain.accounts.models import User
from cell_chain.batches.models import Dose
from cell_chain.core.messages import translated
from cell_chain.core.scanning import UnrecognizedBarcode
from cell_chain.labels import services



@dataclass(frozen=True)
class ScanBack:
    """One scan's outcome as the page shows it: `ok` green, anything else red with its stable
    `code`; `status` is the page's HTTP status."""

    ok: bool
    title: str
    detail: str
    status: int = 200
    code: str | None = None
    dose: Dose | None = None

    @property
    def outcome(self) -> str:
        """verified | already_verified | refused"""
        if not self.ok:
            return "refused"
        return "already_verified" if self.code == "ALREADY_VERIFIED" else "verified"

    @property
    def tone(self) -> str:
        """Green only for a label that now counts; amber for one that counted already."""
        return {"verified": "ok", "already_verified": "warn"}.get(self.outcome, "stop")


@dataclass(frozen=True)
class LabelCounts:
    """How many of the page's labels are verified, and which doses still wait for theirs."""

    verified: int
    waiting: list[str]

    @property
    def total(self) -> int:
        return self.verified + len(self.waiting)


def count_labels(doses: Collection[Dose], verified: Collection[Dose]) -> LabelCounts:
    return LabelCounts(len(verified), [d.code for d in doses if d not in verified])


def _named(dose: Dose | None) -> str:
    return _("dose %(code)s", code=dose.code) if dose is not None else _("no dose held in cell-chain")


def verified(dose: Dose, label_kind: str) -> ScanBack:
    if label_kind == "bag":
        title = _("VERIFIED: bag label of dose %(code)s", code=dose.code)
        detail = _("The printed bag label matches dose %(code)s: it counts as applied.", code=dose.code)
    else:
        title = _("VERIFIED: assignment label of dose %(code)s", code=dose.code)
        detail = _("The printed assignment label matches dose %(code)s: it counts as applied.", code=dose.code)
    return ScanBack(True, title, detail, 200, None, dose)


def already_verified(dose: Dose, label_kind: str) -> ScanBack:
    """A second scan of a label that already counts: said apart from a first verification, so
    that nobody takes it for the next bag's label; nothing was recorded."""
    if label_kind == "bag":
        title = _("ALREADY VERIFIED: bag label of dose %(code)s", code=dose.code)
        detail = _("This bag label was verified before and still counts. Nothing new was recorded: "
                   "scan the next label.")
    else:
        title = _("ALREADY VERIFIED: assignment label of dose %(code)s", code=dose.code)
        detail = _("This assignment label was verified before and still counts. Nothing new was "
                   "recorded: scan the next label.")
    return ScanBack(True, title, detail, 200, "ALREADY_VERIFIED", dose)


def counts_text(counts: LabelCounts, label_kind: str) -> str:
    """The counts in a sentence, for a page brought up to date in place."""
    if label_kind == "bag":
        return _("%(verified)s of %(total)s bag labels verified",
                 verified=counts.verified, total=counts.total)
    return _("%(verified)s of %(total)s assignment labels verified",
             verified=counts.verified, total=counts.total)


def scan_label_back(scan: str, *, label_kind: str, doses: Collection[Dose], here: str, actor: User,
                    now: datetime) -> ScanBack:
    """Verify the scanned label if it names one of `doses` (the page's: `here` says whose);
    the caller commits, so that a recorded mismatch is kept."""
    bag = label_kind == "bag"
    try:
        label = services.read_label(scan)
    except UnrecognizedBarcode as error:
        detail = (_("%(why)s Scan the square Data Matrix on the printed bag label. Nothing was recorded.",
                    why=translated(error.detail)) if bag else
                  _("%(why)s Scan the square Data Matrix on the printed assignment label. Nothing was recorded.",
                    why=translated(error.detail)))
        return ScanBack(False, _("NOT A DOSE LABEL"), detail, 422, error.code)
    if label.label_kind != label_kind:
        if bag:
            title = _("NOT A BAG LABEL")
            detail = _("This is the assignment label of %(dose)s: assignment labels are scanned back on its "
                       "patient's page. Here, scan the bag label. Nothing was recorded.", dose=_named(label.dose))
        else:
            title = _("NOT AN ASSIGNMENT LABEL")
            detail = _("This is the bag label of %(dose)s: bag labels are scanned back on its lot's page. Here, "
                       "scan the assignment label. Nothing was recorded.", dose=_named(label.dose))
        return ScanBack(False, title, detail, 409, "LABEL_MISMATCH", label.dose)
    dose = label.dose
    if dose is None or dose not in doses:
        if dose is not None and bag:
            detail = _("This bag label names %(dose)s of lot %(lot)s, not a dose of %(here)s. Put it aside and "
                       "check which bag it belongs to. Nothing was recorded.", dose=_named(dose),
                       lot=dose.lot.lot_number, here=here)
        elif bag:
            detail = _("This bag label names %(dose)s, not a dose of %(here)s. Put it aside and check which bag "
                       "it belongs to. Nothing was recorded.", dose=_named(dose), here=here)
        else:
            detail = _("This assignment label names %(dose)s, not a dose of %(here)s. Put it aside and check "
                       "which bag it belongs to. Nothing was recorded.", dose=_named(dose), here=here)
        return ScanBack(False, _("NOT A LABEL OF %(here)s", here=here.upper()), detail,
                        409, "LABEL_MISMATCH", dose)
    verification = services.verify_label(dose, scan=scan, actor=actor, now=now)
    if isinstance(verification, services.AlreadyVerified):
        return already_verified(dose, label_kind)
    if verification.matched:
        return verified(dose, label_kind)
    if verification.code == "LABEL_NOT_PRINTED":
        title = (_("NOT VERIFIED: this bag label was not printed") if bag else
                 _("NOT VERIFIED: this assignment label was not printed"))
        detail = (_("No printed bag label of dose %(code)s carries this content: a preview on a screen or a "
                    "label printed elsewhere does not count. Print the label, attach it, then scan the printed "
                    "label. The attempt is recorded.", code=dose.code) if bag else
                  _("No printed assignment label of dose %(code)s carries this content: a preview on a screen "
                    "or a label printed elsewhere does not count. Print the label, attach it, then scan the "
                    "printed label. The attempt is recorded.", code=dose.code))
        return ScanBack(False, title, detail, 409, "LABEL_NOT_PRINTED", dose)
    title = (_("NOT VERIFIED: wrong bag label for dose %(code)s", code=dose.code) if bag else
             _("NOT VERIFIED: wrong assignment label for dose %(code)s", code=dose.code))
    detail = (_("The label names dose %(code)s but is not its current bag label: it was printed from other data "
                "(for example before the dose was allocated again). Destroy it, print the label again and scan "
                "the new one. The mismatch is recorded.", code=dose.code) if bag else
              _("The label names dose %(code)s but is not its current assignment label: it was printed from "
                "other data (for example before the dose was allocated again). Destroy it, print the label again "
                "and scan the new one. The mismatch is recorded.", code=dose.code))
    return ScanBack(False, title, detail, 409, verification.code or "LABEL_MISMATCH", dose)
