"""Label rendering: stock sizes, every barcode decoded back from the 300 dpi raster, the
eye-readable text, reprint marks, and ZPL field data decoded back to the same payloads."""
import ctypes
import io
import logging
import math
import re
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pypdfium2
import pypdfium2.raw as pdfium_c
import pytest
import zxingcpp
from barcode.charsets import code128 as code128_charset
from PIL import Image

from cell_chain.core.isbt128 import (
    Coi,
    Din,
    DoseNumber,
    Expiry,
    ProductCode,
    assignment_compound,
    bag_compound,
    mod37_2_check,
    parse,
)
from cell_chain.labels import barcodes, rendering
from cell_chain.labels.rendering import (
    TEMPLATE_VERSIONS,
    AssignmentLabel,
    BagLabel,
    LabelDataError,
    ShipmentLabel,
    WristbandLabel,
    render_pdf,
    render_png,
    render_zpl,
)

PREVIEWS = Path(__file__).resolve().parents[2] / "test-output" / "labels"
MM_PER_POINT = 25.4 / 72
DECODE_DPI = 300
# "203 dpi" Zebra printheads are 8 dots/mm.
ZPL_DOTS_PER_MM = 8

STOCK_MM = {
    "bag": (100.0, 100.0),
    "assignment": (100.0, 50.0),
    "wristband": (279.4, 25.4),
    "shipment": (100.0, 150.0),
}

DIN = Din("A9999", 26, 123)
PRODUCT = ProductCode("YA001", "V", "00")
EXPIRY = Expiry(datetime(2026, 7, 1, 14, 30, tzinfo=UTC))
COI = Coi("A9999", 26, 45)
CAUTION = "Caution: New Drug — Limited by Federal (or United States) law to investigational use"


def bag_label(number: int = 1, *, reprint: int = 0, din: Din = DIN) -> BagLabel:
    return BagLabel(
        product_name="UC-MSC — Umbilical Cord Mesenchymal Stromal Cells",
        caution=CAUTION,
        din=din,
        product=PRODUCT,
        dose_number=DoseNumber(number),
        expiry=EXPIRY,
        storage="Store at ≤ −150 °C (vapour phase liquid nitrogen)",
        cells_text="4×10⁷ cells",
        volume_text="40 ml",
        lot_number="LOT-2026-0007",
        facility_name="cell-chain GMP facility",
        dose_code=f"{din.code}-{number:06d}",
        reprint=reprint,
    )


def assignment_label(*, reprint: int = 0) -> AssignmentLabel:
    return AssignmentLabel(
        subject_id="LZ-0042", initials="AB", coi=COI, visit_number=2, din=DIN, product=PRODUCT,
        dose_code=f"{DIN.code}-000002", reprint=reprint,
    )


def wristband_label(*, reprint: int = 0, payload: str = "PT:LZ-0042") -> WristbandLabel:
    return WristbandLabel(subject_id="LZ-0042", initials="AB", birth_year=1971, payload=payload,
                          reprint=reprint)


def shipment_label(*, reprint: int = 0, payload: str = "SH:SHP-2026-0042") -> ShipmentLabel:
    return ShipmentLabel(
        shipment_code="SHP-2026-0042", site_name="Lanzhou University First Hospital",
        site_code="LZ", storage="Store at ≤ −150 °C (dry shipper)", dose_count=12,
        payload=payload, reprint=reprint,
    )


LABELS = {
    "bag": bag_label,
    "assignment": assignment_label,
    "wristband": wristband_label,
    "shipment": shipment_label,
}


def expected_barcodes(kind: str, label) -> list[tuple[str, str]]:
    """(format, payload) of every barcode the label must carry, built from isbt128 directly."""
    if kind == "bag":
        return sorted([
            ("Code128", label.din.payload),
            ("Code128", label.product.payload),
            ("DataMatrix", bag_compound(label.din, label.product, label.expiry, label.dose_number)),
        ])
    if kind == "assignment":
        return [("DataMatrix", assignment_compound(label.coi, label.din, label.product))]
    return sorted([("Code128", label.payload), ("QRCode", label.payload)])


# --- Reading the PDF back ------------------------------------------------------------------

class Page:
    def __init__(self, page: pypdfium2.PdfPage) -> None:
        width, height = page.get_size()
        self.size_mm = (width * MM_PER_POINT, height * MM_PER_POINT)
        self.image = page.render(scale=DECODE_DPI / 72).to_pil()
        textpage = page.get_textpage()
        self.text = textpage.get_text_range()
        self.fonts = _fonts(textpage)
        self.barcodes = decode(self.image)


