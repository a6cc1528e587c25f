"""Horizontal bar charts as inline SVG (no script, no inline styles: the CSP forbids them).

Every bar carries its value as text, and the chart a <title>/<desc>, so the figures are
readable without seeing the picture.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

from markupsafe import Markup

WIDTH = 560
ROW_HEIGHT = 28
LABEL_WIDTH = 150
VALUE_WIDTH = 110


@dataclass(frozen=True, slots=True)
class Bar:
    label: str
    value: float
    shown: str  # the value as people read it ("12", "$3.40", "71 %")


def render_bars(title: str, bars: Sequence[Bar]) -> Markup:
    if not bars:
        return Markup('<p class="muted">Nothing to show yet.</p>')
    height = ROW_HEIGHT * len(bars) + 8
    top = max(bar.value for bar in bars) or 1.0
    span = WIDTH - LABEL_WIDTH - VALUE_WIDTH
    summary = "; ".join(f"{bar.label}: {bar.shown}" for bar in bars)
    parts = [
        f'<svg class="bars" viewBox="0 0 {WIDTH} {height}" role="img" '
        f'aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(title)}</title><desc>{escape(summary)}</desc>",
    ]
    for index, bar in enumerate(bars):
        y = 4 + index * ROW_HEIGHT
        length = max(2.0, span * max(bar.value, 0.0) / top)
        parts.append(
            f'<text class="bars__label" x="{LABEL_WIDTH - 8}" y="{y + 18}" '
            f'text-anchor="end">{escape(bar.label[:24])}</text>'
            f'<rect class="bars__bar bars__bar--{index % 4}" x="{LABEL_WIDTH}" y="{y + 4}" '
            f'width="{length:.1f}" height="{ROW_HEIGHT - 10}" rx="3"></rect>'
            f'<text class="bars__value" x="{LABEL_WIDTH + length + 6:.1f}" y="{y + 18}">'
            f"{escape(bar.shown)}</text>"
        )
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every interpolated text is escaped above
