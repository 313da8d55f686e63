"""Pages for study coordinators: the patient list, a patient's schedule, enrolment, dose
allocation, assignment labels, wristbands and withdrawal."""
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any, Literal

from flask import Blueprint, Response, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from markupsafe import Markup
from sqlalchemy import func, select
from sqlalchemy.orm import joinedload, lazyload, selectinload

from cell_chain.accounts.models import User
from cell_chain.accounts.permissions import require_actor, roles_required, scope_to_site
from cell_chain.accounts.roles import Role
from cell_chain.accounts.signatures import Meaning, SignatureInput
from cell_chain.batches.models import Dose
from cell_chain.core.clock import utcnow
from cell_chain.core.db import db
from cell_chain.core.messages import translated
from cell_chain.core.errors import DomainError, ReasonRequired
from cell_chain.labels import scan_back
from cell_chain.labels import services as labels
from cell_chain.labels.models import PrintedLabel
from cell_chain.patients import allocation as allocations
from cell_chain.patients import enrolment as patient_services
from cell_chain.patients import schedule, timeline
from cell_chain.patients.errors import DoseNotSuitable, NoSuitableDose
from cell_chain.patients.labels import ASSIGNMENT_SOURCE, WRISTBAND_SOURCE, wristband_payload
from cell_chain.patients.loaders import patient_or_404, visit_or_404
from cell_chain.patients.models import ARMS, Allocation, Patient, Visit
from cell_chain.patients.next_action import (
    ALLOCATE,
    PRINT_ASSIGNMENT,
    PRINT_WRISTBAND,
    VERIFY_ASSIGNMENT,
    NextAction,
    VisitFacts,
    next_action,
    next_visit,
)
from cell_chain.patients.routes import PATIENT_READERS
from cell_chain.patients.workflow import PATIENT_LIFECYCLE, VISIT_LIFECYCLE, WAITING_STATES, visit_actions
from cell_chain.web.forms import Errors, FormReader, Refused, commit_or_refuse, signed_action
from cell_chain.web.locale import reader_today
from cell_chain.web.words import Vocabulary

bp = Blueprint("patient_pages", __name__)

Page = str | tuple[str, int] | Response

# Who may press which button; the services enforce the same split.
ALLOCATORS = frozenset(allocations.ALLOCATORS)
WITHDRAWERS = patient_services.WITHDRAWERS
ASSIGNMENT_PRINTERS = frozenset(ASSIGNMENT_SOURCE.roles)
WRISTBAND_PRINTERS = frozenset(WRISTBAND_SOURCE.roles)
# Who scans a printed assignment label back: its printers (verify_label allows the same roles).
ASSIGNMENT_SCANNERS = ASSIGNMENT_PRINTERS

ARM_WORDS = {"msc": _l('MSC + conventional therapy'), "control": _l('Control: conventional therapy only')}
ARM_SHORT = {"msc": "MSC", "control": "Control"}
WORDS = {"active": _l('Active'), "withdrawn": _l('Withdrawn'), **timeline.STATE_WORDS}
# Colour always comes with the words; these only pick the colour.
TONES = {"active": "ok", "withdrawn": "", "done": "ok", "done_out_of_window": "warn", "due": "info",
         "overdue": "warn", "missed": "stop", "upcoming": "", "skipped": ""}



VOCABULARY = Vocabulary(WORDS, TONES)
words = VOCABULARY.words


@bp.context_processor
def _page_helpers() -> dict[str, Any]:
    return {**VOCABULARY.helpers(), "Role": Role,
            "arm_words": ARM_WORDS, "arm_short": ARM_SHORT, "coi": allocations.coi_from_code}


# ---- what the pages show ------------------------------------------------------------------------

@dataclass
class VisitRow:
    visit: Visit
    state: str
    allocation: Allocation | None
    actions: set[str]
    printed: int = 0  # how many times its assignment label was printed

    @property
    def waiting(self) -> bool:
        """The visit still waits for its dose (due, overdue or upcoming)."""
        return self.state in WAITING_STATES


