"""Behaviour of the shipped detectors on synthetic seasonal streams."""

from __future__ import annotations

import numpy as np
import pytest

from intuitivus_flow.predictive.detectors import UnknownDetectorError, available, get_detector
from intuitivus_flow.predictive.detectors.alerting import AlertPolicy
from intuitivus_flow.predictive.detectors.features import tail_surprise
from intuitivus_flow.predictive.detectors.robust import RobustResidualDetector

from .synthetic import POINTS_PER_DAY, START, seasonal_series, timeline

CAUSAL_DETECTORS = ["default", "record", "robust-point", "ewma"]
ANOMALY_AT = 6 * POINTS_PER_DAY + 100  # well after the warm-up
WARMUP = 2 * POINTS_PER_DAY


def alert_rows(name: str, values: np.ndarray) -> list[int]:
    scores = get_detector(name).score(timeline(len(values)), values)
    return np.flatnonzero(scores >= 0.5).tolist()


def test_registry_lists_default_and_prophet() -> None:
    assert {"default", "prophet"} <= set(available())
    with pytest.raises(UnknownDetectorError, match="unknown detector 'nope'"):
        get_detector("nope")


@pytest.mark.parametrize("name", CAUSAL_DETECTORS)
def test_scores_are_causal(name: str) -> None:
    values = seasonal_series(days=5, seed=3)
    values[3 * POINTS_PER_DAY] += 40  # something in the future that must not leak backwards
    times = timeline(len(values))
    detector = get_detector(name)
    full = detector.score(times, values)
    for cut in (400, 701, 751, 3 * POINTS_PER_DAY - 1, 4 * POINTS_PER_DAY + 13):
        np.testing.assert_array_equal(detector.score(times[:cut], values[:cut]), full[:cut])


@pytest.mark.parametrize("name", CAUSAL_DETECTORS)
def test_scores_are_in_unit_interval_one_per_row(name: str) -> None:
    values = seasonal_series(days=3)
    scores = get_detector(name).score(timeline(len(values)), values)
    assert scores.shape == values.shape
    assert np.all((scores >= 0) & (scores <= 1))


@pytest.mark.parametrize("seed", range(4))
def test_default_is_silent_on_a_clean_seasonal_series(seed: int) -> None:
    assert alert_rows("default", seasonal_series(seed=seed)) == []


@pytest.mark.parametrize("seed", range(4))
def test_default_flags_a_planted_spike_once(seed: int) -> None:
    values = seasonal_series(seed=seed)
    values[ANOMALY_AT] += 15  # 15 noise sigmas, but smaller than the daily swing of +-20
    assert alert_rows("default", values) == [ANOMALY_AT]


@pytest.mark.parametrize("seed", range(4))
def test_default_flags_a_planted_level_shift_once(seed: int) -> None:
    values = seasonal_series(seed=seed)
    values[ANOMALY_AT:] += 10
    alerts = alert_rows("default", values)
    assert len(alerts) == 1
    assert ANOMALY_AT <= alerts[0] <= ANOMALY_AT + 12  # within an hour at 5-minute steps


def test_flat_series_then_step_is_flagged() -> None:
    values = np.full(1000, 45.0)
    values[800:] = 46.0
    assert alert_rows("default", values) == [800]


def test_alert_policy_debounces_with_a_refractory_period() -> None:
    surprise = np.array([0, 2, 2, 2, 0, 0, 3, 0, 0, 0, 0, 2], dtype=float)
    policy = AlertPolicy(threshold=1.5, refractory=5)
    assert policy.fire_points(surprise) == [1, 11]
    scores = policy.apply(surprise)
    assert np.flatnonzero(scores >= 0.5).tolist() == [1, 11]
    assert scores[6] < 0.5  # suppressed, but still reported as suspicious
    assert scores[6] > scores[4]


def test_calibrated_policy_raises_the_bar_after_an_early_surprise() -> None:
    policy = AlertPolicy(
        threshold=6.0, refractory=5, calibration=20, calibration_factor=0.5, ceiling=8.0
    )
    calm = np.zeros(60)
    calm[40] = 7.0
    assert policy.fire_points(calm) == [40]  # nothing surprising early: the bar stays at 6
    bursty = calm.copy()
    bursty[10] = 30.0  # within the calibration period: bar -> clip(15, 6, 8) = 8 afterwards
    bar = policy.thresholds(bursty)
    assert bar[10] == 6.0  # causal: a point never raises its own bar
    assert np.all(bar[11:] == 8.0)
    assert policy.fire_points(bursty) == [10]  # 7.0 at 40 no longer clears the bar
    late = calm.copy()
    late[30] = 30.0  # after the calibration period: does not move the bar
    assert np.all(policy.thresholds(late) == 6.0)
    for cut in (5, 11, 21, 41):
        np.testing.assert_array_equal(policy.apply(bursty[:cut]), policy.apply(bursty)[:cut])


