"""Pages for shipments and the site pharmacy: the shipment list and page (pack by scanning,
dispatch, hand-offs, logger file, excursion disposition), the pharmacist's receipt screen and
the site inventory with thaw, dispense, destroy and return."""
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import lazyload
from werkzeug.wrappers import Response

from cell_chain.accounts.models import Site, User
from cell_chain.accounts.permissions import require_actor, roles_required, scope_to_site
from cell_chain.accounts.roles import Role
from cell_chain.accounts.signatures import (
    Meaning,
    SignatureInput,
    WitnessInput,
    WitnessInvalid,
    signatures_for,
)
from cell_chain.batches import workflow as batch_rules
from cell_chain.batches.models import Dose
from cell_chain.batches.workflow import DOSE_LIFECYCLE
from cell_chain.core.clock import LocalTimeError, from_local, utcnow
from cell_chain.core.db import db
from cell_chain.core.messages import translated
from cell_chain.core.errors import AccountLocked, AuthFailure, DomainError, NotFound, ReasonRequired
from cell_chain.core.scanning import MAX_PAYLOAD, UnrecognizedBarcode, read_scan
from cell_chain.labels.payloads import bag_payloads
from cell_chain.labels.services import print_counts, print_labels
from cell_chain.patients.labels import assignment_payload
from cell_chain.patients.models import Allocation, Patient, Visit
from cell_chain.shipments import custody, packing, pharmacy, services
from cell_chain.shipments.errors import BagMismatch
from cell_chain.shipments.packing import REFUSAL_WORDS
from cell_chain.shipments.vocabulary import VOCABULARY
from cell_chain.shipments.excursions import CRYO, FRESH, TemperatureRange, worst_first
from cell_chain.shipments.labels import BOX_LABEL_SOURCE
from cell_chain.shipments.loaders import shipment_or_404
from cell_chain.shipments.loggers import LoggerFileError
from cell_chain.shipments.models import (
    STORAGE,
    CustodyEvent,
    Excursion,
    Shipment,
    ShipmentItem,
    TemperatureRecord,
)
from cell_chain.shipments.parties import WARD_PREFIX, Party
from cell_chain.shipments.routes import SHIPMENT_READERS
from cell_chain.shipments.scan_words import unexpected_words
from cell_chain.shipments.temperature_data import (
    MISSING,
    NO_JOURNEY,
    DoseJourney,
    journeys_of,
    shipment_temperature,
    temperature_status,
    waive_temperature_data,
    waiver_of,
)
from cell_chain.shipments.uploads import prepare_upload
from cell_chain.shipments.workflow import RECEIVED_STATES, SHIPMENT_LIFECYCLE
from cell_chain.web.forms import Errors, FormReader, Refused, commit_or_refuse, signed_action
from cell_chain.web.locale import reader_zone
from cell_chain.web.words import N_, when

bp = Blueprint("shipment_pages", __name__)

Page = str | tuple[str, int] | Response

# ---- words shown for stored codes -------------------------------------------------------------

STORAGE_WORDS = {"2-8C": _l('2–8 °C (fresh)'), "cryo": _l('≤ −150 °C (cryopreserved)')}
# REFUSAL_WORDS: what each packing refusal is called (shipments/packing.py).

# Who sees which form; the services check the same roles.
PACKERS = SHIPMENT_LIFECYCLE.roles("pack")
SCAN_FIELD = "scan-input"  # the packing scan field's id, where its errors point
UNPACKERS = SHIPMENT_LIFECYCLE.roles("unpack")
BOX_LABEL_PRINTERS = frozenset(BOX_LABEL_SOURCE.roles)
CREATORS = services.CREATORS
HANDOFF_ROLES = SHIPMENT_LIFECYCLE.roles("handoff")
UPLOADERS = SHIPMENT_LIFECYCLE.roles("record_temperature")
RECEIVERS = SHIPMENT_LIFECYCLE.roles("receive")
DISPOSERS = SHIPMENT_LIFECYCLE.roles("dispose_excursion")
PHARMACISTS = DOSE_LIFECYCLE.roles("dispense")
# What the site inventory lists: doses held by the site pharmacy or its wards.
INVENTORY_STATES = ("received", "dispensed", "quarantined")
EXPIRY_WARNING = timedelta(hours=24)


words = VOCABULARY.words


def party(name: str, people: Mapping[str, str] | None = None) -> str:
    """A custodian as people say it: 'courier:ColdChain' → 'Courier ColdChain'; a ward nurse
    by their printed name when `people` (username → printed name) knows them."""
    return Party.parse(name).words(people)


@bp.context_processor
def _page_helpers() -> dict[str, Any]:
    return {**VOCABULARY.helpers(), "Role": Role, "party": party, "received_states": RECEIVED_STATES,
            "can_receive": lambda s: SHIPMENT_LIFECYCLE.allowed("receive", s.status, require_actor().role),
            "storage_words": STORAGE_WORDS, "refusal_words": REFUSAL_WORDS,
            "receipt_script_words": receipt_script_words}


def _signature(password: str, meaning: Meaning) -> SignatureInput:
    return SignatureInput(password=password, meaning=meaning.value)


def _rekey(errors: Errors, names: Mapping[str, str]) -> Errors:
    """Give a form's errors the ids its fields have on a page that holds several forms."""
    out: Errors = {}
    for name, messages in errors.items():
        out.setdefault(names.get(name, name), []).extend(messages)
    return out


# ---- loading what the pages show ----------------------------------------------------------------

def _patients_of(dose_ids: Sequence[int]) -> dict[int, Patient]:
    """The patient each dose is allocated to, in one query."""
    if not dose_ids:
        return {}
    stmt = (select(Allocation.dose_id, Patient)
            .join(Visit, Visit.id == Allocation.visit_id).join(Patient, Patient.id == Visit.patient_id)
            .where(Allocation.dose_id.in_(dose_ids), Allocation.active))
    return {dose_id: patient for dose_id, patient in db.session.execute(stmt)}


def _active_allocations(dose_ids: Sequence[int]) -> dict[int, Allocation]:
    if not dose_ids:
        return {}
    stmt = select(Allocation).where(Allocation.dose_id.in_(dose_ids), Allocation.active)
    return {a.dose_id: a for a in db.session.scalars(stmt)}


def _names(user_ids: Iterable[int | None]) -> dict[int, str]:
    ids = {i for i in user_ids if i is not None}
    if not ids:
        return {}
    return {user_id: name for user_id, name in db.session.execute(
        select(User.id, User.display_name).where(User.id.in_(ids)))}


