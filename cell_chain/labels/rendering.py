"""Label rendering: the controlled templates in labels/<kind>/<version>/ to PDF, ZPL and PNG."""
import gc
import hashlib
import io
import re
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from types import MappingProxyType
from typing import Any, ClassVar, Final, TypeAlias

import jinja2

from cell_chain.core.isbt128 import (
    Coi,
    Din,
    DoseNumber,
    Expiry,
    ProductCode,
    assignment_compound,
    bag_compound,
)
from cell_chain.labels import barcodes
from cell_chain.labels.barcodes import BarcodeImage

# The controlled templates live at the top of the repository, beside the code that fills them.
# The controlled templates: shipped inside the package by the wheel, beside it in a checkout.
LABELS_DIR: Final = next(d for d in (Path(__file__).resolve().parents[1] / "label_templates",
                                     Path(__file__).resolve().parents[2] / "labels") if d.is_dir())

# The version every label of a kind is printed with now. A change to a template is a new
# version folder and a change here; the old folder stays, as printed labels refer to it.
TEMPLATE_VERSIONS: Final[dict[str, str]] = {
    "bag": "v1",
    "assignment": "v1",
    "wristband": "v1",
    "shipment": "v1",
}
# Labels for people at a site whose language is Chinese print bilingual (Chinese and English)
# with these versions; the bag label stays ISBT 128 English everywhere.
BILINGUAL_VERSIONS: Final = MappingProxyType({"assignment": "v2", "wristband": "v2"})

# Four doses in one year, one a visit (DESIGN §1).
SCHEDULED_VISITS: Final = 4
# Subject IDs are a site code (up to 8 characters) and a number; past this many characters the
# templates set them smaller (the "long" size) so that they still fit on one line.
_SUBJECT_ID_FULL_SIZE: Final = 10
# "203 dpi" Zebra printheads: 8 dots/mm, so 2-dot Code 128 modules are 0.25 mm.
ZPL_DOTS_PER_MM: Final = 8


class LabelDataError(ValueError):
    """Label data that cannot be printed as given (wrong type, empty, too long for the stock)."""


def _require_text(value: object, name: str, longest: int) -> None:
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str, got {type(value).__name__}")
    if not value.strip():
        raise LabelDataError(f"{name} is empty")
    if len(value) > longest:
        raise LabelDataError(
            f"{name} has {len(value)} characters; the label has room for {longest}"
        )


def _require_texts(label: object, limits: Mapping[str, int]) -> None:
    for name, longest in limits.items():
        _require_text(getattr(label, name), name, longest)


