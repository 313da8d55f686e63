"""Pages for the GMP lab and QA: the lot board, lot and donor records, and one page per action."""
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from markupsafe import Markup
from sqlalchemy import select
from sqlalchemy.orm import selectinload
from werkzeug.wrappers import Response

from cell_chain.accounts.models import User
from cell_chain.accounts.permissions import require_actor, roles_required
from cell_chain.accounts.roles import Role
from cell_chain.accounts.signatures import Meaning, SignatureInput, signatures_for
from cell_chain.batches import services
from cell_chain.batches import workflow as wf
from cell_chain.batches.errors import ReleaseBlocked, ScreeningIncomplete
from cell_chain.batches.loaders import get_or_404
from cell_chain.batches.models import (
    LOT_STATUSES,
    MARKERS,
    PRESENTATIONS,
    SCREENING_RESULTS,
    Donor,
    Dose,
    Lot,
    ScreeningResult,
    TestResult,
)
from cell_chain.batches.routes import BATCH_READERS, LOT_READERS
from cell_chain.batches.visibility import show_all_to, show_to
from cell_chain.core.clock import utcnow
from cell_chain.core.db import MAX_ID, db
from cell_chain.core.errors import DomainError
from cell_chain.web.forms import Errors, FormReader, Refused, commit_or_refuse, signed_action
from cell_chain.web.words import Vocabulary, utc

bp = Blueprint("batches_pages", __name__)

T = TypeVar("T")
Page = str | tuple[str, int] | Response

# ---- words shown for stored codes ------------------------------------------------------------

TEST_LABELS = {
    "sterility": _l('Sterility'), "mycoplasma": _l('Mycoplasma'), "endotoxin_eu_ml": _l('Endotoxin (EU/ml)'),
    "viability_pct": _l('Viability (%)'), "cd73_pct": _l('CD73 (%)'), "cd90_pct": _l('CD90 (%)'),
    "cd105_pct": _l('CD105 (%)'), "cd34_pct": _l('CD34 (%)'), "cd45_pct": _l('CD45 (%)'), "cd14_pct": _l('CD14 (%)'),
    "cd19_pct": _l('CD19 (%)'), "hla_dr_pct": _l('HLA-DR (%)'), "karyotype": _l('Karyotype'),
}
MARKER_LABELS = {
    "hiv_1_2_ab": _l('HIV-1/2 antibody'), "hiv_nat": _l('HIV NAT'), "hbsag": _l('HBsAg'), "anti_hbc": _l('Anti-HBc'),
    "hbv_nat": _l('HBV NAT'), "hcv_ab": _l('HCV antibody'), "hcv_nat": _l('HCV NAT'),
    "htlv_1_2": _l('HTLV-I/II antibody'), "syphilis": _l('Syphilis'),
}
WORDS = {
    "no_growth": _l('No growth'), "growth": _l('Growth'), "not_detected": _l('Not detected'),
    "detected": _l('Detected'), "normal": _l('Normal'), "abnormal": _l('Abnormal'),
    "non_reactive": _l('Non-reactive'), "reactive": _l('Reactive'), "indeterminate": _l('Indeterminate'),
    "in_process": _l('In process'), "cryopreserved": _l('Cryopreserved'), "fresh": _l('Fresh'),
}
LOT_HEADINGS = {
    "in_process": _l('In process'), "quarantine": _l('Quarantine: waiting for release'),
    "released": _l('Released'), "rejected": _l('Rejected'), "recalled": _l('Recalled'),
}
# What the board says of each lot in a group: release readiness, results entered so far,
# doses available, or the reason the lot ended.
BOARD_SUMMARIES = {"quarantine": "readiness", "in_process": "results", "released": "available",
                   "rejected": "reason", "recalled": "reason"}
BOARD_EMPTY = {status: "are in quarantine" if status == "quarantine" else f"are {heading.lower()}"
               for status, heading in LOT_HEADINGS.items()}
# Colour always comes with the status word; these only pick the colour.
TONES = {
    "in_process": "info", "quarantine": "warn", "released": "ok", "rejected": "stop",
    "recalled": "stop", "registered": "warn", "eligible": "ok", "ineligible": "stop",
    "prepared": "info", "available": "ok", "quarantined": "stop", "destroyed": "stop",
    "allocated": "info", "packed": "info", "in_transit": "info", "received": "info",
    "dispensed": "info",
    "non_reactive": "ok", "reactive": "stop", "indeterminate": "warn",
}

