"""One reader for every payload a scanner or camera sends: what it is and what it names.
Domains register recognisers; garbage, truncated or foreign payloads are UNRECOGNIZED."""
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from cell_chain.core.errors import DomainError

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


Recogniser = Callable[[str], Scan | None]
_RECOGNISERS: list[Recogniser] = []


def register_recogniser(recogniser: Recogniser) -> None:
    _RECOGNISERS.append(recogniser)


def normalise(payload: Any) -> str:
    """Wedge scanners add CR/LF, cameras whitespace; anything inside is kept as sent."""
    if not isinstance(payload, str):
        raise UnrecognizedBarcode("The scan is not text.")
    text = payload.strip()
    if not text or len(text) > MAX_PAYLOAD:
        raise UnrecognizedBarcode("The scan is empty or too long to be one of our labels.")
    return text


def read_scan(payload: Any) -> Scan:
    """Classify a payload. Raises UnrecognizedBarcode; never guesses."""
    text = normalise(payload)
    for recogniser in _RECOGNISERS:
        if (scan := recogniser(text)) is not None:
            return scan
    raise UnrecognizedBarcode("This barcode is not a dose, wristband or shipment label.")
