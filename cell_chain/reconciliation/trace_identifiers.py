"""What someone typed or scanned into the trace: every identifier the screens show (a DIN as
printed or encoded, a dose code, a lot number, a donor code, a subject ID), whatever its case
or spacing, normalised once here so the trace form and API read them alike."""
import re
from dataclasses import dataclass
from typing import Any

from flask_babel import gettext

from cell_chain.core.errors import ValidationFailed
from cell_chain.core.isbt128 import mod37_2_check
from cell_chain.core.messages import _l

MAX_ENTRY = 200
# A subject ID as typed: "lz-0001", " LZ 0001 ", "LZ_0001", "LZ0001".
_SUBJECT = re.compile(r"(?P<site>[A-Z]{2,8})[\s\-_–]*(?P<number>[0-9]{4})")
# A dose code is its lot's DIN, a hyphen and a six-digit dose number: "A999926000123-000004".
_DOSE = re.compile(r"(?P<din>[A-NP-Z1-9][0-9]{12})[\-_–]?(?P<number>[0-9]{6})")
_SPACES = re.compile(r"[\s\u00a0\u3000]+")
_DIN = re.compile(r"[A-NP-Z1-9][0-9]{4}[0-9]{2}[0-9]{6}")
# A DIN as people and scanners give it: eye-readable with spaces, with or without the boxed
# check character, or the Code 128 payload (data structure 001: "=" + DIN + two flags).
_DIN_ENTRY = re.compile(r"=?(?P<din>[A-NP-Z1-9][0-9]{4}[0-9]{2}[0-9]{6})(?P<flags>[0-9A-Z]{2})?")
_DIN_WITH_CHECK = re.compile(r"(?P<din>[A-NP-Z1-9][0-9]{4}[0-9]{2}[0-9]{6})\[?(?P<check>[0-9A-Z*])\]?")
SUBJECT_ID = re.compile(r"[A-Z]{2,8}-[0-9]{4}")
_MAX_ENTRY = 64


def parse_din(text: Any) -> str:
    """The 13-character DIN in `text`. A check character given after it must match (it is
    there to catch typing errors). Raises ValidationFailed."""
    if not isinstance(text, str) or len(text) > _MAX_ENTRY:
        raise ValidationFailed({"din": [_l("Give a DIN: 13 characters, e.g. A9999 26 000123.")]})
    compact = re.sub(r"[\s\u00a0]+", "", text).upper()
    if (match := _DIN_WITH_CHECK.fullmatch(compact)) and not compact.startswith("="):
        din = match["din"]
        if mod37_2_check(din) != match["check"]:
            raise ValidationFailed({"din": [_l("The check character %(check)s does not belong to DIN %(din)s: look "
                                               "at the label again.", check=match["check"], din=din)]})
        return din
    if match := _DIN_ENTRY.fullmatch(compact):
        if compact.startswith("=") != (match["flags"] is not None):
            raise ValidationFailed({"din": [_l("Give a DIN: 13 characters, e.g. A9999 26 000123.")]})
        return match["din"]
    raise ValidationFailed({"din": [_l("Give a DIN: 13 characters, e.g. A9999 26 000123.")]})


def parse_subject_id(text: Any) -> str:
    """A subject ID: site code and four digits, e.g. LZ-0042. Raises ValidationFailed."""
    if isinstance(text, str) and len(text) <= _MAX_ENTRY:
        if subject := _SUBJECT.fullmatch(_SPACES.sub(" ", text.strip().upper())):
            return f"{subject['site']}-{subject['number']}"
    raise ValidationFailed({"subject_id": [_l("Give a subject ID: the site code and four digits, e.g. LZ-0042.")]})


@dataclass(frozen=True)
class Identifier:
    """`kind` is "scan" (a label's payload, exact), "subject", "din", "dose" or "name" (a
    lot number or donor code: `key` and `alternatives` are the upper-case spellings to try)."""

    kind: str
    key: str
    alternatives: tuple[str, ...] = ()

    @property
    def spellings(self) -> tuple[str, ...]:
        return (self.key, *self.alternatives)


def _entry_error() -> ValidationFailed:
    return ValidationFailed({"q": [gettext("Enter or scan a DIN, a dose code or label, a lot number, a donor code "
                                           "or a subject ID.")]})


def is_label_payload(text: str) -> bool:
    """A scanner's ISBT 128 message (compound, or a long DIN/product structure), read exactly."""
    return text.startswith(("=+", "&")) or (text.startswith("=") and len(text) > 16)


def normalise_identifier(text: Any) -> Identifier:
    """One reading of a trace entry, without a query. A DIN's given check character must
    match. Raises ValidationFailed when the entry is empty, too long, not text or a DIN with
    a wrong check character."""
    if not isinstance(text, str):
        raise _entry_error()
    stripped = text.strip()
    if not stripped or len(stripped) > MAX_ENTRY:
        raise _entry_error()
    if is_label_payload(stripped):
        return Identifier("scan", stripped)
    upper = _SPACES.sub(" ", stripped.upper())
    compact = upper.replace(" ", "")
    if subject := _SUBJECT.fullmatch(upper):
        return Identifier("subject", f"{subject['site']}-{subject['number']}")
    if dose := _DOSE.fullmatch(compact):
        return Identifier("dose", f"{dose['din']}-{dose['number']}")
    try:
        return Identifier("din", parse_din(upper))
    except ValidationFailed as error:
        if "check character" in error.extra["errors"]["din"][0]:
            raise ValidationFailed({"q": error.extra["errors"]["din"]}) from None
    # A lot number or donor code is free text: try it as typed (case aside), with its spaces
    # as hyphens, and without spaces.
    spellings = dict.fromkeys((upper, upper.replace(" ", "-"), compact))
    key, *alternatives = spellings
    return Identifier("name", key, tuple(alternatives))
