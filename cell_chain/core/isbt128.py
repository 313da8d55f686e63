"""ISBT 128 identifiers (DESIGN §2): build the payloads our labels encode and read scans back."""
import calendar
import re
import string
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from types import MappingProxyType
from typing import ClassVar, Final, Literal, TypeAlias, TypeVar

Kind: TypeAlias = Literal["din", "product", "dose_number", "expiry", "coi", "compound"]
# What a compound message is for, told by the set of structures it holds.
Label: TypeAlias = Literal["bag", "assignment"]

# Data values 0-35; `*` (36) can only ever be the check character.
_MOD37_2_CHARS: Final = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ*"
_MOD37_2_VALUES: Final = {char: value for value, char in enumerate(_MOD37_2_CHARS[:36])}

# Explicit ASCII classes: `\d` and str.isdigit() would also accept non-ASCII digits.
_FACILITY: Final = "[A-NP-Z1-9][0-9]{4}"
_FACILITY_RE: Final = re.compile(_FACILITY)
_DIN_FLAGS_RE: Final = re.compile("[0-9A-HJ-NPR-Y]{2}")
# ST-001 §2.4.3: a letter then 4 of A-Z/0-9 (clinical-trial codes are YA000-YZ999, e.g. YA001).
_DESCRIPTION_CODE_RE: Final = re.compile("[A-Z][0-9A-Z]{4}")
_COLLECTION_TYPE_RE: Final = re.compile("[0-9A-Za-z]")
_DIVISION_RE: Final = re.compile("[0-9A-Za-z]{2}")

_DIN_RE: Final = re.compile(f"=({_FACILITY})([0-9]{{2}})([0-9]{{6}})([0-9A-HJ-NPR-Y]{{2}})")
_PRODUCT_RE: Final = re.compile("=<([A-Z][0-9A-Z]{4})([0-9A-Za-z])([0-9A-Za-z]{2})")
_DOSE_NUMBER_RE: Final = re.compile("=,([0-9]{6})")
_EXPIRY_RE: Final = re.compile("&>([0-9])([0-9]{2})([0-9]{3})([0-9]{2})([0-9]{2})")
_COI_RE: Final = re.compile(f"&/CH({_FACILITY})([0-9]{{2}})([0-9]{{6}})")
_COMPOUND_HEADER_RE: Final = re.compile(r"=\+([0-9]{2})([0-9]{3})")
# ST-001: reference 000 means "no defined order"; any other points into ICCBBA's table of
# message layouts, which our labels do not use.
_NO_DEFINED_ORDER: Final = "000"

_DIN_FIRST_CHARS: Final = frozenset("ABCDEFGHIJKLMNPQRSTUVWXYZ123456789")
# Type 3 DIN flags carry 60 + the DIN's check value (ST-001 Table 3), so a mismatch is an error.
_TYPE3_FLAGS: Final = range(60, 97)
# Printable ASCII without the space: every character a payload may hold.
_VISIBLE_ASCII_RE: Final = re.compile("[!-~]+")
# Far above the longest message we issue (53); refuses pasted documents before any work.
_MAX_PAYLOAD_LENGTH: Final = 256


class Isbt128Error(ValueError):
    """A value or scanned payload that is not one of our ISBT 128 structures."""


def mod37_2_check(chars: str) -> str:
    """ISO/IEC 7064 Mod 37-2 check character over 0-9 and A-Z. Raises Isbt128Error."""
    if not isinstance(chars, str):
        raise TypeError(f"expected str, got {type(chars).__name__}")
    if not chars:
        raise Isbt128Error("nothing to compute a check character over")
    p = 0
    for char in chars:
        value = _MOD37_2_VALUES.get(char)
        if value is None:
            raise Isbt128Error(f"{char!r} is not allowed in Mod 37-2 data (0-9 and A-Z only)")
        p = ((p + value) * 2) % 37
    return _MOD37_2_CHARS[(38 - p) % 37]


def _require_str(value: object, name: str, pattern: re.Pattern[str], shape: str) -> None:
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str, got {type(value).__name__}")
    if not pattern.fullmatch(value):
        raise Isbt128Error(f"{name} {value!r} is not {shape}")


def _require_int(value: object, name: str, highest: int) -> None:
    # bool is an int subclass; True as a year is a bug, not 1.
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if not 0 <= value <= highest:
        raise Isbt128Error(f"{name} {value} is outside 0-{highest}")


def _require_facility(value: object) -> None:
    _require_str(value, "facility", _FACILITY_RE, "A-N, P-Z or 1-9 followed by 4 digits")


