"""Print jobs (recorded, reprints counted and justified) and print-then-scan verification."""
import json
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from flask import current_app
from sqlalchemy import func, select

from cell_chain.accounts.models import User
from cell_chain.accounts.permissions import require_role
from cell_chain.accounts.roles import Role
from cell_chain.accounts.services import confirm_password, user_by_username
from cell_chain.batches import services as batches
from cell_chain.batches.models import Dose, Lot
from cell_chain.core import audit
from cell_chain.core.db import db, lock_row
from cell_chain.core.errors import DomainError, NotFound, ReasonRequired, ValidationFailed
from cell_chain.core.isbt128 import Isbt128Error, Parsed, parse
from cell_chain.core.scanning import UnrecognizedBarcode, normalise
from cell_chain.labels import rendering
from cell_chain.labels.models import LabelVerification, PrintedLabel, PrintJob
from cell_chain.labels.payloads import bag_payloads
from cell_chain.web.words import N_
from cell_chain.core.messages import _l


class ReprintLimitReached(DomainError):
    status, code, title = 403, "REPRINT_LIMIT", "The reprint limit needs a QA override"


class PrinterUnavailable(DomainError):
    status, code, title = 503, "PRINTER_UNAVAILABLE", "The label printer did not accept the job"


class NothingToPrint(DomainError):
    status, code, title = 409, "NOTHING_TO_PRINT", "There is no label to print for this target"


@dataclass(frozen=True)
class LabelItem:
    """One label to print: who it is for, the data the template shows, what it encodes."""

    subject_key: str
    data: Any
    payloads: tuple[str, ...]
    dose_id: int | None = None


@dataclass(frozen=True)
class LabelSource:
    label_kind: str
    roles: tuple[Role, ...]
    # (target, actor, now): site-owned kinds answer NotFound for another site's subject.
    resolve: Callable[[str, User, datetime], list[LabelItem]]


_SOURCES: dict[str, LabelSource] = {}


def register_label_source(job_kind: str, source: LabelSource) -> LabelSource:
    """Later domains (patients, shipments) add their label kinds without labels importing them."""
    _SOURCES[job_kind] = source
    return source


def bag_label_item(dose: Dose) -> LabelItem:
    cfg = current_app.config
    payloads = bag_payloads(dose)
    lot = dose.lot
    data = rendering.BagLabel(
        product_name=cfg["PRODUCT_NAME"], caution=cfg["CAUTION_STATEMENT"], din=payloads.din,
        product=payloads.product, dose_number=payloads.dose_number, expiry=payloads.expiry,
        storage="Store at 2–8 °C. Do not freeze." if lot.presentation == "fresh"
        else "Store at ≤ −150 °C (vapour phase liquid nitrogen)",
        cells_text="4×10⁷ cells", volume_text="40 ml", lot_number=lot.lot_number,
        facility_name=cfg["FACILITY_NAME"], dose_code=dose.code,
    )
    return LabelItem(dose.code, data, (payloads.din.payload, payloads.product.payload, payloads.compound),
                     dose.id)


def _dose_items(target: str, actor: User, now: datetime) -> list[LabelItem]:
    dose = db.session.scalar(select(Dose).where(Dose.code == target))
    if dose is None:
        raise NotFound(N_("No such dose."))
    if dose.status == "rejected":
        raise NothingToPrint(N_("A dose rejected at fill gets no bag label."))
    return [bag_label_item(dose)]


def _lot_items(target: str, actor: User, now: datetime) -> list[LabelItem]:
    lot = db.session.get(Lot, int(target)) if target.isdigit() and len(target) < 10 else None
    if lot is None:
        raise NotFound(N_("No such lot."))
    items = [bag_label_item(d) for d in lot.doses if d.status != "rejected"]
    if not items:
        raise NothingToPrint(N_("The lot has no accepted doses to label."))
    return items


register_label_source("dose", LabelSource("bag", (Role.LAB,), _dose_items))
register_label_source("lot", LabelSource("bag", (Role.LAB,), _lot_items))


@dataclass(frozen=True)
class PrintOutput:
    job: PrintJob
    content: bytes
    mimetype: str
    filename: str


def _previous_prints(label_kind: str, keys: Sequence[str]) -> dict[str, int]:
    rows = db.session.execute(
        select(PrintedLabel.subject_key, func.max(PrintedLabel.print_number))
        .where(PrintedLabel.label_kind == label_kind, PrintedLabel.subject_key.in_(keys))
        .group_by(PrintedLabel.subject_key)
    ).all()
    return {key: count for key, count in rows}