def test_tail_surprise_is_causal_and_needs_history() -> None:
    x = np.abs(np.random.default_rng(0).normal(size=2000))
    x[1500] = 12.0
    full = tail_surprise(x, block=10, min_points=150, tail=10)
    assert np.all(full[:150] == 0)  # cold start: nothing scores
    for cut in (151, 777, 1501):
        np.testing.assert_array_equal(tail_surprise(x[:cut], 10, 150, 10), full[:cut])
    assert full[1500] > 6  # p < 1e-6 under the tail fitted to the past
    assert np.median(full[200:1500]) == 0  # ordinary values sit below the tail threshold


def test_tail_surprise_grows_with_the_history_behind_it() -> None:
    # The same excess over the same tail is rarer when more ordinary history backs the tail.
    rng = np.random.default_rng(1)
    short = np.abs(rng.normal(size=300))
    long = np.concatenate([np.abs(rng.normal(size=3000)), short])
    probe = np.array([6.0])
    s_short = tail_surprise(np.concatenate([short, probe]), 10, 150, 10)[-1]
    s_long = tail_surprise(np.concatenate([long, probe]), 10, 150, 10)[-1]
    assert s_long > s_short


def test_flat_history_then_any_excess_is_maximal() -> None:
    x = np.zeros(400)
    x[390] = 1.0
    assert tail_surprise(x, 10, 150, 10)[390] == 50.0


def test_weekly_views_switch_on_with_enough_history() -> None:
    detector = RobustResidualDetector()
    short = seasonal_series(days=5)
    long = seasonal_series(days=15)
    assert "season_weekly" not in detector.residuals(timeline(len(short)), short)
    assert {"season_weekly", "season_point_weekly"} <= set(
        detector.residuals(timeline(len(long)), long)
    )


def test_windows_and_quiet_period_are_durations() -> None:
    detector = RobustResidualDetector()
    five_minutes, hour = np.timedelta64(5, "m"), np.timedelta64(1, "h")
    # The same 50-hour quiet period: 600 samples at 5 minutes, 50 at one hour.
    assert detector.policy(five_minutes).refractory == 600
    assert detector.policy(hour).refractory == 50
    # Cold start and calibration follow the sampling interval too (with sample-size floors).
    assert detector.policy(five_minutes).calibration == 150 + 600
    assert detector.policy(hour).calibration == 150 + 50


def test_hourly_series_alerts_twice_three_days_apart() -> None:
    # A quiet period counted in points (600 samples = 25 days of hourly data) hid the second
    # incident; in time units (50 h) both are reported.
    hours = 40 * 24
    times = START + np.arange(hours) * np.timedelta64(1, "h")
    phase = 2 * np.pi * np.arange(hours) / 24
    values = 50 + 20 * np.sin(phase) + np.random.default_rng(5).normal(0, 1.0, hours)
    first, second = 30 * 24 + 5, 33 * 24 + 17
    values[first] += 25
    values[second] += 40  # larger: the first spike is now part of the tail it is judged by
    scores = get_detector("default").score(times, values)
    assert np.flatnonzero(scores >= 0.5).tolist() == [first, second]


def test_watch_tier_is_debounced_below_the_alert_floor() -> None:
    surprise = np.array([0, 4.5, 4.6, 0, 7, 0, 0, 0, 0, 0, 4.2, 0], dtype=float)
    plain = AlertPolicy(threshold=6.0, refractory=3)
    watching = AlertPolicy(threshold=6.0, refractory=3, watch_margin=2.0)
    # Alerts are the same with or without the watch tier.
    np.testing.assert_array_equal(
        np.flatnonzero(watching.apply(surprise) >= 0.5),
        np.flatnonzero(plain.apply(surprise) >= 0.5),
    )
    scores = watching.apply(surprise)
    assert np.flatnonzero((scores >= 0.4) & (scores < 0.5)).tolist() == [1, 10]
    assert scores[2] < 0.4  # within the watch tier's own refractory period
    assert scores[1] > scores[10]  # graded by how close the surprise came to the alert bar