# Which role performs which action; the services enforce the same split.


VOCABULARY = Vocabulary(WORDS, TONES)
words = VOCABULARY.words


def test_label(test: str) -> str:
    return TEST_LABELS.get(test, test)


def page_helpers() -> dict[str, Any]:
    """What lot and donor pages (and the label pages drawn inside them) use to show codes."""
    return {"test_label": test_label, "marker_label": lambda m: MARKER_LABELS.get(m, m),
            **VOCABULARY.helpers(), "Role": Role,
            "lot_awaits_release": lambda lot: wf.LOT_LIFECYCLE.can("release", lot.status)}


bp.context_processor(page_helpers)


def _doses(count: int) -> str:
    return _("%(count)s dose", count=count) if count == 1 else _("%(count)s doses", count=count)


def _signature(password: str, meaning: Meaning) -> SignatureInput:
    return SignatureInput(password=password, meaning=meaning.value)


# ---- lots: what the pages show --------------------------------------------------------------

@dataclass
class Readiness:
    """Release blockers grouped for reading: failed tests, missing tests, everything else."""

    failed: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    other: list[str] = field(default_factory=list)

    @classmethod
    def of(cls, blockers: Iterable[wf.Blocker]) -> "Readiness":
        readiness = cls()
        for blocker in blockers:
            if blocker.code == "TEST_FAILED" and blocker.test:
                readiness.failed.append(blocker.test)
            elif blocker.code == "TEST_MISSING" and blocker.test:
                readiness.missing.append(blocker.test)
            elif blocker.code != "LOT_NOT_IN_QUARANTINE":
                readiness.other.append(blocker.message)
        return readiness

    @property
    def ready(self) -> bool:
        return not (self.failed or self.missing or self.other)

    @property
    def count(self) -> int:
        return len(self.failed) + len(self.missing) + len(self.other)


@dataclass
class BoardRow:
    lot: Lot
    doses: Counter[str]
    readiness: Readiness | None
    results_entered: int


@dataclass
class ResultRow:
    test: str
    limit: str | None
    result: TestResult | None
    outcome: str  # "pass" | "borderline" | "fail" | "missing" | "unspecified"


def _lot_actions(lot: Lot, actor: User) -> set[str]:
    return wf.lot_actions(lot.status, actor.role)


def _result_rows(lot: Lot, limits: Mapping[str, Mapping[str, Any]],
                 blockers: Iterable[wf.Blocker]) -> list[ResultRow]:
    """Each test of the current specification with its result; pass/fail comes from the
    same blockers that decide release, so the page and the release never disagree."""
    failed = {b.test for b in blockers if b.code == "TEST_FAILED"}
    by_test = {r.test: r for r in lot.results}
    rows = []
    for test, limit in limits.items():
        result = by_test.pop(test, None)
        if result is None:
            outcome = "missing"
        elif test in failed:
            outcome = "fail"
        else:  # a pass; the workflow says whether it is close to its limit
            outcome = wf.result_outcome(test, limit, wf.parse_result_value(test, result.value))
        rows.append(ResultRow(test, wf.describe_limit(limit), result, outcome))
    rows.extend(ResultRow(test, None, result, "unspecified") for test, result in by_test.items())
    order = {test: index for index, test in enumerate(wf.TESTS)}
    return sorted(rows, key=lambda row: order.get(row.test, len(order)))


def evidence_first(rows: Iterable[ResultRow]) -> list[ResultRow]:
    """The results as QA reads them before signing: failing, missing, borderline, then the rest."""
    rank = {outcome: index for index, outcome in enumerate(wf.EVIDENCE_ORDER)}
    return sorted(rows, key=lambda row: rank[row.outcome])


def _lot_context(lot: Lot, now: datetime) -> dict[str, Any]:
    spec = services.current_spec(now=now)
    blockers = services.release_readiness(lot, now=now)
    return {
        "lot": lot, "spec": spec, "result_rows": (rows := _result_rows(lot, spec.limits, blockers)),
        "evidence_rows": evidence_first(rows), "readiness": Readiness.of(blockers), "now": now,
    }


def _expired(dose: Dose, now: datetime) -> bool:
    return wf.is_expired(dose.expires_at, now)


