"""The four-visit schedule as an inline SVG picture: windows as bands, each visit's state as
shape + colour + words, and a tick for today. Pure: dates and states in, markup out."""
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Literal

from flask_babel import gettext as _
from markupsafe import Markup, escape

from cell_chain.patients.schedule import VISIT_MONTHS
from cell_chain.web.words import N_

# Words for each state; the picture, its summary and the pages all use these.
STATE_WORDS = {
    "upcoming": N_("Upcoming"), "due": N_("Due now"), "overdue": N_("Overdue"), "missed": N_("Missed"),
    "done": N_("Done"), "done_out_of_window": N_("Done, out of window"), "skipped": N_("Skipped"),
}

INK, MUTED, LINE = "#0b0c0c", "#505a5f", "#b1b4b6"
# Shapes and window edges at 3:1 or more against white and the pale window fill (WCAG 1.4.11).
GREEN, BLUE, ORANGE, RED, AMBER = "#00703c", "#1d70b8", "#d0530f", "#d4351c", "#a87300"
WINDOW_FILL, WINDOW_EDGE = "#dbe8f4", "#4c7fb3"
FONT = "DejaVu Sans, Noto Sans CJK SC, Arial, Helvetica, sans-serif"


@dataclass(frozen=True)
class Mark:
    """One visit as the picture needs it."""

    number: int
    target_date: date
    window_start: date
    window_end: date
    state: str


@dataclass(frozen=True)
class _Size:
    width: int
    height: int
    margin: int
    axis_y: int
    band: int
    radius: int
    today_y: int
    heading_y: int | None  # "Visit 1 · month 0" under the state (large picture only)
    state_y: int
    detail_y: int
    font: int


SIZES = {
    "small": _Size(width=440, height=86, margin=58, axis_y=32, band=18, radius=8, today_y=11,
                   heading_y=None, state_y=62, detail_y=80, font=14),
    "large": _Size(width=880, height=144, margin=90, axis_y=48, band=28, radius=13, today_y=15,
                   heading_y=112, state_y=88, detail_y=134, font=18),
}


def summary(marks: Sequence[Mark], today: date) -> str:
    """What the picture shows, in words (the accessible name of the image)."""
    parts = []
    for mark in marks:
        text = _("visit %(number)s %(state)s", number=mark.number,
                 state=_(STATE_WORDS.get(mark.state, mark.state)).lower())
        if mark.state in ("due", "overdue", "upcoming"):
            text += _(", window %(start)s to %(end)s", start=mark.window_start.isoformat(),
                      end=mark.window_end.isoformat())
        parts.append(text)
    return ((_("Schedule: %(visits)s.", visits="; ".join(parts)) + " ") if parts else _("No visits.") + " ") + \
        _("Today is %(today)s.", today=today.isoformat())


def _attrs(**values: object) -> str:
    return " ".join(f'{name.rstrip("_").replace("_", "-")}="{escape(str(value))}"'
                    for name, value in values.items())


def _text(x: float, y: float, content: str, *, size: int, weight: int = 400, fill: str = INK,
          anchor: str = "middle") -> str:
    return (f'<text {_attrs(x=f"{x:.1f}", y=y, font_size=size, font_weight=weight, fill=fill, text_anchor=anchor)}>'
            f"{escape(content)}</text>")


def _marker(state: str, x: float, y: int, r: int) -> str:
    """Each state has its own shape as well as its own colour."""
    if state == "done" or state == "done_out_of_window":
        ring = (f'<circle {_attrs(cx=f"{x:.1f}", cy=y, r=r + 4, fill="none", stroke=AMBER, stroke_width=3, stroke_dasharray="4 2")}/>'
                if state == "done_out_of_window" else "")
        tick = (f"M{x - r * .5:.1f} {y + r * .05:.1f} L{x - r * .1:.1f} {y + r * .45:.1f} "
                f"L{x + r * .5:.1f} {y - r * .4:.1f}")
        return (ring + f'<circle {_attrs(cx=f"{x:.1f}", cy=y, r=r, fill=GREEN)}/>'
                f'<path {_attrs(d=tick, fill="none", stroke="#fff", stroke_width=r / 4, stroke_linecap="round", stroke_linejoin="round")}/>')
    if state == "due":
        return (f'<circle {_attrs(cx=f"{x:.1f}", cy=y, r=r + 3, fill=BLUE, stroke=INK, stroke_width=2.5)}/>'
                f'<circle {_attrs(cx=f"{x:.1f}", cy=y, r=r / 3, fill="#fff")}/>')
    if state == "overdue":
        h = r * 1.25
        points = f"{x:.1f},{y - h:.1f} {x + h:.1f},{y + h * .8:.1f} {x - h:.1f},{y + h * .8:.1f}"
        return (f'<polygon {_attrs(points=points, fill=ORANGE, stroke=INK, stroke_width=1.5, stroke_linejoin="round")}/>'
                + _text(x, round(y + h * .62), "!", size=round(r * 1.35), weight=700))
    if state == "missed":
        s = r * .9
        cross = f"M{x - s * .55:.1f} {y - s * .55:.1f} L{x + s * .55:.1f} {y + s * .55:.1f} M{x + s * .55:.1f} {y - s * .55:.1f} L{x - s * .55:.1f} {y + s * .55:.1f}"
        return (f'<rect {_attrs(x=f"{x - s:.1f}", y=f"{y - s:.1f}", width=f"{2 * s:.1f}", height=f"{2 * s:.1f}", fill=RED)}/>'
                f'<path {_attrs(d=cross, stroke="#fff", stroke_width=r / 4, stroke_linecap="round")}/>')
    if state == "skipped":
        d = r * 1.1
        points = f"{x:.1f},{y - d:.1f} {x + d:.1f},{y} {x:.1f},{y + d:.1f} {x - d:.1f},{y}"
        return (f'<polygon {_attrs(points=points, fill=LINE, stroke=MUTED, stroke_width=1.5)}/>'
                f'<path {_attrs(d=f"M{x - d * .45:.1f} {y} L{x + d * .45:.1f} {y}", stroke=INK, stroke_width=2)}/>')
    # upcoming (and anything unknown): an empty circle
    return f'<circle {_attrs(cx=f"{x:.1f}", cy=y, r=r, fill="#fff", stroke=MUTED, stroke_width=2.5)}/>'


