"""What the KPI pages show: charts of the monthly KPIs and of each goal against its baseline
and target (inline SVG through metrics_history's chart renderer, plus the same series as the
interactive chart's data from kit/chart_data.py), and the per-contact CLV rows.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from markupsafe import Markup

from intuitivus_flow.analytics.kpi_schemas import GoalRead
from intuitivus_flow.analytics.kpis import Kpi
from intuitivus_flow.analytics.kpis_service import (
    PlatformMonth,
    PlatformReport,
    WorkspaceMonth,
    WorkspaceReport,
    next_month,
)
from intuitivus_flow.kit import chart_data
from intuitivus_flow.metrics_history import charts

LABELS = {
    Kpi.mrr: ("MRR", "minor units"),
    Kpi.arpa: ("ARPA", "minor units"),
    Kpi.arpu: ("ARPU", "minor units"),
    Kpi.customer_churn: ("Customer churn (ChartMogul)", "fraction"),
    Kpi.revenue_churn: ("Net MRR churn (ChartMogul)", "fraction"),
    Kpi.grr: ("Gross revenue retention", "fraction"),
    Kpi.nrr: ("Net revenue retention", "fraction"),
    Kpi.trial_conversion: ("Trial -> paid conversion", "fraction"),
    Kpi.subscription_clv: ("Subscription CLV (ARPA / churn)", "minor units"),
    Kpi.contact_conversion: ("Contact -> customer conversion", "fraction"),
    Kpi.new_customers: ("New customers", "contacts"),
    Kpi.revenue: ("Revenue (campaign conversions)", "minor units"),
    Kpi.revenue_per_customer: ("Revenue per new customer", "minor units"),
}

PLATFORM_CHARTS = (Kpi.mrr, Kpi.customer_churn, Kpi.nrr, Kpi.arpa)
WORKSPACE_CHARTS = (Kpi.revenue, Kpi.new_customers, Kpi.contact_conversion)


@dataclass(frozen=True, slots=True)
class Panel:
    title: str
    svg: Markup
    latest: str
    data: dict[str, Any]  # the interactive chart (web/templates/_charts.html)


def _chart_data(chart: charts.Chart) -> dict[str, Any]:
    """Fractions are drawn as percentages (an axis of 0.05 reads worse than 5 %)."""
    scale, unit = (100.0, "%") if chart.unit == "fraction" else (1.0, chart.unit)
    series = [
        chart_data.Series(line.label, [(t, v * scale) for t, v in line.points])
        for line in chart.lines
    ]
    return chart_data.time_chart(
        chart_data.TimeChart(
            title=chart.title,
            unit=unit,
            series=series,
            floor=chart.floor * scale,
            empty="No data yet in these months",
            extra={"period": "month"},
        )
    )


def _at(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def show(value: float | None, unit: str) -> str:
    if value is None:
        return "n/a"
    if unit == "fraction":
        return f"{value * 100:.1f} %"
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3g}"


def _panel(
    kpi: Kpi,
    months: Sequence[PlatformMonth] | Sequence[WorkspaceMonth],
    value: Callable[[PlatformMonth | WorkspaceMonth, Kpi], float | None],
) -> Panel:
    title, unit = LABELS[kpi]
    points = [(m.month, v) for m in months if (v := value(m, kpi)) is not None]
    chart = charts.Chart(
        title=title,
        unit=unit,
        lines=[charts.Line(title, points)],
        start=months[0].month,
        end=next_month(months[-1].month),
        floor=0.0 if all(v >= 0 for _, v in points) else min(v for _, v in points),
    )
    latest = value(months[-1], kpi)
    return Panel(title, charts.render(chart), show(latest, unit), _chart_data(chart))


def platform_panels(report: PlatformReport) -> list[Panel]:
    return [_panel(kpi, report.months, lambda m, k: m.value(k)) for kpi in PLATFORM_CHARTS]


def workspace_panels(report: WorkspaceReport) -> list[Panel]:
    return [_panel(kpi, report.months, lambda m, k: m.value(k)) for kpi in WORKSPACE_CHARTS]


def goal_panel(goal: GoalRead) -> Panel:
    """The KPI month by month with the baseline and the target as flat lines."""
    title, unit = LABELS[goal.kpi]
    points = [(_at(p.month), p.value) for p in goal.points if p.value is not None]
    lines = [charts.Line(title, points)]
    if goal.points and goal.baseline_value is not None and goal.target_value is not None:
        start, end = _at(goal.points[0].month), next_month(_at(goal.points[-1].month))
        lines.append(
            charts.Line("baseline", [(start, goal.baseline_value), (end, goal.baseline_value)])
        )
        lines.append(charts.Line("target", [(start, goal.target_value), (end, goal.target_value)]))
    first = _at(goal.points[0].month) if goal.points else _at(goal.baseline_start)
    last = next_month(_at(goal.points[-1].month)) if goal.points else next_month(first)
    chart = charts.Chart(
        title=f"{title}: goal {goal.target_change_percent:+g} % by {goal.due:%Y-%m}",
        unit=unit,
        lines=lines,
        start=first,
        end=last,
    )
    progress = "n/a" if goal.progress is None else f"{goal.progress * 100:.0f} % of the way"
    return Panel(chart.title, charts.render(chart), progress, _chart_data(chart))