@dataclass
class PatientRow:
    patient: Patient
    visits: list[VisitRow]
    picture: Markup | None
    next_step: str


def _active_allocations(visit_ids: Sequence[int]) -> dict[int, Allocation]:
    """Every active allocation of these visits in one query, with its dose; the dose's lot is
    left for a page that needs it."""
    stmt = (select(Allocation).where(Allocation.visit_id.in_(visit_ids), Allocation.active)
            .options(lazyload(Allocation.visit), joinedload(Allocation.dose).lazyload(Dose.lot)))
    return {a.visit_id: a for a in db.session.scalars(stmt)}


def _next_visit_number(patient: Patient, today: date) -> int | None:
    facts = [VisitFacts(v.number, patient_services.visit_state(v, today)) for v in patient.visits]
    following = next_visit(facts)
    return following.number if following else None


def _visit_actions(patient: Patient, visit: Visit, state: str, allocation: Allocation | None,
                   actor: User, next_number: int | None) -> set[str]:
    actions = visit_actions(arm=patient.arm, patient_status=patient.status, recorded=visit.recorded, state=state,
                            dose_status=allocation.dose.status if allocation else None,
                            reversible_dose_states=allocations.REVERSIBLE_DOSE_STATES, role=actor.role,
                            is_next_visit=visit.number == next_number)
    if allocation is not None and actor.role in ASSIGNMENT_PRINTERS:
        actions.add("print_assignment")
    return actions


def _next_step(patient: Patient, rows: list[VisitRow]) -> str:
    if patient.arm != "msc":
        return "Control arm — no study doses"
    if patient.status == "withdrawn":
        when = f" {patient.withdrawn_at:%Y-%m-%d}" if patient.withdrawn_at else ""
        return f"Withdrawn{when}: no further doses"
    row = next((r for r in rows if r.state in ("due", "overdue")), None) or \
        next((r for r in rows if r.state == "upcoming"), None)
    if row is None:
        return "No open visits"
    v = row.visit
    if row.state == "upcoming":
        text = _("Next: visit %(number)s, window opens %(day)s", number=v.number, day=v.window_start.isoformat())
    elif row.state == "due":
        text = _("Visit %(number)s due now, window closes %(day)s", number=v.number, day=v.window_end.isoformat())
    else:
        text = _("Visit %(number)s overdue since %(day)s", number=v.number,
                 day=(v.window_end + timedelta(days=1)).isoformat())
    allocated = (_("dose %(code)s allocated", code=row.allocation.dose.code) if row.allocation
                 else _("no dose allocated"))
    return f"{text} · {allocated}"


def _rows(patients: Iterable[Patient], actor: User, today: date, *,
          size: Literal["small", "large"] = "small") -> list[PatientRow]:
    patients = list(patients)
    active = _active_allocations([v.id for p in patients for v in p.visits])
    rows = []
    for patient in patients:
        visits = []
        next_number = _next_visit_number(patient, today)
        for visit in patient.visits:
            state = patient_services.visit_state(visit, today)
            allocation = active.get(visit.id)
            visits.append(VisitRow(visit, state, allocation,
                                   _visit_actions(patient, visit, state, allocation, actor, next_number)))
        marks = [timeline.Mark(r.visit.number, r.visit.target_date, r.visit.window_start,
                               r.visit.window_end, r.state) for r in visits]
        picture = timeline.timeline_svg(marks, today=today, size=size)
        rows.append(PatientRow(patient, visits, picture, _next_step(patient, visits)))
    return rows


def _listed_patients(actor: User) -> list[Patient]:
    # Site joined, visits in one selectin query (a visit's patient is already in the session,
    # so it is not joined again); allocations follow in one more query.
    stmt = (scope_to_site(select(Patient), Patient, actor).order_by(Patient.subject_id)
            .options(selectinload(Patient.visits).lazyload(Visit.patient)))
    return list(db.session.scalars(stmt))


# ---- the patient list and the allocation queue ------------------------------------------------

@bp.get("/patients")
@roles_required(*PATIENT_READERS)
def patient_list() -> str:
    actor = require_actor()
    today = reader_today()
    rows = _rows(_listed_patients(actor), actor, today)
    return render_template("patients/list.html", rows=rows, today=today)