def print_counts(label_kind: str, keys: Sequence[str]) -> dict[str, int]:
    """How many times each label was printed; a key never printed is absent."""
    return _previous_prints(label_kind, keys) if keys else {}


def _qa_override(given: dict[str, str] | None, now: datetime) -> User:
    if not given:
        raise ReprintLimitReached(
            N_("This label has reached its reprint limit; a QA person must approve another print "
            "(field 'override': {username, password})."))
    user = user_by_username(given.get("username", ""))
    if user is None or user.role != Role.QA or not user.active:
        raise ReprintLimitReached(N_("The override must come from an active QA account."))
    # A second person's password, like a witness's: their failures never lock them out.
    confirm_password(user, given.get("password", ""), now=now, scope="witness")
    return user


def send_to_printer(address: str, zpl: str, *, timeout: float = 5.0) -> None:
    """Raw TCP 9100, as Zebra printers take ZPL."""
    host, _, port = address.rpartition(":")
    try:
        with socket.create_connection((host or address, int(port or 9100)), timeout=timeout) as conn:
            conn.sendall(zpl.encode("utf-8"))
    except (OSError, ValueError) as error:
        raise PrinterUnavailable(_l("Printer %(address)s did not accept the job: %(error)s.", address=address, error=error)) from None


def print_labels(*, kind: str, target: str, fmt: str, reason: str | None,
                 override: dict[str, str] | None, actor: User, now: datetime) -> PrintOutput:
    """Render and record a print job. A label printed before is a reprint: it needs a reason,
    is marked REPRINT on the label, and past the limit needs a QA override."""
    source = _SOURCES.get(kind)
    if source is None:
        raise ValidationFailed({"kind": [_l("Printing %(kind)s labels is not available.", kind=kind)]})
    require_role(actor, source.roles)
    items = source.resolve(target, actor, now)
    previous = _previous_prints(source.label_kind, [i.subject_key for i in items])
    is_reprint = bool(previous)
    why = (reason or "").strip() or None
    if is_reprint and not why:
        raise ReasonRequired(N_("These labels were printed before: give the reason for the reprint."))
    override_by = None
    if max(previous.values(), default=0) > current_app.config["REPRINT_LIMIT"]:
        override_by = _qa_override(override, now)
    numbers = {i.subject_key: previous.get(i.subject_key, 0) + 1 for i in items}
    datas = [replace(i.data, reprint=numbers[i.subject_key] - 1) for i in items]
    if fmt == "pdf":
        content, mimetype, ext = rendering.render_pdf(source.label_kind, datas), "application/pdf", "pdf"
    else:
        content = rendering.render_zpl(source.label_kind, datas).encode("utf-8")
        mimetype, ext = "application/vnd.zebra.zpl", "zpl"
    job = PrintJob(kind=kind, target=target, format=fmt, label_kind=source.label_kind,
                   template_version=rendering.template_version(source.label_kind, datas),
                   copies=len(items), is_reprint=is_reprint, reason=why,
                   override_by_id=override_by.id if override_by else None,
                   printed_by_id=actor.id, printed_at=now)
    audit.record_created(job, "labels.printed", actor=actor, at=now, reason=why)
    for item in items:
        db.session.add(PrintedLabel(job=job, label_kind=source.label_kind, subject_key=item.subject_key,
                                    dose_id=item.dose_id, print_number=numbers[item.subject_key],
                                    payloads=json.dumps(item.payloads)))
    printer = current_app.config.get("ZEBRA_PRINTER")
    if fmt == "zpl" and printer:
        job.sent_to = printer
        send_to_printer(printer, content.decode("utf-8"))
    db.session.flush()
    return PrintOutput(job, content, mimetype, f"{kind}-{target}-{job.id}.{ext}")


# ---- print-then-scan ----------------------------------------------------------------------

_EXPECTED: dict[str, Callable[[Dose], str | None]] = {"bag": lambda dose: bag_payloads(dose).compound}
_ON_VERIFIED: dict[str, Callable[[Dose, User, datetime], None]] = {}
# When each kind of label of a dose was verified (None: not yet).
_VERIFIED_AT: dict[str, Callable[[Dose], datetime | None]] = {"bag": lambda dose: dose.bag_label_verified_at}


def register_label_check(label_kind: str, expected: Callable[[Dose], str | None],
                         on_verified: Callable[[Dose, User, datetime], None],
                         verified_at: Callable[[Dose], datetime | None]) -> None:
    _EXPECTED[label_kind] = expected
    _ON_VERIFIED[label_kind] = on_verified
    _VERIFIED_AT[label_kind] = verified_at