@dataclass
class CustodyStep:
    """One hand-over of the box: the same event recorded for each dose in it."""

    event: CustodyEvent
    doses: list[str] = field(default_factory=list)
    recorded_by: str = ""


def _custody_steps(shipment: Shipment, codes: Mapping[int, str]) -> list[CustodyStep]:
    events = db.session.scalars(select(CustodyEvent).where(CustodyEvent.shipment_id == shipment.id)
                                .order_by(CustodyEvent.occurred_at, CustodyEvent.id)).all()
    names = _names(e.recorded_by_id for e in events)
    steps: dict[tuple[Any, ...], CustodyStep] = {}
    for event in events:
        key = (event.kind, event.from_party, event.to_party, event.place, event.condition,
               event.occurred_at, event.recorded_by_id)
        step = steps.setdefault(key, CustodyStep(event, recorded_by=names.get(event.recorded_by_id, "")))
        step.doses.append(codes.get(event.dose_id, str(event.dose_id)))
    return list(steps.values())


@dataclass
class DoseRow:
    item: ShipmentItem
    patient: Patient | None
    chain_unbroken: bool
    expired: bool


@dataclass
class ShipmentActions:
    """Which forms the page offers; the services decide again when one is used."""

    pack: bool = False
    unpack: bool = False
    box_label: bool = False
    dispatch: bool = False
    handoff: bool = False
    upload: bool = False
    receive: bool = False
    dispose: bool = False
    waive: bool = False

    def __bool__(self) -> bool:
        return any(vars(self).values())


def _shipment_actions(shipment: Shipment, actor: User, open_excursions: Sequence[Excursion],
                      temperature: str) -> ShipmentActions:
    state = shipment.status
    return ShipmentActions(
        pack=SHIPMENT_LIFECYCLE.allowed("pack", state, actor.role),
        unpack=SHIPMENT_LIFECYCLE.allowed("unpack", state, actor.role) and bool(shipment.items),
        box_label=actor.role in BOX_LABEL_PRINTERS and bool(shipment.items),
        dispatch=SHIPMENT_LIFECYCLE.allowed("dispatch", state, actor.role) and bool(shipment.items),
        handoff=SHIPMENT_LIFECYCLE.allowed("handoff", state, actor.role),
        upload=SHIPMENT_LIFECYCLE.allowed("record_temperature", state, actor.role),
        receive=SHIPMENT_LIFECYCLE.allowed("receive", state, actor.role),
        dispose=SHIPMENT_LIFECYCLE.allowed("dispose_excursion", state, actor.role) and bool(open_excursions),
        waive=SHIPMENT_LIFECYCLE.allowed("waive_temperature_data", state, actor.role) and temperature == MISSING,
    )


def _render_shipment(shipment: Shipment, *, errors: Errors | None = None, status: int = 200,
                     pack_result: packing.PackResult | None = None) -> tuple[str, int]:
    actor = require_actor()
    now = utcnow()
    items = list(shipment.items)
    dose_ids = [i.dose_id for i in items]
    patients = _patients_of(dose_ids)
    chains = custody.events_of(dose_ids)
    origin = custody.lab_party()
    rows = [DoseRow(i, patients.get(i.dose_id), custody.check_chain(chains[i.dose_id], origin).unbroken,
                    batch_rules.is_expired(i.dose.expires_at, now)) for i in items]
    record = db.session.scalar(select(TemperatureRecord).where(TemperatureRecord.shipment_id == shipment.id)
                               .order_by(TemperatureRecord.id.desc()).limit(1))
    excursions = db.session.scalars(select(Excursion).where(Excursion.shipment_id == shipment.id)
                                    .order_by(Excursion.start, Excursion.id)).all()
    open_ones = [e for e in excursions if e.status == "open"]
    waiver = waiver_of(shipment)
    temperature = temperature_status(recorded=record is not None, waived=waiver is not None)
    names = _names([shipment.created_by_id, shipment.received_by_id, waiver.waived_by_id if waiver else None,
                    record.uploaded_by_id if record else None, *(e.decided_by_id for e in excursions)])
    evidence = _excursion_evidence(shipment, record, open_ones) if open_ones else None
    box_labels_printed = print_counts("shipment", [shipment.code]).get(shipment.code, 0)
    packed = request.args.get("packed")
    if pack_result is None and packed:
        item = next((r.item for r in rows if r.item.dose.code == packed), None)
        pack_result = packing.packed(item, len(rows)) if item else None
    return render_template(
        "shipments/shipment.html", shipment=shipment, rows=rows,
        steps=_custody_steps(shipment, {i.dose_id: i.dose.code for i in items}),
        signatures=signatures_for(shipment), record=record, excursions=excursions,
        open_excursions=open_ones, names=names,
        actions=_shipment_actions(shipment, actor, open_ones, temperature), errors=errors or {}, waiver=waiver,
        form=request.form if request.method == "POST" else {}, pack_result=pack_result, now=now,
        evidence=evidence, dispatch_after_pack=_dispatch_after_pack(shipment, actor),
        box_labels_printed=box_labels_printed,
    ), status


def _dispatch_after_pack(shipment: Shipment, actor: User) -> bool:
    """Whether the dispatch form belongs on the page once a dose is packed: a page packing in
    place shows it when the first dose goes in, without a reload."""
    if not (SHIPMENT_LIFECYCLE.allowed("pack", shipment.status, actor.role) and not shipment.items):
        return False
    after = SHIPMENT_LIFECYCLE.transitions["pack"].target
    return SHIPMENT_LIFECYCLE.allowed("dispatch", after if isinstance(after, str) else shipment.status, actor.role)


@dataclass
class ExcursionEvidence:
    """What QA reads before deciding on a shipment's open excursions: the worst first."""

    open_excursions: list[Excursion]
    allowed: TemperatureRange
    lowest: float | None
    highest: float | None

    def outside(self, excursion: Excursion) -> float:
        return self.allowed.distance_outside(excursion.extreme_celsius)


def _excursion_evidence(shipment: Shipment, record: TemperatureRecord | None,
                        open_ones: Sequence[Excursion]) -> ExcursionEvidence:
    allowed = FRESH if shipment.storage == "2-8C" else CRYO
    readings = [celsius for _, celsius in json.loads(record.readings_json)] if record else []
    return ExcursionEvidence(worst_first(open_ones, allowed), allowed,
                             min(readings, default=None), max(readings, default=None))


# ---- the shipment list and a new shipment -------------------------------------------------------

