"""Horizontal bar charts of a report's tables and findings, as inline SVG.

The house style of the operations pages (web/bar_chart.py, metrics_history/charts.py): no
script, no inline styles (the pages' Content-Security-Policy forbids them), CSS classes from
flow.css (`bars`, `bars__bar--0..3`), a <title>/<desc> and every value written as text, so
the figures read without the picture. The standalone HTML report carries the same classes in
its own stylesheet.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

from markupsafe import Markup

from intuitivus_flow.performance.findings import SEVERITY_ORDER, Finding, Table

WIDTH = 640
ROW_HEIGHT = 26
LABEL_WIDTH = 230
VALUE_WIDTH = 110
MAX_BARS = 10


@dataclass(frozen=True, slots=True)
class Bar:
    label: str
    value: float
    shown: str
    tone: int = 0  # 0..3: the bar colour class


def bars_svg(title: str, bars: Sequence[Bar]) -> Markup:
    if not bars:
        return Markup('<p class="muted">Nothing to chart.</p>')
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
        label = bar.label if len(bar.label) <= 36 else bar.label[:35] + "…"
        parts.append(
            f'<text class="bars__label" x="{LABEL_WIDTH - 8}" y="{y + 17}" '
            f'text-anchor="end">{escape(label)}</text>'
            f'<rect class="bars__bar bars__bar--{bar.tone % 4}" x="{LABEL_WIDTH}" y="{y + 4}" '
            f'width="{length:.1f}" height="{ROW_HEIGHT - 10}" rx="3"></rect>'
            f'<text class="bars__value" x="{LABEL_WIDTH + length + 6:.1f}" y="{y + 17}">'
            f"{escape(bar.shown)}</text>"
        )
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every interpolated text is escaped above


def table_chart(table: Table) -> Markup | None:
    """The table's charted column as bars (None when it charts nothing or holds no number)."""
    if not table.chart or table.chart not in table.columns:
        return None
    column = table.columns.index(table.chart)
    bars = []
    for row in table.rows[:MAX_BARS]:
        value = row[column]
        if isinstance(value, int | float):
            shown = f"{value:g} {table.unit}".strip()
            bars.append(Bar(str(row[0]), float(value), shown))
    if not bars:
        return None
    return bars_svg(f"{table.title}: {table.chart}", bars)


def findings_chart(findings: Sequence[Finding]) -> Markup:
    """Estimated impact of the ranked findings, coloured by severity."""
    bars = [
        Bar(
            f"{rank}. {finding.subject or finding.code}",
            finding.impact,
            f"{finding.impact:.0%} {finding.severity.value}",
            tone=(2, 0, 1)[SEVERITY_ORDER[finding.severity]],
        )
        for rank, finding in enumerate(findings[:MAX_BARS], start=1)
    ]
    return bars_svg("Findings by estimated impact", bars)
