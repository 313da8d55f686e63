"""A logger trace as a standalone, accessible SVG: allowed band, trace, excursions, gaps, UTC axis."""
import hashlib
import math
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Final
from xml.sax.saxutils import escape, quoteattr

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from cell_chain.shipments.excursions import Excursion, Gap, TemperatureRange, TimedReading, find_gaps

MAX_POINTS: Final = 2000
_LEFT, _RIGHT, _TOP, _BOTTOM = 46, 14, 30, 38
_FONT: Final = "DejaVu Sans, Verdana, Arial, sans-serif"
_INK, _MUTED, _GRID = "#1f2933", "#52606d", "#dde1e6"
_TRACE, _BAND, _BAND_EDGE = "#1d4e89", "#d9f0e3", "#2f855a"
_RED, _GAP = "#c53030", "#7b8794"
_MONTHS: Final = (_l("Jan"), _l("Feb"), _l("Mar"), _l("Apr"), _l("May"), _l("Jun"), _l("Jul"), _l("Aug"), _l("Sep"),
                   _l("Oct"), _l("Nov"), _l("Dec"))
# Candidate steps for the time axis, in seconds.
_TIME_STEPS: Final = (60, 120, 300, 600, 900, 1800, 3600, 2 * 3600, 3 * 3600, 6 * 3600, 12 * 3600, 86400,
                      2 * 86400, 7 * 86400, 14 * 86400, 28 * 86400, 56 * 86400, 91 * 86400, 182 * 86400,
                      364 * 86400)
_MAX_LABELS: Final = 8


def temperature_svg(readings: Sequence[TimedReading], allowed: TemperatureRange, excursions: Sequence[Excursion],
                    width: int = 720, height: int = 240, *, title: str = "Temperature trace") -> str:
    """The trace as an SVG document: no scripts, no external resources, all text escaped.

    The allowed band is shaded green, the trace is a blue line (at most MAX_POINTS points: long
    traces keep each bucket's minimum and maximum, so no peak is lost) broken at gaps in the
    readings, which are hatched grey; excursions are shaded red with their extreme marked and
    labelled. Times are UTC. `<title>` (`title`, e.g. the shipment's code) and `<desc>`
    (readings, lowest, highest, range, excursions, gaps) are what screen readers announce.
    """
    if width < 320 or height < 160:
        raise ValueError("the picture needs at least 320 × 160 pixels")
    ordered = sorted(readings, key=lambda reading: reading.at)
    gaps = find_gaps(ordered) if len(ordered) > 2 else []
    summary = _summary(ordered, allowed, excursions, gaps)
    # Ids unique to the picture, so that two of them inlined in one page do not collide.
    uid = hashlib.sha256(f"{title}|{summary}|{width}|{height}".encode()).hexdigest()[:10]
    parts = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}"'
        f' role="img" aria-labelledby="title-{uid} desc-{uid}" font-family={quoteattr(_FONT)} font-size="11">',
        f'<title id="title-{uid}">{escape(title)}</title>',
        f'<desc id="desc-{uid}">{escape(summary)}</desc>',
        f'<defs><pattern id="gap-{uid}" width="6" height="6" patternUnits="userSpaceOnUse" '
        f'patternTransform="rotate(45)"><line x1="0" y1="0" x2="0" y2="6" stroke="{_GAP}" stroke-width="1" '
        f'stroke-opacity="0.45"/></pattern></defs>',
        f'<rect width="{width}" height="{height}" fill="#ffffff"/>',
    ]
    plot = _Plot(ordered, allowed, width, height)
    parts += _legend(allowed, excursions, gaps, width, uid)
    if not ordered:
        parts.append(_text(width / 2, height / 2, _("No readings"), anchor="middle", size=13, fill=_MUTED))
        parts.append("</svg>")
        return "\n".join(parts) + "\n"
    # The band is drawn over the excursions' red, which so only tints what lies outside the range.
    parts += [plot.span(excursion.start, excursion.end, _RED, 0.16, _excursion_title(excursion, allowed))
              for excursion in excursions]
    parts += plot.band(allowed)
    parts += [plot.span(gap.start, gap.end, f"url(#gap-{uid})", 1.0,
                        _("No readings for %(duration)s, %(start)s to %(end)s UTC", duration=_duration(gap.minutes),
                          start=_when(gap.start), end=_when(gap.end)))
              for gap in gaps]
    parts += plot.grid()
    parts += plot.limit_lines(allowed)
    parts += plot.trace(ordered, gaps)
    parts += plot.extremes(ordered, excursions, allowed)
    parts += plot.axes()
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


