"""The history chart's y axis reads well whatever the values."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from intuitivus_flow.metrics_history.charts import Chart, Line, _y_range

START = datetime(2026, 1, 1, tzinfo=UTC)


def _chart(*values: float, ceiling: float | None = None) -> Chart:
    points = [(START + timedelta(hours=i), v) for i, v in enumerate(values)]
    return Chart(
        title="t",
        unit="",
        lines=[Line("x", points)],
        start=START,
        end=START + timedelta(hours=len(values)),
        ceiling=ceiling,
    )


def test_an_all_zero_series_gets_a_unit_axis_not_a_vanishing_one() -> None:
    assert _y_range(_chart(0, 0, 0)) == (0.0, 1.0)


def test_the_top_rounds_up_to_a_nice_number_and_a_ceiling_is_kept() -> None:
    assert _y_range(_chart(3, 7.2)) == (0.0, 10.0)
    assert _y_range(_chart(3, 42, ceiling=100)) == (0.0, 100.0)
