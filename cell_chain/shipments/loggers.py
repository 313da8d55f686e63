"""Read temperature-logger exports (ours and five vendors') into one sorted trace of UTC °C readings."""
import codecs
import csv
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from pathlib import PurePath
from typing import Final

from cell_chain.core.messages import Joined, Message, _l

MAX_FILE_BYTES: Final = 5 * 1024 * 1024
MAX_READINGS: Final = 200_000
NOT_READABLE: Final = "This is not a temperature logger file we can read"

_ABSOLUTE_ZERO: Final = -273.15
# No storage or shipping logger reads above this; a larger number means the column is not °C/°F.
_HOTTEST_PLAUSIBLE: Final = 150.0
_MAX_TZ_OFFSET_MINUTES: Final = 14 * 60
# Excel's 1900 date system; serials 20000-80000 are 1954-2119, anything else is not a date.
_EXCEL_EPOCH: Final = datetime(1899, 12, 30)
_EXCEL_SERIAL_RANGE: Final = (20_000.0, 80_000.0)

_LINE_BREAK_RE: Final = re.compile(r"\r\n|\r|\n")
# Explicit ASCII classes: `\d` would also accept non-ASCII digits.
_NUMBER: Final = r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)"
# How loggers write a reading they do not have: blank, "-", "--", "--.-" (Berlinger).
_MISSING_RE: Final = re.compile(r"(?:-+\.?-*)?")
# The degree sign as the files spell it, including mojibake: Latin-1 0xB0 read as Mac Roman
# ("∞"), Mac Roman 0xA1 read as Latin-1 ("¡"), UTF-8 read as Latin-1 ("Â°"), lost bytes (U+FFFD),
# and the asterisk that ASCII-only exports print for it ("*C").
_DEGREE: Final = r"(?:°|º|˚|Â°|Ã‚Â°|\ufffd|¡|∞|\*|deg(?:rees?)?\.?\s?)"
_UNIT_RE: Final = re.compile(rf"{_DEGREE}\s*(?P<letter>[CF])(?![A-Za-z])|\b(?P<word>Celsius|Fahrenheit)\b"
                             r"|[(\[]\s*(?P<bare>[CF])\s*[)\]]", re.IGNORECASE)
_VALUE_RE: Final = re.compile(rf"(?P<number>{_NUMBER})\s*(?P<unit>\S.*)?")
# Berlinger always prints one decimal; stricter than _NUMBER so a cut-off "9." is not read as 9.
_BERLINGER_VALUE_RE: Final = re.compile(r"[+-]?[0-9]{1,3}\.[0-9]")
_BERLINGER_DATE_RE: Final = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})")
_BERLINGER_TIME_RE: Final = re.compile(r"([0-9]{2}):([0-9]{2})")
_BERLINGER_STAMP_RE: Final = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2}) ([0-9]{2}):([0-9]{2})")
_BERLINGER_PATTERN_TOKENS: Final = {"yyyy": "(?P<Y>[0-9]{4})", "MM": "(?P<m>[0-9]{2})", "dd": "(?P<d>[0-9]{2})",
                                    "hh": "(?P<H>[0-9]{2})", "HH": "(?P<H>[0-9]{2})", "mm": "(?P<M>[0-9]{2})",
                                    "ss": "(?P<S>[0-9]{2})"}

_TIME: Final = (r"(?P<H>[0-9]{1,2}):(?P<M>[0-9]{2})(?::(?P<S>[0-9]{2})(?:[.,](?P<f>[0-9]{1,6}))?)?"
                r"(?:\s*(?P<ampm>[AaPp])\.?[Mm]\.?)?")
# Year first: ISO 8601 (T or space) with an optional zone, and the Japanese yyyy/MM/dd.
_YMD_RE: Final = re.compile(rf"(?P<y>[0-9]{{4}})(?P<sep>[-/])(?P<a>[0-9]{{1,2}})(?P=sep)(?P<b>[0-9]{{1,2}})"
                            rf"(?:T|\s+){_TIME}(?:\s*(?P<zone>Z|[+-][0-9]{{2}}(?::?[0-9]{{2}})?))?")
# Year last: day/month or month/day, which the file as a whole has to settle.
_XXY_RE: Final = re.compile(rf"(?P<a>[0-9]{{1,2}})(?P<sep>[/.-])(?P<b>[0-9]{{1,2}})(?P=sep)"
                            rf"(?P<y>[0-9]{{4}}|[0-9]{{2}})\s+{_TIME}")
# A HOBOware column is "<series label> <measurement>, <unit> (LGR S/N: …, LBL: …)": the series
# label is free text ("H08 Temp., °F"), so the measurement word is looked for in the part before
# the sensor details, as a word of its own ("Temp", "Temp.", "Temperature"; not "Attempt").
_HOBO_TEMP_RE: Final = re.compile(r"(?<![A-Za-z])Temp(?:erature|\.|(?![A-Za-z]))", re.IGNORECASE)
_GMT_OFFSET_RE: Final = re.compile(r"GMT\s*(?P<sign>[+-])(?P<h>[0-9]{1,2}):?(?P<m>[0-9]{2})")
_INT_RE: Final = re.compile(r"[0-9]+")

_MAGIC: Final = (
    (b"\x89PNG\r\n\x1a\n", _l("it is a PNG image.")),
    (b"\xff\xd8\xff", _l("it is a JPEG image.")),
    (b"GIF8", _l("it is a GIF image.")),
    (b"%PDF", _l("it is a PDF document. For a Berlinger logger, upload the .txt file that sits next to the PDF "
                 "on the logger's USB drive.")),
    (b"PK\x03\x04", _l("it is a zipped file such as an Excel workbook (.xlsx). Export the readings as CSV from "
                       "the logger software.")),
    (b"\xd0\xcf\x11\xe0", _l("it is an old Excel workbook (.xls). Export the readings as CSV from the logger "
                             "software.")),
    (b"\x1f\x8b", _l("it is a compressed (gzip) file.")),
)
# Extensions of the vendors' own binary files, for a more useful message than "unknown layout".
_EXTENSION_ADVICE: Final = {
    ".ltd": _l("LogTag's own .ltd files cannot be read; export CSV from LogTag Analyzer"),
    ".hobo": _l("HOBOware's own .hobo files cannot be read; export CSV from HOBOware"),
    ".xlsx": _l("export the readings as CSV"),
    ".xls": _l("export the readings as CSV"),
}


