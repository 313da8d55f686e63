"""The nurse's bedside tablet screen: scan the wristband and the dose bag, the full-screen
decision, the infusion record with a witness, and the patient's four doses afterwards. With
JavaScript the page checks through `POST /api/infusions/verify`; without it, the same
verification runs behind a plain two-field form. Recording always goes through
`bedside.record_infusion`."""
import json
import re
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from flask import Blueprint, current_app, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from werkzeug.wrappers import Response

from cell_chain.accounts.models import User
from cell_chain.accounts.permissions import require_actor, roles_required
from cell_chain.accounts.signatures import (
    Meaning,
    SignatureInput,
    WitnessInput,
    WitnessInvalid,
    signatures_for,
)
from cell_chain.batches.models import Dose
from cell_chain.core.clock import from_local, utcnow
from cell_chain.core.db import MAX_ID, db
from cell_chain.core.messages import translated
from cell_chain.core.errors import (
    AccountLocked,
    AuthFailure,
    DomainError,
    Forbidden,
    NotFound,
    Unauthenticated,
    ValidationFailed,
)
from cell_chain.core.scanning import UnrecognizedBarcode, read_scan
from cell_chain.infusions import bedside, drafts
from cell_chain.infusions.bedside_routes import verification_body
from cell_chain.infusions.models import Infusion
from cell_chain.patients import schedule, timeline
from cell_chain.patients.allocation import coi_from_code
from cell_chain.patients.enrolment import visit_state
from cell_chain.patients.models import Patient, Visit
from cell_chain.web.errors import count_auth_failure
from cell_chain.web.forms import WRONG_PASSWORD, FormReader
from cell_chain.web.locale import reader_language, reader_today, reader_zone
from cell_chain.web.words import N_

bp = Blueprint("bedside_pages", __name__)

Errors = dict[str, list[str]]
Page = str | tuple[str, int] | Response

VISITS = len(schedule.VISIT_MONTHS)
# The protocol grades infusion tolerance 0 (no discomfort) to 4 (life-threatening); the words
# between follow the usual infusion-reaction grading, so that nurses at six sites grade alike.
TOLERANCE_GRADES = (
    ("0", _l('0 — No discomfort'), _l('The patient felt nothing unusual.')),
    ("1", _l('1 — Mild'), _l('Noticed by the patient; no treatment, the infusion went on.')),
    ("2", _l('2 — Moderate'), _l('Treated, or the infusion was slowed or paused; settled quickly.')),
    ("3", _l('3 — Severe'), _l('The infusion was stopped, or symptoms lasted and needed treatment.')),
    ("4", _l('4 — Life-threatening'), _l('Urgent intervention was needed.')),
)
GRADE_WORDS = {value: text for value, text, _ in TOLERANCE_GRADES}
SERIOUS_WORDS = _l("death, life-threatening, disabling, or a tumour (particularly hepatocellular carcinoma)")
WARNING_REASON_LABELS = {
    "OUT_OF_WINDOW": _l('Why is the dose given outside this visit’s window?'),
}
WITNESS_WRONG = ("The witness’s username or password is wrong. The witness types their own "
                 "username and password; repeated wrong passwords lock their account.")