# ---- the lot board ----------------------------------------------------------------------------

@bp.get("/lots")
@roles_required(*LOT_READERS)
def board() -> str:
    now = utcnow()
    spec = services.current_spec(now=now)
    tests = set(spec.limits)
    # One query for the lots (donor joined); results and doses arrive by selectin loading.
    lots = db.session.scalars(select(Lot).options(selectinload(Lot.results), selectinload(Lot.doses))
                              .order_by(Lot.id.desc())).all()
    groups: dict[str, list[BoardRow]] = {status: [] for status in LOT_STATUSES}
    show_all_to(lots, require_actor())  # site staff count their own site's doses only
    for lot in lots:
        readiness = (Readiness.of(services.release_readiness(lot, now=now, spec=spec))
                     if wf.LOT_LIFECYCLE.can("release", lot.status) else None)
        entered = sum(1 for r in lot.results if r.test in tests)
        shown = Counter(d.status for d in lot.visible_doses)
        groups[lot.status].append(BoardRow(lot, shown, readiness, entered))
    return render_template("batches/board.html", groups=groups, headings=LOT_HEADINGS,
                           test_count=len(tests), summaries=BOARD_SUMMARIES, empty_words=BOARD_EMPTY)


# ---- the lot page and its actions ---------------------------------------------------------------

# Hook: a later package adds its section to the lot page by registering a panel (labels
# draws the label panel: printing and scanning back). A panel gets the lot, the reader, the
# page's form errors and what the request left for it (`state`), and returns its HTML.
LotPanel = Callable[[Lot, User, Errors, Mapping[str, Any]], Markup]
_LOT_PANELS: list[LotPanel] = []


def register_lot_panel(panel: LotPanel) -> None:
    if panel not in _LOT_PANELS:
        _LOT_PANELS.append(panel)


def render_lot(lot: Lot, *, errors: Errors | None = None, status: int = 200,
               state: Mapping[str, Any] | None = None) -> tuple[str, int]:
    """The lot page, with every registered panel drawn into it."""
    now = utcnow()
    actor = require_actor()
    context = _lot_context(lot, now)
    recall: dict[str, Any] | None = None
    if lot.status == "recalled":
        recall = {"quarantined": [d for d in lot.visible_doses if d.status == "quarantined"],
                  "administered": [row for row in services.administered_doses_of(lot)
                                   if row["code"] in {d.code for d in lot.visible_doses}]}
    actions = _lot_actions(lot, actor)
    result_link = ((lambda test: url_for(".enter_result", lot_id=lot.id, test=test))
                   if "enter_result" in actions else None)
    panels = [panel(lot, actor, errors or {}, state or {}) for panel in _LOT_PANELS]
    return render_template(
        "batches/lot.html", **context, actions=actions, result_link=result_link, errors=errors or {},
        signatures=signatures_for(lot), recall=recall, expired=lambda d: _expired(d, now), panels=panels,
    ), status


@bp.get("/lots/<int:lot_id>")
@roles_required(*LOT_READERS)
def lot_page(lot_id: int) -> tuple[str, int]:
    return render_lot(show_to(get_or_404(Lot, lot_id), require_actor()))


def _refuse_unless(lot: Lot, action: str, what: str) -> Response | None:
    """Action pages reached in the wrong state go back to the lot with the reason."""
    if action in _lot_actions(lot, require_actor()):
        return None
    flash(_('Lot %(lot_number)s is %(status)s: you cannot %(what)s now.', lot_number=lot.lot_number, status=words(lot.status).lower(), what=what), "warn")
    return redirect(url_for(".lot_page", lot_id=lot.id))


@bp.post("/lots/<int:lot_id>/complete")
@roles_required(Role.LAB)
def complete_lot(lot_id: int) -> Page:
    lot = get_or_404(Lot, lot_id)
    outcome = commit_or_refuse(lambda: services.complete_lot(lot, actor=require_actor(), now=utcnow()),
                      fields=(), anchor="actions")
    if isinstance(outcome, Refused):
        return render_lot(lot, errors=outcome.errors, status=outcome.status)
    flash(_('Manufacturing of lot %(lot_number)s is complete. The lot is in quarantine until QA releases it.', lot_number=lot.lot_number), "ok")
    return redirect(url_for(".lot_page", lot_id=lot.id))