def _require_int(value: object, name: str, lowest: int, highest: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if not lowest <= value <= highest:
        raise LabelDataError(f"{name} {value} is outside {lowest}-{highest}")


def _require(value: object, name: str, cls: type) -> None:
    if not isinstance(value, cls):
        raise TypeError(f"{name} must be a {cls.__name__}, got {type(value).__name__}")


def _require_reprint(value: object) -> None:
    _require_int(value, "reprint", 0, 999)


@dataclass(frozen=True)
class BagLabel:
    """The bag label, printed at fill (DESIGN §8). `reprint` counts earlier prints."""

    product_name: str
    caution: str
    din: Din
    product: ProductCode
    dose_number: DoseNumber
    expiry: Expiry
    storage: str
    cells_text: str
    volume_text: str
    lot_number: str
    facility_name: str
    dose_code: str
    reprint: int = 0

    # The most characters each text may have and still fit its place on the stock (SPEC.md).
    text_limits: ClassVar[Mapping[str, int]] = MappingProxyType({
        "product_name": 56, "caution": 100, "storage": 64, "cells_text": 20, "volume_text": 12,
        "lot_number": 32, "facility_name": 40, "dose_code": 24,
    })

    def __post_init__(self) -> None:
        _require_texts(self, self.text_limits)
        _require(self.din, "din", Din)
        _require(self.product, "product", ProductCode)
        _require(self.dose_number, "dose_number", DoseNumber)
        _require(self.expiry, "expiry", Expiry)
        _require_reprint(self.reprint)


@dataclass(frozen=True)
class AssignmentLabel:
    """The assignment label, printed when a dose is allocated to a subject's visit."""

    subject_id: str
    initials: str
    coi: Coi
    visit_number: int
    din: Din
    product: ProductCode
    dose_code: str
    reprint: int = 0
    bilingual: bool = False  # Chinese and English: the patient's site reads Chinese

    text_limits: ClassVar[Mapping[str, int]] = MappingProxyType({
        "subject_id": 16, "initials": 4, "dose_code": 24,
    })

    def __post_init__(self) -> None:
        _require_texts(self, self.text_limits)
        _require(self.coi, "coi", Coi)
        _require_int(self.visit_number, "visit_number", 1, SCHEDULED_VISITS)
        _require(self.din, "din", Din)
        _require(self.product, "product", ProductCode)
        _require_reprint(self.reprint)


@dataclass(frozen=True)
class WristbandLabel:
    """The subject's wristband: pseudonymous subject ID, initials and birth year only."""

    subject_id: str
    initials: str
    birth_year: int
    payload: str
    reprint: int = 0
    bilingual: bool = False  # Chinese and English: the patient's site reads Chinese

    text_limits: ClassVar[Mapping[str, int]] = MappingProxyType({
        "subject_id": 16, "initials": 4, "payload": 40,
    })

    def __post_init__(self) -> None:
        _require_texts(self, self.text_limits)
        _require_int(self.birth_year, "birth_year", 1900, 2100)
        _require_reprint(self.reprint)


@dataclass(frozen=True)
class ShipmentLabel:
    """The shipper's label: where it goes, how it is kept, how many doses it holds."""

    shipment_code: str
    site_name: str
    site_code: str
    storage: str
    dose_count: int
    payload: str
    reprint: int = 0

    text_limits: ClassVar[Mapping[str, int]] = MappingProxyType({
        "shipment_code": 16, "site_name": 64, "site_code": 8, "storage": 48, "payload": 60,
    })

    def __post_init__(self) -> None:
        _require_texts(self, self.text_limits)
        _require_int(self.dose_count, "dose_count", 1, 9999)
        _require_reprint(self.reprint)


AnyLabel: TypeAlias = BagLabel | AssignmentLabel | WristbandLabel | ShipmentLabel


# --- What each template is given -------------------------------------------------------------

def _expiry_text(expiry: Expiry) -> str:
    return expiry.at.strftime("%Y-%m-%d %H:%M UTC")


def _bag_fields(label: BagLabel) -> dict[str, Any]:
    return {
        "product_name": label.product_name,
        "caution": label.caution,
        "din": label.din.eye_readable,
        "din_check": label.din.check,
        "product_code": label.product.code,
        "dose_number": f"{label.dose_number.number:06d}",
        "dose_code": label.dose_code,
        "cells": label.cells_text,
        "volume": label.volume_text,
        "storage": label.storage,
        "expiry": _expiry_text(label.expiry),
        "lot": label.lot_number,
        "facility": label.facility_name,
        "reprint": label.reprint,
    }


def _bag_payloads(label: BagLabel) -> dict[str, str]:
    return {
        "din": label.din.payload,
        "product": label.product.payload,
        "compound": bag_compound(label.din, label.product, label.expiry, label.dose_number),
    }


def _subject_id_size(subject_id: str) -> str:
    return "long" if len(subject_id) > _SUBJECT_ID_FULL_SIZE else "full"


def _assignment_fields(label: AssignmentLabel) -> dict[str, Any]:
    return {
        "subject_id": label.subject_id,
        "subject_id_size": _subject_id_size(label.subject_id),
        "initials": label.initials,
        "coi": label.coi.eye_readable,
        "coi_check": label.coi.check,
        "visit": f"Visit {label.visit_number} of {SCHEDULED_VISITS}",
        "visit_zh": f"第 {label.visit_number}/{SCHEDULED_VISITS} 次访视",
        "din": label.din.eye_readable,
        "din_check": label.din.check,
        "product_code": label.product.code,
        "dose_code": label.dose_code,
        "reprint": label.reprint,
    }


def _assignment_payloads(label: AssignmentLabel) -> dict[str, str]:
    return {"compound": assignment_compound(label.coi, label.din, label.product)}


def _wristband_fields(label: WristbandLabel) -> dict[str, Any]:
    return {
        "subject_id": label.subject_id,
        "subject_id_size": _subject_id_size(label.subject_id),
        "initials": label.initials,
        "birth_year": str(label.birth_year),
        "payload": label.payload,
        "reprint": label.reprint,
    }


def _shipment_fields(label: ShipmentLabel) -> dict[str, Any]:
    return {
        "shipment_code": label.shipment_code,
        "site_name": label.site_name,
        "site_code": label.site_code,
        "storage": label.storage,
        "dose_count": f"{label.dose_count} dose" + ("" if label.dose_count == 1 else "s"),
        "payload": label.payload,
        "reprint": label.reprint,
    }


def _payload_only(label: WristbandLabel | ShipmentLabel) -> dict[str, str]:
    return {"payload": label.payload}


@dataclass(frozen=True)
class _Symbol:
    """One barcode on a template: which payload, which symbology, its size in each output.

    `dots` is pixels per module at 300 dpi in the PDF; `zpl_dots` printer dots per module at
    203 dpi (8 dots/mm); `max_mm` the room the template leaves for it, quiet zones included.
    """

    payload: str
    symbology: str
    dots: int
    zpl_dots: int
    max_mm: float
    height_mm: float = 10.0


@dataclass(frozen=True)
class _Kind:
    cls: type
    fields: Callable[[Any], dict[str, Any]]
    payloads: Callable[[Any], dict[str, str]]
    symbols: Mapping[str, _Symbol]


_KINDS: Final[Mapping[str, _Kind]] = MappingProxyType({
    "bag": _Kind(BagLabel, _bag_fields, _bag_payloads, {
        "din_code128": _Symbol("din", "Code128", 3, 2, 47.0, height_mm=12.0),
        "product_code128": _Symbol("product", "Code128", 3, 2, 47.0, height_mm=12.0),
        "compound_datamatrix": _Symbol("compound", "DataMatrix", 9, 6, 23.0),
    }),
    "assignment": _Kind(AssignmentLabel, _assignment_fields, _assignment_payloads, {
        "compound_datamatrix": _Symbol("compound", "DataMatrix", 8, 6, 24.0),
    }),
    "wristband": _Kind(WristbandLabel, _wristband_fields, _payload_only, {
        "code128": _Symbol("payload", "Code128", 3, 2, 68.0, height_mm=12.0),
        "qr": _Symbol("payload", "QRCode", 6, 4, 20.0),
    }),
    "shipment": _Kind(ShipmentLabel, _shipment_fields, _payload_only, {
        "code128": _Symbol("payload", "Code128", 3, 2, 94.0, height_mm=15.0),
        "qr": _Symbol("payload", "QRCode", 10, 6, 38.0),
    }),
})


def _kind(kind: str) -> _Kind:
    try:
        return _KINDS[kind]
    except (KeyError, TypeError):
        raise LabelDataError(f"unknown label kind {kind!r}") from None


def _checked(kind: str, labels: Sequence[AnyLabel]) -> tuple[_Kind, list[AnyLabel]]:
    spec = _kind(kind)
    labels = list(labels)
    if not labels:
        raise LabelDataError("no labels to render")
    for label in labels:
        if not isinstance(label, spec.cls):
            raise TypeError(f"a {kind} label needs {spec.cls.__name__}, got {type(label).__name__}")
    return spec, labels


def payloads(kind: str, label: AnyLabel) -> dict[str, str]:
    """Every payload the label encodes, by name: what print-then-scan compares a scan with."""
    spec, (label,) = _checked(kind, [label])
    return spec.payloads(label)


# --- PDF --------------------------------------------------------------------------------------

def _image(symbol: _Symbol, payload: str) -> BarcodeImage:
    if symbol.symbology == "Code128":
        image = barcodes.code128(payload, height_mm=symbol.height_mm, dots=symbol.dots)
    elif symbol.symbology == "DataMatrix":
        image = barcodes.data_matrix(payload, dots=symbol.dots)
    else:
        image = barcodes.qr(payload, dots=symbol.dots)
    if image.width_mm > symbol.max_mm + 1e-9:
        raise LabelDataError(
            f"{symbol.symbology} of {payload!r} needs {image.width_mm:.1f} mm; the label has "
            f"room for {symbol.max_mm:.1f} mm (shorten the payload)"
        )
    return image


def _pdf_view(spec: _Kind, label: AnyLabel, images: dict[str, bytes] | None = None) -> dict[str, Any]:
    view = spec.fields(label)
    data = spec.payloads(label)
    for name, symbol in spec.symbols.items():
        image = _image(symbol, data[symbol.payload])
        view[name] = image if images is None else _Fetched.of(image, images)
    return view


class _Fetched:
    """A barcode image named in the label HTML by a short URL that `_barcode_fetcher` answers
    rather than by a data: URL: a lot's HTML is then a tenth of the size to parse (258 KB for
    100 bag labels before), and the same image (a lot's DIN, its product code) is one URL."""

    def __init__(self, image: BarcodeImage, src: str) -> None:
        self._image = image
        self.src = src

    def __getattr__(self, name: str) -> Any:
        return getattr(self._image, name)

    @classmethod
    def of(cls, image: BarcodeImage, images: dict[str, bytes]) -> "_Fetched":
        src = "barcode:" + hashlib.sha256(image.png).hexdigest()
        images[src] = image.png
        return cls(image, src)


_html_env: Final = jinja2.Environment(
    loader=jinja2.FileSystemLoader(LABELS_DIR),
    autoescape=jinja2.select_autoescape(["html"]),
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
    auto_reload=False,
)


def template_version(kind: str, labels: Sequence[AnyLabel]) -> str:
    """The template version a batch prints with: bilingual when its labels are (one batch is
    one site's), else the kind's current version."""
    if kind in BILINGUAL_VERSIONS and any(getattr(label, "bilingual", False) for label in labels):
        return BILINGUAL_VERSIONS[kind]
    return TEMPLATE_VERSIONS[kind]


def _template_path(kind: str, version: str, name: str) -> str:
    return f"{kind}/{version}/{name}"


def render_html(kind: str, labels: Sequence[AnyLabel]) -> str:
    """The HTML WeasyPrint lays out: every label of the batch, one page each."""
    return _html(kind, labels)


def _html(kind: str, labels: Sequence[AnyLabel], images: dict[str, bytes] | None = None) -> str:
    """The label HTML; with `images`, barcodes are named by URLs whose PNGs go into it."""
    spec, labels = _checked(kind, labels)
    version = template_version(kind, labels)
    template = _html_env.get_template(_template_path(kind, version, "label.html"))
    return template.render(
        kind=kind, version=version,
        labels=[_pdf_view(spec, label, images) for label in labels],
    )


def render_pdf(kind: str, labels: Sequence[AnyLabel]) -> bytes:
    """One PDF, one page per label at the exact stock size, rendered as a single document."""
    images: dict[str, bytes] = {}
    html = _html(kind, labels, images)
    base_url = (LABELS_DIR / kind / template_version(kind, labels)).as_uri() + "/"
    # WeasyPrint allocates millions of short-lived objects that reference counting frees;
    # the cyclic collector's passes over them cost a quarter of a lot's rendering time.
    collecting = gc.isenabled()
    gc.disable()
    try:
        return _layout(kind, html, base_url, len(labels), _barcode_fetcher(images),
                       template_version(kind, labels)).write_pdf()
    finally:
        if collecting:
            gc.enable()


def _barcode_fetcher(images: Mapping[str, bytes]) -> Any:
    """A WeasyPrint URL fetcher that serves the batch's barcode PNGs and nothing else: a label
    template reaches no file and no network."""
    from weasyprint.urls import URLFetcher, URLFetcherResponse

    class BarcodeFetcher(URLFetcher):
        def fetch(self, url: str, headers: Any = None) -> URLFetcherResponse:
            png = images.get(url)
            if png is None:
                raise ValueError(f"a label loads only its own barcodes, not {url[:80]!r}")
            return URLFetcherResponse(url, png, {"Content-Type": "image/png"})

    return BarcodeFetcher(fail_on_errors=True)


# --- Laying a batch out once ------------------------------------------------------------------
# WeasyPrint does a fixed amount of work for every page it makes (page and margin-box styles,
# page areas, footnote and note areas) whatever the page holds. So the labels of a batch are
# laid out one under the other on a single page as tall as the stack, then cut into stock-size
# pages before anything is drawn. What each page shows is the very layout the template gives
# (each label is a fixed-size box that hides what overflows: tests compare the pixels); when the
# stack is not exactly one stock height per label, the batch is laid out page by page.

_PAGE_SIZE: Final = re.compile(
    r"@page\s*\{[^}]*?\bsize:\s*(\d+(?:\.\d+)?)mm\s+(\d+(?:\.\d+)?)mm\s*[;}]")
_PX_PER_MM: Final = 96 / 25.4
# Fonts are set up once per thread and reused by every batch (fontconfig and Pango look-ups).
_weasy: Final = threading.local()


def _font_config() -> Any:
    from weasyprint.text.fonts import FontConfiguration

    if not hasattr(_weasy, "font_config"):
        _weasy.font_config = FontConfiguration()
    return _weasy.font_config


def _stock_mm(kind: str, version: str) -> tuple[float, float] | None:
    """The stock size the template's @page rule sets, in mm (None if it says it otherwise)."""
    return _page_size_of(_template_path(kind, version, "label.html"))


@lru_cache(maxsize=None)
def _page_size_of(template: str) -> tuple[float, float] | None:
    source, _, _ = _html_env.loader.get_source(_html_env, template)
    found = _PAGE_SIZE.search(source)
    return (float(found[1]), float(found[2])) if found else None


def _layout(kind: str, html: str, base_url: str, count: int, fetcher: Any, version: str) -> Any:
    """The laid-out WeasyPrint document: `count` stock-size pages."""
    from weasyprint import CSS, HTML

    font_config = _font_config()
    stock = _stock_mm(kind, version)
    if stock is not None and count > 1:
        width, height = stock
        stack = CSS(string=f"@page {{ size: {width}mm {height * count}mm !important }} "
                           "* { break-before: auto !important; break-after: auto !important }",
                    font_config=font_config)
        tall = HTML(string=html, base_url=base_url, url_fetcher=fetcher).render(
            font_config=font_config, stylesheets=[stack])
        pages = _cut(tall, height * _PX_PER_MM, count)
        if pages is not None:
            return tall.copy(pages)
    return HTML(string=html, base_url=base_url, url_fetcher=fetcher).render(font_config=font_config)


class _ImageInBackground(Exception):
    """A background, border or mask image: the batch is then laid out page by page."""


def _no_image(**_: Any) -> None:
    raise _ImageInBackground


def _cut(tall: Any, height: float, count: int) -> list[Any] | None:
    """`count` pages of `height` CSS px cut from the one tall page of `tall`, or None when its
    labels are not exactly one below the other, one stock height each."""
    from weasyprint.document import Page
    from weasyprint.layout.background import layout_backgrounds

    if len(tall.pages) != 1:
        return None
    page = tall.pages[0]._page_box
    if len(page.children) != 1 or len(page.children[0].children) != 1:
        return None
    (root,) = page.children
    (body,) = root.children
    if len(body.children) != count or page.margin_height() != page.height:
        return None
    top = body.children[0].position_y
    for index, label in enumerate(body.children):
        if (abs(label.position_y - top - index * height) > 1e-6
                or abs(label.margin_height() - height) > 1e-6):
            return None
    pages = []
    for index, label in enumerate(body.children):
        label.translate(dy=-index * height)
        one_body = body.copy_with_children([label])
        one_root = root.copy_with_children([one_body])
        for box in (one_body, one_root):
            box.height = height - (box.margin_height() - box.height)
        one_page = page.copy_with_children([one_root])
        one_page.height = height
        # Backgrounds were placed with the tall page: place them again where the label now is.
        try:
            layout_backgrounds(one_page, _no_image)
        except _ImageInBackground:
            return None
        pages.append(Page(one_page))
    return pages


def render_png(kind: str, label: AnyLabel, dpi: int = 150) -> bytes:
    """A preview of one label: its PDF rasterised by pdfium (what a viewer would show)."""
    import pypdfium2

    _require_int(dpi, "dpi", 36, 1200)
    document = pypdfium2.PdfDocument(render_pdf(kind, [label]))
    try:
        image = document[0].render(scale=dpi / 72).to_pil()
    finally:
        document.close()
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", dpi=(dpi, dpi))
    return buffer.getvalue()


# --- ZPL --------------------------------------------------------------------------------------
# Field data goes out with ^FH (hex indicator `_`): `_`, `^`, `~` and control characters are
# sent as _hh, so no label text can end a field or start a command. Non-ASCII text stays UTF-8
# (^CI28). Every value the template prints is escaped unless a filter below already did it.

class ZplData(str):
    """Field data already escaped for ZPL: the template environment prints it as it is."""


_ZPL_HEX: Final = re.compile(r"[\x00-\x1f\x7f_^~]")
# Zebra's resident font 0 has Latin-1; these typographic characters our texts use are sent as
# their plain equivalents so that "≤ −150 °C" can never print as " 150 °C".
_ZPL_PLAIN: Final = str.maketrans({
    "−": "-", "–": "-", "—": "-", "‐": "-", "≤": "<=", "≥": ">=", "‘": "'", "’": "'",
    "“": '"', "”": '"', "…": "...", "⁰": "^0", "¹": "^1", "²": "^2", "³": "^3", "⁴": "^4",
    "⁵": "^5", "⁶": "^6", "⁷": "^7", "⁸": "^8", "⁹": "^9", "\u00a0": " ",
})


def _hex_escape(text: str) -> str:
    return _ZPL_HEX.sub(lambda match: f"_{ord(match[0]):02X}", text)


def zpl_text(value: object) -> ZplData:
    """Human-readable text for a ZPL text field: plain equivalents, then ^FH escaping."""
    return ZplData(_hex_escape(str(value).translate(_ZPL_PLAIN)))


# Code 128 values that ZPL writes as invocation codes rather than as characters (subset B).
_ZPL_START: Final = {103: ">9", 104: ">:", 105: ">;"}
_ZPL_SHIFT_TO: Final = {"A": {99: (">5", "C"), 100: (">6", "B")},
                        "B": {99: (">5", "C"), 101: (">7", "A")},
                        "C": {100: (">6", "B"), 101: (">7", "A")}}
_ZPL_B_SPECIAL: Final = {">": "><", "~": ">="}


def zpl_code128(payload: str) -> ZplData:
    """^BC field data for `payload`: the start code, code-set changes and digit pairs that
    python-barcode chose, written as ZPL invocation codes, so the printed bars equal the PDF's.
    """
    values = barcodes.code128_values(payload)
    out = [_ZPL_START[values[0]]]
    codeset = {103: "A", 104: "B", 105: "C"}[values[0]]
    for value in values[1:]:
        shift = _ZPL_SHIFT_TO[codeset].get(value)
        if shift is not None:
            code, codeset = shift
            out.append(code)
        elif codeset == "C":
            out.append(f"{value:02d}")
        elif codeset == "B":
            char = chr(value + 32)
            out.append(_ZPL_B_SPECIAL.get(char, char))
        else:  # printable characters only ever reach here (check_code128_payload)
            out.append(chr(value + 32))
    return ZplData(_hex_escape("".join(out)))


# ^BX's own escape character (set explicitly: firmware defaults differ between `_` and `~`).
ZPL_DATAMATRIX_ESCAPE: Final = "_"


def zpl_datamatrix(payload: str) -> ZplData:
    """^BX field data: the escape character doubled, then ^FH escaping."""
    if not payload:
        raise LabelDataError("empty Data Matrix payload")
    doubled = payload.replace(ZPL_DATAMATRIX_ESCAPE, ZPL_DATAMATRIX_ESCAPE * 2)
    return ZplData(_hex_escape(doubled))


def zpl_qr(payload: str) -> ZplData:
    """^BQ field data: `MA,` (error correction M, automatic input) then the payload."""
    if not payload:
        raise LabelDataError("empty QR payload")
    return ZplData("MA," + _hex_escape(payload))


def _zpl_finalize(value: object) -> object:
    if isinstance(value, ZplData | int):
        return value
    return zpl_text(value)


_zpl_env: Final = jinja2.Environment(
    loader=jinja2.FileSystemLoader(LABELS_DIR),
    autoescape=False,
    undefined=jinja2.StrictUndefined,
    finalize=_zpl_finalize,
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
    auto_reload=False,
)


@dataclass(frozen=True)
class _ZplSymbol:
    """What a ZPL template needs for one barcode: escaped field data and its size in dots."""

    data: ZplData
    module_dots: int
    modules: int

    @property
    def width_dots(self) -> int:
        return self.modules * self.module_dots


def _zpl_symbol(symbol: _Symbol, payload: str) -> _ZplSymbol:
    if symbol.symbology == "Code128":
        data = zpl_code128(payload)
        modules = len(barcodes.code128_bars(payload))
        quiet = barcodes.CODE128_QUIET_MODULES
    elif symbol.symbology == "DataMatrix":
        data = zpl_datamatrix(payload)
        modules = barcodes.data_matrix(payload).modules - 2 * barcodes.MATRIX_QUIET_MODULES
        quiet = barcodes.MATRIX_QUIET_MODULES
    else:
        data = zpl_qr(payload)
        modules = barcodes.qr(payload).modules - 2 * barcodes.QR_QUIET_MODULES
        quiet = barcodes.QR_QUIET_MODULES
    needed_mm = (modules + 2 * quiet) * symbol.zpl_dots / ZPL_DOTS_PER_MM
    if needed_mm > symbol.max_mm + 1e-9:
        raise LabelDataError(
            f"{symbol.symbology} of {payload!r} needs {needed_mm:.1f} mm at 203 dpi; the "
            f"label has room for {symbol.max_mm:.1f} mm (shorten the payload)"
        )
    return _ZplSymbol(data, symbol.zpl_dots, modules)


def _zpl_view(spec: _Kind, label: AnyLabel) -> dict[str, Any]:
    view = spec.fields(label)
    data = spec.payloads(label)
    for name, symbol in spec.symbols.items():
        view[name] = _zpl_symbol(symbol, data[symbol.payload])
    return view


def render_zpl(kind: str, labels: Sequence[AnyLabel]) -> str:
    """ZPL II for a 203 dpi Zebra printer: one ^XA…^XZ format per label, UTF-8 (^CI28)."""
    spec, labels = _checked(kind, labels)
    version = template_version(kind, labels)
    template = _zpl_env.get_template(_template_path(kind, version, "label.zpl"))
    return "".join(
        template.render(kind=kind, version=version, label=_zpl_view(spec, label))
        for label in labels
    )


__all__ = [
    "BILINGUAL_VERSIONS", "LABELS_DIR", "SCHEDULED_VISITS", "TEMPLATE_VERSIONS", "AnyLabel", "AssignmentLabel",
    "BagLabel", "LabelDataError", "ShipmentLabel", "WristbandLabel", "ZplData",
    "payloads", "render_html", "template_version", "render_pdf", "render_png", "render_zpl", "zpl_code128",
    "zpl_datamatrix", "zpl_qr", "zpl_text",
]