def _render_list(*, errors: Errors | None = None, status: int = 200) -> tuple[str, int]:
    actor = require_actor()
    counts = (select(ShipmentItem.shipment_id, func.count().label("doses"))
              .where(ShipmentItem.removed_at.is_(None)).group_by(ShipmentItem.shipment_id).subquery())
    open_excursions = (select(Excursion.shipment_id, func.count().label("open"))
                       .where(Excursion.status == "open").group_by(Excursion.shipment_id).subquery())
    # Doses are counted in SQL: the list does not load the boxes' contents.
    stmt = (select(Shipment, func.coalesce(counts.c.doses, 0), func.coalesce(open_excursions.c.open, 0))
            .outerjoin(counts, counts.c.shipment_id == Shipment.id)
            .outerjoin(open_excursions, open_excursions.c.shipment_id == Shipment.id)
            .options(lazyload(Shipment.items))
            .order_by(Shipment.id.desc()))
    rows = db.session.execute(scope_to_site(stmt, Shipment, actor)).all()
    sites = (db.session.scalars(select(Site).order_by(Site.code)).all()
             if actor.role in CREATORS else [])
    return render_template(
        "shipments/list.html", rows=rows, sites=sites, storages=STORAGE, errors=errors or {},
        form=request.form if request.method == "POST" else {},
        awaiting_qa=[r for r in rows if r[2]],
    ), status


@bp.get("/shipments")
@roles_required(*SHIPMENT_READERS)
def shipment_list() -> tuple[str, int]:
    return _render_list()


@bp.post("/shipments")
@roles_required(*CREATORS)
def new_shipment() -> Page:
    form = FormReader(request.form)
    site_code = form.text("site_code", required=_('Choose the site the box goes to.'), max_length=8)
    storage = form.choice("storage", STORAGE, _('Choose the storage condition: 2–8 °C (fresh) or ≤ −150 °C (cryopreserved).'))
    if form.errors:
        return _render_list(errors=form.errors, status=422)
    assert site_code and storage
    outcome = commit_or_refuse(lambda: services.create_shipment(site_code=site_code, storage=storage,
                                                       actor=require_actor(), now=utcnow()),
                      fields=("site_code", "storage"), anchor="site_code")
    if isinstance(outcome, Refused):
        return _render_list(errors=outcome.errors, status=outcome.status)
    flash(_("Shipment %(code)s started for %(code2)s at %(storage)s. Scan each dose's bag label to pack it.", code=outcome.code, code2=outcome.site.code, storage=STORAGE_WORDS[outcome.storage]), "ok")
    return redirect(url_for(".shipment_page", shipment_id=outcome.id))


# ---- the shipment page and its forms ------------------------------------------------------------

@bp.get("/shipments/<int:shipment_id>")
@roles_required(*SHIPMENT_READERS)
def shipment_page(shipment_id: int) -> tuple[str, int]:
    return _render_shipment(shipment_or_404(shipment_id))


@bp.post("/shipments/<int:shipment_id>/pack")
@roles_required(*PACKERS)
def pack(shipment_id: int) -> Page:
    """One dose scanned into the box, for a browser without JavaScript (the page scans in
    place through the API otherwise): packed goes back to the page, ready for the next."""
    shipment = shipment_or_404(shipment_id)
    form = FormReader(request.form)
    scan = form.text("scan", required=_("Scan the Data Matrix on the dose's bag label."),
                     max_length=MAX_PAYLOAD)
    if form.errors:
        return _render_shipment(shipment, errors=_rekey(form.errors, {"scan": SCAN_FIELD}), status=422)
    assert scan is not None
    result = packing.scan_into(shipment, scan, actor=require_actor(), now=utcnow())
    if result.item is None:
        db.session.expire_all()
        shipment = shipment_or_404(shipment_id)
        if not _shipment_actions(shipment, require_actor(), [], MISSING).pack:
            # No packing panel to show it in (the box has left): the error summary says it.
            errors = {SCAN_FIELD: [_("Not packed: %(detail)s Code %(code)s.", detail=result.detail, code=result.code)]}
            return _render_shipment(shipment, errors=errors, status=result.status)
        return _render_shipment(shipment, status=result.status, pack_result=result)
    # No fragment: a page opened at a fragment does not autofocus, and the scan field must.
    return redirect(url_for(".shipment_page", shipment_id=shipment_id, packed=result.item.dose.code))


@bp.route("/shipments/<int:shipment_id>/doses/<code>/remove", methods=["GET", "POST"])
@roles_required(*UNPACKERS)
def remove_dose(shipment_id: int, code: str) -> Page:
    """GET: confirm taking a mis-packed dose out of the box, with the reason. POST: do it."""
    shipment = shipment_or_404(shipment_id)
    item = next((i for i in shipment.items if i.dose.code == code.upper()), None)
    if item is None or not SHIPMENT_LIFECYCLE.can("unpack", shipment.status):
        why = (_("it is not in this box") if item is None else
               _("the box is %(state)s: a dose comes out only before dispatch", state=words(shipment.status).lower()))
        flash(_("Dose %(code)s cannot be taken out of shipment %(shipment)s: %(why)s.", code=code.upper(),
                shipment=shipment.code, why=why), "warn")
        return redirect(url_for(".shipment_page", shipment_id=shipment.id, _anchor="doses"))
    patient = _patients_of([item.dose_id]).get(item.dose_id)

    def render(errors: Errors | None = None, status: int = 200) -> tuple[str, int]:
        return render_template("shipments/remove_dose.html", shipment=shipment, item=item, patient=patient,
                               errors=errors or {}, form=request.form if request.method == "POST" else {}), status

    if request.method == "GET":
        return render()
    form = FormReader(request.form)
    reason = form.text("reason", required=_("Say why the dose comes out of the box, for example: packed into the wrong box."),
                       max_length=2000)
    if form.errors:
        return render(form.errors, 422)
    outcome = commit_or_refuse(lambda: services.unpack_dose(shipment, dose_code=item.dose.code, reason=reason,
                                                            actor=require_actor(), now=utcnow()),
                               fields=("reason",), anchor="reason")
    if isinstance(outcome, Refused):
        db.session.expire_all()
        return render(outcome.errors, outcome.status)
    flash(_("Dose %(code)s taken out of shipment %(shipment)s: it is allocated again and can be packed into the right box.",
            code=outcome.dose.code, shipment=shipment.code), "ok")
    return redirect(url_for(".shipment_page", shipment_id=shipment.id, _anchor="doses"))