class _Numbered:
    """Facility, two-digit year and six-digit sequence: the 13 characters that DIN and COI
    share, and the keyboard-entry check character over them."""

    facility: str
    year: int
    sequence: int

    def _check_numbering(self) -> None:
        _require_facility(self.facility)
        _require_int(self.year, "year", 99)
        _require_int(self.sequence, "sequence", 999_999)

    @property
    def code(self) -> str:
        return f"{self.facility}{self.year:02d}{self.sequence:06d}"

    @property
    def check(self) -> str:
        """Keyboard-entry check character: printed boxed, never encoded."""
        return mod37_2_check(self.code)

    @property
    def spaced(self) -> str:
        return f"{self.facility} {self.year:02d} {self.sequence:06d}"


@dataclass(frozen=True)
class Din(_Numbered):
    """Donation Identification Number, data structure 001: one per lot, unique for 100 years.
    `code` is the 13-character DIN without flags."""

    facility: str
    year: int
    sequence: int
    flags: str = "00"

    kind: ClassVar[Kind] = "din"

    def __post_init__(self) -> None:
        self._check_numbering()
        _require_str(self.flags, "flags", _DIN_FLAGS_RE, "two flag characters")
        if self.flags.isdigit() and int(self.flags) in _TYPE3_FLAGS:
            if int(self.flags) != 60 + _MOD37_2_CHARS.index(self.check):
                raise Isbt128Error(f"flags {self.flags} do not match the DIN {self.code}")

    @property
    def eye_readable(self) -> str:
        return self.spaced

    @property
    def payload(self) -> str:
        return f"={self.code}{self.flags}"


@dataclass(frozen=True)
class ProductCode:
    """Product code, data structure 003: description code, collection type, division."""

    description_code: str
    collection_type: str = "V"
    division: str = "00"

    kind: ClassVar[Kind] = "product"

    def __post_init__(self) -> None:
        _require_str(
            self.description_code, "description_code", _DESCRIPTION_CODE_RE,
            "a letter followed by 4 letters or digits",
        )
        _require_str(
            self.collection_type, "collection_type", _COLLECTION_TYPE_RE, "one letter or digit"
        )
        _require_str(self.division, "division", _DIVISION_RE, "two letters or digits")

    @property
    def code(self) -> str:
        return f"{self.description_code}{self.collection_type}{self.division}"

    @property
    def payload(self) -> str:
        return f"=<{self.code}"


@dataclass(frozen=True)
class DoseNumber:
    """Dose number within its lot, carried in data structure 032."""

    number: int

    kind: ClassVar[Kind] = "dose_number"

    def __post_init__(self) -> None:
        _require_int(self.number, "dose number", 999_999)

    @property
    def payload(self) -> str:
        return f"=,{self.number:06d}"


@dataclass(frozen=True)
class Expiry:
    """Expiration date and time, data structure 005, to the minute, held in UTC."""

    at: datetime

    kind: ClassVar[Kind] = "expiry"

    def __post_init__(self) -> None:
        if not isinstance(self.at, datetime):
            raise TypeError(f"expiry must be a datetime, got {type(self.at).__name__}")
        if self.at.tzinfo is None or self.at.utcoffset() is None:
            raise Isbt128Error("expiry must be timezone-aware")
        at = self.at.astimezone(UTC)
        # Truncating would print a label that disagrees with the recorded expiry.
        if at.second or at.microsecond:
            raise Isbt128Error(f"expiry {at.isoformat()} is not a whole minute")
        if not 2000 <= at.year <= 2999:
            raise Isbt128Error(f"expiry year {at.year} is outside 2000-2999")
        object.__setattr__(self, "at", at)

    @property
    def payload(self) -> str:
        at = self.at
        century = at.year // 100 - 20
        day = at.timetuple().tm_yday
        return f"&>{century}{at.year % 100:02d}{day:03d}{at.hour:02d}{at.minute:02d}"


@dataclass(frozen=True)
class Coi(_Numbered):
    """Chain of Identity identifier, data structure 040, issued when a dose is allocated.
    `code` is the 13 characters αppppyynnnnnn that the check character covers."""

    facility: str
    year: int
    sequence: int

    kind: ClassVar[Kind] = "coi"

    def __post_init__(self) -> None:
        self._check_numbering()

    @property
    def eye_readable(self) -> str:
        return f"CH {self.spaced}"

    @property
    def payload(self) -> str:
        """`&/` then the 15 data characters CHαppppyynnnnnn (17 in all), no check character."""
        return f"&/CH{self.code}"


