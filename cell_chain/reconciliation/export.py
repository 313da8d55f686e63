"""Reports as files: one CSV and one printable A4 landscape PDF (WeasyPrint) from the same
Report, so that the JSON, the spreadsheet and the paper copy never disagree."""
import csv
import functools
import gc
import io
import math
import re
import subprocess
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, Final

import jinja2
from flask_babel import gettext
from markupsafe import Markup

from cell_chain.core.messages import Message, catalogue, translated
from cell_chain.reconciliation.bulk import without_gc

TEMPLATES: Final = Path(__file__).resolve().parent / "templates"
PDF_TEMPLATE: Final = "reconciliation/report_pdf.html"
PDF_STYLESHEET: Final = TEMPLATES / "reconciliation" / "report_pdf.css"

# A spreadsheet runs a cell starting with one of these as a formula (or DDE command); tab and
# carriage return are on OWASP's list too, as some spreadsheets strip them first.
_FORMULA_STARTS: Final = ("=", "+", "-", "@", "\t", "\r")
_FORMULA_FIRST: Final = frozenset(_FORMULA_STARTS)
# A plain number typed as text ("-5", "+1.5e3") is a number to a spreadsheet, not a formula.
_PLAIN_NUMBER: Final = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")


@dataclass(frozen=True)
class Column:
    key: str
    title: str
    numeric: bool = False


@dataclass(frozen=True)
class Table:
    """`rows` may be an iterator (read once, as a download writes them). A row is a dict by
    column key, or a tuple of the values in the columns' order (a long table's rows: no dict
    to build per row)."""

    title: str
    columns: list[Column]
    rows: Iterable[dict[str, Any]]
    totals: dict[str, Any] | None = None


@dataclass(frozen=True)
class SignatureLine:
    """An e-signature as printed: who (printed name), what it means, when (UTC), on what."""

    printed_name: str
    meaning: str
    signed_at: datetime
    record: str = ""


@dataclass(frozen=True)
class Report:
    """`tables` may be an iterator, computing each table when it is reached; `signatures`
    are read after the tables (a streamed report gathers them while its rows go out)."""

    name: str
    title: str
    scope: str
    generated_at: datetime
    printed_by: str
    tables: Iterable[Table]
    signatures: Sequence[SignatureLine] = ()
    notes: Sequence[str] = ()


# ---- values --------------------------------------------------------------------------------

def _utc(moment: datetime) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("report times must carry a time zone offset (they are printed in UTC)")
    return moment.astimezone(UTC)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float | Decimal) and not isinstance(value, bool)