class _Plot:
    """Scales from time and °C to pixels, and the pieces drawn with them."""

    def __init__(self, readings: Sequence[TimedReading], allowed: TemperatureRange, width: int, height: int) -> None:
        self.x0, self.y0 = _LEFT, _TOP
        self.w, self.h = width - _LEFT - _RIGHT, height - _TOP - _BOTTOM
        if readings:
            self.t0, self.t1 = readings[0].at, readings[-1].at
        else:
            self.t0 = self.t1 = datetime(2000, 1, 1, tzinfo=UTC)
        if self.t1 <= self.t0:
            self.t0, self.t1 = self.t0 - timedelta(minutes=30), self.t1 + timedelta(minutes=30)
        values = [reading.celsius for reading in readings]
        values += [limit for limit in (allowed.low, allowed.high) if limit is not None]
        low, high = min(values), max(values)
        if high - low < 2:
            low, high = low - 1, high + 1
        self.step = _nice_step((high - low) / 4)
        self.c0 = math.floor(low / self.step) * self.step
        self.c1 = math.ceil(high / self.step) * self.step
        if self.c0 == low:
            self.c0 -= self.step / 2
        if self.c1 == high:
            self.c1 += self.step / 2

    def x(self, at: datetime) -> float:
        return self.x0 + (at - self.t0).total_seconds() / (self.t1 - self.t0).total_seconds() * self.w

    def y(self, celsius: float) -> float:
        return self.y0 + (self.c1 - celsius) / (self.c1 - self.c0) * self.h

    def band(self, allowed: TemperatureRange) -> list[str]:
        top = self.y0 if allowed.high is None else self.y(allowed.high)
        bottom = self.y0 + self.h if allowed.low is None else self.y(allowed.low)
        return [f'<rect x="{self.x0}" y="{top:.1f}" width="{self.w}" height="{max(bottom - top, 0):.1f}" '
                f'fill="{_BAND}"/>']

    def limit_lines(self, allowed: TemperatureRange) -> list[str]:
        parts = []
        for name, limit in (("max", allowed.high), ("min", allowed.low)):
            if limit is None:
                continue
            y = self.y(limit)
            parts.append(f'<line x1="{self.x0}" y1="{y:.1f}" x2="{self.x0 + self.w}" y2="{y:.1f}" '
                         f'stroke="{_BAND_EDGE}" stroke-width="1" stroke-dasharray="5 3"/>')
            # Outside the band where there is room (max above its line, min below), else inside it.
            room_below, room_above = y + 12 <= self.y0 + self.h - 3, y - 4 >= self.y0 + 11
            label_y = y - 4 if (name == "max" and room_above) or not room_below else y + 12
            parts.append(_text(self.x0 + self.w - 4, label_y, f"{name} {_degrees(limit)}", anchor="end",
                               fill=_BAND_EDGE, size=10, halo=True))
        return parts

    def grid(self) -> list[str]:
        parts = []
        first = math.ceil(self.c0 / self.step - 1e-9)
        for index in range(first, math.floor(self.c1 / self.step + 1e-9) + 1):
            value = index * self.step
            y = self.y(value)
            parts.append(f'<line x1="{self.x0}" y1="{y:.1f}" x2="{self.x0 + self.w}" y2="{y:.1f}" '
                         f'stroke="{_GRID}" stroke-width="1"/>')
            parts.append(_text(self.x0 - 6, y + 4, _number(value, self.step), anchor="end", fill=_MUTED))
        for at in self.time_ticks():
            x = self.x(at)
            parts.append(f'<line x1="{x:.1f}" y1="{self.y0}" x2="{x:.1f}" y2="{self.y0 + self.h}" '
                         f'stroke="{_GRID}" stroke-width="1"/>')
        return parts

    def span(self, start: datetime, end: datetime, fill: str, opacity: float, title: str) -> str:
        left = max(self.x(start), self.x0)
        width = max(min(self.x(end), self.x0 + self.w) - left, 2.0)
        return (f'<rect x="{left:.1f}" y="{self.y0}" width="{width:.1f}" height="{self.h}" fill="{fill}" '
                f'fill-opacity="{opacity}"><title>{escape(title)}</title></rect>')

    def trace(self, readings: Sequence[TimedReading], gaps: Sequence[Gap]) -> list[str]:
        segments: list[list[TimedReading]] = [[]]
        breaks = {gap.start for gap in gaps}
        for reading in readings:
            segments[-1].append(reading)
            if reading.at in breaks:
                segments.append([])
        parts = []
        for segment in (segment for segment in segments if segment):
            share = max(2, MAX_POINTS * len(segment) // len(readings))
            points = _downsample(segment, share)
            if len(points) == 1:
                parts.append(f'<circle cx="{self.x(points[0].at):.1f}" cy="{self.y(points[0].celsius):.1f}" r="2" '
                             f'fill="{_TRACE}"/>')
                continue
            coords = " ".join(f"{self.x(point.at):.1f},{self.y(point.celsius):.1f}" for point in points)
            parts.append(f'<polyline points="{coords}" fill="none" stroke="{_TRACE}" stroke-width="1.6" '
                         f'stroke-linejoin="round" stroke-linecap="round"/>')
        return parts

    def extremes(self, readings: Sequence[TimedReading], excursions: Sequence[Excursion],
                 allowed: TemperatureRange) -> list[str]:
        """A marker on each excursion's extreme; labels for the worst ones that do not overlap."""
        parts: list[str] = []
        placed: list[tuple[float, float, float, float]] = []
        worst_first = sorted(excursions, key=lambda excursion: -allowed.distance_outside(excursion.extreme_celsius))
        for rank, excursion in enumerate(worst_first):
            at = next((reading.at for reading in readings
                       if excursion.start <= reading.at <= excursion.end
                       and reading.celsius == excursion.extreme_celsius), excursion.start)
            x, y = self.x(at), self.y(excursion.extreme_celsius)
            parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3.5" fill="{_RED}" stroke="#ffffff" '
                         f'stroke-width="1"/>')
            label = _degrees(excursion.extreme_celsius)
            above = allowed.high is not None and excursion.extreme_celsius > allowed.high
            box_w, box_h = 7.0 * len(label), 13.0
            left = min(max(x - box_w / 2, self.x0 + 4), self.x0 + self.w - box_w - 1)
            top = y - 8 - box_h if above else y + 8
            top = min(max(top, self.y0 + 1), self.y0 + self.h - box_h - 1)
            box = (left, top, left + box_w, top + box_h)
            if rank >= _MAX_LABELS or any(_overlap(box, other) for other in placed):
                continue
            placed.append(box)
            parts.append(_text(left + box_w / 2, top + box_h - 3, label, anchor="middle", fill=_RED,
                               weight="bold", halo=True))
        return parts

    def axes(self) -> list[str]:
        bottom = self.y0 + self.h
        parts = [f'<line x1="{self.x0}" y1="{self.y0}" x2="{self.x0}" y2="{bottom}" stroke="{_INK}"/>',
                 f'<line x1="{self.x0}" y1="{bottom}" x2="{self.x0 + self.w}" y2="{bottom}" stroke="{_INK}"/>',
                 _text(self.x0 - 6, self.y0 - 8, "°C", anchor="end", fill=_INK, weight="bold")]
        ticks = self.time_ticks()
        step = (ticks[1] - ticks[0]).total_seconds() if len(ticks) > 1 else 86400
        previous: datetime | None = None
        for at in ticks:
            x = self.x(at)
            parts.append(f'<line x1="{x:.1f}" y1="{bottom}" x2="{x:.1f}" y2="{bottom + 4}" stroke="{_INK}"/>')
            date = _("%(day)s %(month)s", day=at.day, month=_MONTHS[at.month - 1])
            if step < 86400:
                parts.append(_text(x, bottom + 15, f"{at:%H:%M}", anchor="middle", fill=_INK))
                if previous is None or previous.date() != at.date():
                    year = f" {at.year}" if previous is None or previous.year != at.year else ""
                    parts.append(_text(x, bottom + 28, date + year, anchor="middle", fill=_MUTED))
            else:
                parts.append(_text(x, bottom + 15, date, anchor="middle", fill=_INK))
                if previous is None or previous.year != at.year:
                    parts.append(_text(x, bottom + 28, str(at.year), anchor="middle", fill=_MUTED))
            previous = at
        return parts

    def time_ticks(self) -> list[datetime]:
        span = (self.t1 - self.t0).total_seconds()
        most = max(2, self.w // 78)
        step = next((step for step in _TIME_STEPS if span / step <= most), _TIME_STEPS[-1])
        start = math.ceil(self.t0.timestamp() / step) * step
        ticks = []
        moment = start
        while moment <= self.t1.timestamp() + 1e-6:
            ticks.append(datetime.fromtimestamp(moment, tz=UTC))
            moment += step
        return ticks


def _legend(allowed: TemperatureRange, excursions: Sequence[Excursion], gaps: Sequence[Gap], width: int,
            uid: str) -> list[str]:
    items = [(f'fill="{_BAND}" stroke="{_BAND_EDGE}"', _("Allowed %(range)s", range=allowed))]
    if excursions:
        count = len(excursions)
        label = _("%(num)d excursion", num=count) if count == 1 else _("%(num)d excursions", num=count)
        items.append((f'fill="{_RED}" fill-opacity="0.35"', label))
    if gaps:
        items.append((f'fill="url(#gap-{uid})" stroke="{_GAP}" stroke-opacity="0.6"', _("No readings")))
    parts, x = [], float(_LEFT)
    for style, label in items:
        parts.append(f'<rect x="{x:.1f}" y="8" width="14" height="10" {style}/>')
        parts.append(_text(x + 19, 17, label, fill=_INK))
        # Chinese characters are about as wide as the font is high.
        x += 19 + sum(11 if ord(c) > 0x2E80 else 6.6 for c in label) + 16
    parts.append(_text(width - _RIGHT, 17, _("Times in UTC"), anchor="end", fill=_MUTED))
    return parts


def _summary(readings: Sequence[TimedReading], allowed: TemperatureRange, excursions: Sequence[Excursion],
             gaps: Sequence[Gap]) -> str:
    if not readings:
        return _("No readings. Allowed range %(range)s.", range=allowed)
    coldest = min(reading.celsius for reading in readings)
    warmest = max(reading.celsius for reading in readings)
    span = {"num": len(readings), "start": _when(readings[0].at), "end": _when(readings[-1].at)}
    text = (_("%(num)d reading from %(start)s to %(end)s UTC.", **span) if len(readings) == 1 else
            _("%(num)d readings from %(start)s to %(end)s UTC.", **span))
    text += " " + _("Lowest %(lowest)s, highest %(highest)s. Allowed range %(range)s.", lowest=_degrees(coldest),
                    highest=_degrees(warmest), range=allowed) + " "
    if not excursions:
        text += _("No excursions.")
    else:
        count = len(excursions)
        total = sum(excursion.minutes for excursion in excursions)
        listed = "; ".join(_excursion_title(excursion, allowed) for excursion in excursions[:5])
        more = _("; and %(more)s more", more=count - 5) if count > 5 else ""
        found = {"num": count, "total": _duration(total), "listed": listed, "more": more}
        text += (_("%(num)d excursion outside the range, %(total)s in all: %(listed)s%(more)s.", **found)
                 if count == 1 else
                 _("%(num)d excursions outside the range, %(total)s in all: %(listed)s%(more)s.", **found))
    if gaps:
        text += " " + (_("%(num)d gap in the readings.", num=1) if len(gaps) == 1 else
                       _("%(num)d gaps in the readings.", num=len(gaps)))
    return text


def _excursion_title(excursion: Excursion, allowed: TemperatureRange) -> str:
    end = _("end of record") if excursion.to_trace_end else _when(excursion.end)
    return _("excursion %(start)s to %(end)s UTC, %(duration)s, extreme %(extreme)s", start=_when(excursion.start),
             end=end, duration=_duration(excursion.minutes), extreme=_degrees(excursion.extreme_celsius))


def _downsample(readings: Sequence[TimedReading], limit: int) -> list[TimedReading]:
    """At most `limit` points: each bucket keeps its lowest and highest reading, in time order."""
    if len(readings) <= limit:
        return list(readings)
    buckets = max(1, limit // 2)
    size = len(readings) / buckets
    points: list[TimedReading] = []
    for bucket in range(buckets):
        chunk = readings[int(bucket * size):int((bucket + 1) * size)]
        if not chunk:
            continue
        low = min(chunk, key=lambda reading: reading.celsius)
        high = max(chunk, key=lambda reading: reading.celsius)
        points.extend(sorted({id(low): low, id(high): high}.values(), key=lambda reading: reading.at))
    return points


def _overlap(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def _nice_step(rough: float) -> float:
    magnitude = 10 ** math.floor(math.log10(rough))
    return next(factor * magnitude for factor in (1, 2, 5, 10) if factor * magnitude >= rough)


def _number(value: float, step: float) -> str:
    decimals = 0 if step >= 1 else 1
    text = f"{value:.{decimals}f}"
    return "0" if float(text) == 0 else text.replace("-", "−")


def _degrees(celsius: float) -> str:
    return f"{celsius:.1f}".replace("-", "−") + " °C"


def _when(at: datetime) -> str:
    return f"{at.astimezone(UTC):%Y-%m-%d %H:%M}"


def _duration(minutes: float) -> str:
    if minutes < 90:
        return _("%(value)s min", value=f"{minutes:.0f}")
    hours = minutes / 60
    return _("%(value)s h", value=f"{hours:.1f}") if hours < 48 else _("%(value)s days", value=f"{hours / 24:.1f}")


def _text(x: float, y: float, content: str, *, anchor: str = "start", fill: str = _INK, size: int = 11,
          weight: str = "normal", halo: bool = False) -> str:
    outline = ' stroke="#ffffff" stroke-width="3" paint-order="stroke"' if halo else ""
    return (f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" fill="{fill}" font-size="{size}" '
            f'font-weight="{weight}"{outline}>{escape(content)}</text>')
