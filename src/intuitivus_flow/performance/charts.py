"""Horizontal bar charts of a report's tables and findings, as inline SVG.

Drawn by the house renderer (kit/bar_chart.py), keeping longer statement and route labels; the
standalone HTML report carries the same CSS classes in its own stylesheet.
"""

from __future__ import annotations

from collections.abc import Sequence

from markupsafe import Markup

from intuitivus_flow.kit.bar_chart import Bar, BarLayout, render_bars
from intuitivus_flow.performance.findings import SEVERITY_ORDER, Finding, Table

LAYOUT = BarLayout(label_chars=60, empty="Nothing to chart.")
MAX_BARS = 10


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
            bars.append(Bar(str(row[0]), float(value), shown, tone=0))
    if not bars:
        return None
    return render_bars(f"{table.title}: {table.chart}", bars, LAYOUT)


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
    return render_bars("Findings by estimated impact", bars, LAYOUT)
