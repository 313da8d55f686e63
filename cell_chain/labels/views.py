"""Pages for bag labels: a dose's label preview and printing a whole lot's labels."""
import io
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

from flask import Blueprint, Response, redirect, render_template, request, url_for
from flask_babel import gettext as _
from markupsafe import Markup
from PIL import Image, ImageDraw, ImageFont

from cell_chain.accounts.models import User
from cell_chain.accounts.permissions import require_actor, roles_required
from cell_chain.accounts.roles import Role
from cell_chain.batches.loaders import dose_by_code_or_404, get_or_404
from cell_chain.batches.models import Lot
from cell_chain.batches.views import page_helpers, register_lot_panel, render_lot
from cell_chain.core.clock import utcnow
from cell_chain.core.messages import translated
from cell_chain.core.errors import DomainError, ReasonRequired
from cell_chain.labels import rendering, scan_back, services
from cell_chain.web.forms import Errors, FormReader, Refused, commit_or_refuse
from cell_chain.core.messages import _l

bp = Blueprint("label_pages", __name__)
# The lot's print form shows the lot's words and status tags, as the lot page does.
bp.context_processor(page_helpers)

PREVIEW_READERS = (Role.LAB, Role.QA, Role.ADMIN, Role.MONITOR)
PREVIEW_DPI = 150
LABEL_SCANNERS = (Role.LAB,)  # bag labels are printed and scanned back by the GMP lab
SCAN_FIELD = "scan-input"  # the lot page's scan field, where its errors point


@lru_cache(maxsize=4)
def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    for path in ("/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf",
                 "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"):
        if Path(path).exists():
            return ImageFont.truetype(path, size)
    return ImageFont.load_default(size)