@bp.get("/visits/waiting-for-a-dose")
@roles_required(*PATIENT_READERS)
def waiting_for_dose() -> str:
    """Each active MSC patient's next open visit that has no dose yet, soonest window first."""
    actor = require_actor()
    today = reader_today()
    waiting = []
    for row in _rows(_listed_patients(actor), actor, today):
        if row.patient.arm != "msc" or row.patient.status != "active":
            continue
        upcoming = next((v for v in row.visits if v.waiting), None)
        if upcoming is not None and upcoming.allocation is None:
            waiting.append((row, upcoming))
    waiting.sort(key=lambda pair: (pair[1].visit.window_start, pair[0].patient.subject_id))
    return render_template("patients/waiting.html", waiting=waiting, today=today)


# ---- one patient --------------------------------------------------------------------------------

def _print_counts(label_kind: str, keys: Sequence[str]) -> dict[str, int]:
    """How many times each label was printed (the reprint rule itself stays in the service)."""
    if not keys:
        return {}
    rows = db.session.execute(
        select(PrintedLabel.subject_key, func.count()).where(
            PrintedLabel.label_kind == label_kind, PrintedLabel.subject_key.in_(keys))
        .group_by(PrintedLabel.subject_key)).all()
    return {key: count for key, count in rows}


def _next_words(action: NextAction) -> str | None:
    """The next step in words, for the panel at the top of the patient page."""
    number = action.visit_number
    return {
        PRINT_WRISTBAND: _("Next: print the wristband. Nothing reaches the bedside without it."),
        ALLOCATE: _("Next: allocate a dose to visit %(number)s.", number=number),
        PRINT_ASSIGNMENT: _("Next: print the assignment label for visit %(number)s.", number=number),
        VERIFY_ASSIGNMENT: _("Next: scan the assignment label of visit %(number)s back.", number=number),
    }.get(action.kind)


def _can_take(action: NextAction, row: PatientRow, actor: User, can_scan: bool) -> bool:
    """Whether the reader can take the next step here (it is then the page's one primary button)."""
    visit = next((v for v in row.visits if v.visit.number == action.visit_number), None)
    if action.kind == PRINT_WRISTBAND:
        return actor.role in WRISTBAND_PRINTERS
    if action.kind == VERIFY_ASSIGNMENT:
        return can_scan
    return visit is not None and action.kind in visit.actions


def _render_patient(patient: Patient, *, errors: Errors | None = None, status: int = 200,
                    open_form: str | None = None,
                    scan_result: scan_back.ScanBack | None = None) -> tuple[str, int]:
    actor = require_actor()
    today = reader_today()
    row = _rows([patient], actor, today, size="large")[0]
    printed = _print_counts("assignment", [v.allocation.dose.code for v in row.visits if v.allocation])
    for visit_row in row.visits:
        if visit_row.allocation:
            visit_row.printed = printed.get(visit_row.allocation.dose.code, 0)
    wristband_prints = _print_counts("wristband", [patient.subject_id]).get(patient.subject_id, 0)
    can_withdraw = (PATIENT_LIFECYCLE.allowed("withdraw", patient.status, actor.role)
                    and actor.site_id == patient.site_id)
    allocated = [v.allocation for v in row.visits if v.allocation]
    label_counts = None
    if actor.role in ASSIGNMENT_SCANNERS and allocated:
        label_counts = scan_back.count_labels([a.dose for a in allocated],
                                              [a.dose for a in allocated if a.assignment_label_verified_at])
        if scan_result is None and (code := request.args.get("label_verified")):
            done = next((a for a in allocated if a.dose.code == code and a.assignment_label_verified_at), None)
            scan_result = scan_back.verified(done.dose, "assignment") if done else None
    action = next_action(arm=patient.arm, patient_status=patient.status, wristband_printed=wristband_prints > 0,
                         visits=[VisitFacts(v.visit.number, v.state, allocated=v.allocation is not None,
                                            label_printed=v.printed > 0,
                                            label_verified=bool(v.allocation and v.allocation.assignment_label_verified_at))
                                 for v in row.visits])
    return render_template(
        "patients/patient.html", row=row, patient=patient, today=today, errors=errors or {},
        next_action=action, next_words=_next_words(action),
        can_take_next=_can_take(action, row, actor, label_counts is not None),
        form=request.form if request.method == "POST" else {}, open_form=open_form,
        wristband=wristband_payload(patient), wristband_prints=wristband_prints,
        can_print_wristband=actor.role in WRISTBAND_PRINTERS, can_withdraw=can_withdraw,
        label_counts=label_counts, scan_result=scan_result,
        assignment_printed=any(v.printed for v in row.visits),
    ), status


