"""Doses given per visit number and site as an inline SVG bar chart: one group of four bars
per site, each bar with its number on it, the MSC-arm patients as a dashed mark over each
group. No script; the same numbers are in the table under it. Pure: numbers in, markup out."""
from collections.abc import Sequence
from dataclasses import dataclass

from flask_babel import gettext as _
from markupsafe import Markup, escape

INK, MUTED, GRID = "#0b0c0c", "#505a5f", "#d8dadc"
# Visit 1-4: blue, green, orange, purple; each also labelled by its number under the bar.
VISIT_COLOURS = ("#1d70b8", "#00703c", "#b35900", "#4c2c92")
FONT = "DejaVu Sans, Arial, Helvetica, sans-serif"


@dataclass(frozen=True)
class Group:
    label: str
    values: Sequence[int]  # doses given at visit 1, 2, 3, 4
    reference: int | None = None  # MSC-arm patients enrolled


def _nice_ceiling(value: int) -> int:
    """The axis top: 1, 2 or 5 times a power of ten, at least the value."""
    value = max(value, 1)
    step = 1
    while True:
        for factor in (1, 2, 5):
            if step * factor >= value:
                return step * factor
        step *= 10


def _attrs(**values: object) -> str:
    return " ".join(f'{name.rstrip("_").replace("_", "-")}="{escape(str(value))}"' for name, value in values.items())


def _text(x: float, y: float, content: str, *, size: int = 13, weight: int = 400, fill: str = INK,
          anchor: str = "middle") -> str:
    return (f'<text {_attrs(x=f"{x:.1f}", y=f"{y:.1f}", font_size=size, font_weight=weight, fill=fill, text_anchor=anchor)}>'
            f"{escape(content)}</text>")


def summary(groups: Sequence[Group]) -> str:
    parts = []
    for group in groups:
        given = ", ".join(_("visit %(number)s %(count)s", number=n, count=v)
                          for n, v in enumerate(group.values, start=1))
        patients = (" " + _("of %(count)s MSC-arm patients", count=group.reference)
                    if group.reference is not None else "")
        parts.append(f"{group.label}: {given}{patients}")
    return _("Doses given per visit.") + " " + "; ".join(parts) + "."


GROUP_WIDTH = 150  # px per site: four bars and their gaps


def progress_svg(groups: Sequence[Group], *, height: int = 300) -> Markup:
    """The chart; its accessible name says every number it shows. Its width grows with the
    number of sites, so that its type stays the same size on a page that shrinks it."""
    left, right, top, bottom = 48, 12, 40, 58
    width = max(left + right + GROUP_WIDTH * len(groups), 640)
    plot_w, plot_h = width - left - right, height - top - bottom
    peak = max([v for g in groups for v in g.values] + [g.reference or 0 for g in groups] + [1])
    ceiling = _nice_ceiling(peak)
    ticks = 5 if ceiling % 5 == 0 and ceiling >= 5 else (ceiling if ceiling <= 4 else 4)

    def y_of(value: float) -> float:
        return top + plot_h - value * plot_h / ceiling

    label = summary(groups)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="progress-chart" role="img" '
             f'{_attrs(viewBox=f"0 0 {width} {height}", width=width, height=height, aria_label=label, focusable="false", font_family=FONT)}>',
             f"<title>{escape(label)}</title>"]
    for i in range(ticks + 1):
        value = ceiling * i / ticks
        y = y_of(value)
        parts.append(f'<line {_attrs(x1=left, y1=f"{y:.1f}", x2=width - right, y2=f"{y:.1f}", stroke=GRID if i else INK, stroke_width=1 if i else 1.5)}/>')
        parts.append(_text(left - 8, y + 4, f"{value:g}", size=12, fill=MUTED, anchor="end"))
    # legend across the top
    x = left
    for n, colour in enumerate(VISIT_COLOURS, start=1):
        parts.append(f'<rect {_attrs(x=x, y=10, width=14, height=14, fill=colour)}/>')
        parts.append(_text(x + 20, 22, _("Visit %(n)s", n=n), size=13, anchor="start"))
        x += 92
    if any(g.reference is not None for g in groups):
        parts.append(f'<line {_attrs(x1=x, y1=17, x2=x + 22, y2=17, stroke=INK, stroke_width=2, stroke_dasharray="5 3")}/>')
        parts.append(_text(x + 28, 22, _("MSC-arm patients enrolled"), size=13, anchor="start"))
    slot = plot_w / max(len(groups), 1)
    bar = min(30.0, slot * 0.8 / len(VISIT_COLOURS))
    for index, group in enumerate(groups):
        centre = left + slot * (index + 0.5)
        start = centre - bar * len(VISIT_COLOURS) / 2
        if group.reference is not None:
            y = y_of(group.reference)
            parts.append(f'<line {_attrs(x1=f"{start - 6:.1f}", y1=f"{y:.1f}", x2=f"{start + bar * 4 + 6:.1f}", y2=f"{y:.1f}", stroke=INK, stroke_width=2, stroke_dasharray="5 3")}/>')
        for n, value in enumerate(group.values):
            x0 = start + n * bar
            y = y_of(value)
            if value:
                parts.append(f'<rect {_attrs(x=f"{x0 + 1:.1f}", y=f"{y:.1f}", width=f"{bar - 2:.1f}", height=f"{top + plot_h - y:.1f}", fill=VISIT_COLOURS[n])}/>')
            parts.append(_text(x0 + bar / 2, y - 5, str(value), size=12, weight=700))
            parts.append(_text(x0 + bar / 2, top + plot_h + 16, str(n + 1), size=11, fill=MUTED))
        parts.append(_text(centre, top + plot_h + 40, group.label, size=15, weight=700))
    parts.append("</svg>")
    return Markup("".join(parts))