Structure: TypeAlias = Din | ProductCode | DoseNumber | Expiry | Coi
_S = TypeVar("_S", Din, ProductCode, DoseNumber, Expiry, Coi)

# The compound messages we issue, each told by exactly which structures it holds, in any order.
_LABELS: Final[Mapping[frozenset[Kind], Label]] = MappingProxyType({
    frozenset({"din", "product", "expiry", "dose_number"}): "bag",
    frozenset({"coi", "din", "product"}): "assignment",
})


@dataclass(frozen=True)
class Parsed:
    """A recognised payload: one structure, or the structures of a compound message as scanned.

    `label` says which of our compound messages it is ("bag" or "assignment"), None otherwise.
    """

    kind: Kind
    structures: tuple[Structure, ...]
    label: Label | None = None

    @property
    def payload(self) -> str:
        """The payload this result stands for, exactly (after outer whitespace is removed)."""
        body = "".join(structure.payload for structure in self.structures)
        if self.kind != "compound":
            return body
        return f"=+{len(self.structures):02d}{_NO_DEFINED_ORDER}{body}"

    @property
    def din(self) -> Din | None:
        return self._first(Din)

    @property
    def product(self) -> ProductCode | None:
        return self._first(ProductCode)

    @property
    def expiry(self) -> Expiry | None:
        return self._first(Expiry)

    @property
    def dose_number(self) -> DoseNumber | None:
        return self._first(DoseNumber)

    @property
    def coi(self) -> Coi | None:
        return self._first(Coi)

    def _first(self, cls: type[_S]) -> _S | None:
        return next((s for s in self.structures if isinstance(s, cls)), None)


def _compound(*structures: Structure) -> str:
    """Compound message (data structure 023), reference 000, structures in the order given."""
    body = "".join(structure.payload for structure in structures)
    return f"=+{len(structures):02d}{_NO_DEFINED_ORDER}{body}"


def _require_structure(value: object, name: str, cls: type[_S]) -> _S:
    if not isinstance(value, cls):
        raise TypeError(f"{name} must be a {cls.__name__}, got {type(value).__name__}")
    return value


def bag_compound(din: Din, product: ProductCode, expiry: Expiry, dose_number: DoseNumber) -> str:
    """The bag label's Data Matrix payload: `=+04000` then DIN, product, expiry, dose number."""
    return _compound(
        _require_structure(din, "din", Din),
        _require_structure(product, "product", ProductCode),
        _require_structure(expiry, "expiry", Expiry),
        _require_structure(dose_number, "dose_number", DoseNumber),
    )


def assignment_compound(coi: Coi, din: Din, product: ProductCode) -> str:
    """The assignment label's Data Matrix payload: `=+03000` then COI, DIN, product code."""
    return _compound(
        _require_structure(coi, "coi", Coi),
        _require_structure(din, "din", Din),
        _require_structure(product, "product", ProductCode),
    )


def parse(payload: str) -> Parsed:
    """Recognise one scanned payload: a single structure above or one of our compound messages.

    A compound message must have reference 000 and hold exactly the bag label's structures
    (DIN, product code, expiry, dose number) or the assignment label's (COI, DIN, product
    code), each once, in any order; `Parsed.label` says which.

    Only whitespace around the payload is removed (scanners add Enter, cameras spaces).
    Raises Isbt128Error for anything else; never returns a partial or approximate match.
    """
    text = _normalise(payload)
    if text.startswith("=+"):
        return _parse_compound(text)
    structure, end = _read_structure(text, 0)
    if end != len(text):
        raise Isbt128Error(
            f"wrong length: {len(text)} characters where the {_NAMES[structure.kind]} has {end}"
        )
    return Parsed(kind=structure.kind, structures=(structure,))


def _normalise(payload: object) -> str:
    if not isinstance(payload, str):
        raise Isbt128Error(f"payload must be text, got {type(payload).__name__}")
    text = payload.strip(string.whitespace)
    if not text:
        raise Isbt128Error("empty payload")
    if len(text) > _MAX_PAYLOAD_LENGTH:
        raise Isbt128Error(f"payload too long ({len(text)} characters)")
    if _VISIBLE_ASCII_RE.fullmatch(text):
        return text
    # Only a payload with a bad character gets here: find the first, for the message.
    for position, char in enumerate(text, start=1):
        if not char.isascii():
            raise Isbt128Error(f"non-ASCII character at position {position}")
        if not char.isprintable() or char == " ":
            raise Isbt128Error(f"space or control character at position {position}")
    return text