@bp.get("/patients/<subject_id>")
@roles_required(*PATIENT_READERS)
def patient_page(subject_id: str) -> tuple[str, int]:
    return _render_patient(patient_or_404(subject_id))


@bp.post("/patients/<subject_id>/assignment-label-scans")
@roles_required(*ASSIGNMENT_SCANNERS)
def scan_assignment_label(subject_id: str) -> Page:
    """One printed assignment label scanned back: the label names its dose by its COI; only
    this patient's allocated doses are verified here."""
    patient = patient_or_404(subject_id)
    form = FormReader(request.form)
    scan = form.raw("scan")
    if not scan:
        form.add("scan", _('Scan the square Data Matrix on a printed assignment label.'))
        return _render_patient(patient, errors=form.errors, status=422)
    allocated = _active_allocations([v.id for v in patient.visits])
    outcome = commit_or_refuse(lambda: scan_back.scan_label_back(
        scan, label_kind="assignment", doses=[a.dose for a in allocated.values()],
        here=_("patient %(subject_id)s", subject_id=patient.subject_id), actor=require_actor(), now=utcnow()),
        fields=("scan",), anchor="scan")
    if isinstance(outcome, Refused):
        return _render_patient(patient, errors=outcome.errors, status=outcome.status)
    if outcome.outcome == "verified" and outcome.dose is not None:
        # No fragment: the scan field takes the focus on a fresh page.
        return redirect(url_for(".patient_page", subject_id=patient.subject_id, label_verified=outcome.dose.code))
    return _render_patient(patient, scan_result=outcome, status=outcome.status)


def _pdf(output: labels.PrintOutput) -> Response:
    response = Response(output.content, mimetype=output.mimetype)
    response.headers["Content-Disposition"] = f'inline; filename="{output.filename}"'
    response.headers["X-Print-Job-Id"] = str(output.job.id)
    return response


def _print_refusal(field: str) -> Callable[[DomainError], Errors | None]:
    """Say on the page what a refused print needs, next to its reason field."""
    def explain(error: DomainError) -> Errors | None:
        if isinstance(error, ReasonRequired):
            return {field: [_("%(refusal)s For example: label damaged, printer jam.", refusal=translated(error.detail))]}
        if isinstance(error, labels.ReprintLimitReached):
            return {field: [_("This label has reached its reprint limit: another print needs a QA "
                            "person's approval. Ask QA.")]}
        return None
    return explain


@bp.post("/patients/<subject_id>/wristband")
@roles_required(*WRISTBAND_PRINTERS)
def print_wristband(subject_id: str) -> Page:
    patient = patient_or_404(subject_id)
    form = FormReader(request.form)
    reason = form.text("reason", max_length=2000)
    if form.errors:
        return _render_patient(patient, errors={"wristband-reason": form.errors["reason"]}, status=422)
    outcome = commit_or_refuse(lambda: labels.print_labels(
        kind="wristband", target=patient.subject_id, fmt="pdf", reason=reason, override=None,
        actor=require_actor(), now=utcnow()),
        fields=("wristband-reason",), anchor="wristband-reason",
        explain=_print_refusal("wristband-reason"))
    if isinstance(outcome, Refused):
        return _render_patient(patient, errors=outcome.errors, status=outcome.status)
    return _pdf(outcome)