class LoggerFileError(ValueError):
    """A file we cannot read as a temperature record; the message is written for the pharmacist."""


@dataclass(frozen=True, slots=True)
class Reading:
    """One temperature reading; `at` must be timezone-aware (parse_logger_file gives UTC)."""

    at: datetime
    celsius: float

    def __post_init__(self) -> None:
        if self.at.tzinfo is None or self.at.utcoffset() is None:
            raise ValueError("Reading.at must be timezone-aware")
        if not math.isfinite(self.celsius):
            raise ValueError("Reading.celsius must be a finite number")


@dataclass(frozen=True, slots=True)
class LoggerTrace:
    """What a logger file says: readings sorted by time, and where they came from.

    `source_format` is one of "csv", "berlinger", "onset-hobo", "tinytag", "tandd", "rotronic";
    `device`/`serial` are as the file states them (None when it does not); `unit_in_file` is
    "°C" or "°F" (readings are always °C); `notes` are sentences for the person reviewing
    the record (missing readings, assumptions made, summary-only files).
    """

    readings: tuple[Reading, ...]
    source_format: str
    device: str | None
    serial: str | None
    unit_in_file: str
    notes: tuple[Message, ...]


def parse_logger_file(data: bytes, filename: str | None = None, *, tz_offset_minutes: int = 0) -> LoggerTrace:
    """Read a logger export into a LoggerTrace. Raises LoggerFileError.

    The format is recognised from the content; `filename` only improves error messages.

    - "csv", our API's contract: a header `timestamp,celsius` (any order, other columns
      ignored), ISO 8601 timestamps with or without an offset, numbers in °C.
    - "berlinger": Fridge-tag 2 / 2 L / UL and Q-tag CLm .txt reports. The `Data:` table when
      there is one (missing `--.-` readings skipped). Without it the report only holds daily
      summaries: each day gives two readings, its minimum and maximum at `TS Min T`/`TS Max T`
      on that day's `Date:`, and the notes say "daily summary only" (a Q-tag without data
      gives its run minimum and maximum: "run summary only"). The report is all or nothing:
      any damaged or missing value (`Min T: abc`, a day cut short) refuses the whole file,
      because a signed report that has been cut or edited cannot be trusted in part. The
      signature itself is not verified here.
    - "onset-hobo": HOBOware CSV (plot title, `Date Time, GMT±hh:mm` header, °C or °F, the
      Details side-table and event-only rows ignored).
    - "tinytag": Tinytag Explorer CSV (transposed header; the file states no unit, so °C is
      assumed and noted).
    - "tandd": T&D CSV with channel, name and unit header rows; the Excel serial date column
      is used (it keeps the seconds the text column may have rounded away).
    - "rotronic": HygroLog CSV with `[#S]`/`[#H]`/`[#D]` sections, separate date and time.

    Text may be UTF-8 (with or without BOM), UTF-16 with a BOM, Latin-1 or Mac Roman; a
    degree sign garbled by a wrong encoding is still recognised. °F is converted to °C
    (rounded to 6 decimals, so 46.4 °F is exactly 8.0 °C). 12-hour clocks are read. Dates
    written day/month or month/day are settled for the whole file: by a number above 12 when
    there is one, else by the only order that keeps the readings in time order; when neither
    settles it, or when one file mixes date formats (a sign it was re-saved by a spreadsheet),
    the file is refused rather than guessed.

    Time zones: a zone or offset the file states is used (`Z`/`+02:00`, HOBO's `GMT-05:00`).
    Timestamps without one were written by a clock whose offset from UTC the caller gives as
    `tz_offset_minutes` (a fixed offset, e.g. 120 for a logger set to CEST; default 0, so
    they are read as UTC, as the CSV contract says); the notes say when this was assumed.

    Refused: empty, binary, image, PDF, spreadsheet, HTML or unknown files, files over
    MAX_FILE_BYTES, more than MAX_READINGS readings, files without a temperature column or
    unit, values that are not numbers, temperatures below absolute zero or above 150 °C, and
    files in which no reading survives. Readings come back sorted by time.
    """
    if isinstance(tz_offset_minutes, bool) or not isinstance(tz_offset_minutes, int):
        raise TypeError("tz_offset_minutes must be an int")
    if abs(tz_offset_minutes) > _MAX_TZ_OFFSET_MINUTES:
        raise ValueError("tz_offset_minutes must be within ±14 hours")
    if len(data) > MAX_FILE_BYTES:
        raise LoggerFileError(_l("This file is too large (%(size)s MB). Logger files we accept are at most %(limit)s MB; "
                                 "export only the shipment's period.", size=f"{len(data) / 1_000_000:.1f}",
                                 limit=MAX_FILE_BYTES // (1024 * 1024)))
    if not data.strip():
        raise _refuse(_l("the file is empty."))
    for magic, what in _MAGIC:
        if data.startswith(magic):
            raise _refuse(what)
    text = _decode(data)
    _refuse_other_documents(text)
    context = _Context(tz_offset_minutes)
    lines = _LINE_BREAK_RE.split(text.lstrip("\ufeff"))
    if not any(line.strip() for line in lines):
        raise _refuse(_l("the file is empty."))
    if sum(1 for line in lines if line.strip()) > 2 * MAX_READINGS:
        raise _too_many()
    first = next(line for line in lines if line.strip())
    if re.match(r"Device:\s*\S", first) and any(re.match(r"(Conf|Hist|Res|Data):\s*$", line) for line in lines):
        return _parse_berlinger(lines, context)
    if any(line.startswith("[#D]") for line in lines) and any(line.startswith("[#H]") for line in lines):
        return _parse_rotronic(_csv_rows(lines, "Rotronic"), context)
    rows = _csv_rows(lines, "CSV")
    nonblank = [(number, cells) for number, cells in rows if any(cell.strip() for cell in cells)]
    if not nonblank:
        raise _refuse(_unknown_layout([], filename))
    head = [[cell.strip() for cell in cells] for _, cells in nonblank[:8]]
    if {"timestamp", "celsius"} <= {cell.lower() for cell in head[0]}:
        return _parse_plain_csv(nonblank, context)
    if head[0][0].startswith("Plot Title") or any(re.match(r"Date\s*Time\b.*GMT", cell)
                                                  for row in head[:2] for cell in row):
        return _parse_hobo(nonblank, context)
    if any(row[0] in ("S/N", "Property") for row in head):
        return _parse_tinytag(nonblank, context)
    if "Date/Time" in head[0] and any(re.fullmatch(r"No\.\s*[0-9]+", cell) for cell in head[0]):
        return _parse_tandd(nonblank, context)
    raise _refuse(_unknown_layout(head, filename))


# ---- shared machinery ------------------------------------------------------------------------------


class _Context:
    """What every parser needs: the caller's clock offset and the readings collected so far."""

    def __init__(self, tz_offset_minutes: int) -> None:
        self.offset = timezone(timedelta(minutes=tz_offset_minutes))
        self.tz_offset_minutes = tz_offset_minutes
        self.rows: list[tuple[datetime, float]] = []
        self.lines: list[int | None] = []
        self.notes: list[Message] = []
        self.missing = 0
        self.used_local_clock = False
        self.stated_zone: str | None = None

    def add(self, at: datetime, value: float, line: int | None = None) -> None:
        if len(self.rows) >= MAX_READINGS:
            raise _too_many()
        self.rows.append((at, value))
        self.lines.append(line)

    def finish(self, source_format: str, *, kind: str, unit: str, device: str | None,
               serial: str | None) -> LoggerTrace:
        notes = list(self.notes)
        if self.missing:
            notes.append(_l("%(count)s missing reading (blank or --.-) skipped", count=self.missing) if self.missing == 1
                         else _l("%(count)s missing readings (blank or --.-) skipped", count=self.missing))
        readings = []
        lines = self.lines + [None] * (len(self.rows) - len(self.lines))
        for (at, value), line in zip(self.rows, lines, strict=True):
            celsius = round((value - 32.0) * 5.0 / 9.0, 6) if unit == "°F" else value
            if not _ABSOLUTE_ZERO <= celsius <= _HOTTEST_PLAUSIBLE:
                raise LoggerFileError(_l(
                    "This %(kind)s file cannot be used: it contains %(value)s, which is not a plausible temperature "
                    "for a storage or shipping logger. The file may be damaged.", kind=kind,
                    value=_format_value(value, unit)))
            if at.tzinfo is None:
                self.used_local_clock = True
                at = at.replace(tzinfo=self.offset)
            try:
                utc = at.astimezone(UTC)
            except OverflowError:
                # 0001-01-01 00:30+01:00 or 9999-12-31 23:59-01:00: no UTC time exists for it.
                if line is not None:
                    raise LoggerFileError(_l(
                        "This %(kind)s file cannot be used: line %(line)s: the time %(time)s lies outside the calendar "
                        "once converted to UTC. The file may be damaged.", kind=kind, line=line,
                        time=at.isoformat())) from None
                raise LoggerFileError(_l(
                    "This %(kind)s file cannot be used: the time %(time)s lies outside the calendar once converted "
                    "to UTC. The file may be damaged.", kind=kind, time=at.isoformat())) from None
            readings.append(Reading(utc, celsius))
        if not readings:
            raise LoggerFileError(
                _l("This %(kind)s file holds no temperature readings (every reading is missing).", kind=kind)
                if self.missing else _l("This %(kind)s file holds no temperature readings.", kind=kind))
        if unit == "°F":
            notes.append(_l("temperatures converted from °F to °C"))
        if self.used_local_clock:
            notes.append(_l("the file's times carry no time zone; they were read as %(zone)s "
                            "(tz_offset_minutes=%(minutes)s)", zone=_utc_label(self.tz_offset_minutes),
                            minutes=self.tz_offset_minutes))
        elif self.stated_zone and self.tz_offset_minutes:
            notes.append(_l("tz_offset_minutes=%(minutes)s was not used: the file states its times are in %(zone)s",
                            minutes=self.tz_offset_minutes, zone=self.stated_zone))
        readings.sort(key=lambda reading: reading.at)
        return LoggerTrace(tuple(readings), source_format, device or None, serial or None, unit, tuple(notes))


def _refuse(reason: str | Message) -> LoggerFileError:
    return LoggerFileError(_l("This is not a temperature logger file we can read: %(reason)s", reason=reason))


def _damaged(kind: str, line: int, problem: str | Message) -> LoggerFileError:
    return LoggerFileError(_l("This %(kind)s file cannot be used: line %(line)s: %(problem)s. The file may be damaged "
                              "or cut short; copy it from the logger again and do not edit it.", kind=kind,
                              line=line, problem=problem))


def _too_many() -> LoggerFileError:
    return LoggerFileError(_l("This file has more than %(limit)s readings, more than we accept for one shipment; "
                              "export only the shipment's period.", limit=f"{MAX_READINGS:,}"))


def _utc_label(minutes: int) -> str:
    if not minutes:
        return "UTC"
    sign = "+" if minutes > 0 else "−"
    hours, rest = divmod(abs(minutes), 60)
    return f"UTC{sign}{hours:02d}:{rest:02d}"


def _format_value(value: float, unit: str) -> str:
    return f"{value:g} {unit}"


def _decode(data: bytes) -> str:
    """Text from bytes: BOMs first, then strict UTF-8, then the 8-bit code page its degree sign betrays."""
    if data.startswith((codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)) and len(data) % 4 == 0:
        try:
            return data.decode("utf-32")
        except UnicodeDecodeError:
            raise _refuse(_l("its text encoding is damaged.")) from None
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError:
            raise _refuse(_l("its text encoding is damaged.")) from None
    sample = data[:4096]
    # UTF-16 without a BOM: every other byte of ASCII text is zero.
    if len(sample) >= 8 and sample[1::2].count(0) > 0.9 * len(sample[1::2]) and 0 not in sample[0::2]:
        text = data.decode("utf-16-le", errors="replace")
    elif len(sample) >= 8 and sample[0::2].count(0) > 0.9 * len(sample[0::2]) and 0 not in sample[1::2]:
        text = data.decode("utf-16-be", errors="replace")
    elif b"\x00" in data:
        raise _refuse(_l("it is a binary file, not text."))
    else:
        body = data[3:] if data.startswith(codecs.BOM_UTF8) else data
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            text = _decode_8bit(body)
    controls = sum(1 for char in text[:65536] if ord(char) < 32 and char not in "\t\r\n\f")
    if controls > max(2, len(text[:65536]) // 200) or "\x00" in text:
        raise _refuse(_l("it is a binary file, not text."))
    return text


def _decode_8bit(body: bytes) -> str:
    # Mac Roman writes ° as 0xA1 ("¡" in Latin-1); Latin-1 and Windows-1252 write it as 0xB0.
    if re.search(rb"\xa1\s?[CF]\b", body) and not re.search(rb"\xb0\s?[CF]\b", body):
        return body.decode("mac_roman")
    try:
        return body.decode("cp1252")
    except UnicodeDecodeError:
        return body.decode("latin-1")


def _refuse_other_documents(text: str) -> None:
    start = text.lstrip("\ufeff \t\r\n")[:1024].lower()
    if start.startswith(("<!doctype html", "<html")) or "<html" in start or "<body" in start:
        raise _refuse(_l("it is a web page (HTML). Save the logger's own export file instead of the page."))
    if start.startswith("<?xml") or start.startswith("<svg"):
        raise _refuse(_l("it is an XML document."))
    if start.startswith(("{", "[{")):
        raise _refuse(_l("it is a JSON document."))


def _unknown_layout(head: list[list[str]], filename: str | None) -> Message:
    advice = _EXTENSION_ADVICE.get(PurePath(filename).suffix.lower()) if filename else None
    if advice:
        return _l("we do not recognise its layout; %(advice)s.", advice=advice)
    if any(re.search(r"temp", cell, re.IGNORECASE) for row in head for cell in row):
        return _l("it has a temperature column but a layout we do not recognise. We read Berlinger, Onset HOBO, "
                  "Tinytag, T&D and Rotronic exports, and CSV files with the columns timestamp,celsius.")
    return _l("it has no temperature readings we recognise. We read Berlinger, Onset HOBO, Tinytag, T&D and "
              "Rotronic exports, and CSV files with the columns timestamp,celsius.")


def _csv_rows(lines: Sequence[str], kind: str) -> list[tuple[int, list[str]]]:
    try:
        return [(number, cells) for number, cells in enumerate(csv.reader(lines, strict=True), start=1)]
    except csv.Error as error:
        raise _refuse(_l("it is not a well-formed %(kind)s file (%(error)s).", kind=kind, error=str(error))) from None


def _cell(cells: Sequence[str], index: int) -> str:
    return cells[index].strip() if index < len(cells) else ""


def _unit_of(text: str) -> str | None:
    match = _UNIT_RE.search(text)
    if match is None:
        return None
    letter = (match["letter"] or match["bare"] or match["word"][0]).upper()
    return "°C" if letter == "C" else "°F"


def _value(text: str, *, kind: str, line: int, unit: str | None = None) -> float | None:
    """A reading's number, None when the logger marks it missing; anything else refuses the file."""
    text = text.strip()
    if _MISSING_RE.fullmatch(text):
        return None
    match = _VALUE_RE.fullmatch(text)
    if match is None or (match["unit"] is not None and (_unit_of(match["unit"]) is None
                                                        or (unit and _unit_of(match["unit"]) != unit))):
        raise _damaged(kind, line, _l('the temperature "%(text)s" is not a number', text=text))
    return float(match["number"])


# ---- date and time -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Stamp:
    """A date-time as written, before the file as a whole settles day/month order."""

    line: int
    text: str
    family: tuple[str, str, bool, int]  # (year first or last, separator, 12-hour clock, year digits)
    year: int
    a: int  # month when the year comes first; day or month otherwise
    b: int
    hour: int
    minute: int
    second: int
    microsecond: int
    pm: bool | None  # None on a 24-hour clock
    zone: timezone | None


def _stamp(line: int, text: str) -> _Stamp | None:
    text = text.strip()
    match = _YMD_RE.fullmatch(text)
    year_first = match is not None
    if match is None:
        match = _XXY_RE.fullmatch(text)
        if match is None:
            return None
    year = int(match["y"])
    if len(match["y"]) == 2:
        year += 2000
    zone = None
    if year_first and match["zone"]:
        try:
            zone = _zone(match["zone"])
        except _ZoneOutOfRange:
            return None
    return _Stamp(line, text, ("ymd" if year_first else "xxy", match["sep"], match["ampm"] is not None,
                               len(match["y"])), year, int(match["a"]), int(match["b"]), int(match["H"]),
                  int(match["M"]), int(match["S"] or 0), int((match["f"] or "0").ljust(6, "0")),
                  None if match["ampm"] is None else match["ampm"].upper() == "P", zone)


class _ZoneOutOfRange(ValueError):
    """An offset no clock on Earth uses (beyond ±14:00, or 60 minutes and more)."""


def _offset(sign: str, hours: int, minutes: int) -> timezone:
    """A UTC offset as a file writes it. Raises _ZoneOutOfRange."""
    total = hours * 60 + minutes
    if minutes > 59 or total > _MAX_TZ_OFFSET_MINUTES:
        raise _ZoneOutOfRange(f"{sign}{hours:02d}:{minutes:02d}")
    return timezone(timedelta(minutes=-total if sign == "-" else total))


def _zone(text: str) -> timezone:
    if text == "Z":
        return UTC
    digits = text[1:].replace(":", "")
    return _offset(text[0], int(digits[:2]), int(digits[2:] or 0))


def _build(stamp: _Stamp, day_first: bool) -> datetime | None:
    month, day = (stamp.b, stamp.a) if day_first and stamp.family[0] == "xxy" else (stamp.a, stamp.b)
    hour = stamp.hour
    if stamp.pm is not None:
        if not 1 <= hour <= 12:
            return None
        hour = hour % 12 + (12 if stamp.pm else 0)
    try:
        return datetime(stamp.year, month, day, hour, stamp.minute, stamp.second, stamp.microsecond,
                        tzinfo=stamp.zone)
    except ValueError:
        return None


def _datetimes(items: Iterable[tuple[int, str]], *, kind: str, context: _Context) -> list[datetime]:
    """Date-times of one column, refusing mixed formats and unsettled day/month order."""
    stamps = []
    for line, text in items:
        stamp = _stamp(line, text)
        if stamp is None:
            raise _damaged(kind, line, _l('"%(text)s" is not a date and time we recognise', text=text.strip()))
        stamps.append(stamp)
    examples: dict[tuple[str, str, bool, int], _Stamp] = {}
    for stamp in stamps:
        examples.setdefault(stamp.family, stamp)
    if len(examples) > 1:
        shown = Joined(_l('line %(line)s: "%(text)s"', line=stamp.line, text=stamp.text)
                       for stamp in list(examples.values())[:3])
        raise LoggerFileError(_l(
            "This %(kind)s file mixes different date formats (%(shown)s). That happens when a file is opened and "
            "saved again in a spreadsheet program, which can silently change dates. Export the file again from "
            "the logger software and upload it without opening it in a spreadsheet.", kind=kind, shown=shown))
    if stamps and stamps[0].family[0] == "xxy":
        return _settle_day_month(stamps, kind=kind, context=context)
    return [_built(stamp, False, kind) for stamp in stamps]


def _built(stamp: _Stamp, day_first: bool, kind: str) -> datetime:
    built = _build(stamp, day_first)
    if built is None:
        raise _damaged(kind, stamp.line, _l('"%(text)s" is not a real date and time', text=stamp.text))
    return built


def _settle_day_month(stamps: list[_Stamp], *, kind: str, context: _Context) -> list[datetime]:
    both = {True: [_build(stamp, True) for stamp in stamps], False: [_build(stamp, False) for stamp in stamps]}
    possible = {order: values for order, values in both.items() if all(value is not None for value in values)}
    if not possible:
        bad = next((stamp for stamp, day, month in zip(stamps, both[True], both[False]) if day is month is None),
                   next(stamp for stamp, value in zip(stamps, both[True]) if value is None))
        raise _damaged(kind, bad.line, _l('"%(text)s" is not a real date and time, read either day/month or month/day',
                                           text=bad.text))
    if len(possible) == 1 or possible[True] == possible[False]:
        day_first = next(iter(possible))
        return [value for value in possible[day_first] if value is not None]

    def ordered(values: list[datetime | None]) -> tuple[bool, timedelta]:
        """Whether the file's rows run one way in time (either way), and the largest step."""
        steps = [later - earlier for earlier, later in zip(values, values[1:])  # type: ignore[operator]
                 ] or [timedelta(0)]
        zero = timedelta(0)
        return min(steps) >= zero or max(steps) <= zero, max(abs(step) for step in steps)

    day_ok, day_step = ordered(possible[True])
    month_ok, month_step = ordered(possible[False])
    example = next(stamp for stamp in stamps if stamp.a != stamp.b)
    if day_ok != month_ok or (day_ok and day_step != month_step):
        day_first = day_ok and (not month_ok or day_step < month_step)
        order = "day/month" if day_first else "month/day"
        context.notes.append(_l('dates such as "%(example)s" were read as %(order)s, the only order that keeps '
                                "the readings in time order without jumps", example=example.text, order=order))
        return [value for value in possible[day_first] if value is not None]
    raise LoggerFileError(_l(
        'This %(kind)s file writes dates such as "%(example)s", which could be day/month or month/day, and '
        "nothing in the file settles which. Export it again with dates written year-month-day.", kind=kind,
        example=example.text))


def _excel_datetime(text: str) -> datetime | None:
    text = text.strip()
    if not re.fullmatch(r"[0-9]{5}(?:\.[0-9]+)?", text):
        return None
    serial = float(text)
    if not _EXCEL_SERIAL_RANGE[0] <= serial <= _EXCEL_SERIAL_RANGE[1]:
        return None
    return _EXCEL_EPOCH + timedelta(seconds=round(serial * 86400))


# ---- our CSV contract -------------------------------------------------------------------------------


def _parse_plain_csv(rows: list[tuple[int, list[str]]], context: _Context) -> LoggerTrace:
    kind = "CSV"
    header = [cell.strip().lower() for cell in rows[0][1]]
    time_col, value_col = header.index("timestamp"), header.index("celsius")
    times: list[tuple[int, str]] = []
    values: list[float] = []
    for line, cells in rows[1:]:
        value = _value(_cell(cells, value_col), kind=kind, line=line, unit="°C")
        stamp = _cell(cells, time_col)
        if not stamp:
            raise _damaged(kind, line, _l("the timestamp is empty"))
        if value is None:
            context.missing += 1
            continue
        if len(values) >= MAX_READINGS:
            raise _too_many()
        times.append((line, stamp))
        values.append(value)
    for line, text in times:
        if not _YMD_RE.fullmatch(text.strip()) or "/" in text:
            raise _damaged(kind, line, _l('the timestamp "%(text)s" is not ISO 8601 (for example 2024-05-01T14:30:00Z)',
                                           text=text))
    for (line, _), at, value in zip(times, _datetimes(times, kind=kind, context=context), values, strict=True):
        context.add(at, value, line)
    return context.finish("csv", kind=kind, unit="°C", device=None, serial=None)


# ---- Berlinger Fridge-tag / Q-tag ----------------------------------------------------------------------


def _pairs(content: str, kind: str, line: int) -> list[tuple[str, str]]:
    pairs = []
    for part in content.split(", "):
        key, colon, value = part.partition(":")
        if not colon or not key.strip():
            raise _damaged(kind, line, _l('"%(text)s" is not a "Key: value" line', text=content))
        pairs.append((key.strip(), value.strip()))
    return pairs


def _berlinger_value(text: str, *, kind: str, line: int, what: Message) -> float | None:
    if _MISSING_RE.fullmatch(text):
        return None
    if not _BERLINGER_VALUE_RE.fullmatch(text):
        raise _damaged(kind, line, _l('the %(what)s "%(text)s" is not a number', what=what, text=text))
    return float(text)


def _berlinger_pattern(header: str, kind: str, line: int) -> re.Pattern[str]:
    tokens = re.findall(r"yyyy|MM|dd|hh|HH|mm|ss|[A-Za-z]+|[^A-Za-z]+", header)
    if not {"yyyy", "MM", "dd", "mm"} <= set(tokens) or not {"hh", "HH"} & set(tokens):
        raise _damaged(kind, line, _l('the data table header "%(header)s" has a date layout we do not know', header=header))
    try:
        return re.compile("".join(_BERLINGER_PATTERN_TOKENS.get(token) or re.escape(token) for token in tokens))
    except re.error:
        raise _damaged(kind, line, _l('the data table header "%(header)s" has a date layout we do not know', header=header)) from None


def _parse_berlinger(lines: Sequence[str], context: _Context) -> LoggerTrace:
    kind = "Berlinger logger report"
    top: dict[str, str] = {}
    conf: dict[str, str] = {}
    res: dict[str, tuple[str, int]] = {}
    days: list[dict[str, tuple[str, int]]] = []
    day: dict[str, tuple[str, int]] | None = None
    section = ""
    pattern: re.Pattern[str] | None = None
    table: list[tuple[int, list[str]]] = []
    for line, text in enumerate(lines, start=1):
        if not text.strip():
            continue
        if text.startswith("\t"):
            cells = text.split("\t")[1:]
            if section == "Data":
                if pattern is None:
                    if len(cells) < 2 or cells[1] != "T":
                        raise _damaged(kind, line, _l("the data table has no header"))
                    pattern = _berlinger_pattern(cells[0], kind, line)
                else:
                    table.append((line, cells))
            elif section != "Marker":
                raise _damaged(kind, line, _l("a table row appears outside the Data section"))
            continue
        depth = len(text) - len(text.lstrip(" "))
        pairs = _pairs(text.strip(), kind, line)
        key, value = pairs[0]
        if depth == 0:
            section, day = key, None
            top.setdefault(key, value)
        elif section == "Conf" and depth == 1:
            for key, value in pairs:
                conf.setdefault(key, value)
        elif section == "Res" and depth == 1:
            for key, value in pairs:
                res.setdefault(key, (value, line))
        elif section == "Hist" and depth == 1:
            day = None
            if _INT_RE.fullmatch(key) and not value:
                day = {"#": (key, line)}
                days.append(day)
        elif section == "Hist" and depth == 2 and day is not None:
            for key, value in pairs:
                day.setdefault(key, (value, line))
    unit = {"C": "°C", "F": "°F"}.get(conf.get("Temp unit", "C"))
    if unit is None:
        raise LoggerFileError(_l('This %(kind)s states the temperature unit "%(unit)s", which we do not know.', kind=kind,
                                 unit=conf["Temp unit"]))
    # Every summary is checked even when the Data table is what we return: a damaged value anywhere
    # means the report is not as the logger wrote it.
    daily, daily_missing = _berlinger_days(days, kind)
    run, run_missing = _berlinger_run(res, kind)
    if table:
        assert pattern is not None
        _berlinger_table(table, pattern, kind, context)
    elif days:
        context.rows.extend(daily)
        context.missing += daily_missing
        context.notes.append(_l("daily summary only: the report has no Data section, so each of its %(days)s days "
                                "gives just its minimum and maximum, at the times the logger recorded them",
                                days=len(days)))
    elif res:
        context.rows.extend(run)
        context.missing += run_missing
        context.notes.append(_l("run summary only: the report has no Data section, so it gives just the run's "
                                "minimum and maximum, at the times the logger recorded them"))
    if not context.rows and not context.missing:
        raise _refuse(_l("the Berlinger report holds no temperature readings (no Data table and no daily history)."))
    if "Sig" not in top:
        context.notes.append(_l("the report has no signature block (Sig:), so it may be incomplete or not "
                                "straight from the logger"))
    return context.finish("berlinger", kind=kind, unit=unit, device=top.get("Device"), serial=conf.get("Serial"))


def _berlinger_days(days: list[dict[str, tuple[str, int]]], kind: str) -> tuple[list[tuple[datetime, float]], int]:
    """Each day's minimum and maximum, and how many were missing; an incomplete day refuses the report."""
    readings, missing = [], 0
    for day in days:
        number, line = day["#"]
        date_text, date_line = day.get("Date", ("", line))
        date = _BERLINGER_DATE_RE.fullmatch(date_text)
        if date is None:
            raise _damaged(kind, date_line, _l("day record %(number)s has no valid date", number=number))
        for what, key in ((_l("minimum temperature"), "Min T"), (_l("maximum temperature"), "Max T")):
            if key not in day or f"TS {key}" not in day:
                raise _damaged(kind, date_line, _l("the record for %(date)s stops before its %(what)s", date=date_text,
                                                   what=what))
            (value_text, value_line), (time_text, _) = day[key], day[f"TS {key}"]
            value = _berlinger_value(value_text, kind=kind, line=value_line, what=what)
            time = _BERLINGER_TIME_RE.fullmatch(time_text)
            if time is None:
                raise _damaged(kind, value_line, _l('the time "%(time)s" of the %(what)s is not hh:mm', time=time_text, what=what))
            at = _berlinger_datetime(*date.groups(), *time.groups(), kind=kind, line=value_line)
            if value is None:
                missing += 1
            else:
                readings.append((at, value))
    return readings, missing


def _berlinger_run(res: dict[str, tuple[str, int]], kind: str) -> tuple[list[tuple[datetime, float]], int]:
    """A Q-tag run's minimum and maximum, and how many were missing."""
    readings, missing = [], 0
    for what, key in ((_l("run minimum temperature"), "Min T"), (_l("run maximum temperature"), "Max T")):
        if key not in res:
            continue
        (value_text, line), (time_text, _) = res[key], res.get(f"TS {key}", ("", res[key][1]))
        value = _berlinger_value(value_text, kind=kind, line=line, what=what)
        stamp = _BERLINGER_STAMP_RE.fullmatch(time_text)
        if stamp is None:
            raise _damaged(kind, line, _l('the time "%(time)s" of the %(what)s is not yyyy-MM-dd hh:mm', time=time_text,
                                           what=what))
        if value is None:
            missing += 1
        else:
            readings.append((_berlinger_datetime(*stamp.groups(), kind=kind, line=line), value))
    return readings, missing


def _berlinger_datetime(year: str, month: str, day: str, hour: str, minute: str, second: str = "0", *,
                        kind: str, line: int) -> datetime:
    try:
        return datetime(int(year), int(month), int(day), int(hour), int(minute), int(second))
    except ValueError:
        raise _damaged(kind, line, _l("%(text)s is not a real date and time",
                                           text=f"{year}-{month}-{day} {hour}:{minute}")) from None


def _berlinger_table(table: list[tuple[int, list[str]]], pattern: re.Pattern[str], kind: str,
                     context: _Context) -> None:
    for line, cells in table:
        if len(cells) not in (2, 3) or (len(cells) == 3 and cells[2] not in ("", "x")):
            raise _damaged(kind, line, _l("a data row does not have a time, a temperature and an out-of-limits mark"))
        stamp = pattern.fullmatch(cells[0])
        if stamp is None:
            raise _damaged(kind, line, _l('"%(text)s" is not a date and time in the table\'s layout', text=cells[0]))
        at = _berlinger_datetime(stamp["Y"], stamp["m"], stamp["d"], stamp["H"], stamp["M"],
                                 stamp.groupdict().get("S") or "0", kind=kind, line=line)
        value = _berlinger_value(cells[1], kind=kind, line=line, what=_l("temperature"))
        if value is None:
            context.missing += 1
        else:
            context.add(at, value, line)


# ---- Onset HOBO (HOBOware CSV) ---------------------------------------------------------------------------


def _parse_hobo(rows: list[tuple[int, list[str]]], context: _Context) -> LoggerTrace:
    kind = "HOBO"
    start = 1 if rows[0][1][0].strip().startswith("Plot Title") else 0
    if start >= len(rows):
        raise _refuse(_l("the HOBO file has a title but no column header."))
    header_line, header = rows[start]
    date_col = next((j for j, cell in enumerate(header) if re.match(r"\s*Date\s*Time\b", cell, re.IGNORECASE)), None)
    if date_col is None:
        raise _damaged(kind, header_line, _l('there is no "Date Time" column'))
    temp_cols = [j for j, cell in enumerate(header) if _is_hobo_temperature(cell)]
    if not temp_cols:
        raise _refuse(_l("the HOBO file has no temperature column."))
    temp_col = temp_cols[0]
    unit = _unit_of(header[temp_col])
    if unit is None:
        raise _damaged(kind, header_line, _l('the temperature column "%(column)s" states no unit',
                                              column=header[temp_col].strip()))
    if len(temp_cols) > 1:
        context.notes.append(_l('the file has %(count)s temperature columns; "%(column)s" was read',
                                count=len(temp_cols), column=header[temp_col].strip()))
    zone = _GMT_OFFSET_RE.search(header[date_col])
    serial_match = re.search(r"LGR S/N:\s*([0-9A-Za-z-]+)", header[temp_col])
    serial, device = (serial_match[1] if serial_match else None), None
    data_cols = {j for j, cell in enumerate(header) if cell.strip()}
    events = 0
    times: list[tuple[int, str]] = []
    values: list[float] = []
    for line, cells in rows[start + 1:]:
        for j, cell in enumerate(cells):
            # The Details side-table sits in the unnamed columns to the right of the data.
            if j not in data_cols:
                detail = cell.strip()
                if detail.startswith("Product:") and device is None:
                    device = detail.partition(":")[2].strip()
                elif detail.startswith("Serial Number:") and serial is None:
                    serial = detail.partition(":")[2].strip()
        date_text, temp_text = _cell(cells, date_col), _cell(cells, temp_col)
        if not date_text:
            if temp_text:
                raise _damaged(kind, line, _l("a temperature has no date and time"))
            continue
        value = _value(temp_text, kind=kind, line=line, unit=unit)
        if value is None:
            if any(_cell(cells, j).lower() == "logged" for j in data_cols):
                events += 1
            else:
                context.missing += 1
            continue
        if len(values) >= MAX_READINGS:
            raise _too_many()
        times.append((line, date_text))
        values.append(value)
    stated = None
    if zone:
        try:
            stated = _offset(zone["sign"], int(zone["h"]), int(zone["m"]))
        except _ZoneOutOfRange:
            raise _damaged(kind, header_line, _l('the header\'s time zone "%(zone)s" is not a real UTC offset (offsets run '
                                                 'from GMT-14:00 to GMT+14:00)', zone=zone[0])) from None
        context.stated_zone = zone[0]
    for (line, _), at, value in zip(times, _datetimes(times, kind=kind, context=context), values, strict=True):
        context.add(at.replace(tzinfo=stated) if stated and at.tzinfo is None else at, value, line)
    if events:
        context.notes.append(_l("%(count)s event-only row (no temperature) skipped", count=events) if events == 1
                             else _l("%(count)s event-only rows (no temperature) skipped", count=events))
    return context.finish("onset-hobo", kind=kind, unit=unit, device=device, serial=serial)


def _is_hobo_temperature(heading: str) -> bool:
    """A HOBOware column of temperatures, whatever series label comes before the word."""
    return _HOBO_TEMP_RE.search(heading.partition("(")[0]) is not None


# ---- Gemini Tinytag (Tinytag Explorer CSV) ------------------------------------------------------------


def _parse_tinytag(rows: list[tuple[int, list[str]]], context: _Context) -> LoggerTrace:
    kind = "Tinytag"
    header: list[list[str]] = []
    data: list[tuple[int, list[str]]] = []
    for line, cells in rows:
        if _INT_RE.fullmatch(cells[0].strip()) and _cell(cells, 1):
            data.append((line, cells))
        elif data:
            raise _damaged(kind, line, _l("a row among the readings is not a numbered reading"))
        else:
            header.append([cell.strip() for cell in cells])
    labels = {row[0]: row for row in header}
    if "Property" not in labels:
        raise _refuse(_l("the Tinytag file has no Property row naming its channels."))
    temp_col = next((j for j, cell in enumerate(labels["Property"]) if "temperature" in cell.lower()), None)
    if temp_col is None:
        raise _refuse(_l("the Tinytag file has no temperature channel."))
    time_col = next((j for j, cell in enumerate(header[0]) if cell.lower() in ("time", "date/time")), 1)
    units = {_unit_of(row[temp_col]) for row in header if temp_col < len(row)} - {None}
    if len(units) > 1:
        raise _refuse(_l("the Tinytag file states two different units for its temperature."))
    unit = units.pop() if units else None
    if unit is None:
        unit = "°C"
        context.notes.append(_l("the file states no temperature unit; it was read as °C, Tinytag Explorer's default"))
    times: list[tuple[int, str]] = []
    values: list[float] = []
    for line, cells in data:
        value = _value(_cell(cells, temp_col), kind=kind, line=line, unit=unit)
        if value is None:
            context.missing += 1
            continue
        times.append((line, _cell(cells, time_col)))
        values.append(value)
    for (line, _), at, value in zip(times, _datetimes(times, kind=kind, context=context), values, strict=True):
        context.add(at, value, line)
    return context.finish("tinytag", kind=kind, unit=unit, device=_cell(labels.get("Type", []), temp_col),
                          serial=_cell(labels.get("S/N", []), temp_col))


# ---- T&D (TR-7x CSV) -------------------------------------------------------------------------------------


def _parse_tandd(rows: list[tuple[int, list[str]]], context: _Context) -> LoggerTrace:
    kind = "T&D"
    unit_row = next((i for i, (_, cells) in enumerate(rows[:6]) if any(_unit_of(cell) for cell in cells)), None)
    if unit_row is None:
        raise _refuse(_l("the T&D file has no temperature channel (no °C or °F in its unit row)."))
    units = rows[unit_row][1]
    temp_col = next(j for j, cell in enumerate(units) if _unit_of(cell))
    unit = _unit_of(units[temp_col])
    assert unit is not None
    data = rows[unit_row + 1:]
    if not data:
        raise _refuse(_l("the T&D file holds no readings."))
    first = data[0][1]
    serial_col = next((j for j in range(temp_col) if _excel_datetime(_cell(first, j))), None)
    text_col = next((j for j in range(temp_col) if _stamp(0, _cell(first, j))), None)
    if serial_col is None and text_col is None:
        raise _damaged(kind, data[0][0], _l("the reading has no date and time"))
    kept: list[tuple[int, list[str]]] = []
    values: list[float] = []
    for line, cells in data:
        value = _value(_cell(cells, temp_col), kind=kind, line=line, unit=unit)
        if value is None:
            context.missing += 1
            continue
        kept.append((line, cells))
        values.append(value)
    texts = (_datetimes([(line, _cell(cells, text_col)) for line, cells in kept], kind=kind, context=context)
             if text_col is not None else None)
    for index, ((line, cells), value) in enumerate(zip(kept, values, strict=True)):
        if serial_col is None:
            assert texts is not None
            context.add(texts[index], value, line)
            continue
        at = _excel_datetime(_cell(cells, serial_col))
        if at is None:
            raise _damaged(kind, line, _l('"%(text)s" is not an Excel date serial', text=_cell(cells, serial_col)))
        # The text column may be rounded to the minute; a larger difference means the columns disagree.
        if texts is not None and abs(texts[index].replace(tzinfo=None) - at) > timedelta(seconds=60):
            raise _damaged(kind, line, _l('the two date columns disagree ("%(text)s" and serial "%(serial)s")',
                                           text=_cell(cells, text_col), serial=_cell(cells, serial_col)))
        context.add(at, value, line)
    return context.finish("tandd", kind=kind, unit=unit, device=None, serial=None)


# ---- Rotronic HygroLog (HW4 CSV) --------------------------------------------------------------------------


def _parse_rotronic(rows: list[tuple[int, list[str]]], context: _Context) -> LoggerTrace:
    kind = "Rotronic"
    section = ""
    info: dict[str, str] = {}
    channels: dict[str, str] = {}  # channel name -> its unit, from the first line of each [#1], [#2] ...
    named: set[str] = set()
    header: list[str] | None = None
    header_line = 0
    data: list[tuple[int, list[str]]] = []
    for line, cells in rows:
        first = _cell(cells, 0)
        marker = re.match(r"\[#(\w+)\]", first)
        if marker:
            section = marker[1]
            continue
        if not any(cell.strip() for cell in cells):
            continue
        if section == "S" or section.isdigit():
            key, equals, value = first.partition("=")
            if equals and section == "S":
                info.setdefault(key.strip(), value.strip())
            elif equals and section not in named:
                named.add(section)
                channels.setdefault(key.strip(), value.strip())
        elif section == "H" and header is None:
            header, header_line = [cell.strip() for cell in cells], line
        elif section == "D":
            data.append((line, cells))
    if header is None:
        raise _refuse(_l("the Rotronic file has no column header ([#H])."))
    temp_col = next((j for j, name in enumerate(header) if _unit_of(channels.get(name, ""))), None)
    if temp_col is None:
        raise _refuse(_l("the Rotronic file has no temperature channel."))
    unit = _unit_of(channels[header[temp_col]])
    assert unit is not None
    lower = [name.lower() for name in header]
    if "date" not in lower or "time" not in lower:
        raise _damaged(kind, header_line, _l("the header has no Date and Time columns"))
    date_col, time_col = lower.index("date"), lower.index("time")
    times: list[tuple[int, str]] = []
    values: list[float] = []
    for line, cells in data:
        value = _value(_cell(cells, temp_col), kind=kind, line=line, unit=unit)
        if value is None:
            context.missing += 1
            continue
        times.append((line, f"{_cell(cells, date_col)} {_cell(cells, time_col)}"))
        values.append(value)
    for (line, _), at, value in zip(times, _datetimes(times, kind=kind, context=context), values, strict=True):
        context.add(at, value, line)
    return context.finish("rotronic", kind=kind, unit=unit, device=None, serial=info.get("Serial Number"))