def _parse_compound(text: str) -> Parsed:
    header = _COMPOUND_HEADER_RE.fullmatch(text[:7])
    if header is None:
        raise Isbt128Error(f"malformed compound message header {_excerpt(text[:7])}")
    count, reference = int(header[1]), header[2]
    if reference != _NO_DEFINED_ORDER:
        raise Isbt128Error(
            f"compound message reference {reference} is not {_NO_DEFINED_ORDER}"
            " (no defined order), the only one we issue"
        )
    structures: list[Structure] = []
    position = 7
    for _ in range(count):
        if position == len(text):
            raise Isbt128Error(
                f"compound message declares {count} structures, found {len(structures)}"
            )
        structure, position = _read_structure(text, position)
        if any(seen.kind == structure.kind for seen in structures):
            raise Isbt128Error(f"compound message repeats the {_NAMES[structure.kind]}")
        structures.append(structure)
    if position != len(text):
        raise Isbt128Error(
            f"{len(text) - position} unexpected character(s) after the declared {count}"
            " structures of the compound message"
        )
    label = _LABELS.get(frozenset(structure.kind for structure in structures))
    if label is None:
        found = ", ".join(_NAMES[structure.kind] for structure in structures) or "nothing"
        raise Isbt128Error(f"compound message is neither a bag nor an assignment label: {found}")
    return Parsed(kind="compound", structures=tuple(structures), label=label)


def _read_structure(text: str, start: int) -> tuple[Structure, int]:
    identifier = text[start:start + 2]
    if len(identifier) < 2:
        raise Isbt128Error(f"truncated: {_excerpt(identifier)} is not a whole data identifier")
    if identifier[0] == "=" and identifier[1] in _DIN_FIRST_CHARS:
        kind: Kind = "din"
    elif identifier in _KIND_BY_IDENTIFIER:
        kind = _KIND_BY_IDENTIFIER[identifier]
    else:
        raise Isbt128Error(f"unrecognised data identifier {_excerpt(identifier)}")
    length, reader = _READERS[kind]
    chunk = text[start:start + length]
    if len(chunk) < length:
        raise Isbt128Error(f"truncated {_NAMES[kind]}: {len(chunk)} of {length} characters")
    return reader(chunk), start + length


def _match(pattern: re.Pattern[str], chunk: str, kind: Kind) -> re.Match[str]:
    match = pattern.fullmatch(chunk)
    if match is None:
        raise Isbt128Error(f"malformed {_NAMES[kind]} {_excerpt(chunk)}")
    return match


def _read_din(chunk: str) -> Din:
    facility, year, sequence, flags = _match(_DIN_RE, chunk, "din").groups()
    return Din(facility, int(year), int(sequence), flags)


def _read_product(chunk: str) -> ProductCode:
    return ProductCode(*_match(_PRODUCT_RE, chunk, "product").groups())


def _read_dose_number(chunk: str) -> DoseNumber:
    return DoseNumber(int(_match(_DOSE_NUMBER_RE, chunk, "dose_number")[1]))


def _read_expiry(chunk: str) -> Expiry:
    century, yy, day, hour, minute = map(int, _match(_EXPIRY_RE, chunk, "expiry").groups())
    year = 2000 + century * 100 + yy
    days_in_year = 366 if calendar.isleap(year) else 365
    if not 1 <= day <= days_in_year:
        raise Isbt128Error(f"expiry day {day:03d} is not a day of {year}")
    if hour > 23 or minute > 59:
        raise Isbt128Error(f"expiry time {hour:02d}:{minute:02d} is not a time of day")
    at = datetime(year, 1, 1, hour, minute, tzinfo=UTC) + timedelta(days=day - 1)
    return Expiry(at)


def _read_coi(chunk: str) -> Coi:
    facility, year, sequence = _match(_COI_RE, chunk, "coi").groups()
    return Coi(facility, int(year), int(sequence))


def _excerpt(text: str) -> str:
    return repr(text if len(text) <= 24 else text[:24] + "...")


_NAMES: Final[Mapping[Kind, str]] = MappingProxyType({
    "din": "DIN",
    "product": "product code",
    "dose_number": "dose number",
    "expiry": "expiry",
    "coi": "chain of identity identifier",
    "compound": "compound message",
})
_KIND_BY_IDENTIFIER: Final[Mapping[str, Kind]] = MappingProxyType({
    "=<": "product",
    "=,": "dose_number",
    "&>": "expiry",
    "&/": "coi",
})
_READERS: Final = MappingProxyType({
    "din": (16, _read_din),
    "product": (10, _read_product),
    "dose_number": (8, _read_dose_number),
    "expiry": (12, _read_expiry),
    "coi": (17, _read_coi),
})
