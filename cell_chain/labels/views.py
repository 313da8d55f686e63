"""Pages for bag labels: a dose's label preview and printing a whole lot's labels."""
import io
from functools import lru_cache
from pathlib import Path

from flask import Blueprint, Response, render_template, request
from PIL import Image, ImageDraw, ImageFont
from sqlalchemy import select

from cell_chain.accounts.permissions import require_actor, roles_required
from cell_chain.accounts.roles import Role
from cell_chain.batches.models import Dose, Lot
from cell_chain.batches.views import FormReader, Refused, _commit, _get, _page_helpers
from cell_chain.core.clock import utcnow
from cell_chain.core.db import db
from cell_chain.core.errors import DomainError, NotFound, ReasonRequired
from cell_chain.labels import rendering, services

bp = Blueprint("label_pages", __name__)
# The lot's print form shows the lot's words and status tags, as the lot page does.
bp.context_processor(_page_helpers)

PREVIEW_READERS = (Role.LAB, Role.QA, Role.ADMIN, Role.MONITOR)
PREVIEW_DPI = 150
Errors = dict[str, list[str]]


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
    dose = db.session.scalar(select(Dose).where(Dose.code == code))
    if dose is None:
        raise NotFound("No such dose.")
    if dose.status == "rejected":
        raise services.NothingToPrint("A dose rejected at fill gets no bag label.")
    png = rendering.render_png("bag", services.bag_label_item(dose).data, dpi=PREVIEW_DPI)
    response = Response(_mark_preview(png), mimetype="image/png")
    response.headers["Content-Disposition"] = f'inline; filename="bag-label-preview-{dose.code}.png"'
    return response


def _render_print_form(lot: Lot, *, errors: Errors | None = None, status: int = 200) -> tuple[str, int]:
    accepted = [d for d in lot.doses if d.status != "rejected"]
    printed = bool(services.print_counts("bag", [d.code for d in accepted]))
    return render_template("labels/lot_print.html", lot=lot, accepted=accepted, printed=printed,
                           errors=errors or {}, form=request.form if request.method == "POST" else {}), status


@bp.route("/lots/<int:lot_id>/labels", methods=["GET", "POST"])
@roles_required(Role.LAB)
def print_lot_labels(lot_id: int) -> Response | tuple[str, int]:
    """GET: the print form. POST: every accepted dose's bag label as one PDF, returned inline."""
    lot = _get(Lot, lot_id)
    if request.method == "GET":
        return _render_print_form(lot)
    form = FormReader(request.form)
    reason = form.text("reason", max_length=2000)
    if form.errors:
        return _render_print_form(lot, errors={"label-reason": form.errors["reason"]}, status=422)

    def explain(error: DomainError) -> Errors | None:
        if isinstance(error, ReasonRequired):
            return {"label-reason": [f"{error.detail} For example: labels damaged, printer jam."]}
        if isinstance(error, services.ReprintLimitReached):
            return {"label-reason": ["These labels have reached their reprint limit: another print "
                                     "needs a QA person's approval. Ask QA."]}
        return None

    outcome = _commit(lambda: services.print_labels(
        kind="lot", target=str(lot.id), fmt="pdf", reason=reason, override=None,
        actor=require_actor(), now=utcnow()),
        fields=("label-reason",), anchor="label-reason", explain=explain)
    if isinstance(outcome, Refused):
        return _render_print_form(lot, errors=outcome.errors, status=outcome.status)
    response = Response(outcome.content, mimetype=outcome.mimetype)
    response.headers["Content-Disposition"] = f'inline; filename="{outcome.filename}"'
    response.headers["X-Print-Job-Id"] = str(outcome.job.id)
    return response
