"""Forecast breach: will a metric cross its threshold within a horizon, and when?

A robust straight line is fitted to the recent history (disk filling up, latency creeping
up); the crossing time of that line is the prediction. The uncertainty band combines the
slope's standard error and the residual noise: the earliest crossing is when the upper
(for an upper threshold) prediction bound touches the threshold, the latest when the lower
bound does. Seasonal wiggles are treated as noise, which widens the band honestly rather
than pretending to know the phase.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

from intuitivus_flow.predictive.line import robust_line

FloatArray = npt.NDArray[np.float64]
TimeArray = npt.NDArray[np.datetime64]
Direction = Literal["above", "below"]

# Two-sided 80 % normal quantile: the same band width Prophet uses by default.
Z_80 = 1.2816


@dataclass(frozen=True)
class BreachForecast:
    """A predicted threshold crossing; times are numpy ``datetime64`` values."""

    threshold: float
    direction: Direction
    predicted_at: np.datetime64  # central estimate
    earliest: np.datetime64  # the band: crossing happens between earliest and latest
    latest: np.datetime64 | None  # None: the pessimistic trend never crosses
    last_value: float
    slope_per_hour: float

    def time_to_breach(self, now: np.datetime64) -> np.timedelta64:
        return self.predicted_at - now

    def explain(self) -> str:
        latest = "never" if self.latest is None else str(self.latest)
        return (
            f"value {self.last_value:.4g} trending {self.slope_per_hour:+.4g}/h, predicted to go "
            f"{self.direction} {self.threshold:.4g} at {self.predicted_at} "
            f"(band {self.earliest} .. {latest})"
        )


def forecast_breach(
    timestamps: TimeArray,
    values: FloatArray,
    threshold: float,
    horizon: np.timedelta64,
    *,
    direction: Direction = "above",
    z: float = Z_80,
    min_points: int = 10,
) -> BreachForecast | None:
    """Predict when ``values`` crosses ``threshold`` within ``horizon`` of the last timestamp.

    Returns ``None`` when there is too little history, when the metric already breaches (that
    is a plain threshold alert's job), or when the central prediction falls beyond the horizon.
    """
    times = np.asarray(timestamps, dtype="datetime64[us]")
    y = np.asarray(values, dtype=np.float64)
    if len(y) < min_points or len(times) != len(y):
        return None
    sign = 1.0 if direction == "above" else -1.0
    # Work on "distance still to go" so both directions are one case: we look for +crossings.
    fit = robust_line((times - times[-1]) / np.timedelta64(1, "s"), sign * y)
    gap = sign * threshold - fit.level
    if gap <= 0 or fit.slope <= 0:
        return None
    central = gap / fit.slope
    horizon_s = horizon / np.timedelta64(1, "s")
    if central > horizon_s:
        return None
    earliest = _first_crossing(gap, fit.slope + z * fit.slope_se, z * fit.noise)
    pessimistic_slope = fit.slope - z * fit.slope_se
    latest = (
        _first_crossing(gap, pessimistic_slope, -z * fit.noise) if pessimistic_slope > 0 else None
    )
    last = times[-1]
    return BreachForecast(
        threshold=threshold,
        direction=direction,
        predicted_at=last + _seconds(central),
        earliest=last + _seconds(min(earliest, central)),
        latest=None if latest is None else last + _seconds(max(latest, central)),
        last_value=float(y[-1]),
        slope_per_hour=sign * fit.slope * 3600,
    )


def _first_crossing(gap: float, slope: float, offset: float) -> float:
    """Seconds until ``offset + slope * t`` reaches ``gap`` (0 if already there)."""
    if offset >= gap:
        return 0.0
    return (gap - offset) / slope if slope > 0 else math.inf


def _seconds(value: float) -> np.timedelta64:
    return np.timedelta64(round(value * 1e6), "us")