def cell_text(value: Any) -> str:
    """The one text form of a value, shared by CSV and PDF: times in UTC ISO 8601."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, datetime):
        return _utc(value).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Message):
        return value.text(UTC)  # in the reader's words, its times in the report's zone
    return str(value)


def _printed(value: Any) -> str:
    """As `cell_text`, but times to the minute with 'UTC' spelt out, for people reading paper."""
    if isinstance(value, datetime):
        return f"{_utc(value):%Y-%m-%d %H:%M} UTC"
    return cell_text(value)


def _stamp(moment: datetime) -> str:
    return f"{_utc(moment):%Y-%m-%d %H:%M:%S} UTC"


def safe_cell(value: Any) -> str:
    """CSV cell text that no spreadsheet runs as a formula; numbers stay numbers."""
    kind = type(value)
    if kind is str:  # most cells: decided by the first character alone
        if not value.startswith(_FORMULA_STARTS) or _PLAIN_NUMBER.fullmatch(value):
            return value
        return "'" + value
    if value is None:
        return ""
    if kind is int or kind is float:
        return str(value)
    text = cell_text(value)
    if _is_number(value) or _PLAIN_NUMBER.fullmatch(text):
        return text
    return "'" + text if text.startswith(_FORMULA_STARTS) else text


def _totals_row(table: Table) -> list[Any] | None:
    if table.totals is None:
        return None
    cells: list[Any] = [table.totals.get(c.key) for c in table.columns]
    if cells and cells[0] in (None, ""):
        cells[0] = "Total"
    return cells


# ---- CSV -----------------------------------------------------------------------------------

# Rows written out together: a chunk of a streamed download.
CSV_CHUNK_ROWS: Final = 500


def csv_chunks(report: Report) -> Iterator[str]:
    """The CSV in pieces, each as soon as it is known: the header block first, then each
    table's rows as the report's tables and rows yield them (see `report_csv`)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    words = catalogue()

    def write(cells: Sequence[Any]) -> None:
        writer.writerow([safe_cell(c) for c in cells])

    def write_row(row: dict[str, Any] | tuple[Any, ...], keys: list[str]) -> None:
        # A whole-trial report writes over a million cells: the common ones as they are. A whole
        # number or nothing is written by the csv module exactly as safe_cell writes it, and
        # text is left alone unless its first character could start a formula.
        values = row if row.__class__ is tuple else [row.get(key) for key in keys]  # type: ignore[union-attr]
        writer.writerow([value if value is None or (kind := value.__class__) is int
                         or (kind is str and value[:1] not in _FORMULA_FIRST) else _cell(value) for value in values])

    def _cell(value: Any) -> str:
        return safe_cell(value.text(UTC, words) if isinstance(value, Message) else value)

    def taken() -> str:
        text = out.getvalue()
        out.seek(0)
        out.truncate()
        return text

    write([report.title])
    write([gettext("Scope"), report.scope])
    write([gettext("Generated at (UTC)"), _utc(report.generated_at).isoformat()])
    write([gettext("Printed by"), report.printed_by])
    for note in report.notes:
        write([gettext("Note"), note])
    yield taken()
    for table in report.tables:
        write([])
        write([table.title])
        keys = [c.key for c in table.columns]
        write([c.title for c in table.columns])
        for count, row in enumerate(table.rows, 1):
            write_row(row, keys)
            if count % CSV_CHUNK_ROWS == 0:
                yield taken()
        if (totals := _totals_row(table)) is not None:
            write(totals)
        yield taken()
    if report.signatures:
        write([])
        write([gettext("Signatures")])
        write([gettext("Printed name"), gettext("Meaning"), gettext("Signed at (UTC)"), gettext("Record")])
        for count, line in enumerate(report.signatures, 1):
            write([line.printed_name, line.meaning, _utc(line.signed_at).isoformat(), line.record])
            if count % CSV_CHUNK_ROWS == 0:
                yield taken()
    yield taken()


def report_csv(report: Report) -> str:
    """One CSV file: a header block (title, scope, generation time in UTC, printed by), each
    table as its title row, header row, rows and totals row, then the signatures."""
    return "".join(csv_chunks(report))


# ---- PDF -----------------------------------------------------------------------------------
# WeasyPrint spends about half a millisecond on every table cell, so a 5,000-row report laid
# out as an HTML table takes half a minute. The tables are therefore set here instead: each
# value is measured with the font's own advance widths (kerning and ligatures are off in the
# stylesheet, so the PDF uses exactly these widths), wrapped to its column, and every row
# becomes one text block whose columns start at tab stops on a fixed grid. WeasyPrint then
# lays out one cell per row: about three times faster (benchmarks/report_pdf.py), with the
# same breaking of rows across pages and the header rows repeated on each page.

_env: Final = jinja2.Environment(
    loader=jinja2.FileSystemLoader(TEMPLATES),
    autoescape=jinja2.select_autoescape(["html"]),
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
    auto_reload=False,
)