@bp.route("/lots/<int:lot_id>/results", methods=["GET", "POST"])
@roles_required(Role.LAB)
def enter_result(lot_id: int) -> Page:
    lot = get_or_404(Lot, lot_id)
    if refused := _refuse_unless(lot, "enter_result", "enter results"):
        return refused
    test = request.values.get("test", "")
    if test not in wf.TESTS:
        chose = "test" in request.values
        errors = {"test": [_("Choose the test whose result you are entering.")]} if chose else {}
        return _render_result_form(lot, None, errors=errors, status=422 if errors else 200)
    if request.method == "GET":
        return _render_result_form(lot, test)
    form = FormReader(request.form)
    label = test_label(test)
    if test in wf.QUALITATIVE_VALUES:
        allowed = wf.QUALITATIVE_VALUES[test]
        value: str | None = form.choice("value", allowed,
                                        _('Choose the %(label)s result: %(allowed)s.', label=label.lower(), allowed=' or '.join(words(v).lower() for v in allowed)))
    else:
        number = form.number("value", f"the {label} result", example="98.5")
        value = None if number is None else form.raw("value")
    performed_on = form.date("performed_on", _("the date the test was performed"))
    method = form.text("method")
    analyst = form.text("analyst")
    reason = form.text("reason", max_length=2000)
    if form.errors:
        return _render_result_form(lot, test, errors=form.errors, status=422)
    assert value is not None and performed_on is not None
    outcome = commit_or_refuse(lambda: services.record_result(
        lot, test=test, value=value, performed_on=performed_on, method=method, analyst=analyst,
        reason=reason, actor=require_actor(), now=utcnow()),
        fields=("value", "performed_on", "method", "analyst", "reason"), anchor="value")
    if isinstance(outcome, Refused):
        return _render_result_form(lot, test, errors=outcome.errors, status=outcome.status)
    verdict = "passes" if outcome.passed else "FAILS"
    flash(_('%(label)s result %(value)s saved for lot %(lot_number)s: it %(verdict)s the specification.', label=label, value=words(outcome.value), lot_number=lot.lot_number, verdict=verdict), "ok" if outcome.passed else "stop")
    return redirect(url_for(".lot_page", lot_id=lot.id, _anchor="results"))


def _render_result_form(lot: Lot, test: str | None, *, errors: Errors | None = None,
                        status: int = 200) -> tuple[str, int]:
    now = utcnow()
    limits = services.current_spec(now=now).limits
    existing = next((r for r in lot.results if r.test == test), None)
    return render_template(
        "batches/result_form.html", lot=lot, test=test, tests=wf.TESTS, existing=existing,
        limit=wf.describe_limit(limits[test]) if test in limits else None,
        choices=wf.QUALITATIVE_VALUES.get(test or ""), errors=errors or {},
        form=request.form if request.method == "POST" else {}, today=now.date(),
    ), status


@bp.route("/lots/<int:lot_id>/doses", methods=["GET", "POST"])
@roles_required(Role.LAB)
def prepare_dose(lot_id: int) -> Page:
    lot = get_or_404(Lot, lot_id)
    if refused := _refuse_unless(lot, "prepare_dose", "prepare doses"):
        return refused
    if request.method == "GET":
        return _render_dose_form(lot)
    form = FormReader(request.form)
    cells = form.number("cells", _("the number of cells in ×10⁷"), example="4.02")
    volume = form.number("volume_ml", _("the volume in ml"), example="40.0", maximum=1000)
    viability = form.number("viability_pct", _("the viability in %"), example="92.5", maximum=100)
    if form.errors:
        return _render_dose_form(lot, errors=form.errors, status=422)
    assert cells is not None and volume is not None and viability is not None
    outcome = commit_or_refuse(lambda: services.prepare_dose(
        lot, cells=round(cells * 1e7), volume_ml=volume, viability_pct=viability,
        actor=require_actor(), now=utcnow()),
        fields=("cells", "volume_ml", "viability_pct"), anchor="cells")
    if isinstance(outcome, Refused):
        return _render_dose_form(lot, errors=outcome.errors, status=outcome.status)
    if outcome.status == "rejected":
        flash(_('Dose %(code)s is out of tolerance and was rejected at fill (%(rejection_reasons)s). It is kept for accountability.', code=outcome.code, rejection_reasons=outcome.rejection_reasons), "stop")
    else:
        flash(_('Dose %(code)s prepared. It expires %(expires_at)s.', code=outcome.code, expires_at=utc(outcome.expires_at)), "ok")
    return redirect(url_for(".lot_page", lot_id=lot.id, _anchor="doses"))


