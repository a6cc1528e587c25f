"""What training learns about a series, and the drift test that triggers an early retrain.

The detectors of `predictive/` are causal scorers that read the series itself, so "training"
fixes the parts that must not move between two fits:

* ``history_start``: the first step the detector reads. Scoring always starts there, so the
  detector's warm-up and its per-series calibration (the first 750 points) stay the same
  until the next fit, instead of sliding with every new point;
* the 0.5 % and 99.5 % quantiles of the residual against the median of the previous
  ``RESIDUAL_WINDOW`` steps: the *expected band* of the newest value, shown in explanations;
* the distribution of the step-to-step change (101 percentiles): the reference of the drift
  test. Changes rather than residuals, because a daily cycle makes residuals against any
  moving baseline lean one way for hours (rising in the morning, falling at night), which a
  6-hour window would read as drift; the change of a cycle over one 5-minute step is small
  next to the noise;
* a trial run of the detector over the training window (a detector that cannot score this
  series fails here, at training time, not during alert evaluation);
* ``breach``: the seasonal breach model of `predictive.seasonal` (daily and, from two weeks of
  history, weekly Fourier season; the 80 % band calibrated by a backtest on this window). A
  window the season cannot be learnt from (under a day) stores ``None`` and the reason in
  ``breach_error``: forecast-breach rules then predict nothing, the anomaly rules still work.

Drift: the two-sample Kolmogorov-Smirnov distance between the training changes and the
changes of the newest ``drift_points`` steps. Above the 0.1 % critical value
``1.95 * sqrt((n + m) / (n * m))`` the distribution has changed (the series became noisier,
quieter, or moves differently) and the model is retrained at once rather than at its next
scheduled time. A plain level shift is one large change among many and does not count.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np

from intuitivus_flow.forecasting.series import StepSeries
from intuitivus_flow.predictive.detectors import Detector, FloatArray
from intuitivus_flow.predictive.detectors.features import past_median
from intuitivus_flow.predictive.seasonal import DAY, SeasonalModel, SeasonalModelError

# 2: the seasonal breach model (`breach`); a state of an older version is refitted at once.
STATE_VERSION = 2
# The band is calibrated on forecasts up to a day ahead; longer horizons reuse the last bucket.
BACKTEST_HORIZON = DAY
RESIDUAL_WINDOW = 6  # 30 minutes at 5-minute steps: short, so a daily cycle barely lags it
BAND_QUANTILES = (0.5, 99.5)  # percent: the expected band
KS_CRITICAL = 1.95  # c(alpha) of the two-sample KS test at alpha = 0.001
PERCENTILES = np.linspace(0.0, 100.0, 101)


class NotEnoughHistory(ValueError):
    """Fewer steps than the model needs: cold start."""


def residuals(values: FloatArray) -> FloatArray:
    """Value minus the median of the previous RESIDUAL_WINDOW steps (NaN while warming up)."""
    return np.asarray(values - past_median(values, RESIDUAL_WINDOW), dtype=np.float64)


def changes(values: FloatArray) -> FloatArray:
    """Step-to-step change (NaN for the first step)."""
    return np.concatenate([[np.nan], np.diff(values)]).astype(np.float64)


def fit_state(detector: Detector, series: StepSeries, *, min_points: int) -> dict[str, Any]:
    """Learn the JSON state of a model from `series`; raises whatever the detector raises."""
    if len(series) < min_points:
        raise NotEnoughHistory(f"{len(series)} of {min_points} steps of history")
    found = residuals(series.values)
    found = found[np.isfinite(found)]
    moves = changes(series.values)
    moves = moves[np.isfinite(moves)]
    if found.size < RESIDUAL_WINDOW:
        raise NotEnoughHistory(f"{found.size} residuals, need {RESIDUAL_WINDOW}")
    scores = np.asarray(detector.score(series.times, series.values), dtype=np.float64)
    if scores.shape != series.values.shape or not np.all(np.isfinite(scores)):
        raise ValueError(f"detector {detector.name!r} returned unusable scores")
    low, high = np.percentile(found, BAND_QUANTILES)
    breach, breach_error = fit_breach_model(series)
    return {
        "version": STATE_VERSION,
        "step_seconds": int(series.step.total_seconds()),
        "history_start": series.moment(0).isoformat(),
        "history_end": series.moment(-1).isoformat(),
        "change_percentiles": [float(v) for v in np.percentile(moves, PERCENTILES)],
        "change_count": int(moves.size),
        "band": [float(low), float(high)],
        "flagged_in_training": int((scores >= 0.5).sum()),
        "breach": breach,
        "breach_error": breach_error,
    }


def fit_breach_model(series: StepSeries) -> tuple[dict[str, Any] | None, str | None]:
    """The seasonal breach model's state, or None and why it cannot be fitted."""
    try:
        model = SeasonalModel.fit(series.times, series.values, max_horizon=BACKTEST_HORIZON)
    except SeasonalModelError as exc:
        return None, str(exc)
    return model.to_state(), None


