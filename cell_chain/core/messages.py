"""Messages a person reads, built below the web layer where there is no reader yet.

A refusal or a discrepancy is made once, in the domain, and read later: in English by the API
client that sent no Accept-Language, in Chinese on a Lanzhou page, in a CSV. So the domain keeps
the catalogue's English `msgid` and its named parameters (`_l("Dose %(code)s ...", code=...)`)
and the text is translated only when it is turned into a string, for whoever reads it then.
A moment passed as a parameter is shown on the reader's clock with its zone named; a day as ISO.

Unlike flask-babel's lazy strings, a Message has no `__html__`: a template escapes it (its
parameters may be a code someone typed). JSON writes a `str` as it is, so the API asks for
`str()` where a message is meant for the reader (web.api).
"""
from collections.abc import Callable, Iterable
from datetime import UTC, date, datetime, tzinfo
from typing import Any

from flask_babel import get_translations

from cell_chain.core.clock import zone_label

_reader_zone: Callable[[], tzinfo] = lambda: UTC  # noqa: E731 — the web layer tells whose clock


def read_times_in(zone_of_reader: Callable[[], tzinfo]) -> None:
    """Called once by the web layer: the zone the current reader reads times in."""
    global _reader_zone
    _reader_zone = zone_of_reader


def reader_time(moment: datetime, zone: tzinfo | None = None) -> str:
    """`2026-12-03 19:07 CST`: a moment on the current reader's clock (or `zone`'s), its zone named."""
    shown = moment.astimezone(zone or _reader_zone())
    return f"{shown:%Y-%m-%d %H:%M} {zone_label(shown)}"


# Most parameters are codes and counts, shown as they are: tested first, inline, because a
# whole-trial report builds and reads ~10⁵ messages.
_AS_IS = frozenset((str, int))


def _shown(value: Any, zone: tzinfo | None, words: Any = None) -> Any:
    if isinstance(value, datetime):
        return reader_time(value, zone)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Message):
        return value.text(zone, words)
    return value


def _english(value: Any) -> Any:
    if isinstance(value, Message):
        return str.__str__(value)  # already English: no catalogue to ask
    return _shown(value, UTC)


def catalogue() -> Any:
    """The current reader's catalogue, for `Message.text(zone, words)` over many messages:
    looked up once instead of once per message (a whole-trial report reads ~10⁵ of them)."""
    return get_translations()


class Message(str):
    """A catalogue message and its named parameters, translated when read (`str()`, a template,
    an f-string). As a plain `str` it is the English source text, so code that only handles
    strings (a join, a set of notes, a column stored as text) keeps working, in English."""

    msgid: str
    params: dict[str, Any]

    def __new__(cls, msgid: str, params: dict[str, Any]) -> "Message":
        english = msgid % {k: v if v.__class__ in _AS_IS else _english(v) for k, v in params.items()} if params \
            else msgid
        made = super().__new__(cls, english)
        made.msgid, made.params = msgid, params
        return made

    def text(self, zone: tzinfo | None = None, words: Any = None) -> str:
        """In the reader's language, times on the reader's clock or, for a document that
        states the zone it uses, on `zone`'s; `words`: the reader's `catalogue()`, when the
        caller reads many messages."""
        said = (get_translations() if words is None else words).ugettext(self.msgid)
        if not self.params:
            return said
        return said % {k: v if v.__class__ in _AS_IS else _shown(v, zone, words) for k, v in self.params.items()}

    def __str__(self) -> str:
        return self.text()

    def english(self) -> str:
        """The message as the catalogue's source says it (logs, audit records)."""
        return str.__str__(self)

    def __repr__(self) -> str:
        return f"Message({self.english()!r})"

    def __format__(self, spec: str) -> str:
        return format(str(self), spec)

    def __eq__(self, other: object) -> bool:
        return str(self) == (str(other) if isinstance(other, str) else other)

    def __ne__(self, other: object) -> bool:
        return not self == other

    def __hash__(self) -> int:
        return hash(str(self))

    def __contains__(self, part: object) -> bool:
        return str(part) in str(self)

    def __add__(self, other: str) -> str:  # type: ignore[override]
        return str(self) + str(other)

    def __radd__(self, other: str) -> str:
        return str(other) + str(self)


class Joined(Message):
    """Several messages read as one list (`a; b`), each translated when read."""

    parts: list[Any]
    separator: str

    def __new__(cls, parts: Iterable[Any], separator: str = "; ") -> "Joined":
        listed = list(parts)
        made = str.__new__(cls, separator.join(str.__str__(p) if isinstance(p, str) else format(p) for p in listed))
        made.msgid, made.params, made.parts, made.separator = "", {}, listed, separator
        return made

    def text(self, zone: tzinfo | None = None, words: Any = None) -> str:
        return self.separator.join(translated(part, zone, words) for part in self.parts)


def _l(msgid: str, **params: Any) -> Message:
    """Marks `msgid` for the catalogue (`make messages` extracts `_l`) and defers its
    translation to whoever reads it. Placeholders are named: `%(code)s`."""
    return Message(msgid, params)


def translated(text: Any, zone: tzinfo | None = None, words: Any = None) -> str:
    """Text for the current reader: a Message reads itself; a plain string marked elsewhere with
    `N_` is looked up in the catalogue now."""
    if isinstance(text, Message):
        return text.text(zone, words)
    if isinstance(text, str) and text:
        return (get_translations() if words is None else words).ugettext(text)
    return str(text or "")


def state(code: str | None) -> Message:
    """A stored status or kind (`in_transit`) as a message names it: its words (`in transit`),
    which the catalogue translates (web.words marks every status word for it)."""
    return Message((code or "").replace("_", " "), {})