def _fonts(textpage: pypdfium2.PdfTextPage) -> set[str]:
    names = set()
    buffer = ctypes.create_string_buffer(256)
    flags = ctypes.c_int()
    for index in range(textpage.count_chars()):
        if pdfium_c.FPDFText_GetFontInfo(textpage, index, buffer, len(buffer), ctypes.byref(flags)):
            names.add(buffer.value.decode())
    return names - {""}


def decode(image: Image.Image) -> list[tuple[str, str]]:
    found = zxingcpp.read_barcodes(image, text_mode=zxingcpp.TextMode.Plain)
    return sorted((result.format.name, result.text) for result in found)


def pdf_pages(pdf: bytes) -> list[Page]:
    assert pdf.startswith(b"%PDF-")
    document = pypdfium2.PdfDocument(pdf)
    try:
        return [Page(document[index]) for index in range(len(document))]
    finally:
        document.close()


def one_text_line(text: str) -> str:
    return " ".join(text.split())


@pytest.fixture(scope="module")
def rendered() -> dict[str, Page]:
    """Each kind rendered once, with a reprint mark, plus its previews for a person to look at."""
    PREVIEWS.mkdir(parents=True, exist_ok=True)
    pages = {}
    for kind, make in LABELS.items():
        (pages[kind],) = pdf_pages(render_pdf(kind, [make(reprint=2)]))
        (PREVIEWS / f"{kind}.png").write_bytes(render_png(kind, make(), dpi=200))
        (PREVIEWS / f"{kind}-reprint.png").write_bytes(render_png(kind, make(reprint=2), dpi=200))
    return pages


# --- PDF ------------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", sorted(LABELS))
def test_page_is_exactly_the_stock_size(rendered, kind):
    width, height = rendered[kind].size_mm
    assert width == pytest.approx(STOCK_MM[kind][0], abs=0.01)
    assert height == pytest.approx(STOCK_MM[kind][1], abs=0.01)


@pytest.mark.parametrize("kind", sorted(LABELS))
def test_every_barcode_decodes_to_its_exact_payload_at_300_dpi(rendered, kind):
    assert rendered[kind].barcodes == expected_barcodes(kind, LABELS[kind](reprint=2))


@pytest.mark.parametrize("kind", sorted(LABELS))
def test_text_is_set_in_dejavu_sans(rendered, kind):
    fonts = rendered[kind].fonts
    assert fonts
    assert all("DejaVu-Sans" in name for name in fonts), fonts


@pytest.mark.parametrize("kind", sorted(LABELS))
def test_reprint_is_marked_only_on_a_reprint(rendered, kind):
    assert "REPRINT 2" in one_text_line(rendered[kind].text)
    (first,) = pdf_pages(render_pdf(kind, [LABELS[kind]()]))
    assert "REPRINT" not in first.text
    assert first.barcodes == rendered[kind].barcodes


@pytest.mark.parametrize("kind", sorted(LABELS))
def test_label_shows_its_template_version(rendered, kind):
    assert f"Label template {kind}/{TEMPLATE_VERSIONS[kind]}" in rendered[kind].text


def test_bag_label_eye_readable_text(rendered):
    text = one_text_line(rendered["bag"].text)
    check = mod37_2_check("A999926000123")
    assert DIN.check == check
    assert re.search(rf"A9999 26 000123 ?{check}\b", text), text
    for shown in (
        "UC-MSC — Umbilical Cord Mesenchymal Stromal Cells", CAUTION, "YA001V00",
        "2026-07-01 14:30 UTC", "4×10⁷ cells in 40 ml",
        "Store at ≤ −150 °C (vapour phase liquid nitrogen)", "LOT-2026-0007", "000001",
        "A999926000123-000001", "cell-chain GMP facility",
    ):
        assert shown in text, shown


def test_assignment_label_eye_readable_text(rendered):
    text = one_text_line(rendered["assignment"].text)
    assert re.search(rf"CH A9999 26 000045 ?{mod37_2_check('A999926000045')}\b", text), text
    assert re.search(rf"A9999 26 000123 ?{mod37_2_check('A999926000123')}\b", text), text
    for shown in ("LZ-0042", "Initials AB", "Visit 2 of 4", "YA001V00"):
        assert shown in text, shown


