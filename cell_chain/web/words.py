"""Words and colours for stored codes, and the template filters every page uses. Each
package's pages keep their own vocabulary: the same code may read differently on a lot page
and on a shipment page."""
import json
from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any

from flask import Flask
from flask_babel import gettext as _

from cell_chain.core.clock import utcnow, zone_label
from cell_chain.web.locale import is_chinese, local, reader_zone


def N_(text: str) -> str:
    """Marks words kept in a table for the catalogues; they are translated where shown."""
    return text


ROLE_WORDS = {"admin": N_("admin"), "lab": N_("lab"), "qa": N_("qa"), "pharmacist": N_("pharmacist"),
              "nurse": N_("nurse"), "coordinator": N_("coordinator"), "monitor": N_("monitor")}

# Stored codes every page may show, when a package's vocabulary does not word them itself.
COMMON_WORDS = {
    "registered": N_("registered"), "eligible": N_("eligible"), "ineligible": N_("ineligible"),
    "in_process": N_("in process"), "quarantine": N_("quarantine"), "released": N_("released"),
    "rejected": N_("rejected"), "recalled": N_("recalled"), "prepared": N_("prepared"),
    "available": N_("available"), "allocated": N_("allocated"), "packed": N_("packed"),
    "in_transit": N_("in transit"), "received": N_("received"), "dispensed": N_("dispensed"),
    "administered": N_("administered"), "destroyed": N_("destroyed"), "returned": N_("returned"),
    "quarantined": N_("quarantined"), "draft": N_("draft"), "dispatched": N_("dispatched"),
    "partially_received": N_("partially received"), "closed": N_("closed"), "upcoming": N_("upcoming"),
    "due": N_("due"), "done": N_("done"), "done_out_of_window": N_("done out of window"),
    "missed": N_("missed"), "skipped": N_("skipped"), "overdue": N_("overdue"), "active": N_("active"),
    "withdrawn": N_("withdrawn"), "completed": N_("completed"), "msc": N_("msc"), "control": N_("control"),
    "cryopreserved": N_("cryopreserved"), "fresh": N_("fresh"), "accepted": N_("accepted"),
    "missing": N_("missing"), "unexpected": N_("unexpected"), "open": N_("open"), "accept": N_("accept"),
    "reject": N_("reject"),
}


def role_words(role: str | None) -> str:
    return _(ROLE_WORDS[role]) if role in ROLE_WORDS else (role or "")


class Vocabulary:
    """What a stored code says to a person, and the tone (colour) of its tag. Colour always
    comes with the words; tones only pick the colour."""

    def __init__(self, words: Mapping[str, str], tones: Mapping[str, str]) -> None:
        self._words, self._tones = dict(words), dict(tones)

    def words(self, value: str | None) -> str:
        if value is None:
            return ""
        if (word := self._words.get(value)) is not None:
            # a lazy word translates itself; a marked plain one is looked up now, for the reader
            return _(word) if isinstance(word, str) else str(word)
        common = COMMON_WORDS.get(value)
        return _(common) if common else value.replace("_", " ")

    def tone(self, value: str | None) -> str:
        return self._tones.get(value or "", "")

    def extended(self, *, words: Mapping[str, str] | None = None,
                 tones: Mapping[str, str] | None = None) -> "Vocabulary":
        return Vocabulary({**self._words, **(words or {})}, {**self._tones, **(tones or {})})

    def helpers(self) -> dict[str, Any]:
        """For a blueprint's context processor."""
        return {"words": self.words, "tone": self.tone}


def utc(moment: datetime | None) -> str:
    """A moment in UTC, as the API and the audit trail state it."""
    return f"{moment.astimezone(UTC):%Y-%m-%d %H:%M} UTC" if moment else ""


def when(moment: datetime | None, seconds: bool = False) -> str:
    """A moment in the reader's zone, the zone named: `2026-12-03 19:07 CST`."""
    if not moment:
        return ""
    shown = local(moment)
    return f"{shown:%Y-%m-%d %H:%M{':%S' if seconds else ''}} {zone_label(shown)}"


def clock(moment: datetime | None, today: date | None = None) -> str:
    """The clock alone when the moment falls on `today` (the reader's), else date and clock."""
    if not moment:
        return ""
    shown = local(moment)
    day = today or utcnow().astimezone(reader_zone()).date()
    return f"{shown:%H:%M} {zone_label(shown)}" if shown.date() == day else when(moment)


def local_format(moment: datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """A moment on the reader's clock without the zone, for a column whose heading names it."""
    return local(moment).strftime(fmt) if moment else ""


def zone_abbr() -> str:
    """The reader's zone as a column heading names it (`CST`, `UTC`)."""
    return zone_label(datetime.now(reader_zone()))


def local_date(moment: datetime | None) -> str:
    """The reader's calendar day of a moment, ISO (`2026-12-03`)."""
    return local(moment).date().isoformat() if moment else ""


_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def prose_date(day: date | datetime | None) -> str:
    """A date where a sentence reads better: `3 Dec 2026`, `2026年12月3日` (never mm/dd)."""
    if day is None:
        return ""
    if isinstance(day, datetime):
        day = local(day).date()
    if is_chinese():
        return f"{day.year}年{day.month}月{day.day}日"
    return f"{day.day} {_MONTHS[day.month - 1]} {day.year}"


def zone_note() -> str:
    """Names the zone a page's times are shown in, for footers and reports."""
    zone = reader_zone()
    return _("times shown in %(zone)s (%(label)s)", zone=zone.key,
             label=zone_label(datetime.now(zone)))


def zone_labels() -> str:
    """JSON {offset: label} for the zone's offsets around now, for scripts formatting times."""
    zone = reader_zone()
    now = datetime.now(UTC)
    labels: dict[str, str] = {}
    for hours in (-48, -24, 0, 24, 48):
        shown = (now + timedelta(hours=hours)).astimezone(zone)
        minutes = int((shown.utcoffset() or timedelta(0)).total_seconds()) // 60
        labels[str(minutes)] = zone_label(shown)
    return json.dumps(labels)


def cells(count: float) -> str:
    return f"{count / 1e7:.2f} × 10⁷"


def init_app(app: Flask) -> None:
    app.add_template_filter(utc, "utc")
    app.add_template_filter(when, "when")
    app.add_template_filter(clock, "clock")
    app.add_template_filter(local_date, "local_date")
    app.add_template_filter(local_format, "local_format")
    app.add_template_global(zone_abbr, "zone_abbr")
    app.add_template_filter(prose_date, "prose_date")
    app.add_template_global(zone_note, "zone_note")
    app.add_template_global(zone_labels, "zone_labels")
    app.add_template_global(reader_zone, "reader_zone")
    app.add_template_global(role_words, "words_role")
    app.add_template_filter(cells, "cells")