_CLOCK = re.compile(r"([01]?[0-9]|2[0-3]):([0-5][0-9])")
# The bedside script's words (static/js/bedside.js calls t(...) with these English texts).
SCRIPT_WORDS = (
    # time units of the countdowns and the infusion timer
    N_('%(hours)s h'),
    N_('%(minutes)s min'),
    N_('%(seconds)s s'),
    # the camera's refusals (bedside-camera.js), shown by bedside.js
    N_('The barcode reader did not load.'),
    N_('The camera is not allowed. Allow the camera for this site in the browser, or use the handheld scanner.'),
    N_('No camera was found on this device. Use the handheld scanner.'),
    N_('The camera is busy in another app. Close it, or use the handheld scanner.'),
    N_('The camera could not be started. Use the handheld scanner.'),
    N_('Infusion running since %(time)s: %(lasted)s.'),
    N_(' and '),
    N_('(camera)'),
    N_('(dose not known)'),
    N_('Checking with the server…'),
    N_('Dose bag %(label)s ✓ — now scan the wristband'),
    N_('EXPIRED — do not give'),
    N_('First scan received — now scan the other label'),
    N_('Hold the wristband or the dose bag’s square code inside the frame.'),
    N_('Infusion ended at %(ended)s after %(lasted)s (started %(started)s).'),
    N_('Log in again to continue'),
    N_('Not started. Press Start infusion when the drip runs.'),
    N_('Press End infusion when the infusion is finished, then record it.'),
    N_('Press Start infusion when the drip runs and End infusion when it is finished.'),
    N_('Record the infusion'),
    N_('Recording…'),
    N_('Starting the camera…'),
    N_('That dose bag is scanned already — now scan the other label.'),
    N_('That wristband is scanned already — now scan the other label.'),
    N_('The check did not reach the server, so nothing is confirmed. Do not give the dose: start again, and call support if this repeats.'),
    N_('The check is not complete: do not give the dose.'),
    N_('The infusion is running: you stay signed in while it runs.'),
    N_('The server did not answer: your latest entries may not be saved yet. They are tried again in a minute.'),
    N_('Visit %(number)s of %(visits_total)s'),
    N_('Wristband %(label)s ✓ — now scan the dose bag'),
    N_('You are logged out after a time without activity. Start again: you will be asked to log in, then scan both labels again.'),
    N_('You scanned %(scans)s.'),
    N_('Your entries are saved on the server (%(time)s).'),
    N_('Your session has ended. Nothing is recorded yet, and your entries are kept on the server (not the passwords).'),
    N_('dose bag %(label)s'),
    N_('dose label'),
    N_('lot %(lot_number)s'),
    N_('not scanned yet'),
    N_('window %(window_start)s to %(window_end)s'),
    N_('wristband %(label)s'),
    N_('· Dose'),
    N_('· Visit %(number)s of %(visits_total)s'),
)

def script_words() -> str:
    return json.dumps({text: _(text) for text in SCRIPT_WORDS}, ensure_ascii=False)


RECORD_FIELDS = ("started_at", "ended_at", "volume_ml", "tolerance_grade", "adverse_events", "partial_reason",
                 "confirm_duration")


# ---- words --------------------------------------------------------------------------------------

def initials(text: str | None) -> str:
    """`WL` → `W.L.` as the wristband prints it."""
    return "".join(f"{letter}." for letter in (text or ""))