def test_wristband_and_shipment_eye_readable_text(rendered):
    wristband = one_text_line(rendered["wristband"].text)
    for shown in ("LZ-0042", "AB", "1971", "PT:LZ-0042"):
        assert shown in wristband, shown
    shipment = one_text_line(rendered["shipment"].text)
    for shown in ("SHP-2026-0042", "Lanzhou University First Hospital", "Site LZ",
                  "Store at ≤ −150 °C (dry shipper)", "Contains 12 doses", "SH:SHP-2026-0042"):
        assert shown in shipment, shown


def test_three_bag_labels_are_three_pages_each_with_its_own_dose():
    labels = [bag_label(number) for number in (1, 2, 3)]
    pages = pdf_pages(render_pdf("bag", labels))
    assert len(pages) == 3
    for page, label in zip(pages, labels, strict=True):
        assert page.size_mm == pytest.approx(STOCK_MM["bag"], abs=0.01)
        assert page.barcodes == expected_barcodes("bag", label)
        parsed = parse(next(text for fmt, text in page.barcodes if fmt == "DataMatrix"))
        assert parsed.label == "bag"
        assert parsed.dose_number == label.dose_number
        assert label.dose_code in one_text_line(page.text)


@pytest.mark.parametrize("kind", sorted(LABELS))
def test_a_batch_prints_each_label_exactly_as_it_prints_alone(kind):
    """A batch is laid out in one go and then cut into pages: each page is, pixel for pixel at
    300 dpi, the label printed on its own (the white-on-black reprint mark included)."""
    if kind == "bag":
        labels = [bag_label(1), bag_label(2, reprint=3), bag_label(3)]
    else:
        labels = [LABELS[kind](), LABELS[kind](reprint=3)]
    batch = pdf_pages(render_pdf(kind, labels))
    assert len(batch) == len(labels)
    for page, label in zip(batch, labels, strict=True):
        (alone,) = pdf_pages(render_pdf(kind, [label]))
        assert page.size_mm == alone.size_mm
        assert page.text == alone.text
        assert page.barcodes == alone.barcodes == expected_barcodes(kind, label)
        assert page.image.tobytes() == alone.image.tobytes()


def test_payloads_with_isbt_punctuation_decode_exactly():
    # Every data-identifier character ISBT 128 uses, plus ZPL's own control characters.
    tricky = "=<&>/,+^~_%"
    for kind, label in (("wristband", wristband_label(payload=tricky)),
                        ("shipment", shipment_label(payload="SH:" + tricky + "SHP-0042"))):
        (page,) = pdf_pages(render_pdf(kind, [label]))
        assert page.barcodes == expected_barcodes(kind, label)


def test_code128_is_drawn_sharp_with_whole_dot_modules_and_quiet_zones(rendered):
    """Across the DIN's bars the 300 dpi raster is pure black and white (no resampling blur),
    each bar and space is its module count times 3 pixels (0.254 mm; pdfium may place one edge
    a pixel off), and 10 modules of white lie on either side."""
    image = rendered["bag"].image.convert("L")
    result = next(r for r in zxingcpp.read_barcodes(image, formats=zxingcpp.BarcodeFormat.Code128)
                  if r.text == DIN.payload)
    left = min(result.position.top_left.x, result.position.bottom_left.x)
    right = max(result.position.top_right.x, result.position.bottom_right.x)
    row_y = (result.position.top_left.y + result.position.bottom_left.y) // 2
    pixels = [image.getpixel((x, row_y)) for x in range(image.width)]
    row = [pixel < 128 for pixel in pixels]
    first = next(x for x in range(left - 5, right) if row[x])
    last = max(x for x in range(left, right + 5) if row[x])
    assert set(pixels[first - 30:last + 31]) == {0, 255}
    runs, start = [], first
    for x in range(first + 1, last + 2):
        if row[x] != row[start]:
            runs.append(x - start)
            start = x
    modules = re.findall(r"1+|0+", barcodes.code128_bars(DIN.payload))
    assert len(runs) == len(modules)
    assert all(abs(run - 3 * len(module)) <= 1 for run, module in zip(runs, modules, strict=True))
    assert abs(sum(runs) - 3 * sum(map(len, modules))) <= 1
    quiet = 10 * 3
    assert not any(row[first - quiet:first]) and not any(row[last + 1:last + 1 + quiet])