def _render_dose_form(lot: Lot, *, errors: Errors | None = None, status: int = 200) -> tuple[str, int]:
    cfg = current_app.config
    return render_template(
        "batches/dose_form.html", lot=lot, errors=errors or {},
        form=request.form if request.method == "POST" else {},
        target={"cells": cfg["DOSE_CELLS"] / 1e7, "cells_pct": cfg["DOSE_CELLS_TOLERANCE_PCT"],
                "volume": cfg["DOSE_VOLUME_ML"], "volume_delta": cfg["DOSE_VOLUME_TOLERANCE_ML"],
                "viability": cfg["DOSE_MIN_VIABILITY_PCT"]},
    ), status


DECISIONS = {
    "release": {"meaning": Meaning.RELEASED, "title": "Release lot", "button": "Release lot",
                "what": "release this lot"},
    "reject": {"meaning": Meaning.REJECTED, "title": "Reject lot", "button": "Reject lot",
               "what": "reject this lot"},
    "recall": {"meaning": Meaning.RECALLED, "title": "Recall lot", "button": "Recall lot",
               "what": "recall this lot"},
}


def _render_decision(lot: Lot, action: str, *, errors: Errors | None = None,
                     status: int = 200) -> tuple[str, int]:
    now = utcnow()
    return render_template(
        "batches/decision.html", **_lot_context(lot, now), action=action,
        decision=DECISIONS[action], errors=errors or {},
        form=request.form if request.method == "POST" else {},
    ), status


@bp.route("/lots/<int:lot_id>/release", methods=["GET", "POST"])
@roles_required(Role.QA)
def release_lot(lot_id: int) -> Page:
    lot = get_or_404(Lot, lot_id)
    if refused := _refuse_unless(lot, "release", "release it"):
        return refused
    if request.method == "GET":
        return _render_decision(lot, "release")
    form = FormReader(request.form)
    password = form.password()

    def explain(error: DomainError) -> Errors | None:
        if isinstance(error, ReleaseBlocked):
            blockers = services.release_readiness(lot, now=utcnow())
            return {"readiness": [b.message for b in blockers] or [error.detail]}
        return None

    outcome = signed_action(form, lambda: services.release_lot(
        lot, signature=_signature(password, Meaning.RELEASED), actor=require_actor(), now=utcnow()),
        fields=("password",), anchor="password", explain=explain)
    if isinstance(outcome, Refused):
        return _render_decision(lot, "release", errors=outcome.errors, status=outcome.status)
    statuses = Counter(d.status for d in lot.doses)
    message = _("Lot %(number)s released.", number=lot.lot_number)
    if statuses["available"]:
        message += " " + _("%(doses)s available for allocation.", doses=_doses(statuses["available"]))
    if statuses["prepared"]:
        message += " " + (_("%(doses)s will become available once its bag label is printed and verified.",
                            doses=_doses(statuses["prepared"])) if statuses["prepared"] == 1 else
                          _("%(doses)s will become available once their bag labels are printed and verified.",
                            doses=_doses(statuses["prepared"])))
    flash(message, "ok")
    return redirect(url_for(".lot_page", lot_id=lot.id))


@bp.route("/lots/<int:lot_id>/reject", methods=["GET", "POST"])
@roles_required(Role.QA)
def reject_lot(lot_id: int) -> Page:
    lot = get_or_404(Lot, lot_id)
    if refused := _refuse_unless(lot, "reject", "reject it"):
        return refused
    if request.method == "GET":
        return _render_decision(lot, "reject")
    form = FormReader(request.form)
    reason = form.text("reason", required=_('Give the reason for rejecting the lot.'), max_length=2000)
    password = form.password()
    outcome = signed_action(form, lambda: services.reject_lot(
        lot, reason=reason, signature=_signature(password, Meaning.REJECTED),
        actor=require_actor(), now=utcnow()), fields=("reason", "password"), anchor="reason")
    if isinstance(outcome, Refused):
        return _render_decision(lot, "reject", errors=outcome.errors, status=outcome.status)
    flash(_('Lot %(lot_number)s rejected. Its doses are quarantined until destroyed.', lot_number=lot.lot_number), "ok")
    return redirect(url_for(".lot_page", lot_id=lot.id))