def breach_model(state: dict[str, Any]) -> SeasonalModel:
    """The fitted seasonal model of a state; raises `SeasonalModelError` saying why not."""
    if state.get("version", 1) < STATE_VERSION:
        raise SeasonalModelError("the model predates the seasonal forecast; it is being refitted")
    found = state.get("breach")
    if found is None:
        reason = state.get("breach_error") or "no seasonal model"
        raise SeasonalModelError(f"no seasonal breach model: {reason}")
    return SeasonalModel.from_state(found)


def is_outdated(state: dict[str, Any]) -> bool:
    return int(state.get("version", 1)) < STATE_VERSION


def history_start(state: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(state["history_start"])


def expected_band(state: dict[str, Any], values: FloatArray) -> tuple[float, float, float]:
    """(expected, low, high) for the newest value from the steps before it."""
    before = values[-RESIDUAL_WINDOW - 1 : -1]
    centre = float(np.median(before)) if before.size else float("nan")
    low, high = state["band"]
    return centre, centre + float(low), centre + float(high)


@dataclass(frozen=True, slots=True)
class DriftCheck:
    distance: float  # KS distance between training and recent step changes
    critical: float  # the 0.1 % critical value for these sample sizes
    recent: int  # residuals compared

    @property
    def score(self) -> float:
        """Distance over critical value: above 1 the residual distribution has drifted."""
        return self.distance / self.critical if self.critical > 0 else 0.0

    @property
    def drifted(self) -> bool:
        return self.score > 1.0


def check_drift(state: dict[str, Any], series: StepSeries, *, points: int) -> DriftCheck | None:
    """Compare the newest `points` changes after the training window with the training ones.

    None while fewer than `points` new steps exist since the fit (nothing to compare yet).
    """
    trained_until = np.datetime64(datetime.fromisoformat(state["history_end"]).replace(tzinfo=None))
    fresh = series.times > trained_until
    if int(fresh.sum()) < points:
        return None
    recent = changes(series.values)[-points:]
    recent = recent[np.isfinite(recent)]
    if recent.size < points // 2:
        return None
    reference = np.asarray(state["change_percentiles"], dtype=np.float64)
    n = int(state["change_count"])
    distance = _ks_distance(reference, np.sort(recent))
    critical = KS_CRITICAL * math.sqrt((n + recent.size) / (n * recent.size))
    return DriftCheck(distance, critical, int(recent.size))


def _ks_distance(percentiles: FloatArray, recent: FloatArray) -> float:
    """sup |F_train - F_recent|, F_train read from its percentiles (piecewise linear CDF)."""
    points = np.unique(np.concatenate([percentiles, recent]))
    train_cdf = _percentile_cdf(percentiles, points)
    # Both CDFs right-continuous, compared at every jump of either: that is where the sup is.
    recent_cdf = np.searchsorted(recent, points, side="right") / recent.size
    return float(np.max(np.abs(train_cdf - recent_cdf)))


def _percentile_cdf(percentiles: FloatArray, points: FloatArray) -> FloatArray:
    # np.interp needs increasing x; ties (flat stretches) keep their highest probability.
    x, index = np.unique(percentiles[::-1], return_index=True)
    probabilities = (PERCENTILES[::-1] / 100.0)[index]
    return np.asarray(np.interp(points, x, probabilities, left=0.0, right=1.0), dtype=np.float64)
