"""Pixel-exact barcode images for labels: Code 128, Data Matrix (ECC 200) and QR as PNGs."""
import base64
import io
from dataclasses import dataclass
from functools import lru_cache
from typing import Final

import qrcode
import zxingcpp
from barcode import Code128
from PIL import Image

MM_PER_INCH: Final = 25.4
# Reference printer resolution: one PNG pixel is one printer dot at 300 dpi (and two at 600),
# so the printed modules are whole dots and nothing is resampled between PNG and paper.
REFERENCE_DPI: Final = 300
# 0.125 mm fails to decode at 300 dpi and 0.19 mm at 203 dpi (TOOLING): 3 dots = 0.254 mm.
CODE128_DOTS: Final = 3
CODE128_QUIET_MODULES: Final = 10
MATRIX_QUIET_MODULES: Final = 2
QR_QUIET_MODULES: Final = 4
_QR_EC_LEVEL: Final = qrcode.constants.ERROR_CORRECT_M
_PNG_BLACK: Final = 0
_PNG_WHITE: Final = 255


class BarcodeDataError(ValueError):
    """A payload that the requested symbology cannot carry."""


@dataclass(frozen=True)
class BarcodeImage:
    """A barcode as a PNG with the physical size it must be printed at, quiet zones included."""

    symbology: str
    png: bytes
    width_mm: float
    height_mm: float
    # Modules across, quiet zones included: what a layout needs to know to reserve room.
    modules: int

    @property
    def src(self) -> str:
        return "data:image/png;base64," + base64.b64encode(self.png).decode("ascii")

    @property
    def css(self) -> str:
        """Explicit size: WeasyPrint would otherwise show the PNG at 96 px per inch."""
        return f"width: {self.width_mm:.4f}mm; height: {self.height_mm:.4f}mm"

    def css_at(self, left: float, top: float) -> str:
        """Size and position (mm from the page's top-left corner) moved onto the 300 dpi dot
        grid, so that every module edge falls on a whole dot when printed or rasterised."""
        return f"left: {snap_mm(left):.4f}mm; top: {snap_mm(top):.4f}mm; {self.css}"


def dots_to_mm(dots: int, dpi: int = REFERENCE_DPI) -> float:
    return dots * MM_PER_INCH / dpi


def snap_mm(mm: float, dpi: int = REFERENCE_DPI) -> float:
    """The nearest position on the printer's dot grid."""
    return dots_to_mm(round(mm * dpi / MM_PER_INCH), dpi)


def check_code128_payload(payload: str) -> None:
    """Code 128 here carries printable ASCII only. Raises BarcodeDataError."""
    if not isinstance(payload, str):
        raise TypeError(f"payload must be a str, got {type(payload).__name__}")
    if not payload:
        raise BarcodeDataError("empty Code 128 payload")
    for position, char in enumerate(payload, start=1):
        if not " " <= char <= "~":
            raise BarcodeDataError(
                f"Code 128 carries printable ASCII only: {char!r} at position {position}"
            )


def code128_values(payload: str) -> list[int]:
    """Code 128 symbol values (start code, data and code-set changes, no check or stop) as
    python-barcode chooses them, so the ZPL printer draws the very bars the PDF shows."""
    check_code128_payload(payload)
    return list(Code128(payload).encoded)


def code128_bars(payload: str) -> str:
    """The modules as "1" (bar) and "0" (space), check character and stop pattern included."""
    check_code128_payload(payload)
    return "".join(Code128(payload).build())


@lru_cache(maxsize=4096)
def code128(payload: str, *, height_mm: float = 10.0, dots: int = CODE128_DOTS) -> BarcodeImage:
    """Code 128 PNG, one pixel high (rows are identical: stretching it loses nothing)."""
    bars = code128_bars(payload)
    quiet = "0" * CODE128_QUIET_MODULES
    modules = quiet + bars + quiet
    row = bytes(_PNG_BLACK if m == "1" else _PNG_WHITE for m in modules for _ in range(dots))
    image = Image.frombytes("L", (len(row), 1), row)
    return BarcodeImage("Code128", _png(image), dots_to_mm(len(row)), height_mm, len(modules))


@lru_cache(maxsize=4096)
def data_matrix(payload: str, *, dots: int = 6) -> BarcodeImage:
    """Data Matrix ECC 200 (zxing-cpp's writer), square, quiet zone of 2 modules all round."""
    if not isinstance(payload, str) or not payload:
        raise BarcodeDataError("empty Data Matrix payload")
    symbol = zxingcpp.create_barcode(payload, zxingcpp.BarcodeFormat.DataMatrix)
    raw = symbol.to_image(scale=1, add_quiet_zones=False)
    rows, columns = memoryview(raw).shape
    image = Image.frombytes("L", (columns, rows), bytes(memoryview(raw)))
    return _matrix_image("DataMatrix", image, MATRIX_QUIET_MODULES, dots)


@lru_cache(maxsize=4096)
def qr(payload: str, *, dots: int = 6) -> BarcodeImage:
    """QR code (qrcode, error correction M), quiet zone of 4 modules all round."""
    if not isinstance(payload, str) or not payload:
        raise BarcodeDataError("empty QR payload")
    code = qrcode.QRCode(error_correction=_QR_EC_LEVEL, box_size=1, border=0)
    code.add_data(payload)
    code.make(fit=True)
    matrix = code.get_matrix()
    size = len(matrix)
    pixels = bytes(_PNG_BLACK if dark else _PNG_WHITE for row in matrix for dark in row)
    image = Image.frombytes("L", (size, size), pixels)
    return _matrix_image("QRCode", image, QR_QUIET_MODULES, dots)


def _matrix_image(symbology: str, image: Image.Image, quiet: int, dots: int) -> BarcodeImage:
    columns, rows = image.size
    framed = Image.new("L", (columns + 2 * quiet, rows + 2 * quiet), _PNG_WHITE)
    framed.paste(image, (quiet, quiet))
    scaled = framed.resize((framed.width * dots, framed.height * dots), Image.Resampling.NEAREST)
    return BarcodeImage(
        symbology, _png(scaled), dots_to_mm(scaled.width), dots_to_mm(scaled.height),
        framed.width,
    )


def _png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=6)
    return buffer.getvalue()