@bp.route("/patients/<subject_id>/visits/<int:number>/assignment-label", methods=["GET", "POST"])
@roles_required(*ASSIGNMENT_PRINTERS)
def print_assignment(subject_id: str, number: int) -> Page:
    """GET: the reprint form (a reprint needs a reason). POST: print, return the PDF."""
    patient = patient_or_404(subject_id)
    visit = visit_or_404(patient, number)
    allocation = _active_allocations([visit.id]).get(visit.id)
    if allocation is None:
        flash(_('Visit %(number)s of %(subject_id)s has no dose allocated: there is no assignment label to print.', number=number, subject_id=patient.subject_id), "warn")
        return redirect(url_for(".patient_page", subject_id=patient.subject_id))

    def render(errors: Errors | None = None, status: int = 200) -> tuple[str, int]:
        printed = _print_counts("assignment", [allocation.dose.code]).get(allocation.dose.code, 0)
        return render_template(
            "patients/assignment_label.html", patient=patient, visit=visit, allocation=allocation,
            printed=printed, errors=errors or {},
            form=request.form if request.method == "POST" else {}), status

    if request.method == "GET":
        return render()
    form = FormReader(request.form)
    reason = form.text("reason", max_length=2000)
    if form.errors:
        return render(form.errors, 422)
    outcome = commit_or_refuse(lambda: labels.print_labels(
        kind="assignment", target=allocation.dose.code, fmt="pdf", reason=reason, override=None,
        actor=require_actor(), now=utcnow()),
        fields=("reason",), anchor="reason", explain=_print_refusal("reason"))
    if isinstance(outcome, Refused):
        return render(outcome.errors, outcome.status)
    return _pdf(outcome)


# ---- enrolment ----------------------------------------------------------------------------------

def _render_enrol(*, errors: Errors | None = None, status: int = 200) -> tuple[str, int]:
    today = reader_today()
    form = request.form if request.method == "POST" else {"enrolled_on": today.isoformat()}
    return render_template("patients/enrol.html", errors=errors or {}, form=form, today=today,
                           window=current_app.config["VISIT_WINDOW_DAYS"]), status


@bp.route("/patients/new", methods=["GET", "POST"])
@roles_required(*patient_services.ENROLLERS)
def enrol() -> Page:
    actor = require_actor()
    if request.method == "GET":
        return _render_enrol()
    form = FormReader(request.form)
    arm = form.choice("arm", ARMS, _('Choose the arm the patient was randomised to: MSC or control.'))
    enrolled_on = form.date("enrolled_on", _("the enrolment date"))
    initials = form.text("initials", required=_("Enter the patient's initials, for example WL."),
                         max_length=8)
    year = form.raw("birth_year")
    birth_year = int(year) if year.isdigit() and len(year) == 4 else None
    if birth_year is None:
        form.add("birth_year", _('Enter the year of birth as 4 digits, for example 1975.'))
    if form.errors:
        # The service is not reached, so ask the schedule's age rule here: every error at once.
        if birth_year and enrolled_on and (problem := schedule.age_problem(birth_year, enrolled_on)):
            form.add("birth_year", problem)
        return _render_enrol(errors=form.errors, status=422)
    assert arm and enrolled_on and initials and birth_year and actor.site_code
    outcome = commit_or_refuse(lambda: patient_services.enrol_patient(
        site_code=actor.site_code, arm=arm, enrolled_on=enrolled_on, initials=initials,
        birth_year=birth_year, actor=actor, now=utcnow()),
        fields=("arm", "enrolled_on", "initials", "birth_year"), anchor="arm")
    if isinstance(outcome, Refused):
        return _render_enrol(errors=outcome.errors, status=outcome.status)
    planned = ("four visits planned at months 0, 3, 6 and 9" if outcome.arm == "msc"
               else "no study doses")
    flash(_('%(subject_id)s enrolled in the %(arm)s arm: %(planned)s. Print the wristband next.', subject_id=outcome.subject_id, arm=ARM_SHORT[outcome.arm], planned=planned), "ok")
    return redirect(url_for(".patient_page", subject_id=outcome.subject_id))


# ---- allocation ---------------------------------------------------------------------------------