@dataclass(frozen=True)
class AlreadyVerified:
    """The dose's current label scanned back again after it was verified: it still matches,
    and nothing changes or is recorded (the first scan's record stands)."""

    dose_id: int
    label_kind: str
    verified_at: datetime
    matched: bool = True
    code: str | None = None


def _bag_verified(dose: Dose, actor: User, now: datetime) -> None:
    dose.bag_label_verified_at = now
    audit.record_change(dose, "dose.bag_label_verified", actor=actor, at=now)
    batches.make_available_if_ready(dose, actor=actor, now=now)


_ON_VERIFIED["bag"] = _bag_verified


def verify_label(dose: Dose, *, scan: str, actor: User, now: datetime) -> LabelVerification | AlreadyVerified:
    """Match a scanned-back label against what the dose's labels must encode. Every attempt
    is recorded, except a matching scan of a label already verified: that changes nothing
    and is answered AlreadyVerified. The caller answers LABEL_MISMATCH when `matched` is false."""
    require_role(actor, (Role.LAB, Role.COORDINATOR))
    # Two scans of one label racing each other: the later one waits and sees the first's result.
    lock_row(dose)
    payload = scan.strip()
    label_kind, code = None, None
    try:
        parsed = parse(payload)
        label_kind = parsed.label
    except Isbt128Error:
        code = "UNRECOGNIZED_BARCODE"
    expected = _EXPECTED.get(label_kind or "", lambda dose: None)(dose)
    matched = code is None and expected is not None and parsed.payload == expected
    if code is None and not matched:
        code = "LABEL_MISMATCH"
    if matched and label_kind and (verified_at := _VERIFIED_AT[label_kind](dose)) is not None:
        return AlreadyVerified(dose.id, label_kind, verified_at)
    if matched and not _was_printed(label_kind, dose, expected):
        # A preview on a screen, or a label printed for another dose, is not an applied label.
        matched, code = False, "LABEL_NOT_PRINTED"
    verification = LabelVerification(dose_id=dose.id, label_kind=label_kind, scanned=payload[:512],
                                     matched=matched, code=code, verified_by_id=actor.id, verified_at=now)
    audit.record_created(verification, "label.verified" if matched else "label.mismatch", actor=actor, at=now)
    if matched and label_kind:
        _ON_VERIFIED[label_kind](dose, actor, now)
    return verification


# What a label says it is for, read from the label alone: the key each kind carries.
_NAMED_DOSE: dict[str, Callable[[Parsed], Dose | None]] = {
    "bag": lambda parsed: db.session.scalar(
        select(Dose).join(Lot, Dose.lot_id == Lot.id)
        .where(Lot.din == parsed.din.code, Dose.number == parsed.dose_number.number)),  # type: ignore[union-attr]
}


def register_named_dose(label_kind: str, named: Callable[[Parsed], Dose | None]) -> None:
    """How a label kind names its dose (the assignment label by its COI)."""
    _NAMED_DOSE[label_kind] = named


@dataclass(frozen=True)
class ScannedLabel:
    """A scanned-back label as it reads: its kind, its exact payload and the dose it names
    (None when no dose has that identity). Whether it is that dose's current, printed label
    is `verify_label`'s question."""

    label_kind: str
    payload: str
    dose: Dose | None


def read_label(scan: str) -> ScannedLabel:
    """Which of our dose labels a scan is and which dose it names, from the payload itself:
    a bag label by its DIN and dose number, an assignment label by its COI. Raises
    UnrecognizedBarcode for anything else (garbage, a DIN or product code alone, a wristband)."""
    text = normalise(scan)
    try:
        parsed = parse(text)
    except Isbt128Error as error:
        raise UnrecognizedBarcode(_l("This is not one of our dose labels (%(error)s).", error=error)) from None
    named = _NAMED_DOSE.get(parsed.label or "")
    if named is None:
        raise UnrecognizedBarcode(N_("This barcode alone does not name a dose."))
    return ScannedLabel(parsed.label or "", parsed.payload, named(parsed))


def _was_printed(label_kind: str, dose: Dose, payload: str) -> bool:
    """Whether a label carrying exactly this payload was printed for this dose."""
    printed = db.session.scalars(select(PrintedLabel.payloads).where(
        PrintedLabel.label_kind == label_kind, PrintedLabel.subject_key == dose.code))
    return any(payload in json.loads(payloads) for payloads in printed)


def labels_verified(dose: Dose) -> bool:
    """Packing needs the bag label and (once allocated) the assignment label verified."""
    return dose.bag_label_verified_at is not None and all(
        check(dose) for check in _PACK_CHECKS)


_PACK_CHECKS: list[Callable[[Dose], bool]] = []


def register_pack_check(check: Callable[[Dose], bool]) -> None:
    _PACK_CHECKS.append(check)