@bp.post("/shipments/<int:shipment_id>/box-label")
@roles_required(*BOX_LABEL_PRINTERS)
def print_box_label(shipment_id: int) -> Page:
    """The box label as PDF or ZPL, recorded as a print job like every label (a reprint needs a reason)."""
    shipment = shipment_or_404(shipment_id)
    form = FormReader(request.form)
    fmt = form.choice("format", ("pdf", "zpl"), _("Choose PDF or ZPL."))
    reason = form.text("reason", max_length=2000)
    if form.errors:
        return _render_shipment(shipment, errors=_rekey(form.errors, {"reason": "box-label-reason"}), status=422)
    assert fmt is not None

    def explain(error: DomainError) -> Errors | None:
        if isinstance(error, ReasonRequired):
            return {"box-label-reason": [_("The box label was printed before: give the reason for the reprint, "
                                           "for example: label torn.")]}
        return {"box-label-reason": [error.detail]}

    outcome = commit_or_refuse(lambda: print_labels(kind="shipment", target=str(shipment.id), fmt=fmt, reason=reason,
                                                    override=None, actor=require_actor(), now=utcnow()),
                               fields=("box-label-reason",), anchor="box-label-reason", explain=explain)
    if isinstance(outcome, Refused):
        db.session.expire_all()
        return _render_shipment(shipment_or_404(shipment_id), errors=outcome.errors, status=outcome.status)
    response = Response(outcome.content, mimetype=outcome.mimetype)
    disposition = "inline" if fmt == "pdf" else "attachment"
    response.headers["Content-Disposition"] = f'{disposition}; filename="{outcome.filename}"'
    response.headers["X-Print-Job-Id"] = str(outcome.job.id)
    return response


@bp.post("/shipments/<int:shipment_id>/dispatch")
@roles_required(*PACKERS)
def dispatch(shipment_id: int) -> Page:
    shipment = shipment_or_404(shipment_id)
    form = FormReader(request.form)
    courier = form.text("courier", required=_('Name the courier company or person taking the box.'))
    logger_id = form.text("logger_id", required=_('Enter the serial number of the temperature logger in the box.'), max_length=64)
    password = form.password()
    names = {"password": "dispatch-password"}
    if form.errors:
        return _render_shipment(shipment, errors=_rekey(form.errors, names), status=422)
    assert courier and logger_id
    outcome = commit_or_refuse(lambda: services.dispatch(
        shipment, courier=courier, logger_id=logger_id, signature=_signature(password, Meaning.DISPATCHED),
        actor=require_actor(), now=utcnow()), fields=("courier", "logger_id", "password"), anchor="dispatch")
    if isinstance(outcome, Refused):
        db.session.expire_all()
        return _render_shipment(shipment_or_404(shipment_id), errors=_rekey(outcome.errors, names),
                                status=outcome.status)
    flash(_('Shipment %(code)s dispatched with %(courier)s (logger %(logger_id)s): %(count)s dose(s) now in transit. Your signature is recorded.', code=shipment.code, courier=courier, logger_id=logger_id, count=len(shipment.items)), "ok")
    return redirect(url_for(".shipment_page", shipment_id=shipment_id))


@bp.post("/shipments/<int:shipment_id>/handoff")
@roles_required(*HANDOFF_ROLES)
def handoff(shipment_id: int) -> Page:
    shipment = shipment_or_404(shipment_id)
    form = FormReader(request.form)
    from_party = form.text("from_party", required=_('Enter who handed the box over.'))
    to_party = form.text("to_party", required=_('Enter who took the box.'))
    place = form.text("place", required=_('Enter where the box changed hands, for example Lanzhou airport.'))
    if form.errors:
        return _render_shipment(shipment, errors=form.errors, status=422)
    assert from_party and to_party and place
    outcome = commit_or_refuse(lambda: services.handoff(shipment, from_party=from_party, to_party=to_party, place=place,
                                               actor=require_actor(), now=utcnow()),
                      fields=("from_party", "to_party", "place"), anchor="from_party")
    if isinstance(outcome, Refused):
        db.session.expire_all()
        return _render_shipment(shipment_or_404(shipment_id), errors=outcome.errors, status=outcome.status)
    flash(_('Hand-off recorded: %(from_party)s → %(to_party)s at %(place)s.', from_party=from_party, to_party=to_party, place=place), "ok")
    return redirect(url_for(".shipment_page", shipment_id=shipment_id, _anchor="custody"))


@bp.post("/shipments/<int:shipment_id>/temperature")
@roles_required(*UPLOADERS)
def upload_temperature(shipment_id: int) -> Page:
    shipment = shipment_or_404(shipment_id)
    upload = request.files.get("logger_file")
    if upload is None or not upload.filename:
        return _render_shipment(shipment, errors={"logger_file": [
            _("Choose the file exported from the temperature logger.")]}, status=422)
    try:
        prepared = prepare_upload(shipment, upload.read(), upload.filename)
        outcome = commit_or_refuse(lambda: services.record_temperature(
            shipment_or_404(shipment_id), prepared=prepared, filename=upload.filename, actor=require_actor(),
            now=utcnow()),
            fields=("logger_file",), anchor="logger_file")
    except LoggerFileError as error:
        db.session.rollback()
        outcome = Refused({"logger_file": [str(error)]}, 422)
    if isinstance(outcome, Refused):
        db.session.expire_all()
        return _render_shipment(shipment_or_404(shipment_id), errors=outcome.errors, status=outcome.status)
    record, excursions = outcome
    if excursions:
        flash(_("%(readings_count)s readings read from %(filename)s. %(count)s temperature excursion(s) found: the shipment's doses are quarantined until QA decides.", readings_count=record.readings_count, filename=upload.filename, count=len(excursions)),
              "stop")
    else:
        flash(_('%(readings_count)s readings read from %(filename)s: the temperature stayed within %(storage)s.', readings_count=record.readings_count, filename=upload.filename, storage=STORAGE_WORDS[shipment.storage]), "ok")
    return redirect(url_for(".shipment_page", shipment_id=shipment_id, _anchor="temperature"))