def test_preview_png_is_the_stock_at_the_requested_dpi():
    image = Image.open(io.BytesIO(render_png("assignment", assignment_label(), dpi=150)))
    assert image.format == "PNG"
    # pdfium rounds a fractional pixel up.
    assert image.size == (math.ceil(100 / 25.4 * 150), math.ceil(50 / 25.4 * 150))


def test_weasyprint_reports_no_problem_with_any_template(caplog):
    with caplog.at_level(logging.WARNING, logger="weasyprint"):
        for kind, make in LABELS.items():
            render_pdf(kind, [make(reprint=1)])
    assert [record.getMessage() for record in caplog.records] == []


def test_barcode_images_meet_the_size_rules():
    code = barcodes.code128(DIN.payload)
    assert code.width_mm / code.modules >= 0.25
    assert code.modules == len(barcodes.code128_bars(DIN.payload)) + 20
    matrix = barcodes.data_matrix(bag_compound(DIN, PRODUCT, EXPIRY, DoseNumber(1)))
    assert matrix.width_mm == pytest.approx(matrix.height_mm)
    assert decode(Image.open(io.BytesIO(matrix.png))) == [
        ("DataMatrix", bag_compound(DIN, PRODUCT, EXPIRY, DoseNumber(1)))]


def filled(text: str, length: int) -> str:
    """`text` repeated to exactly `length` characters, not ending in a space."""
    return (text * (length // len(text) + 1))[:length].rstrip(" ").ljust(length, "X")


def longest_labels() -> dict[str, object]:
    """Every text at the most characters its label allows (ordinary words, not all W's)."""
    words = "Mesenchymal Stromal Cell Suspension "
    bag = bag_label(reprint=12)
    bag = replace(bag, **{name: filled(words, n) for name, n in bag.text_limits.items()})
    # A site code of 8 characters and a subject number past 9999: the longest subject ID.
    assignment = replace(assignment_label(reprint=12), subject_id="SHANGHAI-0012345",
                         initials="ABCD")
    wristband = replace(wristband_label(reprint=12), subject_id="SHANGHAI-0012345",
                        initials="ABCD", payload="SHANGHAI-0012345")
    shipment = shipment_label(reprint=12)
    shipment = replace(shipment, shipment_code="SHP-2026-000042", site_code="LZUFH-01",
                       site_name=filled("Lanzhou University First Hospital ", 64),
                       storage=filled("Store at ≤ −150 °C in the dry shipper ", 48),
                       payload="SH:SHP-2026-000042/LZUFH-01")
    return {"bag": bag, "assignment": assignment, "wristband": wristband, "shipment": shipment}


@pytest.mark.parametrize("kind", sorted(LABELS))
def test_longest_allowed_texts_still_render_and_scan(kind):
    """Previews saved as <kind>-longest.png: a person checks nothing overlaps."""
    label = longest_labels()[kind]
    (page,) = pdf_pages(render_pdf(kind, [label]))
    assert page.barcodes == expected_barcodes(kind, label)
    assert "REPRINT 12" in one_text_line(page.text)
    PREVIEWS.mkdir(parents=True, exist_ok=True)
    (PREVIEWS / f"{kind}-longest.png").write_bytes(render_png(kind, label, dpi=200))


# --- Refusals -------------------------------------------------------------------------------

def test_unknown_kind_empty_batch_and_wrong_label_type_are_refused():
    with pytest.raises(LabelDataError, match="unknown label kind"):
        render_pdf("pallet", [bag_label()])
    with pytest.raises(LabelDataError, match="no labels"):
        render_zpl("bag", [])
    with pytest.raises(TypeError, match="BagLabel"):
        render_pdf("bag", [assignment_label()])


def test_label_data_is_checked_when_built():
    with pytest.raises(LabelDataError, match="visit_number 5"):
        replace(assignment_label(), visit_number=5)
    with pytest.raises(LabelDataError, match="subject_id is empty"):
        replace(wristband_label(), subject_id=" ")
    with pytest.raises(LabelDataError, match="reprint -1"):
        replace(bag_label(), reprint=-1)
    with pytest.raises(TypeError, match="din must be a Din"):
        replace(bag_label(), din="=A99992600012300")


def test_code128_refuses_what_it_cannot_carry():
    with pytest.raises(barcodes.BarcodeDataError, match="printable ASCII"):
        render_pdf("wristband", [wristband_label(payload="LZ-0042\x1d")])
    with pytest.raises(barcodes.BarcodeDataError, match="printable ASCII"):
        render_zpl("wristband", [wristband_label(payload="LZ-0042é")])


def test_payload_too_long_for_the_stock_is_refused_not_overprinted():
    with pytest.raises(LabelDataError, match="room for"):
        render_pdf("wristband", [wristband_label(payload="PT:" + "LZ-0042/" * 6)])
    with pytest.raises(LabelDataError, match="room for"):
        render_zpl("wristband", [wristband_label(payload="PT:" + "LZ-0042/" * 6)])


# --- ZPL ------------------------------------------------------------------------------------

def zpl_formats(zpl: str) -> list[str]:
    formats = re.findall(r"\^XA(.*?)\^XZ", zpl, flags=re.S)
    assert len(formats) == zpl.count("^XA") == zpl.count("^XZ")
    return formats


def unhex(data: str, indicator: str = "_") -> str:
    """Undo ^FH: `_hh` is the byte hh; the bytes are UTF-8 (^CI28)."""
    out = bytearray()
    index = 0
    while index < len(data):
        if data[index] == indicator:
            out += bytes.fromhex(data[index + 1:index + 3])
            index += 3
        else:
            out += data[index].encode("utf-8")
            index += 1
    return out.decode("utf-8")


_START = {">9": 103, ">:": 104, ">;": 105}
_SWITCH = {">5": 99, ">6": 100, ">7": 101}


def zpl_code128_values(data: str) -> list[int]:
    """What a printer makes of ^BC field data (mode N): Code 128 values, start code first."""
    values = [_START[data[:2]]]
    codeset = {103: "A", 104: "B", 105: "C"}[values[0]]
    index = 2
    while index < len(data):
        pair = data[index:index + 2]
        if pair in _SWITCH:
            values.append(_SWITCH[pair])
            codeset = {">5": "C", ">6": "B", ">7": "A"}[pair]
            index += 2
        elif codeset == "C":
            assert pair.isdigit(), data
            values.append(int(pair))
            index += 2
        elif pair == "><":
            values.append(ord(">") - 32)
            index += 2
        elif pair == ">=":
            values.append(ord("~") - 32)
            index += 2
        else:
            assert data[index] != ">", f"unknown invocation code in {data!r}"
            values.append(ord(data[index]) - 32)
            index += 1
    return values


def code128_text(values: list[int]) -> str:
    """Read Code 128 values back as text (subsets B and C; the printable payloads we print)."""
    codeset = {103: "A", 104: "B", 105: "C"}[values[0]]
    text = []
    for value in values[1:]:
        if codeset == "C" and value < 100:
            text.append(f"{value:02d}")
        elif value in (99, 100, 101) and not (codeset == "B" and value == 100):
            codeset = {99: "C", 100: "B", 101: "A"}[value]
        else:
            text.append(chr(value + 32))
    return "".join(text)


def code128_bars_for(values: list[int]) -> Image.Image:
    """Draw Code 128 from its values, as a printer would: check character and stop added."""
    checksum = (values[0] + sum(i * v for i, v in enumerate(values[1:], start=1))) % 103
    modules = "".join(code128_charset.CODES[v] for v in [*values, checksum])
    modules = "0" * 10 + modules + code128_charset.STOP + "11" + "0" * 10
    row = bytes(0 if m == "1" else 255 for m in modules for _ in range(3))
    return Image.frombytes("L", (len(row), 1), row).resize((len(row), 90))


def zpl_fields(label_format: str) -> list[tuple[str, str]]:
    """(command, data) for each field: `BC`/`BX`/`BQ` for barcodes, `A0` for text, data
    decoded (^FH undone; ^BX's doubled escape character and ^BQ's `MA,` removed)."""
    fields = []
    pending, hexed = "A0", False
    for command in label_format.split("^")[1:]:
        name, params = command[:2], command[2:]
        if name in ("BC", "BX", "BQ"):
            pending = name
            if name == "BX":
                assert params.split(",")[5:7] == ["6", "_"], params
        elif name == "FH":
            hexed = True
        elif name == "FD":
            data = unhex(params) if hexed else params
            if pending == "BX":
                data = data.replace("__", "_")
            elif pending == "BQ":
                assert data.startswith("MA,")
                data = data[3:]
            fields.append((pending, data))
        elif name == "FS":
            pending, hexed = "A0", False
    return fields


def zpl_barcodes(label_format: str) -> list[tuple[str, str]]:
    names = {"BC": "Code128", "BX": "DataMatrix", "BQ": "QRCode"}
    found = []
    for command, data in zpl_fields(label_format):
        if command == "BC":
            data = code128_text(zpl_code128_values(data))
        if command in names:
            found.append((names[command], data))
    return sorted(found)


def zpl_text(label_format: str) -> str:
    return " ".join(data for command, data in zpl_fields(label_format) if command == "A0")


@pytest.mark.parametrize("kind", sorted(LABELS))
def test_zpl_is_one_utf8_format_per_label_at_the_stock_size(kind):
    labels = [LABELS[kind](), LABELS[kind](reprint=1)]
    zpl = render_zpl(kind, labels)
    formats = zpl_formats(zpl)
    assert len(formats) == 2
    width, height = STOCK_MM[kind]
    if kind == "wristband":  # fed lengthwise: the printhead spans the band's width
        width, height = height, width
    for label_format in formats:
        assert label_format.count("^CI28") == 1
        assert f"^PW{round(width * ZPL_DOTS_PER_MM)}" in label_format
        assert f"^LL{round(height * ZPL_DOTS_PER_MM)}" in label_format
    assert "REPRINT" not in zpl_text(formats[0])
    assert "REPRINT 1" in zpl_text(formats[1])


@pytest.mark.parametrize("kind", sorted(LABELS))
def test_zpl_barcode_field_data_is_exactly_the_payload(kind):
    label = LABELS[kind]()
    (label_format,) = zpl_formats(render_zpl(kind, [label]))
    assert zpl_barcodes(label_format) == expected_barcodes(kind, label)


def test_zpl_code128_draws_the_same_bars_as_the_pdf_and_decodes():
    for payload in (DIN.payload, PRODUCT.payload, "SH:SHP-2026-0042", "=<&>/,+^~_%"):
        data = unhex(rendering.zpl_code128(payload))
        values = zpl_code128_values(data)
        assert values == barcodes.code128_values(payload)
        assert decode(code128_bars_for(values)) == [("Code128", payload)]


def test_zpl_escapes_everything_that_could_end_a_field_or_start_a_command():
    tricky = "=<&>/,+^~_%"
    label = shipment_label(payload="SH:" + tricky)
    label = replace(label, site_name="Site ^FS^XZ~JA_ name")
    (label_format,) = zpl_formats(render_zpl("shipment", [label]))
    assert "~" not in label_format
    assert zpl_barcodes(label_format) == expected_barcodes("shipment", label)
    assert "Site ^FS^XZ~JA_ name" in zpl_text(label_format)


def test_zpl_bag_label_human_readable_fields():
    label = bag_label(reprint=0)
    (label_format,) = zpl_formats(render_zpl("bag", [label]))
    text = zpl_text(label_format)
    # Printer font 0 has Latin-1: typographic minus, ≤ and superscripts go as plain text.
    for shown in (
        "UC-MSC - Umbilical Cord Mesenchymal Stromal Cells",
        "Caution: New Drug - Limited by Federal (or United States) law to investigational use",
        "A9999 26 000123", "YA001V00", "2026-07-01 14:30 UTC", "4×10^7 cells in 40 ml",
        "Store at <= -150 °C (vapour phase liquid nitrogen)", "LOT-2026-0007", "000001",
        "A999926000123-000001", "cell-chain GMP facility", "Label template bag/v1",
    ):
        assert shown in text, shown
    assert ("A0", DIN.check) in zpl_fields(label_format)


def test_zpl_assignment_label_human_readable_fields():
    (label_format,) = zpl_formats(render_zpl("assignment", [assignment_label()]))
    fields = zpl_fields(label_format)
    text = zpl_text(label_format)
    for shown in ("LZ-0042", "Initials AB", "Visit 2 of 4", "CH A9999 26 000045",
                  "DIN A9999 26 000123", "Product YA001V00", "Label template assignment/v1"):
        assert shown in text, shown
    assert ("A0", COI.check) in fields and ("A0", DIN.check) in fields


def test_zpl_wristband_and_shipment_human_readable_fields():
    (wristband,) = zpl_formats(render_zpl("wristband", [wristband_label()]))
    for shown in ("LZ-0042", "Initials AB", "Born 1971", "PT:LZ-0042"):
        assert shown in zpl_text(wristband), shown
    (shipment,) = zpl_formats(render_zpl("shipment", [shipment_label()]))
    for shown in ("SHP-2026-0042", "Lanzhou University First Hospital", "Site LZ",
                  "Store at <= -150 °C (dry shipper)", "Contains 12 doses"):
        assert shown in zpl_text(shipment), shown