FONT_FAMILY: Final = "DejaVu Sans"
FONT_PX: Final = 8 * 96 / 72  # 8 pt; must match `.grid` in report_pdf.css
TAB_PX: Final = 4  # the tab-stop grid (`tab-size` in report_pdf.css); columns start on it
GAP_PX: Final = 12  # the least space between two columns
# A4 landscape (297 mm) less 2 × 12 mm page margins, 2 × 4 px cell padding and 4 px to spare,
# in CSS px.
_CELL_PADDING_PX: Final = 8
LINE_PX: Final = (297 - 24) * 96 / 25.4 - _CELL_PADDING_PX - 4
_MIN_COLUMN_PX: Final = 48
# A word wider than this (a pasted URL, say) may be broken rather than widen its column.
_LONGEST_WORD_PX: Final = 200
_MAX_AIR_PX: Final = 40
_CONTROL: Final = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")
# Pad right-aligned numbers with spaces whose widths the font defines: figure (a digit),
# punctuation (a full stop) and hair spaces, widest first.
_PAD_SPACES: Final = ("\u2003", "\u2007", "\u2008", "\u2009", "\u200a")
_GAP_SPACES: Final = ("\u2003", "\u2002", "\u2009")  # em, en and thin spaces
# Pango places glyphs to 1/1024 px: a position this far from a tab stop is on a known side of it.
_SAFE_PX: Final = 0.3


class _Font:
    """Advance widths of one face of the report font, in px at the table's size."""

    def __init__(self, path: str) -> None:
        from fontTools.ttLib import TTFont

        font = TTFont(path, lazy=True)
        scale = FONT_PX / font["head"].unitsPerEm
        metrics = font["hmtx"].metrics
        self.advance = {code: metrics[glyph][0] * scale for code, glyph in font.getBestCmap().items()}
        # Another font draws what this one lacks (CJK names, say): about one em wide.
        self.missing = FONT_PX
        font.close()

    def width(self, text: str) -> float:
        advance, missing = self.advance, self.missing
        return sum(advance.get(ord(char), missing) for char in text)


_FONT_FILES: Final = ("DejaVuSans.ttf", "DejaVuSans-Bold.ttf")  # Debian's fonts-dejavu-core
_FONT_DIRS: Final = ("/usr/share/fonts", "/usr/local/share/fonts", "/usr/share/fonts/truetype/dejavu")