def _mark_preview(png: bytes) -> bytes:
    """Stamp PREVIEW across the picture: a screen image is not a label, and nobody should
    attach a print of it or mistake it for the printed one."""
    with Image.open(io.BytesIO(png)) as opened:
        image = opened.convert("RGBA")
        dpi = opened.info.get("dpi", (PREVIEW_DPI, PREVIEW_DPI))
    stamp = Image.new("RGBA", image.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(stamp)
    font = _font(max(image.width // 16, 12))
    text = "PREVIEW · NOT A LABEL"
    box = draw.textbbox((0, 0), text, font=font)
    width, height = box[2] - box[0], box[3] - box[1]
    band = Image.new("RGBA", (width + 24, height + 24), (0, 0, 0, 0))
    ImageDraw.Draw(band).text((12 - box[0], 12 - box[1]), text, font=font, fill=(212, 53, 28, 150))
    band = band.rotate(40, expand=True, resample=Image.Resampling.BICUBIC)
    stamp.alpha_composite(band, ((image.width - band.width) // 2, (image.height - band.height) // 2))
    out = io.BytesIO()
    Image.alpha_composite(image, stamp).convert("RGB").save(out, format="PNG", dpi=dpi)
    return out.getvalue()


@bp.get("/doses/<code>/label.png")
@roles_required(*PREVIEW_READERS)
def bag_label_preview(code: str) -> Response:
    """The dose's bag label as it would print, for the screen; no print job is recorded."""
    dose = dose_by_code_or_404(code)
    if dose.status == "rejected":
        raise services.NothingToPrint(_l("A dose rejected at fill gets no bag label."))
    png = rendering.render_png("bag", services.bag_label_item(dose).data, dpi=PREVIEW_DPI)
    response = Response(_mark_preview(png), mimetype="image/png")
    response.headers["Content-Disposition"] = f'inline; filename="bag-label-preview-{dose.code}.png"'
    return response


def _render_print_form(lot: Lot, *, errors: Errors | None = None, status: int = 200) -> tuple[str, int]:
    accepted = [d for d in lot.doses if d.accepted_at_fill]
    printed = bool(services.print_counts("bag", [d.code for d in accepted]))
    return render_template("labels/lot_print.html", lot=lot, accepted=accepted, printed=printed,
                           errors=errors or {}, form=request.form if request.method == "POST" else {}), status


@bp.route("/lots/<int:lot_id>/labels", methods=["GET", "POST"])
@roles_required(Role.LAB)
def print_lot_labels(lot_id: int) -> Response | tuple[str, int]:
    """GET: the print form. POST: every accepted dose's bag label as one PDF, returned inline."""
    lot = get_or_404(Lot, lot_id)
    if request.method == "GET":
        return _render_print_form(lot)
    form = FormReader(request.form)
    reason = form.text("reason", max_length=2000)
    if form.errors:
        return _render_print_form(lot, errors={"label-reason": form.errors["reason"]}, status=422)

    def explain(error: DomainError) -> Errors | None:
        if isinstance(error, ReasonRequired):
            return {"label-reason": [_("%(refusal)s For example: labels damaged, printer jam.", refusal=translated(error.detail))]}
        if isinstance(error, services.ReprintLimitReached):
            return {"label-reason": [_("These labels have reached their reprint limit: another print "
                                     "needs a QA person's approval. Ask QA.")]}
        return None

    outcome = commit_or_refuse(lambda: services.print_labels(
        kind="lot", target=str(lot.id), fmt="pdf", reason=reason, override=None,
        actor=require_actor(), now=utcnow()),
        fields=("label-reason",), anchor="label-reason", explain=explain)
    if isinstance(outcome, Refused):
        return _render_print_form(lot, errors=outcome.errors, status=outcome.status)
    response = Response(outcome.content, mimetype=outcome.mimetype)
    response.headers["Content-Disposition"] = f'inline; filename="{outcome.filename}"'
    response.headers["X-Print-Job-Id"] = str(outcome.job.id)
    return response


# ---- the lot page's label panel: print the lot's bag labels, scan each one back -------------

def _lot_label_panel(lot: Lot, actor: User, errors: Errors, state: Mapping[str, Any]) -> Markup:
    accepted = [d for d in lot.visible_doses if d.accepted_at_fill]
    if not accepted:
        return Markup("")
    # A lot print after any of these labels was printed is a reprint (the service's rule).
    printed = bool(services.print_counts("bag", [d.code for d in accepted]))
    label_counts, scan_result = None, state.get("scan_result")
    if actor.role in LABEL_SCANNERS:
        label_counts = scan_back.count_labels(accepted, [d for d in accepted if d.bag_label_verified_at])
        if scan_result is None and (code := request.args.get("label_verified")):
            dose = next((d for d in accepted if d.code == code and d.bag_label_verified_at), None)
            scan_result = scan_back.verified(dose, "bag") if dose else None
    return Markup(render_template("labels/lot_panel.html", lot=lot, accepted=accepted, errors=errors,
                                  bag_labels_printed=printed, label_counts=label_counts,
                                  scan_result=scan_result, **page_helpers()))


register_lot_panel(_lot_label_panel)


@bp.post("/lots/<int:lot_id>/label-scans")
@roles_required(*LABEL_SCANNERS)
def scan_bag_label(lot_id: int) -> Response | tuple[str, int]:
    """One printed bag label scanned back, for a browser without JavaScript (the page scans in
    place through the API otherwise): the label names its dose, the service verifies it. A
    first verification goes back to the lot page (ready for the next); anything else, an
    already verified label included, is shown there."""
    lot = get_or_404(Lot, lot_id)
    form = FormReader(request.form)
    scan = form.raw("scan")
    if not scan:
        form.add(SCAN_FIELD, _('Scan the square Data Matrix on a printed bag label.'))
        return render_lot(lot, errors=form.errors, status=422)
    outcome = commit_or_refuse(lambda: scan_back.scan_label_back(
        scan, label_kind="bag", doses=list(lot.doses), here=_("lot %(number)s", number=lot.lot_number),
        actor=require_actor(), now=utcnow()), fields=(SCAN_FIELD,), anchor=SCAN_FIELD)
    if isinstance(outcome, Refused):
        return render_lot(lot, errors=outcome.errors, status=outcome.status)
    if outcome.outcome == "verified" and outcome.dose is not None:
        # No fragment: the scan field takes the focus on a fresh page.
        return redirect(url_for("batches_pages.lot_page", lot_id=lot.id, label_verified=outcome.dose.code))
    return render_lot(lot, state={"scan_result": outcome}, status=outcome.status)