@bp.route("/lots/<int:lot_id>/recall", methods=["GET", "POST"])
@roles_required(Role.QA)
def recall_lot(lot_id: int) -> Page:
    lot = get_or_404(Lot, lot_id)
    if refused := _refuse_unless(lot, "recall", "recall it"):
        return refused
    if request.method == "GET":
        return _render_decision(lot, "recall")
    form = FormReader(request.form)
    reason = form.text("reason", required=_('Give the reason for the recall.'), max_length=2000)
    password = form.password()
    outcome = signed_action(form, lambda: services.recall_lot(
        lot, reason=reason, signature=_signature(password, Meaning.RECALLED),
        actor=require_actor(), now=utcnow()), fields=("reason", "password"), anchor="reason")
    if isinstance(outcome, Refused):
        return _render_decision(lot, "recall", errors=outcome.errors, status=outcome.status)
    quarantined, given = outcome.quarantined_doses, outcome.administered_doses
    message = (_("Lot %(number)s recalled. %(count)s dose(s) quarantined: %(doses)s.", number=lot.lot_number,
                 count=len(quarantined), doses=", ".join(quarantined)) if quarantined else
               _("Lot %(number)s recalled. %(count)s dose(s) quarantined.", number=lot.lot_number, count=0))
    if given:
        message += " " + _("%(count)s dose(s) were already administered: %(doses)s. Start the lookback.",
                           count=len(given), doses=", ".join(d["code"] for d in given))
    else:
        message += " " + _("No dose of this lot has been administered.")
    flash(message, "warn" if given else "ok")
    return redirect(url_for(".lot_page", lot_id=lot.id, _anchor="recall"))


# ---- starting a lot ---------------------------------------------------------------------------

def _donors_for_lots() -> list[Donor]:
    # Ineligible donors are left out of the list; create_lot refuses them in any case.
    return list(db.session.scalars(
        select(Donor).where(Donor.status.in_(("registered", "eligible"))).order_by(Donor.id.desc())))


def _render_new_lot(*, errors: Errors | None = None, status: int = 200) -> tuple[str, int]:
    cfg = current_app.config
    form: Mapping[str, str] = request.form if request.method == "POST" else request.args
    return render_template(
        "batches/lot_new.html", donors=_donors_for_lots(), presentations=PRESENTATIONS,
        errors=errors or {}, form=form,
        shelf={"fresh": _("2–8 °C, %(hours)s hours from preparation", hours=cfg["FRESH_SHELF_LIFE_HOURS"]),
               "cryopreserved": _("≤ −150 °C, %(months)s months; infuse within %(hours)s hours of thawing",
                                  months=cfg["CRYO_SHELF_LIFE_MONTHS"], hours=cfg["POST_THAW_HOURS"])},
    ), status


@bp.route("/lots/new", methods=["GET", "POST"])
@roles_required(Role.LAB)
def new_lot() -> Page:
    if request.method == "GET":
        return _render_new_lot()
    form = FormReader(request.form)
    donor_id = form.raw("donor_id")
    donor = db.session.get(Donor, int(donor_id)) if donor_id.isdigit() and int(donor_id) <= MAX_ID else None
    if donor is None:
        form.add("donor_id", _('Choose the donor whose cord this lot is made from.'))
    lot_number = form.text("lot_number", required=_('Enter the lot number.'), max_length=32)
    manufactured_on = form.date("manufactured_on", _("the date manufacturing started"))
    passage = form.whole_number("passage", _("the passage number"), maximum=50)
    presentation = form.choice("presentation", PRESENTATIONS,
                               _('Choose fresh or cryopreserved.'))
    if form.errors:
        return _render_new_lot(errors=form.errors, status=422)
    assert donor and lot_number and manufactured_on and passage is not None and presentation
    outcome = commit_or_refuse(lambda: services.create_lot(
        donor=donor, lot_number=lot_number, manufactured_on=manufactured_on, passage=passage,
        presentation=presentation, actor=require_actor(), now=utcnow()),
        fields=("donor_id", "lot_number", "manufactured_on", "passage", "presentation"),
        anchor="donor_id")
    if isinstance(outcome, Refused):
        return _render_new_lot(errors=outcome.errors, status=outcome.status)
    flash(_('Lot %(lot_number)s started with DIN %(eye_readable)s [%(check)s].', lot_number=outcome.lot_number, eye_readable=outcome.din_structure.eye_readable, check=outcome.din_structure.check), "ok")
    return redirect(url_for(".lot_page", lot_id=outcome.id))


