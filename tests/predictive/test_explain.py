"""The seasonal sentence of a predictive alert names the season the value was compared with."""

from __future__ import annotations

import numpy as np

from intuitivus_flow.predictive.detectors.explain import seasonal_comparison

from .synthetic import POINTS_PER_DAY, START, timeline


def test_names_last_week_when_a_week_of_history_exists() -> None:
    values = np.full(7 * POINTS_PER_DAY + 1, 41.0)
    values[-1] = 78.0
    found = seasonal_comparison(timeline(len(values)), values)
    assert found is not None
    assert (found.season, found.cycles, found.expected, found.observed) == ("week", 1, 41.0, 78.0)
    assert str(found) == "same time last week: 41; now 78"


def test_daily_season_and_median_of_earlier_days_on_hourly_data() -> None:
    # Hourly samples, three days: the daily season is 24 samples (a duration, not a count).
    times = START + np.arange(3 * 24 + 1) * np.timedelta64(1, "h")
    values = np.tile(np.arange(24, dtype=float), 4)[: len(times)]
    values[24] = 5.0  # yesterday's value at the newest phase: the median ignores it
    values[-1] = 30.0
    found = seasonal_comparison(times, values)
    assert found is not None
    assert (found.season, found.cycles) == ("day", 3)
    assert found.expected == 0.0
    assert str(found) == "same time of day, median of the last 3 days: 0; now 30"


def test_no_season_without_a_full_day() -> None:
    values = np.ones(POINTS_PER_DAY)
    assert seasonal_comparison(timeline(len(values)), values) is None
    assert seasonal_comparison(timeline(0), np.zeros(0)) is None