@bp.post("/shipments/<int:shipment_id>/excursions")
@roles_required(*DISPOSERS)
def dispose_excursions(shipment_id: int) -> Page:
    shipment = shipment_or_404(shipment_id)
    form = FormReader(request.form)
    decision = form.choice("decision", ("accept", "reject"),
                           _('Decide: accept the excursion (doses back in use) or reject it (doses stay quarantined).'))
    reason = form.text("reason", required=_('Give the reason for your decision, for example the stability data it relies on.'), max_length=2000)
    password = form.password()
    names = {"password": "disposition-password"}
    if form.errors:
        return _render_shipment(shipment, errors=_rekey(form.errors, names), status=422)
    assert decision and reason
    outcome = commit_or_refuse(lambda: services.dispose_excursion(
        shipment, decision=decision, reason=reason, signature=_signature(password, Meaning.DISPOSITIONED),
        actor=require_actor(), now=utcnow()), fields=("decision", "reason", "password"), anchor="decision")
    if isinstance(outcome, Refused):
        db.session.expire_all()
        return _render_shipment(shipment_or_404(shipment_id), errors=_rekey(outcome.errors, names),
                                status=outcome.status)
    if decision == "accept":
        flash(_('%(count)s excursion(s) accepted: the doses quarantined for it are back in use.', count=len(outcome)), "ok")
    else:
        flash(_('%(count)s excursion(s) rejected: the doses stay quarantined for destruction or return.', count=len(outcome)), "warn")
    return redirect(url_for(".shipment_page", shipment_id=shipment_id, _anchor="temperature"))


@bp.post("/shipments/<int:shipment_id>/temperature-waiver")
@roles_required(*SHIPMENT_LIFECYCLE.roles("waive_temperature_data"))
def waive_temperature(shipment_id: int) -> Page:
    shipment = shipment_or_404(shipment_id)
    form = FormReader(request.form)
    reason = form.text("waiver_reason", required=_('Give the reason the temperature data is waived, for example the logger was lost in transit.'), max_length=2000)
    password = form.password()
    names = {"password": "waiver-password", "reason": "waiver_reason"}
    if form.errors:
        return _render_shipment(shipment, errors=_rekey(form.errors, names), status=422)
    outcome = commit_or_refuse(lambda: waive_temperature_data(
        shipment, reason=reason, signature=_signature(password, Meaning.WAIVED), actor=require_actor(), now=utcnow()),
        fields=("reason", "password"), anchor="waive")
    if isinstance(outcome, Refused):
        db.session.expire_all()
        return _render_shipment(shipment_or_404(shipment_id), errors=_rekey(outcome.errors, names),
                                status=outcome.status)
    flash(_('Temperature data of shipment %(code)s waived: its doses may be dispensed. Your reason and signature are recorded.', code=shipment.code), "warn")
    return redirect(url_for(".shipment_page", shipment_id=shipment_id, _anchor="temperature"))


# ---- the pharmacist's receipt screen --------------------------------------------------------------

@dataclass
class ExpectedDose:
    code: str
    subject_id: str | None
    payloads: list[str]


def _expected(shipment: Shipment) -> list[ExpectedDose]:
    """Each dose in the box with every payload that names it (bag label, assignment label)."""
    allocations = _active_allocations([i.dose_id for i in shipment.items])
    expected = []
    for item in shipment.items:
        allocation = allocations.get(item.dose_id)
        payloads = [bag_payloads(item.dose).compound]
        if allocation is not None:
            payloads.append(assignment_payload(allocation))
        expected.append(ExpectedDose(item.dose.code,
                                     allocation.visit.patient.subject_id if allocation else None, payloads))
    return expected


def _posted_scans() -> list[str]:
    """Scans from the screen (one hidden input each) and from the no-script box (one a line)."""
    scans = [s.strip() for s in request.form.getlist("scan")]
    scans += [line.strip() for line in request.form.get("scans", "").splitlines()]
    return [s for s in scans if s]


def _render_receipt(shipment: Shipment, *, errors: Errors | None = None, status: int = 200,
                    scans: Sequence[str] = ()) -> tuple[str, int]:
    readings = db.session.scalar(select(TemperatureRecord.readings_count)
                                 .where(TemperatureRecord.shipment_id == shipment.id)
                                 .order_by(TemperatureRecord.id.desc()).limit(1))
    return render_template(
        "shipments/receive.html", shipment=shipment, expected=_expected(shipment), errors=errors or {},
        form=request.form if request.method == "POST" else {}, scans=list(scans), readings=readings,
        open_excursions=len(services.open_excursions(shipment)),
    ), status


def _render_receipt_result(shipment: Shipment) -> tuple[str, int]:
    result = services.receipt_result(shipment)
    patients = _patients_of([i.dose_id for i in shipment.items])
    subjects = {i.dose.code: patients[i.dose_id].subject_id for i in shipment.items if i.dose_id in patients}
    names = _names([shipment.received_by_id])
    return render_template(
        "shipments/receipt_result.html", shipment=shipment, result=result, subjects=subjects,
        unexpected_words=unexpected_words,
        temperature=shipment_temperature(shipment), can_upload=SHIPMENT_LIFECYCLE.allowed(
            "record_temperature", shipment.status, require_actor().role), errors={},
        received_by=names.get(shipment.received_by_id or 0, ""),
        signatures=[s for s in signatures_for(shipment) if s.meaning == Meaning.RECEIVED.value],
    ), 200


@bp.route("/shipments/<int:shipment_id>/receive", methods=["GET", "POST"])
@roles_required(*RECEIVERS)
def receive(shipment_id: int) -> Page:
    shipment = shipment_or_404(shipment_id)
    if shipment.status in RECEIVED_STATES:
        # Receiving twice shows what was recorded the first time.
        return _render_receipt_result(shipment)
    if shipment.status not in services.RECEIVABLE_STATES:
        flash(_('Shipment %(code)s is %(status)s: it has not left the lab, so there is nothing to receive yet.', code=shipment.code, status=words(shipment.status).lower()), "warn")
        return redirect(url_for(".shipment_page", shipment_id=shipment.id))
    if request.method == "GET":
        return _render_receipt(shipment)
    form = FormReader(request.form)
    scans = _posted_scans()
    seal = form.choice("seal_intact", ("yes", "no"), _("Say whether the box's seal is intact: yes or no."))
    password = form.password()
    if len(scans) > 1000:
        form.add("scan", _('Too many scans for one box. Reload the page and scan again.'))
    if form.errors:
        return _render_receipt(shipment, errors=form.errors, status=422, scans=scans)
    outcome = commit_or_refuse(lambda: services.receive(
        shipment, scans=scans, seal_intact=seal == "yes", signature=_signature(password, Meaning.RECEIVED),
        actor=require_actor(), now=utcnow()), fields=("seal_intact", "password"), anchor="scan")
    if isinstance(outcome, Refused):
        db.session.expire_all()
        return _render_receipt(shipment_or_404(shipment_id), errors=outcome.errors, status=outcome.status,
                               scans=scans)
    if outcome.complete:
        flash(_('Shipment %(code)s received: all %(count)s dose(s) accepted into the pharmacy. Your signature is recorded.', code=shipment.code, count=len(outcome.accepted)), "ok")
    else:
        flash(_('Shipment %(code)s %(status)s: the discrepancies below are recorded. Tell the GMP lab.', code=shipment.code, status=words(outcome.status).lower()), "warn")
    return redirect(url_for(".receive", shipment_id=shipment.id))


