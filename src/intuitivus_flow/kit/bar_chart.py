"""Horizontal bar charts as inline SVG, the house style of every page and report.

No script and no inline styles (the pages' Content-Security-Policy forbids them): CSS classes
from flow.css (`bars`, `bars__bar--0..3`) and presentation attributes (the track's grey, which
the standalone performance report gets without a stylesheet rule). Every bar carries its value
as text and the chart a <title>/<desc>, so the figures read without seeing the picture.

The SVG has no viewBox: it takes its container's width while its text keeps the stylesheet's
size (a scaled viewBox drew 6 px labels in a narrow panel). Each row is a line of text (label,
then value) over a bar whose length is a percentage of the width, so nothing is clipped on a
phone and long values never run into the next bar.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

from markupsafe import Markup


@dataclass(frozen=True, slots=True)
class Bar:
    label: str
    value: float
    shown: str  # the value as people read it ("12", "$3.40", "71 %")
    tone: int | None = None  # colour class 0..3; default: the bar's position


@dataclass(frozen=True, slots=True)
class BarLayout:
    row_height: int = 46  # one line of text, the bar, the gap to the next row
    bar_height: int = 14
    label_chars: int = 40  # longer labels end in "…" (the <desc> keeps them whole)
    empty: str = "Nothing to show yet."


TEXT_LINE = 18  # room for 12-14 px text above each bar


def render_bars(title: str, bars: Sequence[Bar], layout: BarLayout = BarLayout()) -> Markup:
    if not bars:
        return Markup('<p class="empty">{}</p>').format(layout.empty)
    height = layout.row_height * len(bars)
    top = max(bar.value for bar in bars) or 1.0
    summary = "; ".join(f"{bar.label}: {bar.shown}" for bar in bars)
    parts = [
        f'<svg class="bars" width="100%" height="{height}" role="img" '
        f'aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(title)}</title><desc>{escape(summary)}</desc>",
    ]
    for index, bar in enumerate(bars):
        y = index * layout.row_height
        share = 100.0 * max(bar.value, 0.0) / top
        tone = (index if bar.tone is None else bar.tone) % 4
        parts.append(
            f'<text class="bars__label" x="0" y="{y + TEXT_LINE - 4}">'
            f"{escape(_shortened(bar.label, layout.label_chars))}"
            f'<tspan class="bars__value" dx="10" font-weight="600">'
            f"{escape(bar.shown)}</tspan></text>"
            f'<rect class="bars__track" fill="#eef1f5" x="0" y="{y + TEXT_LINE}" width="100%" '
            f'height="{layout.bar_height}" rx="3"></rect>'
        )
        if share > 0:  # a zero draws no bar at all, not a sliver that reads as "a little"
            parts.append(
                f'<rect class="bars__bar bars__bar--{tone}" x="0" y="{y + TEXT_LINE}" '
                f'width="{max(share, 0.5):.1f}%" height="{layout.bar_height}" rx="3"></rect>'
            )
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every interpolated text is escaped above


def _shortened(label: str, chars: int) -> str:
    return label if len(label) <= chars else label[: chars - 1] + "…"
