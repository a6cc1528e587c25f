"""The issue's scenario at model level: one anomaly alert and one breach forecast fire on a
history with a planted anomaly and a disk-filling trend, nothing fires on a clean history."""

from __future__ import annotations

import numpy as np

from intuitivus_flow.predictive import BreachForecast, forecast_breach, get_detector

from .synthetic import POINTS_PER_DAY, seasonal_series, timeline

HORIZON = np.timedelta64(6, "h")
DISK_THRESHOLD = 90.0


def disk_usage(days: int, filling: bool) -> np.ndarray:
    n = days * POINTS_PER_DAY
    noise = np.random.default_rng(11).normal(0, 0.2, n)
    base = np.full(n, 60.0)
    if filling:  # the last 12 hours fill at 2 %/h: 60 -> 84, crossing 90 in about 3 h
        base[-144:] += np.arange(144) * 2 / 12
    return base + noise


def fired(values: np.ndarray, disk: np.ndarray) -> tuple[list[int], BreachForecast | None]:
    times = timeline(len(values))
    alerts = np.flatnonzero(get_detector("default").score(times, values) >= 0.5).tolist()
    recent = slice(len(disk) - POINTS_PER_DAY // 4, len(disk))  # the last 6 hours
    breach = forecast_breach(times[recent], disk[recent], DISK_THRESHOLD, HORIZON)
    return alerts, breach


def test_planted_anomaly_and_disk_fill_each_fire_once() -> None:
    values = seasonal_series(days=7, seed=21)
    values[6 * POINTS_PER_DAY] += 18
    alerts, breach = fired(values, disk_usage(7, filling=True))
    assert alerts == [6 * POINTS_PER_DAY]
    assert breach is not None
    assert "above 90" in breach.explain()
    assert breach.time_to_breach(timeline(len(values))[-1]) < np.timedelta64(4, "h")


def test_clean_history_fires_nothing() -> None:
    alerts, breach = fired(seasonal_series(days=7, seed=21), disk_usage(7, filling=False))
    assert alerts == []
    assert breach is None
