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
raised (from 6 up to 8) for a series whose own calibration period (the 50 h after the cold
start) was already very surprising. Every window is a duration (see the class docstring).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from intuitivus_flow.predictive.detectors import stream
from intuitivus_flow.predictive.detectors.alerting import AlertPolicy
from intuitivus_flow.predictive.detectors.base import (
    DAY,
    WEEK,
    FloatArray,
    TimeArray,
    median_step,
    season_length,
    span,
)
from intuitivus_flow.predictive.detectors.features import (
    history_top,
    past_median,
    seasonal_baseline,
    shifted,
    tail_surprise,
    trailing_mean,
)
from intuitivus_flow.predictive.detectors.stream import DetectorState

VIEWS = ("point", "level", "season", "season_point")

HOUR = np.timedelta64(1, "h")
MINUTE = np.timedelta64(1, "m")

Normaliser = Literal["tail", "record"]


@dataclass(frozen=True)
class RobustResidualDetector:
    """Every duration below is a time span, turned into samples with the series' own median
    sampling interval (:func:`~intuitivus_flow.predictive.detectors.base.span`); the ``*_min``
    fields are sample-size floors (a statistic needs that many points whatever they span).

    Alerting: the surprise must reach ``bar`` (``-log10`` of a tail probability), raised up to
    ``bar_ceiling`` for a series whose own calibration period was already very surprising
    (``calibration_factor`` x the largest surprise seen there); after an alert the detector
    stays quiet for ``quiet``. The defaults were chosen by leave-one-category-out
    cross-validation on nab-dev (``benchmarks/predictive_cv.py``, docs/predictive.md).
    """

    name: str = "default"
    views: tuple[str, ...] = VIEWS
    weekly: bool = True
    normaliser: Normaliser = "tail"
    tail_points: int = 10
    point_window: np.timedelta64 = 4 * HOUR
    point_window_min: int = 48
    level_window: np.timedelta64 = HOUR
    level_window_min: int = 12
    level_baseline: np.timedelta64 = DAY
    level_baseline_min: int = 288
    seasonal_cycles: int = 3
    min_season_points: int = 12
    # The tail is refreshed in blocks (at least ``history_block_min`` samples), so the first
    # points of an incident are judged against the history before it, not against each other.
    history_block: np.timedelta64 = 50 * MINUTE
    history_block_min: int = 10
    # Cold start: no view scores before this much history (and at least this many points,
    # so the tail fit behind the first score has a real sample under it).
    cold_start: np.timedelta64 = 750 * MINUTE
    cold_start_min: int = 150
    record_rank: int = 1
    bar: float = 6.0
    bar_ceiling: float = 8.0
    calibration_factor: float = 0.5
    # The calibration period follows the cold start: the surprises a young, ready model
    # produces there tell how heavy the series' tail is.
    calibration: np.timedelta64 = 50 * HOUR
    quiet: np.timedelta64 = 50 * HOUR
    # A watch tier at 100x the alert probability (bar - 2), debounced like alerts; NAB
    # standard 58.9 -> 63.6 on nab-dev, alerts unchanged (docs/predictive.md).
    watch_margin: float = 2.0

    def policy(self, step: np.timedelta64) -> AlertPolicy:
        """The debouncing policy in samples for a series sampled every ``step``."""
        ready = self.cold_start_points(step)
        calibration = ready + span(self.calibration, step, 1) if self.calibration else 0
        return AlertPolicy(
            threshold=self.bar,
            refractory=span(self.quiet, step, 1),
            calibration=calibration if self.bar_ceiling > self.bar else 0,
            calibration_factor=self.calibration_factor,
            ceiling=self.bar_ceiling,
            watch_margin=self.watch_margin,
        )

    def cold_start_points(self, step: np.timedelta64) -> int:
        return span(self.cold_start, step, self.cold_start_min)

    def score(self, times: TimeArray, values: FloatArray) -> FloatArray:
        return self.policy(median_step(times)).apply(self.surprise(times, values))

    def start(self, step: np.timedelta64) -> DetectorState:
        """An empty incremental stream for a series sampled every ``step`` (see ``update``)."""
        return stream.start(self, step)

    def update(
        self, state: DetectorState, times: TimeArray, values: FloatArray
    ) -> tuple[DetectorState, FloatArray]:
        """Score the points after ``state``'s last one with constant work per point.

        Returns the next state (``state`` is unchanged) and the new points' scores: exactly
        those of one pass from the stream's start, however the series is chunked, and those of
        ``score`` on the whole series to rounding (``detectors/stream.py``).
        """
        return stream.update(self, state, times, values)

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
        step = median_step(times)
        return {
            name: self._normalise(residual, step, warmup)
            for name, (residual, warmup) in self.residuals(times, values).items()
        }

    def residuals(self, times: TimeArray, values: FloatArray) -> dict[str, tuple[FloatArray, int]]:
        """Each view's residual and the history (points) it needs before it may score."""
        views: dict[str, tuple[FloatArray, int]] = {}
        step = median_step(times)
        smoothing = span(self.level_window, step, self.level_window_min)
        if "point" in self.views:
            window = span(self.point_window, step, self.point_window_min)
            views["point"] = (np.abs(values - past_median(values, window)), 0)
        if "level" in self.views:
            baseline_width = span(self.level_baseline, step, self.level_baseline_min)
            baseline = shifted(past_median(values, baseline_width), smoothing - 1)
            residual = np.abs(trailing_mean(values, smoothing) - baseline)
            views["level"] = (residual, 0)
        periods = [("", DAY)] + ([("_weekly", WEEK)] if self.weekly else [])
        for suffix, period in periods:
            season = season_length(step, period)
            if season >= self.min_season_points and len(values) > season:
                for name, residual in self._seasonal_residuals(values, season, smoothing).items():
                    views[name + suffix] = (residual, season)
        return views

    def _seasonal_residuals(
        self, values: FloatArray, season: int, smoothing: int
    ) -> dict[str, FloatArray]:
        baseline = seasonal_baseline(values, season, self.seasonal_cycles)
        residual = np.where(np.isfinite(baseline), values - baseline, np.nan)
        views: dict[str, FloatArray] = {}
        if "season" in self.views:
            smoothed = np.abs(trailing_mean(np.nan_to_num(residual), smoothing))
            views["season"] = self._warmed_up(smoothed, season + smoothing)
        if "season_point" in self.views:
            views["season_point"] = self._warmed_up(np.abs(residual), season + smoothing)
        return views

    @staticmethod
    def _warmed_up(residual: FloatArray, hidden: int) -> FloatArray:
        """Hide a seasonal view until a full season (plus smoothing) gave it a baseline, then a
        second season of residuals seeds its history (see ``_normalise``)."""
        residual[:hidden] = np.nan
        return residual

    def _normalise(
        self, residual: FloatArray, step: np.timedelta64, min_history: int = 0
    ) -> FloatArray:
        least = max(self.cold_start_points(step), min_history)
        block = span(self.history_block, step, self.history_block_min)
        if self.normaliser == "tail":
            return tail_surprise(residual, block, least, self.tail_points)
        return self._record_ratio(residual, block, least)

    def _record_ratio(self, residual: FloatArray, block: int, least: int) -> FloatArray:
        record = history_top(residual, block, least, self.record_rank)
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
        bar=1.2,
        bar_ceiling=1.2,
        watch_margin=0.0,  # a ratio to the record, not a log-probability: no watch tier
    )