# ---- donors -----------------------------------------------------------------------------------

@dataclass
class ScreeningRow:
    marker: str
    entry: ScreeningResult | None
    counts: bool
    days_from_collection: int | None


def _screening_rows(donor: Donor) -> list[ScreeningRow]:
    by_marker = {r.marker: r for r in donor.results}
    rows = []
    for marker in MARKERS:
        entry = by_marker.get(marker)
        if entry is None:
            rows.append(ScreeningRow(marker, None, False, None))
            continue
        fact = wf.ScreeningFact(entry.marker, entry.result, entry.tested_on)
        rows.append(ScreeningRow(marker, entry, wf.screening_counts(fact, donor.collected_on),
                                 (entry.tested_on - donor.collected_on).days))
    return rows


def _eligibility_preview(donor: Donor) -> tuple[str | None, list[str]]:
    facts = [wf.ScreeningFact(r.marker, r.result, r.tested_on) for r in donor.results]
    return wf.eligibility_outcome(facts, donor.collected_on, MARKERS)


def _donor_actions(donor: Donor, actor: User) -> set[str]:
    return wf.donor_actions(donor.status, actor.role)


@bp.get("/donors")
@roles_required(*BATCH_READERS)
def donors() -> str:
    rows = db.session.scalars(select(Donor).options(selectinload(Donor.results))
                              .order_by(Donor.id.desc())).all()
    counting = {d.id: sum(1 for r in _screening_rows(d) if r.counts) for d in rows}
    return render_template("batches/donors.html", donors=rows, counting=counting,
                           marker_total=len(MARKERS))


def _render_new_donor(*, errors: Errors | None = None, status: int = 200) -> tuple[str, int]:
    return render_template("batches/donor_new.html", errors=errors or {},
                           form=request.form if request.method == "POST" else {}), status


@bp.route("/donors/new", methods=["GET", "POST"])
@roles_required(Role.LAB)
def new_donor() -> Page:
    if request.method == "GET":
        return _render_new_donor()
    form = FormReader(request.form)
    code = form.text("donor_code", required=_('Enter the donor code.'), max_length=32)
    collected_on = form.date("collected_on", _("the date the cord was collected"))
    if form.errors:
        return _render_new_donor(errors=form.errors, status=422)
    assert code and collected_on
    outcome = commit_or_refuse(lambda: services.register_donor(
        donor_code=code, collected_on=collected_on, actor=require_actor(), now=utcnow()),
        fields=("donor_code", "collected_on"), anchor="donor_code")
    if isinstance(outcome, Refused):
        return _render_new_donor(errors=outcome.errors, status=outcome.status)
    flash(_('Donor %(donor_code)s registered with DIN %(eye_readable)s [%(check)s]. Enter the 9 screening markers next.', donor_code=outcome.donor_code, eye_readable=outcome.din_structure.eye_readable, check=outcome.din_structure.check), "ok")
    return redirect(url_for(".donor_page", donor_id=outcome.id))


def _render_donor(donor: Donor, template: str = "batches/donor.html", *,
                  errors: Errors | None = None, status: int = 200, **extra: Any) -> tuple[str, int]:
    outcome, missing = _eligibility_preview(donor)
    lots = db.session.scalars(select(Lot).options(selectinload(Lot.doses))
                              .where(Lot.donor_id == donor.id).order_by(Lot.id)).all()
    def marker_link(marker: str) -> str:
        return url_for(".enter_screening", donor_id=donor.id, marker=marker)

    return render_template(
        template, donor=donor, rows=_screening_rows(donor), lots=lots, marker_link=marker_link,
        actions=_donor_actions(donor, require_actor()), signatures=signatures_for(donor),
        preview=outcome, missing=missing, errors=errors or {},
        form=request.form if request.method == "POST" else {}, **extra,
    ), status


@bp.get("/donors/<int:donor_id>")
@roles_required(*BATCH_READERS)
def donor_page(donor_id: int) -> tuple[str, int]:
    return _render_donor(get_or_404(Donor, donor_id))