def _font_file(name: str) -> str:
    """Where the font file is: the usual font folders, else whatever fontconfig knows."""
    for folder in _FONT_DIRS:
        if (direct := Path(folder) / name).is_file():
            return str(direct)
        if found := next(Path(folder).rglob(name), None) if Path(folder).is_dir() else None:
            return str(found)
    style = "Bold" if "Bold" in name else "Book"
    try:
        path = subprocess.run(["fc-match", "-f", "%{file}", f"{FONT_FAMILY}:style={style}"],
                              capture_output=True, text=True, check=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        path = ""
    if Path(path).name != name:
        raise RuntimeError(f"{FONT_FAMILY} ({name}) is not installed: install the Debian package fonts-dejavu-core")
    return path


@functools.cache
def _fonts() -> tuple[_Font, _Font]:
    """Regular and bold DejaVu Sans: the faces WeasyPrint draws the tables with."""
    regular, bold = (_Font(_font_file(name)) for name in _FONT_FILES)
    return regular, bold


def _clean(text: str) -> str:
    # A tab or newline in a value would move the columns that follow it.
    return _CONTROL.sub(" ", text)


def _wrap(text: str, font: _Font, width: float) -> list[str]:
    """Lines of at most `width` px, broken between words, or inside a word too long alone."""
    lines: list[str] = []
    current = ""
    for word in text.split(" "):
        candidate = f"{current} {word}" if current else word
        if font.width(candidate) <= width or (not current and not word):
            current = candidate
            continue
        if current:
            lines.append(current)
        current = ""
        # A column squeezed narrower than one character still takes one per line: every cut
        # must shorten the word, or the loop never ends.
        while len(word) > 1 and font.width(word) > width:
            cut = len(word) - 1
            while cut > 1 and font.width(word[:cut]) > width:
                cut -= 1
            lines.append(word[:cut])
            word = word[cut:]
        current = word
    lines.append(current)
    return lines


def _column_widths(natural: list[float], minimum: list[float], numeric: list[bool]) -> list[float]:
    """Each column's width (px, gap included): all of its longest value when the page has
    room (spare room shared out), otherwise the widest text columns are narrowed to a common
    cap (never below their longest word) and wrap; numbers keep their width."""
    want = [n + GAP_PX for n in natural]
    least = [w if num else min(max(m, _MIN_COLUMN_PX) + GAP_PX, w)
             for m, num, w in zip(minimum, numeric, want, strict=True)]
    if sum(want) <= LINE_PX:
        # A narrow table gets a little air per column rather than being stretched edge to edge.
        spare = min(LINE_PX - sum(want), _MAX_AIR_PX * len(want))
        return [w + spare * w / sum(want) for w in want]

    def widths_at(cap: float) -> list[float]:
        return [w if num else max(min(w, cap), lo) for w, num, lo in zip(want, numeric, least, strict=True)]

    if sum(least) > LINE_PX:  # too many columns even at their narrowest: shrink them all
        return [w * LINE_PX / sum(least) for w in least]
    low, high = 0.0, max(want)
    for _ in range(40):  # the largest cap that fits
        cap = (low + high) / 2
        low, high = (cap, high) if sum(widths_at(cap)) <= LINE_PX else (low, cap)
    return widths_at(low)


@dataclass(frozen=True)
class _Grid:
    """A table set as text: column starts on the tab grid, rows as lines."""

    starts: list[int]
    numeric: list[bool]

    def line(self, pieces: list[str], font: _Font) -> str:
        """One printed line: each piece at its column's start (numbers flush right)."""
        out: list[str] = []
        x, exact = 0.0, True
        for index, piece in enumerate(pieces):
            start, end = self.starts[index], self.starts[index + 1]
            if x < start:
                # Spaces (each a plain glyph to the shaper, unlike a tab) most of the way, then
                # one tab to land on the column's stop exactly.
                for space in _GAP_SPACES:
                    count = int((start - _SAFE_PX - x) // font.width(space))
                    if count > 0:
                        out.append(space * count)
                        x, exact = x + count * font.width(space), False
                near = x % TAB_PX
                if not exact and (near < _SAFE_PX or near > TAB_PX - _SAFE_PX):
                    # Too close to a stop to be sure which one a tab reaches: step past it.
                    out.append("\u200a")
                    x += font.width("\u200a")
                first_stop = (int(x // TAB_PX) + 1) * TAB_PX
                out.append("\t" * max(1, (start - first_stop) // TAB_PX + 1))
                x, exact = start, True
            if self.numeric[index] and piece:
                pad = end - GAP_PX - font.width(piece) - x
                for space in _PAD_SPACES:
                    count = int(pad // font.width(space)) if pad > 0 else 0
                    out.append(space * count)
                    exact = exact and not count
                    pad -= count * font.width(space)
                    x += count * font.width(space)
            if piece:
                out.append(piece)
                x, exact = x + font.width(piece), False
        return "".join(out).rstrip()

    def block(self, cells: list[str], font: _Font) -> str:
        """A row: each cell wrapped to its column, the lines side by side."""
        columns = []
        for index, text in enumerate(cells):
            width = self.starts[index + 1] - self.starts[index] - GAP_PX
            columns.append(_wrap(text, font, width))
        depth = max(len(c) for c in columns)
        return "\n".join(self.line([c[i] if i < len(c) else "" for c in columns], font) for i in range(depth))


@dataclass(frozen=True)
class _PrintedTable:
    title: str
    width_px: int  # the cells' padding included
    header: str
    rows: list[str]
    totals: str | None


def _printed_table(table: Table) -> _PrintedTable:
    regular, bold = _fonts()
    columns = table.columns
    numeric = [c.numeric for c in columns]
    rows = [[_clean(_printed(value)) for value in (row if isinstance(row, tuple) else [row.get(c.key) for c in columns])]
            for row in table.rows]
    totals_row = _totals_row(table)
    totals = [_clean(_printed(v)) for v in totals_row] if totals_row is not None else None
    titles = [_clean(translated(c.title, UTC)) for c in columns]
    natural, minimum = [], []
    for index, title in enumerate(titles):
        values = [r[index] for r in rows] + ([totals[index]] if totals else [])
        words = [w for v in values for w in v.split(" ")]
        natural.append(max([bold.width(w) for w in title.split(" ")]
                           + [regular.width(v) for v in values] + [bold.width(totals[index]) if totals else 0]))
        minimum.append(max([bold.width(w) for w in title.split(" ")] + [min(regular.width(w), _LONGEST_WORD_PX) for w in words]))
    # Columns start on the tab grid: widths round up, and the widest text column gives back
    # what that adds beyond the line.
    snapped = [math.ceil(w / TAB_PX) * TAB_PX for w in _column_widths(natural, minimum, numeric)]
    excess = sum(snapped) - int(LINE_PX // TAB_PX) * TAB_PX
    while excess > 0:
        widest = max(range(len(snapped)), key=lambda i: (not numeric[i], snapped[i]))
        step = min(excess, snapped[widest] - TAB_PX)
        if step <= 0:
            break
        snapped[widest] -= step
        excess -= step
    starts = [0]
    for width in snapped:
        starts.append(starts[-1] + width)
    grid = _Grid(starts, numeric)
    return _PrintedTable(translated(table.title, UTC), starts[-1] + _CELL_PADDING_PX, grid.block(titles, bold), [grid.block(r, regular) for r in rows],
                         grid.block(totals, bold) if totals is not None else None)


def _words(text: Any, **params: Any) -> str:
    return text.text(UTC) if isinstance(text, Message) else gettext(text, **params)


def report_html(report: Report) -> str:
    """The HTML WeasyPrint lays out (also handy to look at in a browser)."""
    template = _env.get_template(PDF_TEMPLATE)
    return template.render(
        _=_words,  # headings in the reader's language; the figures and times stay as stored
        report=report,
        notes=[translated(note, UTC) for note in report.notes],
        generated=_stamp(report.generated_at),
        generated_iso=_utc(report.generated_at).isoformat(timespec="seconds"),
        tables=[_printed_table(t) for t in report.tables],
        signatures=[(s.printed_name, s.meaning, _stamp(s.signed_at), s.record) for s in report.signatures],
        stylesheet=Markup(PDF_STYLESHEET.read_text(encoding="utf-8")),
    )


def report_pdf(report: Report) -> bytes:
    """A4 landscape: a header on every page (title, scope, generation time, printed by, page
    X of Y), tables whose header rows repeat on each page, totals, and the e-signatures."""
    from weasyprint import HTML

    html = report_html(report)
    # WeasyPrint allocates millions of short-lived objects that reference counting frees; the
    # cyclic collector's passes over them cost a large share of a long report's time.
    collecting = gc.isenabled()
    gc.disable()
    try:
        return HTML(string=html, base_url=TEMPLATES.as_uri() + "/").write_pdf()
    finally:
        if collecting:
            gc.enable()


def download_name(report: Report, extension: str) -> str:
    """`<name>-<UTC time>.<extension>`: two printouts of one report never share a name."""
    safe = re.sub(r"[^A-Za-z0-9._-]+", "-", report.name).strip("-") or "report"
    return f"{safe}-{_utc(report.generated_at):%Y%m%dT%H%M%SZ}.{extension}"


def csv_response(report: Report) -> Any:
    """A download of the CSV, streamed: the header block goes out at once and the rows as the
    report yields them, never the whole file in memory. UTF-8 with a byte-order mark so
    spreadsheets read × and ⁷."""
    from flask import Response, stream_with_context
    from flask_babel import get_translations

    # The reader's language is settled now, while the request runs its own statements: the
    # streamed header then translates from the cached catalogue without asking the database.
    get_translations()

    def body() -> Iterator[bytes]:
        yield "\ufeff".encode()
        with without_gc():  # a whole-trial download builds ~10⁶ short-lived objects, no cycles
            for chunk in csv_chunks(report):
                yield chunk.encode("utf-8")

    return Response(stream_with_context(body()), mimetype="text/csv", headers={
        "Content-Disposition": f'attachment; filename="{download_name(report, "csv")}"'})


def pdf_response(report: Report) -> Any:
    """The PDF, shown inline (the browser's viewer prints it)."""
    from flask import Response

    return Response(report_pdf(report), mimetype="application/pdf", headers={
        "Content-Disposition": f'inline; filename="{download_name(report, "pdf")}"'})
