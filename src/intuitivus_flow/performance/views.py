"""The read side of the Performance page: the latest analysis of this process, ready to show.

The analysis runs in the serving process (its request metrics are here), on demand from the
page; the latest one and the per-route readings it recorded are kept in the process, so the
next run measures its window from the previous one. One run at a time per process (a lock):
a second click waits for the first and sees its result.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from markupsafe import Markup

from intuitivus_flow.performance.analyze import Analysis
from intuitivus_flow.performance.charts import findings_chart, table_chart
from intuitivus_flow.performance.requests import RouteHistory


@dataclass(slots=True)
class PerformanceState:
    latest: Analysis | None = None
    routes: RouteHistory = field(default_factory=RouteHistory)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


@dataclass(frozen=True, slots=True)
class TablePanel:
    area: str
    title: str
    columns: tuple[str, ...]
    rows: tuple[tuple[Any, ...], ...]
    chart: Markup | None


def page_context(analysis: Analysis | None) -> dict[str, Any]:
    if analysis is None:
        return {"analysis": None}
    panels = [
        TablePanel(area.area.value, table.title, table.columns, table.rows, table_chart(table))
        for area in analysis.areas
        for table in area.tables
        if table.rows
    ]
    return {
        "analysis": analysis,
        "findings": analysis.findings,
        "skipped": analysis.skipped,
        "findings_chart": findings_chart(analysis.findings) if analysis.findings else None,
        "panels": panels,
        "window_minutes": analysis.window.total_seconds() / 60,
    }