def _refuse_donor_unless(donor: Donor, action: str, what: str) -> Response | None:
    if action in _donor_actions(donor, require_actor()):
        return None
    flash(_('Donor %(donor_code)s is %(status)s: you cannot %(what)s now.', donor_code=donor.donor_code, status=donor.status, what=what), "warn")
    return redirect(url_for(".donor_page", donor_id=donor.id))


@bp.route("/donors/<int:donor_id>/screening", methods=["GET", "POST"])
@roles_required(Role.LAB)
def enter_screening(donor_id: int) -> Page:
    donor = get_or_404(Donor, donor_id)
    if refused := _refuse_donor_unless(donor, "enter_screening", "enter screening results"):
        return refused
    marker = request.values.get("marker", "")

    def render(errors: Errors | None = None, status: int = 200) -> tuple[str, int]:
        chosen = marker if marker in MARKERS else None
        existing = next((r for r in donor.results if r.marker == chosen), None)
        return _render_donor(donor, "batches/screening_form.html", errors=errors, status=status,
                             marker=chosen, markers=MARKERS, existing=existing,
                             results=SCREENING_RESULTS)

    if request.method == "GET":
        return render()
    form = FormReader(request.form)
    form.choice("marker", MARKERS, _('Choose the marker whose result you are entering.'))
    result = form.choice("result", SCREENING_RESULTS,
                         _('Choose the result: non-reactive, reactive or indeterminate.'))
    tested_on = form.date("tested_on", _("the date the specimen was tested"))
    reason = form.text("reason", max_length=2000)
    if form.errors:
        return render(form.errors, 422)
    assert result and tested_on
    outcome = commit_or_refuse(lambda: services.record_screening(
        donor, marker=marker, result=result, tested_on=tested_on, reason=reason,
        actor=require_actor(), now=utcnow()),
        fields=("marker", "result", "tested_on", "reason"), anchor="marker")
    if isinstance(outcome, Refused):
        return render(outcome.errors, outcome.status)
    flash(_('%(marker)s: %(result)s, tested %(tested_on)s, saved for donor %(donor_code)s.', marker=MARKER_LABELS[marker], result=words(result).lower(), tested_on=tested_on.isoformat(), donor_code=donor.donor_code), "ok")
    return redirect(url_for(".donor_page", donor_id=donor.id, _anchor="screening"))


@bp.route("/donors/<int:donor_id>/eligibility", methods=["GET", "POST"])
@roles_required(Role.QA)
def determine_eligibility(donor_id: int) -> Page:
    donor = get_or_404(Donor, donor_id)
    if refused := _refuse_donor_unless(donor, "determine", "determine eligibility"):
        return refused
    template = "batches/eligibility.html"
    if request.method == "GET":
        return _render_donor(donor, template)
    form = FormReader(request.form)
    password = form.password()
    if form.errors:
        return _render_donor(donor, template, errors=form.errors, status=422)

    def explain(error: DomainError) -> Errors | None:
        if not isinstance(error, ScreeningIncomplete):
            return None
        entered = {r.marker: r for r in donor.results}
        errors: Errors = {}
        for marker in error.extra.get("missing", []):
            label = MARKER_LABELS.get(marker, marker)
            if marker in entered:
                days = abs((entered[marker].tested_on - donor.collected_on).days)
                errors[f"marker-{marker}"] = [
                    _("%(marker)s: tested %(days)s days from collection, outside the 7-day window. The lab "
                      "must enter a result from a specimen tested within 7 days.", marker=label, days=days)]
            else:
                errors[f"marker-{marker}"] = [
                    _("%(marker)s: no result entered. The lab must enter it before eligibility can be "
                      "determined.", marker=label)]
        return errors

    outcome = commit_or_refuse(lambda: services.determine_eligibility(
        donor, signature=_signature(password, Meaning.DETERMINED), actor=require_actor(),
        now=utcnow()), fields=("password",), anchor="password", explain=explain)
    if isinstance(outcome, Refused):
        return _render_donor(donor, template, errors=outcome.errors, status=outcome.status)
    flash(_('Donor %(donor_code)s determined %(status)s. Your signature is recorded.', donor_code=donor.donor_code, status=donor.status.upper()),
          "ok" if donor.status == "eligible" else "stop")
    return redirect(url_for(".donor_page", donor_id=donor.id))
