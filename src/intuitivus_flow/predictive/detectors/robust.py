"""The default detector: robust residuals judged against the series' own extremes.

Three causal views of "how far is this point from normal":

* ``point``  - distance to the median of the recent past (spikes, the onset of a shift);
* ``level``  - distance of a short trailing mean to a one-day median (sustained bumps, drifts);
* ``season`` - short trailing mean of the residual against the same phase in previous days
  (a missing daily peak, a peak at the wrong height), used once two days of history exist.

Each view is divided by the largest value that view has taken so far in this series (its
"record"). Ratios above ``threshold`` mean "more extreme than anything seen before", which is
scale free, needs no per-series tuning, and adapts as the history grows: a noisy series
raises its own bar, a flat one keeps it low. The probationary period simply seeds the
records. An :class:`AlertPolicy` then debounces the combined ratio into alerts.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from intuitivus_flow.predictive.detectors.alerting import AlertPolicy
from intuitivus_flow.predictive.detectors.base import (
    DAY,
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
    trailing_mean,
)

VIEWS = ("point", "level", "season", "season_point")


@dataclass(frozen=True)
class RobustRecordDetector:
    name: str = "default"
    views: tuple[str, ...] = VIEWS
    point_window: int = 48
    level_window: int = 12
    level_baseline: int = 288
    seasonal_cycles: int = 3
    min_season_points: int = 12
    history_block: int = 10
    min_history: int = 150
    record_rank: int = 1
    policy: AlertPolicy = field(default_factory=lambda: AlertPolicy(threshold=1.2, refractory=600))

    def score(self, times: TimeArray, values: FloatArray) -> FloatArray:
        return self.policy.apply(self.surprise(times, values))

    def surprise(self, times: TimeArray, values: FloatArray) -> FloatArray:
        """Largest record ratio over the enabled views (0 where no view is ready)."""
        values = np.asarray(values, dtype=np.float64)
        season = season_length(median_step(times), DAY)
        ratios = [
            self._record_ratio(residual, season if name.startswith("season") else 0)
            for name, residual in self.residuals(times, values).items()
        ]
        if not ratios:
            return np.zeros(len(values))
        combined: FloatArray = np.max(np.vstack(ratios), axis=0)
        return combined

    def residuals(self, times: TimeArray, values: FloatArray) -> dict[str, FloatArray]:
        views: dict[str, FloatArray] = {}
        if "point" in self.views:
            views["point"] = np.abs(values - past_median(values, self.point_window))
        if "level" in self.views:
            baseline = shifted(past_median(values, self.level_baseline), self.level_window - 1)
            views["level"] = np.abs(trailing_mean(values, self.level_window) - baseline)
        season = season_length(median_step(times), DAY)
        if season >= self.min_season_points and len(values) > season:
            baseline = seasonal_baseline(values, season, self.seasonal_cycles)
            residual = np.where(np.isfinite(baseline), values - baseline, np.nan)
            if "season" in self.views:
                views["season"] = self._warmed_up(
                    np.abs(trailing_mean(np.nan_to_num(residual), self.level_window)), season
                )
            if "season_point" in self.views:
                views["season_point"] = self._warmed_up(np.abs(residual), season)
        return views

    def _warmed_up(self, residual: FloatArray, season: int) -> FloatArray:
        """Hide a seasonal view until a full season (plus smoothing) gave it a baseline, then a
        second season of residuals seeds its record (see ``_record_ratio``)."""
        residual[: season + self.level_window] = np.nan
        return residual

    def _record_ratio(self, residual: FloatArray, min_history: int = 0) -> FloatArray:
        least = max(self.min_history, min_history)
        record = history_top(residual, self.history_block, least, self.record_rank)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            ratio = residual / np.maximum(record, np.finfo(np.float64).tiny)
        # A perfectly flat history (record 0) makes any change infinitely surprising; cap it.
        return np.where(np.isfinite(ratio), np.minimum(ratio, 1e6), 0.0)
