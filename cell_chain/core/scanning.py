"""One reader for every payload a scanner or camera sends: what it is and what it names.
Domains register recognisers; garbage, truncated or foreign payloads are UNRECOGNIZED.

A recogniser is two steps: `identify` says what a payload is and which key names its record,
without touching the database; `find` looks the record up. Callers that need several records
at once (the bedside check) identify the payloads and load everything in one statement."""
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from cell_chain.core.errors import DomainError
from cell_chain.core.messages import _l

MAX_PAYLOAD = 512


class UnrecognizedBarcode(DomainError):
    status, code, title = 422, "UNRECOGNIZED_BARCODE", "The scan is not a label cell-chain prints"


@dataclass(frozen=True)
class Scan:
    """A recognised payload: `kind` is dose, patient, shipment or lot; `obj` the record it
    names (None when well-formed but unknown here)."""

    kind: str
    payload: str
    obj: Any = None
    label: str | None = None
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Identified:
    """A well-formed payload before any lookup: `key` names its record (a subject ID, a COI,
    a DIN and dose number…), `parsed` is the recogniser's own reading of it."""

    kind: str
    payload: str
    key: Any
    label: str | None = None
    parsed: Any = None


Identify = Callable[[str], Identified | None]
Find = Callable[[Identified], Scan]
_RECOGNISERS: list[tuple[Identify, Find]] = []


def register_recogniser(identify: Identify, find: Find) -> None:
    """`identify` answers None for a payload that is not its kind (the next one is tried) and
    raises UnrecognizedBarcode for one that is its kind but malformed."""
    _RECOGNISERS.append((identify, find))


def normalise(payload: Any) -> str:
    """Wedge scanners add CR/LF, cameras whitespace; anything inside is kept as sent."""
    if not isinstance(payload, str):
        raise UnrecognizedBarcode(_l("The scan is not text."))
    text = payload.strip()
    if not text or len(text) > MAX_PAYLOAD:
        raise UnrecognizedBarcode(_l("The scan is empty or too long to be one of our labels."))
    return text


def _identify(payload: Any) -> tuple[Identified, Find]:
    text = normalise(payload)
    for identify, find in _RECOGNISERS:
        if (identified := identify(text)) is not None:
            return identified, find
    raise UnrecognizedBarcode(_l("This barcode is not a dose, wristband or shipment label."))


def identify_scan(payload: Any) -> Identified:
    """What a payload is, without a query. Raises UnrecognizedBarcode; never guesses."""
    return _identify(payload)[0]


def read_scan(payload: Any) -> Scan:
    """Classify a payload and find the record it names. Raises UnrecognizedBarcode."""
    identified, find = _identify(payload)
    return find(identified)
