"""The detector contract and helpers shared by the detector families."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
TimeArray = npt.NDArray[np.datetime64]

DAY = np.timedelta64(1, "D")
WEEK = np.timedelta64(7, "D")


@runtime_checkable
class Detector(Protocol):
    """Scores every point of a series in [0, 1].

    Contract: causal. ``score(times[:k], values[:k])`` equals ``score(times, values)[:k]`` for
    every ``k``: a point is scored from itself and earlier points only, so a batch run over a
    file reproduces exactly what a live stream would have produced. A score >= 0.5 means
    "raise an alert here"; the detector owns the debouncing, so consecutive points only stay
    above 0.5 when the alert should be one event.
    """

    @property
    def name(self) -> str:
        """Registry name, shown in reports."""
        ...

    def score(self, times: TimeArray, values: FloatArray) -> FloatArray: ...


def median_step(times: TimeArray) -> np.timedelta64:
    """Typical sampling interval (robust to gaps); one minute when it cannot be told."""
    if len(times) < 2:
        return np.timedelta64(1, "m")
    steps = np.diff(times)
    positive = steps[steps > np.timedelta64(0, "us")]
    if positive.size == 0:
        return np.timedelta64(1, "m")
    return np.timedelta64(int(np.median(positive.astype(np.int64))), "us")


def season_length(step: np.timedelta64, period: np.timedelta64) -> int:
    """Number of samples in one ``period`` at sampling interval ``step`` (0 if step is zero)."""
    step_us = int(step.astype("timedelta64[us]").astype(np.int64))
    if step_us <= 0:
        return 0
    period_us = int(period.astype("timedelta64[us]").astype(np.int64))
    return round(period_us / step_us)


def span(duration: np.timedelta64, step: np.timedelta64, floor: int = 1) -> int:
    """Samples covering ``duration`` at sampling interval ``step``, at least ``floor``.

    Every window of the detectors is a duration, so it means the same time span on 5-minute
    and on hourly data. The floor is a sample-size requirement, not a duration: a median over
    three points or a tail fitted to twenty is not a statistic, whatever time they span.
    """
    return max(season_length(step, duration), floor)
