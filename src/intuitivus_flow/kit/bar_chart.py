"""Horizontal bar charts as inline SVG, the house style of every page and report.

No script and no inline styles (the pages' Content-Security-Policy forbids them): CSS classes
from flow.css (`bars`, `bars__bar--0..3`). Every bar carries its value as text and the chart a
<title>/<desc>, so the figures read without seeing the picture.
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
    width: int = 560
    row_height: int = 28
    label_width: int = 150
    value_width: int = 110
    label_chars: int = 24  # longer labels end in "…" (the <desc> keeps them whole)
    empty: str = "Nothing to show yet."


def render_bars(title: str, bars: Sequence[Bar], layout: BarLayout = BarLayout()) -> Markup:
    if not bars:
        return Markup('<p class="muted">{}</p>').format(layout.empty)
    height = layout.row_height * len(bars) + 8
    top = max(bar.value for bar in bars) or 1.0
    span = layout.width - layout.label_width - layout.value_width
    bar_height = layout.row_height - 10
    baseline = 4 + bar_height // 2 + 5  # text centred on the bar
    summary = "; ".join(f"{bar.label}: {bar.shown}" for bar in bars)
    parts = [
        f'<svg class="bars" viewBox="0 0 {layout.width} {height}" role="img" '
        f'aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(title)}</title><desc>{escape(summary)}</desc>",
    ]
    for index, bar in enumerate(bars):
        y = 4 + index * layout.row_height
        length = max(2.0, span * max(bar.value, 0.0) / top)
        tone = (index if bar.tone is None else bar.tone) % 4
        parts.append(
            f'<text class="bars__label" x="{layout.label_width - 8}" y="{y + baseline}" '
            f'text-anchor="end">{escape(_shortened(bar.label, layout.label_chars))}</text>'
            f'<rect class="bars__bar bars__bar--{tone}" x="{layout.label_width}" y="{y + 4}" '
            f'width="{length:.1f}" height="{bar_height}" rx="3"></rect>'
            f'<text class="bars__value" x="{layout.label_width + length + 6:.1f}" '
            f'y="{y + baseline}">{escape(bar.shown)}</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every interpolated text is escaped above


def _shortened(label: str, chars: int) -> str:
    return label if len(label) <= chars else label[: chars - 1] + "…"
