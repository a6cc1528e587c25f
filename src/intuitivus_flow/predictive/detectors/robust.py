"""The default detector: robust residuals judged against the tail of the series' own past.

Causal views of "how far is this point from normal":

* ``point``  - distance to the median of the recent past (spikes, the onset of a shift);
* ``level``  - distance of a short trailing mean to a one-day median (sustained bumps, drifts);
* ``season`` - short trailing mean of the residual against the same phase in previous days
  (a missing daily peak, a peak at the wrong height), used once two days of history exist;
* ``season_point`` - the same seasonal residual, unsmoothed (a spike hidden in a daily swing).

With ``weekly=True`` the two seasonal views are also computed against the same phase of the
previous weeks (holidays, a quiet Monday), once two weeks of history exist.

Each view is then normalised by its own history, in one of two ways:

* ``"tail"`` (default): ``-log10`` of the probability of a value this large under an
  exponential tail fitted to the ``tail_points`` largest earlier values of that view
  (see :func:`~intuitivus_flow.predictive.detectors.features.tail_surprise`). Alerts when
  that probability is below ``10 ** -threshold``.
* ``"record"``: the ratio to the largest value the view has taken so far ("20 % beyond
  anything seen"). Kept as the measured predecessor (``record`` in the registry).

Both are scale free and need no per-series tuning: a noisy series raises its own bar, a flat
one keeps it low, and the probationary period simply seeds the history. An
:class:`AlertPolicy` then debounces the largest view score into alerts; by default its bar is
raised (from 6 up to 8) for a series whose own first 750 points were already very surprising.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from intuitivus_flow.predictive.detectors.alerting import AlertPolicy
from intuitivus_flow.predictive.detectors.base import (
    DAY,
    WEEK,
    FloatArray,
    TimeArray,
    median_step,
    season_length,
)
from intuitivus_flow.predictive.detectors.features import (
    history_top,
    past_median,
    seasonal_baseline,
    shifted,
    tail_surprise,
    trailing_mean,
)

VIEWS = ("point", "level", "season", "season_point")

# Alert at a tail probability below 1e-6, or 1e-8 for a series that already reached a surprise
# of 16 within its first 750 points (its tail is heavier than the exponential model assumes);
# then one alert per 600 points. Measured in docs/predictive.md.
DEFAULT_POLICY = AlertPolicy(
    threshold=6.0, refractory=600, calibration=750, calibration_factor=0.5, ceiling=8.0
)
Normaliser = Literal["tail", "record"]


@dataclass(frozen=True)
class RobustResidualDetector:
    name: str = "default"
    views: tuple[str, ...] = VIEWS
    weekly: bool = True
    normaliser: Normaliser = "tail"
    tail_points: int = 10
    point_window: int = 48
    level_window: int = 12
    level_baseline: int = 288
    seasonal_cycles: int = 3
    min_season_points: int = 12
    history_block: int = 10
    min_history: int = 150
    record_rank: int = 1
    policy: AlertPolicy = field(default_factory=lambda: DEFAULT_POLICY)

    def score(self, times: TimeArray, values: FloatArray) -> FloatArray:
        return self.policy.apply(self.surprise(times, values))

    def surprise(self, times: TimeArray, values: FloatArray) -> FloatArray:
        """Largest normalised score over the enabled views (0 where no view is ready)."""
        scores = list(self.view_scores(times, values).values())
        if not scores:
            return np.zeros(len(values))
        combined: FloatArray = np.max(np.vstack(scores), axis=0)
        return combined

    def view_scores(self, times: TimeArray, values: FloatArray) -> dict[str, FloatArray]:
        """Each view's residual normalised by that view's own history."""
        values = np.asarray(values, dtype=np.float64)
        return {
            name: self._normalise(residual, warmup)
            for name, (residual, warmup) in self.residuals(times, values).items()
        }

    def residuals(self, times: TimeArray, values: FloatArray) -> dict[str, tuple[FloatArray, int]]:
        """Each view's residual and the history (points) it needs before it may score."""
        views: dict[str, tuple[FloatArray, int]] = {}
        if "point" in self.views:
            views["point"] = (np.abs(values - past_median(values, self.point_window)), 0)
        if "level" in self.views:
            baseline = shifted(past_median(values, self.level_baseline), self.level_window - 1)
            residual = np.abs(trailing_mean(values, self.level_window) - baseline)
            views["level"] = (residual, 0)
        step = median_step(times)
        periods = [("", DAY)] + ([("_weekly", WEEK)] if self.weekly else [])
        for suffix, period in periods:
            season = season_length(step, period)
            if season >= self.min_season_points and len(values) > season:
                for name, residual in self._seasonal_residuals(values, season).items():
                    views[name + suffix] = (residual, season)
        return views

    def _seasonal_residuals(self, values: FloatArray, season: int) -> dict[str, FloatArray]:
        baseline = seasonal_baseline(values, season, self.seasonal_cycles)
        residual = np.where(np.isfinite(baseline), values - baseline, np.nan)
        views: dict[str, FloatArray] = {}
        if "season" in self.views:
            smoothed = np.abs(trailing_mean(np.nan_to_num(residual), self.level_window))
            views["season"] = self._warmed_up(smoothed, season)
        if "season_point" in self.views:
            views["season_point"] = self._warmed_up(np.abs(residual), season)
        return views

    def _warmed_up(self, residual: FloatArray, season: int) -> FloatArray:
        """Hide a seasonal view until a full season (plus smoothing) gave it a baseline, then a
        second season of residuals seeds its history (see ``_normalise``)."""
        residual[: season + self.level_window] = np.nan
        return residual

    def _normalise(self, residual: FloatArray, min_history: int = 0) -> FloatArray:
        least = max(self.min_history, min_history)
        if self.normaliser == "tail":
            return tail_surprise(residual, self.history_block, least, self.tail_points)
        return self._record_ratio(residual, least)

    def _record_ratio(self, residual: FloatArray, least: int) -> FloatArray:
        record = history_top(residual, self.history_block, least, self.record_rank)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            ratio = residual / np.maximum(record, np.finfo(np.float64).tiny)
        # A perfectly flat history (record 0) makes any change infinitely surprising; cap it.
        return np.where(np.isfinite(ratio), np.minimum(ratio, 1e6), 0.0)


def record_detector(name: str = "record", views: tuple[str, ...] = VIEWS) -> RobustResidualDetector:
    """The previous default: ratio to the running record, threshold 1.2, daily seasons only."""
    return RobustResidualDetector(
        name=name,
        views=views,
        weekly=False,
        normaliser="record",
        policy=AlertPolicy(threshold=1.2, refractory=600),
    )