# ---- the site pharmacy ----------------------------------------------------------------------------

@dataclass
class InventoryRow:
    dose: Dose
    subject_id: str
    visit: int
    holder: str
    facts: pharmacy.DoseFacts
    actions: list[str]
    expired: bool
    expires_soon: bool  # within a day of its shelf-life expiry; a thawed dose has its own window
    holder_words: str = ""
    blocked: dict[str, list[str]] = field(default_factory=dict)

    @property
    def thawed(self) -> bool:
        return self.dose.thawed_at is not None

    @property
    def journey(self) -> DoseJourney:
        return self.facts.journey

    @property
    def main_actions(self) -> list[str]:
        """One main action at a time: a frozen dose is thawed before it is dispensed."""
        return [a for a in self.actions if a in pharmacy.MAIN_ACTIONS][:1]

    @property
    def disposal_actions(self) -> list[str]:
        return [a for a in self.actions if a in pharmacy.DISPOSAL_ACTIONS]


def _inventory(actor: User, *, code: str | None = None) -> list[InventoryRow]:
    """The doses in the custody of the actor's site (its pharmacy or its wards), soonest
    expiry first: patient and current custodian come with each dose in one query, each dose's
    shipment and its temperature data in a second."""
    site_code = actor.site_code
    if site_code is None:
        return []
    holder = (select(CustodyEvent.to_party).where(CustodyEvent.dose_id == Dose.id)
              .order_by(CustodyEvent.occurred_at.desc(), CustodyEvent.id.desc()).limit(1)
              .correlate(Dose).scalar_subquery())
    stmt = (select(Dose, Patient.subject_id, Visit.number, holder)
            .join(Allocation, and_(Allocation.dose_id == Dose.id, Allocation.active))
            .join(Visit, Visit.id == Allocation.visit_id).join(Patient, Patient.id == Visit.patient_id)
            .where(Patient.site_id == actor.site_id, Dose.status.in_(INVENTORY_STATES),
                   or_(holder == custody.site_party(site_code), holder.like(f"{WARD_PREFIX}{site_code}:%")))
            .order_by(Dose.expires_at, Dose.id))
    if code is not None:
        stmt = stmt.where(Dose.code == code)
    now = utcnow()
    found = db.session.execute(stmt).all()
    journeys = journeys_of([dose.id for dose, *_ in found])
    rows = []
    for dose, subject_id, visit, held_by in found:
        expired = batch_rules.is_expired(dose.expires_at, now)
        facts = pharmacy.facts_of(dose, now, journeys.get(dose.id, NO_JOURNEY))
        rows.append(InventoryRow(dose, subject_id, visit, held_by, facts, pharmacy.actions_for(facts, actor.role),
                                 expired, not expired and dose.thawed_at is None
                                 and dose.expires_at - now < EXPIRY_WARNING,
                                 blocked=pharmacy.blocked_actions(facts, actor.role)))
    nurses = _nurse_names(actor) if any(Party.parse(r.holder).kind == "ward" for r in rows) else {}
    for row in rows:
        row.holder_words = party(row.holder, nurses)
    return rows


def _nurse_names(actor: User) -> dict[str, str]:
    """The printed names of the site's nurses (former ones too: a ward may still hold a dose)."""
    rows = db.session.execute(select(User.username, User.display_name)
                              .where(User.role == Role.NURSE, User.site_id == actor.site_id))
    return {username: name for username, name in rows}


@dataclass
class ScanOutcome:
    """The last scan on the pharmacy's scan station, as the page says it."""

    ok: bool
    title: str
    detail: str
    code: str | None = None

    @property
    def tone(self) -> str:
        return "ok" if self.ok else "stop"


def _render_inventory(*, result: ScanOutcome | None = None, errors: Errors | None = None,
                      status: int = 200) -> tuple[str, int]:
    actor = require_actor()
    rows = _inventory(actor)
    incoming = db.session.scalars(
        scope_to_site(select(Shipment), Shipment, actor).options(lazyload(Shipment.items))
        .where(Shipment.status.in_(services.RECEIVABLE_STATES)).order_by(Shipment.dispatched_at)).all()
    return render_template("shipments/pharmacy.html", rows=rows, incoming=incoming, now=utcnow(),
                           result=result, errors=errors or {}), status


@bp.get("/pharmacy")
@roles_required(*PHARMACISTS)
def inventory() -> tuple[str, int]:
    return _render_inventory()


@bp.post("/pharmacy/scan")
@roles_required(*PHARMACISTS)
def pharmacy_scan() -> Page:
    """A bag scanned at the pharmacy opens its dose; a shipment label opens its receipt."""
    form = FormReader(request.form)
    payload = form.text("scan", required=_("Scan the Data Matrix on the dose's bag label."), max_length=MAX_PAYLOAD)
    if form.errors or payload is None:
        return _render_inventory(errors=form.errors, status=422)
    try:
        found = read_scan(payload)
    except UnrecognizedBarcode as error:
        return _render_inventory(result=ScanOutcome(False, "Not a label we print", f"{error.detail} Scan the Data "
                                                    "Matrix on the bag label or the assignment label.", error.code),
                                 status=error.status)
    if found.kind == "shipment" and found.obj is not None and found.obj.site_id == require_actor().site_id:
        return redirect(url_for(".receive", shipment_id=found.obj.id))
    if found.kind != "dose":
        return _render_inventory(result=ScanOutcome(False, f"Not a dose: a {found.kind} label",
                                                    "Scan the Data Matrix on the dose's bag label."), status=422)
    rows = _inventory(require_actor(), code=found.obj.code) if found.obj is not None else []
    if not rows:
        return _render_inventory(result=ScanOutcome(
            False, "Not in your pharmacy", "This bag is not a dose in your pharmacy's or wards' custody: put it "
            "aside and tell the GMP lab.", "NOT_IN_SITE_CUSTODY"), status=409)
    return redirect(url_for(".dose_page", code=rows[0].dose.code))