def _refuse_allocation(patient: Patient, visit: Visit, state: str,
                       allocation: Allocation | None) -> Response | None:
    next_number = _next_visit_number(patient, reader_today())
    if "allocate" in _visit_actions(patient, visit, state, allocation, require_actor(), next_number):
        return None
    if patient.arm != "msc":
        why = "the patient is in the control arm"
    elif patient.status != "active":
        why = "the patient is withdrawn"
    elif allocation is not None:
        why = f"it already has dose {allocation.dose.code}"
    elif state in WAITING_STATES and next_number is not None:
        why = _("the next dose goes to visit %(number)s first", number=next_number)
    else:
        why = f"it is {words(state).lower()}"
    flash(_('Visit %(number)s of %(subject_id)s cannot get a dose: %(why)s.', number=visit.number, subject_id=patient.subject_id, why=why), "warn")
    return redirect(url_for(".patient_page", subject_id=patient.subject_id))


@bp.route("/patients/<subject_id>/visits/<int:number>/allocate", methods=["GET", "POST"])
@roles_required(*allocations.ALLOCATORS)
def allocate(subject_id: str, number: int) -> Page:
    patient = patient_or_404(subject_id)
    visit = visit_or_404(patient, number)
    now = utcnow()
    state = patient_services.visit_state(visit, reader_today(now))
    if refused := _refuse_allocation(patient, visit, state,
                                     _active_allocations([visit.id]).get(visit.id)):
        return refused

    def render(errors: Errors | None = None, status: int = 200) -> tuple[str, int]:
        return render_template(
            "patients/allocate.html", patient=patient, visit=visit, state=state,
            suggested=allocations.suggested_dose(visit, utcnow()), errors=errors or {},
            form=request.form if request.method == "POST" else {},
            cutoff=current_app.config["DO_NOT_SHIP_CUTOFF_HOURS"]), status

    if request.method == "GET":
        return render()
    form = FormReader(request.form)
    code = form.text("dose_code", max_length=24)
    dose = None
    if code:
        dose = db.session.scalar(select(Dose).where(Dose.code == code.upper()))
        if dose is None:
            form.add("dose_code", _("No dose has the code %(code)s. Check the code printed under the bag label's barcode, or leave the field empty.", code=code))
    if form.errors:
        return render(form.errors, 422)

    def explain(error: DomainError) -> Errors | None:
        if isinstance(error, DoseNotSuitable) and dose is not None:
            return {"dose_code": [_("Dose %(code)s cannot go to visit %(number)s: %(reason)s.", code=dose.code, number=visit.number, reason=translated(reason))
                                  for reason in error.extra.get("reasons", [])] +
                    [_("Choose another dose, or leave the field empty to allocate the "
                     "earliest-expiring suitable dose.")]}
        if isinstance(error, NoSuitableDose):
            return {"allocate": [_("%(refusal)s A dose becomes available when its lot is released and its bag label verified: ask the GMP lab.", refusal=translated(error.detail))]}
        return None

    outcome = commit_or_refuse(lambda: allocations.allocate_dose(visit, dose=dose, actor=require_actor(),
                                                        now=utcnow()),
                      fields=("dose_code",), anchor="allocate", explain=explain)
    if isinstance(outcome, Refused):
        return render(outcome.errors, outcome.status)
    coi = allocations.coi_from_code(outcome.coi)
    message = _("Dose %(code)s allocated to visit %(number)s of %(subject)s. Chain of Identity %(coi)s [%(check)s]. "
                "Print the assignment label and attach it beside the bag label.", code=outcome.dose.code,
                number=visit.number, subject=patient.subject_id, coi=coi.eye_readable, check=coi.check)
    previewed = FormReader(request.form).raw("previewed")
    if dose is None and previewed and previewed != outcome.dose.code:
        message += " " + _("(Dose %(code)s, shown before, went to another visit meanwhile.)", code=previewed)
    flash(message, "ok")
    return redirect(url_for(".patient_page", subject_id=patient.subject_id, _anchor=f"visit-{visit.number}"))