def _moment(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def duration(length: timedelta) -> str:
    """`1 h 5 min`, `40 min`, `35 s`: how long an infusion ran."""
    seconds = max(0, int(length.total_seconds()))
    hours, minutes = seconds // 3600, seconds % 3600 // 60
    if not hours and not minutes:
        return _("%(seconds)s s", seconds=seconds)
    return " ".join(([_("%(hours)s h", hours=hours)] if hours else []) + [_("%(minutes)s min", minutes=minutes)])


def time_left(expires_at: str | None) -> str:
    """The post-thaw time left as the page first shows it; the script counts it down."""
    if not expires_at:
        return ""
    left = datetime.fromisoformat(expires_at) - utcnow()
    if left <= timedelta(0):
        return _("EXPIRED — do not give")
    return duration(left)


@bp.context_processor
def _page_helpers() -> dict[str, Any]:
    return {"initials": initials, "visits_total": VISITS, "moment": _moment, "time_left": time_left,
            "script_words": script_words, "script_language": reader_language,
            "full_volume": current_app.config["DOSE_VOLUME_ML"]}


# ---- the scan step --------------------------------------------------------------------------------

def _render(state: str, *, check: Mapping[str, Any] | None = None, scans: Mapping[str, str] | None = None,
            errors: Errors | None = None, form: Mapping[str, str] | None = None,
            status: int = 200, drafts: list[Any] | None = None, resumed: bool = False) -> tuple[str, int]:
    """One template for every state: `scan`, `matched`, `stop` and `form` (the infusion form
    shown again with what to fix, or resumed from its draft). With JavaScript the scan page
    switches states itself."""
    config = current_app.config
    return render_template(
        "bedside/screen.html", state=state, check=check, scans=scans or {}, errors=errors or {},
        form=form or {}, grades=TOLERANCE_GRADES, serious_words=SERIOUS_WORDS,
        reason_labels=WARNING_REASON_LABELS, messages={code: bedside.message(code) for code in bedside.MESSAGES},
        server_now=utcnow().isoformat(timespec="milliseconds"), drafts=drafts or [], resumed=resumed,
        idle_minutes=config["IDLE_TIMEOUT_MINUTES"], min_minutes=config["INFUSION_MIN_MINUTES"],
        max_minutes=config["INFUSION_MAX_MINUTES"],
    ), status


@bp.get("/bedside")
@roles_required(*bedside.NURSES)
def scan() -> tuple[str, int]:
    return _render("scan", drafts=drafts.drafts_of(require_actor()))


@bp.post("/bedside/draft")
@roles_required(*bedside.NURSES)
def save_draft() -> tuple[Response, int]:
    """Keep the infusion form on the server as the nurse fills it in (the script calls this
    on every change and, while the infusion runs, every minute: that keeps her session
    alive too). JSON in, JSON out."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        return jsonify(saved=False, detail="Send the form as a JSON object."), 400
    now = utcnow()
    try:
        draft = drafts.save_draft(body.get("patient_scan"), body.get("dose_scan"), body.get("fields"),
                                  actor=require_actor(), now=now)
    except ValidationFailed as error:
        db.session.rollback()
        return jsonify(saved=False, errors=error.extra.get("errors", {})), 422
    db.session.commit()
    resume = url_for("bedside_pages.resume", draft=draft.id)
    return jsonify(saved=True, saved_at=now.isoformat(timespec="seconds"), resume=resume,
                   idle_minutes=current_app.config["IDLE_TIMEOUT_MINUTES"]), 200


@bp.get("/bedside/resume")
@roles_required(*bedside.NURSES)
def resume() -> Page:
    """The infusion form as the nurse left it (after a new login): every entry but the passwords."""
    actor = require_actor()
    mine = drafts.drafts_of(actor)
    wanted = request.args.get("draft", "")
    draft = next((d for d in mine if str(d.id) == wanted), mine[0] if mine and not wanted else None)
    if draft is None:
        return scan()  # nothing left unfinished: the scan page, where she starts
    scans = {"patient_scan": draft.patient_scan, "dose_scan": draft.dose_scan}
    now = utcnow()
    started = _clock_time(draft.fields.get("started_at", ""), now) if draft.fields.get("started_at") else None
    check = _current_check(scans, actor, min(started or now, now))
    if not check["ok"]:
        return _render("stop", check=check, scans=scans, status=409)
    return _render("form", check=check, scans=scans, form=draft.fields, resumed=True)


@bp.post("/bedside/scan")
@roles_required(*bedside.NURSES)
def classify() -> Response:
    """What one scan looks like, for the prompt only ("Wristband LZ-0007 ✓ — now scan the
    dose bag"); the decision is always the verification's."""
    body = request.get_json(silent=True)
    payload = body.get("scan") if isinstance(body, dict) else None
    try:
        read = read_scan(payload)
    except UnrecognizedBarcode:
        return jsonify(kind="other", label=None)
    if read.kind == "patient":
        return jsonify(kind="patient", label=read.payload)
    if read.kind == "dose":
        return jsonify(kind="dose", label=read.obj.code if isinstance(read.obj, Dose) else None)
    return jsonify(kind="other", label=None)


@bp.post("/bedside/verify")
@roles_required(*bedside.NURSES)
def verify() -> tuple[str, int]:
    """The check without JavaScript: the same verification as the API, shown as a page."""
    form = FormReader(request.form)
    scans = {"patient_scan": form.raw("patient_scan"), "dose_scan": form.raw("dose_scan")}
    if not scans["patient_scan"]:
        form.add("patient_scan", _('Scan the patient’s wristband into the first box.'))
    if not scans["dose_scan"]:
        form.add("dose_scan", _('Scan the dose bag into the second box.'))
    if form.errors:
        return _render("scan", scans=scans, errors=form.errors, status=422)
    result = bedside.verify_infusion(scans["patient_scan"], scans["dose_scan"], actor=require_actor(),
                                     now=utcnow())
    check = verification_body(result)
    db.session.commit()  # the check's log entry: the proof of this bedside scan
    return _render("matched" if check["ok"] else "stop", check=check, scans=scans)


# ---- the infusion record ------------------------------------------------------------------------

def _clock_time(value: str, now: datetime) -> datetime | None:
    """`14:05` on the reader's clock (today; yesterday if that is still to come) or an ISO 8601
    moment (local unless it carries an offset), as UTC. None when it names no moment."""
    zone = reader_zone()
    try:
        if match := _CLOCK.fullmatch(value):
            today = now.astimezone(zone).date()
            for day in (today, today - timedelta(days=1)):
                wall = datetime(day.year, day.month, day.day, int(match[1]), int(match[2]))
                moment = from_local(wall, zone)
                if moment <= now + timedelta(minutes=1):
                    return moment
            return None
        return from_local(datetime.fromisoformat(value), zone)
    except ValueError:
        return None


def _time_field(form: FormReader, name: str, what: str, example: str, now: datetime) -> datetime | None:
    value = form.raw(name)
    if not value:
        form.add(name, _('Enter the time the infusion %(what)s (24-hour clock, for example %(example)s).', what=what, example=example))
        return None
    moment = _clock_time(value, now)
    if moment is None:
        form.add(name, _('Enter the time the infusion %(what)s as hours and minutes, for example %(example)s.', what=what, example=example))
    return moment


def _read_record(form: FormReader, warnings: list[str], now: datetime) -> dict[str, Any]:
    values: dict[str, Any] = {
        "started_at": _time_field(form, "started_at", "started", "14:05", now),
        "ended_at": _time_field(form, "ended_at", "ended", "14:45", now),
        "volume_ml": form.number("volume_ml", _("the volume given in ml"), example="40", maximum=45),
        "tolerance_grade": form.choice("tolerance_grade", GRADE_WORDS,
                                       _('Choose how the patient tolerated the infusion: 0 (no discomfort) to 4 (life-threatening).')),
        "adverse_events": form.text("adverse_events", max_length=4000),
        "serious": form.raw("serious") == "yes",
        "partial_reason": form.text("partial_reason", max_length=2000),
        "confirm_duration": form.raw("confirm_duration") == "yes",
        "password": form.password(),
        "witness_username": form.text("witness_username", required=_('Enter the witness’s username.'),
                                      max_length=80),
        "witness_password": form.data.get("witness_password") or "",
    }
    if values["volume_ml"] == 0:
        form.add("volume_ml", _('Enter the volume given in ml: more than 0.'))
    if not values["witness_password"]:
        form.add("witness_password", _('The witness enters their own password.'))
    if values["serious"] and not values["adverse_events"]:
        form.add("adverse_events", _('Describe the serious adverse event.'))
    values["reasons"] = {}
    for code in warnings:
        reason = form.text(f"reason_{code}", max_length=2000,
                           required=_('Give the reason: it is recorded as a protocol deviation.'))
        if reason:
            values["reasons"][code] = reason
    return values


def _current_check(scans: Mapping[str, str], actor: User, now: datetime) -> dict[str, Any]:
    """The decision for these scans at `now` (the infusion's start once it is known), without
    logging a new bedside check (showing the form again must not count as scanning at the
    bedside)."""
    facts = bedside.load_facts(scans["patient_scan"], scans["dose_scan"], nurse=actor)
    decision = bedside.decide(facts, now=now, zone=bedside.site_zone(actor),
                              min_interval=timedelta(days=current_app.config["MIN_DOSE_INTERVAL_DAYS"]))
    return verification_body(bedside.Verification(decision, facts))


def _stopped(error: bedside.InfusionStopped) -> dict[str, Any]:
    return {"ok": False, "stops": error.extra["stops"], "warnings": [], "patient": None, "dose": None,
            "visit": None}


@bp.post("/bedside/record")
@roles_required(*bedside.NURSES)
def record() -> Page:
    actor = require_actor()
    actor_id = actor.id
    now = utcnow()
    form = FormReader(request.form)
    scans = {"patient_scan": form.raw("patient_scan"), "dose_scan": form.raw("dose_scan")}
    if not (scans["patient_scan"] and scans["dose_scan"]):
        return _render("scan", errors={"patient_scan": [_("Scan the wristband and the dose bag before recording.")]},
                       status=409)
    # Judged at the infusion's start, as the record will be.
    started = _clock_time(form.raw("started_at"), now) if form.raw("started_at") else None
    moment = started if started is not None and started <= now else now
    check = _current_check(scans, actor, moment)
    if not check["ok"]:
        return _render("stop", check=check, scans=scans, status=409)
    values = _read_record(form, [w["code"] for w in check["warnings"]], now)
    if form.errors:
        return _render("form", check=check, scans=scans, errors=form.errors, form=request.form, status=422)
    given = bedside.InfusionInput(
        started_at=values["started_at"], ended_at=values["ended_at"], volume_ml=values["volume_ml"],
        tolerance_grade=int(values["tolerance_grade"]), adverse_events=values["adverse_events"],
        serious=values["serious"], acknowledged_warnings=values["reasons"],
        partial_reason=values["partial_reason"], confirm_duration=values["confirm_duration"])
    errors: Errors
    try:
        infusion = bedside.record_infusion(
            scans["patient_scan"], scans["dose_scan"], given=given,
            signature=SignatureInput(values["password"], Meaning.ADMINISTERED.value),
            witnessed_by=WitnessInput(values["witness_username"] or "", values["witness_password"]),
            actor=actor, now=now)
        db.session.commit()
        return redirect(url_for("bedside_pages.recorded", infusion_id=infusion.id), code=303)
    except (Forbidden, NotFound, Unauthenticated):
        raise
    except AuthFailure as error:
        # Nothing is recorded, but the wrong password counts toward its owner's lock-out.
        count_auth_failure(error)
        errors = ({"password": [WRONG_PASSWORD]} if error.user_id == actor_id
                  else {"witness_password": [WITNESS_WRONG]})
        status = error.status
    except bedside.InfusionStopped as error:
        db.session.rollback()
        return _render("stop", check=_stopped(error), scans=scans, status=error.status)
    except DomainError as error:
        db.session.rollback()
        status = error.status
        errors = _explain(error, actor_id, now)
    return _render("form", check=_current_check(scans, require_actor(), moment), scans=scans,
                   errors=errors, form=request.form, status=status)


def _explain(error: DomainError, actor_id: int, now: datetime) -> Errors:
    """Where each refusal goes on the form, in words that say how to fix it."""
    if isinstance(error, bedside.VerificationRequired):
        return {"scan-again": [_("%(refusal)s Press Start again and scan both labels at the bedside.", refusal=translated(error.detail))]}
    if isinstance(error, bedside.WarningNotAcknowledged):
        return {f"reason_{code}": [_("Give the reason: it is recorded as a protocol deviation.")]
                for code in error.extra.get("warnings", [])}
    if isinstance(error, WitnessInvalid):
        return {"witness_username": [_("%(refusal)s Ask another nurse or a pharmacist of this hospital.", refusal=translated(error.detail))]}
    if isinstance(error, AccountLocked):
        mine = db.session.get(User, actor_id)
        field = "password" if mine is not None and mine.is_locked(now) else "witness_password"
        whose = _("Your account") if field == "password" else _("The witness’s account")
        return {field: [_("%(whose)s is locked: %(refusal)s Ask an administrator if this is urgent.", whose=whose, refusal=translated(error.detail))]}
    if isinstance(error, ValidationFailed):
        errors: Errors = {}
        for name, messages in error.extra.get("errors", {}).items():
            errors.setdefault(name if name in RECORD_FIELDS else "password", []).extend(messages)
        return errors
    return {"scan-again": [error.detail]}


# ---- after recording ----------------------------------------------------------------------------

@bp.get("/bedside/infusions/<int:infusion_id>")
@roles_required(*bedside.NURSES)
def recorded(infusion_id: int) -> str:
    """The record as signed, and the patient's four doses with this visit done."""
    actor = require_actor()
    infusion = db.session.get(Infusion, infusion_id) if 0 < infusion_id <= MAX_ID else None
    patient = db.session.get(Patient, infusion.patient_id) if infusion else None
    if infusion is None or patient is None or patient.site_id != actor.site_id:
        raise NotFound(_('There is no such infusion record at your hospital.'))
    today = reader_today()
    visits = list(db.session.scalars(select(Visit).where(Visit.patient_id == patient.id).order_by(Visit.number)))
    marks = [timeline.Mark(v.number, v.target_date, v.window_start, v.window_end, visit_state(v, today))
             for v in visits]
    visit = next(v for v in visits if v.id == infusion.visit_id)
    return render_template(
        "bedside/recorded.html", infusion=infusion, patient=patient, visit=visit,
        coi=coi_from_code(infusion.coi), lasted=duration(infusion.ended_at - infusion.started_at),
        dose=db.session.get(Dose, infusion.dose_id), signatures=signatures_for(infusion),
        picture=timeline.timeline_svg(marks, today=today, size="large"),
        grade_words=GRADE_WORDS.get(str(infusion.tolerance_grade), str(infusion.tolerance_grade)),
        state_words=_(timeline.STATE_WORDS.get(visit.recorded, visit.recorded)),
        serious_words=SERIOUS_WORDS)