# Plain words for what holds an action back; the pharmacy's rules give the codes.
BLOCKED_WORDS = {
    "DOSE_EXPIRED": _l('The dose has expired: it cannot be given. Destroy it or return it, with the reason.'),
    "AWAITING_QA_DECISION": _l("Quarantined until QA decides on the temperature excursion: it is not destroyed or returned before QA's decision."),
}


@bp.get("/pharmacy/doses/<code>")
@roles_required(*PHARMACISTS)
def dose_page(code: str) -> tuple[str, int]:
    rows = _inventory(require_actor(), code=code[:24])
    if not rows:
        raise NotFound(_("Dose %(code)s is not in your pharmacy's custody.", code=code))
    return render_template("shipments/pharmacy_dose.html", row=rows[0], now=utcnow(),
                           blocked_words=BLOCKED_WORDS), 200


# The receipt script's words (static/js/receipt.js calls t(...) with these English texts).
RECEIPT_SCRIPT_WORDS = (
    N_('%(count)s doses have not been scanned: %(doses)s.'),
    N_('%(count)s still to scan.'),
    N_('. '),
    N_('1 dose has not been scanned: %(doses)s.'),
    N_("A lot's DIN label"),
    N_('A shipment label'),
    N_('Already noted.'),
    N_('Already scanned: dose %(code)s'),
    N_('Continue scanning, or sign below.'),
    N_('A dose label'),
    N_('A dose label this pharmacy does not know'),
    N_('A wristband'),
    N_('Dose %(code)s of lot %(lot)s'),
    N_('Dose %(code)s of lot %(lot)s for %(subject_id)s'),
    N_('It belongs to shipment %(shipment)s.'),
    N_('It is already at this site.'),
    N_('It is in no shipment.'),
    N_('It is not at this site.'),
    N_('Not a label we print'),
    N_('Every expected dose is scanned.'),
    N_('For patient %(subject)s.'),
    N_('IN THIS SHIPMENT: dose %(code)s'),
    N_('It is counted once. Scan the next dose.'),
    N_('It will not be recorded. Scan the next dose.'),
    N_('NOT A DOSE LABEL'),
    N_('NOT IN THIS SHIPMENT'),
    N_('Not a dose label'),
    N_('Not in this shipment'),
    N_('Ready to scan.'),
    N_('Receive shipment'),
    N_('Receive with %(count)s missing'),
    N_('Remove'),
    N_('Removed: %(what)s'),
    N_('Scan the Data Matrix on the bag label or the assignment label. Noted as unexpected: remove it below if it was a slip.'),
    N_('Scanned'),
    N_('Scanner paused: press Esc or click here to scan again.'),
    N_('This bag is not expected in this box: put it aside. It is recorded as unexpected.'),
    N_('Wristband of patient %(subject_id)s'),
    N_('Your %(count)s earlier scan(s) are kept'),
    N_('scan: %(what)s'),
)


def receipt_script_words() -> str:
    return json.dumps({text: _(text) for text in RECEIPT_SCRIPT_WORDS}, ensure_ascii=False)


# The pharmacy's row actions as the inventory names them.
ACTION_WORDS = (N_("Thaw"), N_("Dispense"), N_("Destroy"), N_("Return"))
ACTIONS = {
    "thaw": {"title": _l('Record the thaw of dose'), "button": _l('Record thaw')},
    "dispense": {"title": _l('Dispense dose'), "button": _l('Dispense to the nurse')},
    "destroy": {"title": _l('Destroy dose'), "button": _l('Destroy dose'), "meaning": Meaning.DESTROYED},
    "return": {"title": _l('Return dose'), "button": _l('Return to the manufacturer'), "meaning": Meaning.RETURNED},
}


def _site_dose(code: str, action: str) -> InventoryRow | Response:
    rows = _inventory(require_actor(), code=code[:24])
    if not rows:
        raise NotFound(_("Dose %(code)s is not in your pharmacy's custody.", code=code))
    row = rows[0]
    if action not in row.actions:
        flash(_("Dose %(code)s is %(status)s%(expired)s: you cannot %(action)s it now.", code=row.dose.code,
                status=words(row.dose.status).lower(), expired=_(" and expired") if row.expired else "",
                action=_(action.capitalize()).lower()), "warn")
        return redirect(url_for(".dose_page", code=row.dose.code))
    return row


def _site_nurses(actor: User) -> list[User]:
    return list(db.session.scalars(select(User).where(User.role == Role.NURSE, User.site_id == actor.site_id,
                                                      User.active).order_by(User.display_name)))


def _render_action(row: InventoryRow, action: str, *, errors: Errors | None = None,
                   status: int = 200) -> tuple[str, int]:
    actor = require_actor()
    now = utcnow()
    form: Mapping[str, str] = request.form if request.method == "POST" else {
        "thawed_at": now.astimezone(reader_zone()).strftime("%Y-%m-%d %H:%M")}
    return render_template(
        "shipments/dose_action.html", row=row, action=action, spec=ACTIONS[action], errors=errors or {},
        form=form, nurses=_site_nurses(actor) if action == "dispense" else [], now=now,
        post_thaw=row.dose.lot.post_thaw_hours,
    ), status


def _parse_local(form: FormReader, name: str, what: str) -> datetime | None:
    """A date and time on the reader's clock (an explicit offset is kept), as UTC."""
    value = form.raw(name)
    zone = reader_zone()
    if not value:
        form.add(name, _("Enter %(what)s.", what=what))
        return None
    try:
        return from_local(datetime.fromisoformat(value.strip().replace(" ", "T", 1)), zone)
    except LocalTimeError as error:
        if error.kind == "nonexistent":
            form.add(name, _("%(time)s did not happen in %(zone)s: the clocks went forward. Check the time.",
                             time=f"{error.naive:%Y-%m-%d %H:%M}", zone=zone.key))
        else:
            form.add(name, _("%(time)s happened twice in %(zone)s (the clocks went back): add the offset, "
                             "for example %(example)s.", time=f"{error.naive:%Y-%m-%d %H:%M}", zone=zone.key,
                             example=f"{error.naive:%Y-%m-%d %H:%M}+02:00"))
        return None
    except ValueError:
        form.add(name, _("Enter %(what)s as a date and time on your clock (%(zone)s), for example %(example)s.",
                         what=what, zone=zone.key, example="2026-03-14 09:30"))
        return None


def _done(row: InventoryRow, message: str, category: str = "ok") -> Response:
    """Back to the inventory, whose scan field waits for the next bag (no fragment: a page
    opened at one would not start at the scan field)."""
    flash(message, category)
    return redirect(url_for(".inventory"))