@bp.route("/patients/<subject_id>/visits/<int:number>/deallocate", methods=["GET", "POST"])
@roles_required(*allocations.ALLOCATORS)
def deallocate(subject_id: str, number: int) -> Page:
    patient = patient_or_404(subject_id)
    visit = visit_or_404(patient, number)
    allocation = _active_allocations([visit.id]).get(visit.id)
    if allocation is None or allocation.dose.status not in allocations.REVERSIBLE_DOSE_STATES:
        why = (_("it has no dose allocated") if allocation is None else
               _("dose %(code)s is %(state)s: only a dose that has not left the lab can be taken back",
                 code=allocation.dose.code, state=_(allocation.dose.status.replace("_", " "))))
        flash(_('Visit %(number)s of %(subject_id)s: %(why)s.', number=number, subject_id=patient.subject_id, why=why), "warn")
        return redirect(url_for(".patient_page", subject_id=patient.subject_id))

    def render(errors: Errors | None = None, status: int = 200) -> tuple[str, int]:
        return render_template("patients/deallocate.html", patient=patient, visit=visit,
                               allocation=allocation, errors=errors or {},
                               form=request.form if request.method == "POST" else {}), status

    if request.method == "GET":
        return render()
    form = FormReader(request.form)
    reason = form.text("reason", required=_('Give the reason for taking the dose back, for example visit postponed.'), max_length=2000)
    if form.errors:
        return render(form.errors, 422)
    code = allocation.dose.code
    outcome = commit_or_refuse(lambda: allocations.deallocate(visit, reason=reason, actor=require_actor(),
                                                     now=utcnow()),
                      fields=("reason",), anchor="reason",
                      explain=lambda e: {"reason": [e.detail]} if isinstance(e, ReasonRequired) else None)
    if isinstance(outcome, Refused):
        return render(outcome.errors, outcome.status)
    flash(_('Dose %(code)s taken back from visit %(number)s of %(subject_id)s: it is available again. Destroy its assignment label.', code=code, number=number, subject_id=patient.subject_id), "ok")
    return redirect(url_for(".patient_page", subject_id=patient.subject_id, _anchor=f"visit-{number}"))


# ---- withdrawal ---------------------------------------------------------------------------------

@bp.route("/patients/<subject_id>/withdraw", methods=["GET", "POST"])
@roles_required(*WITHDRAWERS)
def withdraw(subject_id: str) -> Page:
    patient = patient_or_404(subject_id)
    if not PATIENT_LIFECYCLE.can("withdraw", patient.status):
        flash(_('%(subject_id)s is already withdrawn.', subject_id=patient.subject_id), "warn")
        return redirect(url_for(".patient_page", subject_id=patient.subject_id))

    def render(errors: Errors | None = None, status: int = 200) -> tuple[str, int]:
        today = reader_today()
        row = _rows([patient], require_actor(), today)[0]
        open_rows = [v for v in row.visits if VISIT_LIFECYCLE.can("skip", v.visit.recorded)]
        return render_template("patients/withdraw.html", patient=patient, open_rows=open_rows,
                               errors=errors or {}, meaning=Meaning.WITHDRAWN,
                               reversible=allocations.REVERSIBLE_DOSE_STATES,
                               form=request.form if request.method == "POST" else {}), status

    if request.method == "GET":
        return render()
    form = FormReader(request.form)
    reason = form.text("reason", required=_('Give the reason for withdrawal, for example consent withdrawn.'), max_length=2000)
    password = form.password()
    outcome = signed_action(form, lambda: patient_services.withdraw_patient(
        patient, reason=reason, signature=SignatureInput(password, Meaning.WITHDRAWN.value),
        actor=require_actor(), now=utcnow()), fields=("reason", "password"), anchor="reason",
        explain=lambda e: {"reason": [e.detail]} if isinstance(e, ReasonRequired) else None)
    if isinstance(outcome, Refused):
        return render(outcome.errors, outcome.status)
    flash(_('%(subject_id)s withdrawn. Open visits are skipped; doses not yet dispatched are back in stock. Your signature is recorded.', subject_id=patient.subject_id), "ok")
    return redirect(url_for(".patient_page", subject_id=patient.subject_id))