def _state_text(state: str, compact: bool) -> tuple[str, str | None]:
    """The state's words under the marker, with a symbol where one helps; a second line
    for the long one when space is short."""
    if state == "done":
        return _("Done ✓"), None
    if state == "done_out_of_window":
        return (_("Done ✓"), _("out of window")) if compact else (_("Done ✓ out of window"), None)
    if state == "missed":
        return _("Missed ✗"), None
    return _(STATE_WORDS.get(state, state)), None


def timeline_svg(marks: Sequence[Mark], *, today: date,
                 size: Literal["small", "large"] = "small") -> Markup | None:
    """The schedule picture, or None when there are no visits (control arm)."""
    if not marks:
        return None
    s = SIZES[size]
    compact = size == "small"
    first = min(m.window_start for m in marks) - timedelta(days=4)
    last = max(m.window_end for m in marks) + timedelta(days=4)
    span = max((last - first).days, 1)
    left, right = s.margin, s.width - s.margin

    def x_of(day: date) -> float:
        return left + (day - first).days * (right - left) / span

    label = summary(marks, today)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="timeline {size}" role="img" '
             f'{_attrs(viewBox=f"0 0 {s.width} {s.height}", width=s.width, height=s.height, aria_label=label, focusable="false", font_family=FONT)}>',
             f"<title>{escape(label)}</title>"]
    # windows first, then the line through them, then markers on top
    for mark in marks:
        due = mark.state == "due"
        x0, x1 = x_of(mark.window_start), x_of(mark.window_end)
        parts.append(f'<rect {_attrs(x=f"{x0:.1f}", y=s.axis_y - s.band // 2, width=f"{x1 - x0:.1f}", height=s.band, rx=3, fill="#ffdd00" if due else WINDOW_FILL, stroke=INK if due else WINDOW_EDGE, stroke_width=2 if due else 1.5)}/>')
    parts.append(f'<line {_attrs(x1=left - 8, y1=s.axis_y, x2=right + 8, y2=s.axis_y, stroke=MUTED, stroke_width=2)}/>')
    # today: a tick, clamped to the ends of the line with an arrow when outside it
    tx = min(max(x_of(today), left - 8), right + 8)
    beyond = today > last
    parts.append(f'<line {_attrs(x1=f"{tx:.1f}", y1=s.today_y + 5, x2=f"{tx:.1f}", y2=s.axis_y + s.band // 2 + 6, stroke=INK, stroke_width=2.5)}/>')
    anchor = "end" if tx > s.width - 40 else ("start" if tx < 40 else "middle")
    parts.append(_text(tx, s.today_y, _("Today →") if beyond else _("Today"), size=s.font - 1, weight=700,
                       anchor=anchor))
    for mark in marks:
        x = x_of(mark.target_date)
        if s.heading_y is not None:
            month = VISIT_MONTHS[mark.number - 1] if 1 <= mark.number <= len(VISIT_MONTHS) else None
            heading = (_("Visit %(number)s · month %(month)s", number=mark.number, month=month)
                       if month is not None else _("Visit %(number)s", number=mark.number))
            parts.append(_text(x, s.heading_y, heading, size=s.font - 1))
        parts.append(_marker(mark.state, x, s.axis_y, s.radius))
        words, second = _state_text(mark.state, compact)
        parts.append(_text(x, s.state_y, words, size=s.font, weight=700))
        if second is None:
            second = (mark.target_date.isoformat() if compact
                      else _("target %(date)s", date=mark.target_date.isoformat()))
        parts.append(_text(x, s.detail_y, second, size=s.font - 1, fill=MUTED))
    parts.append("</svg>")
    return Markup("".join(parts))
