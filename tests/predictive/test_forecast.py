"""Forecast breach on synthetic trends."""

from __future__ import annotations

import numpy as np

from intuitivus_flow.predictive.forecast import forecast_breach

from .synthetic import STEP, timeline

HOUR = np.timedelta64(1, "h")


def disk_filling(
    hours: float = 24, rate_per_hour: float = 1.5, noise: float = 0.3
) -> tuple[np.ndarray, np.ndarray]:
    n = int(hours * 12)
    times = timeline(n)
    elapsed_h = np.arange(n) * (STEP / HOUR)
    values = 40 + rate_per_hour * elapsed_h + np.random.default_rng(1).normal(0, noise, n)
    return times, values


def test_linear_disk_fill_predicts_crossing_time_within_tolerance() -> None:
    times, values = disk_filling()
    forecast = forecast_breach(times, values, threshold=90, horizon=np.timedelta64(24, "h"))
    assert forecast is not None
    # Truth: 40 + 1.5 h = 90 at h = 33.33 from the first sample.
    truth = times[0] + np.timedelta64(int(33.333 * 3600), "s")
    assert abs(forecast.predicted_at - truth) < np.timedelta64(20, "m")
    assert forecast.latest is not None
    assert forecast.earliest <= forecast.predicted_at <= forecast.latest
    assert forecast.earliest <= truth <= forecast.latest
    assert abs(forecast.slope_per_hour - 1.5) < 0.05
    assert "above 90" in forecast.explain()


def test_no_breach_beyond_horizon_or_on_flat_or_already_breached() -> None:
    times, values = disk_filling()
    assert forecast_breach(times, values, threshold=90, horizon=np.timedelta64(2, "h")) is None
    flat = np.full(len(times), 50.0) + np.random.default_rng(2).normal(0, 0.5, len(times))
    assert forecast_breach(times, flat, threshold=90, horizon=np.timedelta64(48, "h")) is None
    assert forecast_breach(times, values, threshold=60, horizon=np.timedelta64(48, "h")) is None


def test_falling_metric_with_lower_threshold() -> None:
    times, values = disk_filling(rate_per_hour=-1.0)
    forecast = forecast_breach(
        times, values, threshold=10, horizon=np.timedelta64(24, "h"), direction="below"
    )
    assert forecast is not None
    truth = times[0] + np.timedelta64(30, "h")
    assert abs(forecast.predicted_at - truth) < np.timedelta64(20, "m")
    assert forecast.slope_per_hour < 0


def test_a_single_spike_does_not_tilt_the_trend() -> None:
    times, values = disk_filling()
    values[-5] += 40
    forecast = forecast_breach(times, values, threshold=90, horizon=np.timedelta64(24, "h"))
    assert forecast is not None
    truth = times[0] + np.timedelta64(int(33.333 * 3600), "s")
    assert abs(forecast.predicted_at - truth) < np.timedelta64(20, "m")


def test_too_little_history_gives_no_forecast() -> None:
    times, values = disk_filling(hours=0.5)
    assert (
        forecast_breach(times[:5], values[:5], threshold=90, horizon=np.timedelta64(99, "h"))
        is None
    )