@bp.route("/pharmacy/doses/<code>/thaw", methods=["GET", "POST"])
@roles_required(*PHARMACISTS)
def thaw(code: str) -> Page:
    row = _site_dose(code, "thaw")
    if isinstance(row, Response):
        return row
    if request.method == "GET":
        return _render_action(row, "thaw")
    form = FormReader(request.form)
    thawed_at = _parse_local(form, "thawed_at", _("the time the thaw ended"))
    if form.errors:
        return _render_action(row, "thaw", errors=form.errors, status=422)
    assert thawed_at is not None
    outcome = commit_or_refuse(lambda: pharmacy.thaw(row.dose, thawed_at=thawed_at, actor=require_actor(), now=utcnow()),
                      fields=("thawed_at",), anchor="thawed_at")
    if isinstance(outcome, Refused):
        return _render_action(row, "thaw", errors=outcome.errors, status=outcome.status)
    if batch_rules.is_expired(outcome.expires_at, utcnow()):
        flash(_("Dose %(code)s thawed at %(thawed)s is now expired (at %(expires)s): it cannot be given. Destroy it "
                "or return it, with the reason.", code=outcome.code, thawed=when(thawed_at),
                expires=when(outcome.expires_at)), "stop")
    else:
        flash(_("Dose %(code)s thawed at %(thawed)s: infuse it before %(expires)s.",
                code=outcome.code, thawed=when(thawed_at), expires=when(outcome.expires_at)), "ok")
    return redirect(url_for(".dose_page", code=outcome.code))


@bp.route("/pharmacy/doses/<code>/dispense", methods=["GET", "POST"])
@roles_required(*PHARMACISTS)
def dispense(code: str) -> Page:
    row = _site_dose(code, "dispense")
    if isinstance(row, Response):
        return row
    if request.method == "GET":
        return _render_action(row, "dispense")
    form = FormReader(request.form)
    nurse = form.text("to", required=_("Choose the nurse who takes the dose to the ward."), max_length=64)
    bag_scan = form.text("bag_scan", required=_("Scan the bag label of dose %(code)s to confirm it is the bag in your "
                                                "hand.", code=row.dose.code), max_length=MAX_PAYLOAD)
    if form.errors:
        return _render_action(row, "dispense", errors=form.errors, status=422)
    assert nurse is not None and bag_scan is not None

    def explain(error: DomainError) -> Errors | None:
        if isinstance(error, BagMismatch | UnrecognizedBarcode):
            return {"bag_scan": [_("%(refusal)s Code %(code)s.", refusal=translated(error.detail), code=error.code)]}
        return None

    outcome = commit_or_refuse(lambda: pharmacy.dispense(row.dose, to=nurse, bag_scan=bag_scan, actor=require_actor(),
                                                         now=utcnow()),
                               fields=("to", "bag_scan"), anchor="to", explain=explain)
    if isinstance(outcome, Refused):
        return _render_action(row, "dispense", errors=outcome.errors, status=outcome.status)
    name = _nurse_names(require_actor()).get(nurse, nurse)
    return _done(row, _("Dose %(code)s for %(subject_id)s dispensed to nurse %(name)s: the bag scanned matched. "
                        "Scan the next bag.", code=outcome.code, subject_id=row.subject_id, name=name))


@bp.route("/pharmacy/doses/<code>/destroy", methods=["GET", "POST"])
@roles_required(*PHARMACISTS)
def destroy(code: str) -> Page:
    row = _site_dose(code, "destroy")
    if isinstance(row, Response):
        return row
    if request.method == "GET":
        return _render_action(row, "destroy")
    actor = require_actor()
    form = FormReader(request.form)
    reason = form.text("reason", required=_('Give the reason for destroying the dose.'), max_length=2000)
    password = form.password()
    witness_name = form.text("witness_username", required=_('Enter the username of the person witnessing the destruction.'), max_length=64)
    witness_password = form.data.get("witness_password") or ""
    if not witness_password:
        form.add("witness_password", _('The witness enters their own password.'))
    if form.errors:
        return _render_action(row, "destroy", errors=form.errors, status=422)
    failed: list[int | None] = []

    def operation() -> Dose:
        try:
            return pharmacy.destroy(row.dose, reason=reason, signature=_signature(password, Meaning.DESTROYED),
                                    witnessed_by=WitnessInput(witness_name or "", witness_password),
                                    actor=actor, now=utcnow())
        except AuthFailure as error:
            failed.append(error.user_id)
            raise

    def explain(error: DomainError) -> Errors | None:
        if isinstance(error, WitnessInvalid):
            return {"witness_username": [_("%(refusal)s Ask a pharmacist or nurse of your site to witness.", refusal=translated(error.detail))]}
        if isinstance(error, AccountLocked) and not actor.is_locked(utcnow()):
            return {"witness_username": [_("The witness's account is locked: %(refusal)s Ask another colleague to witness.", refusal=translated(error.detail))]}
        return None

    outcome = commit_or_refuse(operation, fields=("reason", "password", "witness_username", "witness_password"),
                      anchor="reason", explain=explain)
    if isinstance(outcome, Refused):
        errors = outcome.errors
        if failed and failed[-1] != actor.id:
            errors = {"witness_password": [_("The witness's username or password is wrong. The witness enters "
                                           "their own username and password.")]}
        return _render_action(row, "destroy", errors=errors, status=outcome.status)
    return _done(row, _("Dose %(code)s destroyed (%(reason)s). Your signature and the witness's are recorded.", code=outcome.code, reason=reason))


@bp.route("/pharmacy/doses/<code>/return", methods=["GET", "POST"])
@roles_required(*PHARMACISTS)
def return_dose(code: str) -> Page:
    row = _site_dose(code, "return")
    if isinstance(row, Response):
        return row
    if request.method == "GET":
        return _render_action(row, "return")
    form = FormReader(request.form)
    reason = form.text("reason", required=_('Give the reason for returning the dose.'), max_length=2000)
    password = form.password()
    outcome = signed_action(form, lambda: pharmacy.return_to_manufacturer(
        row.dose, reason=reason, signature=_signature(password, Meaning.RETURNED), actor=require_actor(),
        now=utcnow()), fields=("reason", "password"), anchor="reason")
    if isinstance(outcome, Refused):
        return _render_action(row, "return", errors=outcome.errors, status=outcome.status)
    return _done(row, _('Dose %(code)s returned to the manufacturer (%(reason)s). Your signature is recorded; send it back with the courier.', code=outcome.code, reason=reason))
