"""The forecast path drawn on the chart: a robust straight line and its widening band.

`predictive.forecast.forecast_breach` answers "when does the line cross the threshold"; the
chart and the explanation also need the line's value at every future step, which that function
does not return, so the same fit (least squares after trimming gross outliers at 3.5 robust
sigmas) is repeated here and projected with its 80 % band.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from intuitivus_flow.predictive.detectors import FloatArray, TimeArray
from intuitivus_flow.predictive.forecast import Z_80


@dataclass(frozen=True, slots=True)
class Trend:
    origin: np.datetime64  # t = 0: the last observation
    intercept: float
    slope: float  # per second
    slope_se: float
    noise: float

    def project(
        self, times: TimeArray, z: float = Z_80
    ) -> tuple[FloatArray, FloatArray, FloatArray]:
        """Centre, lower and upper bound at `times`; the band widens with the slope's error."""
        t = (np.asarray(times, dtype="datetime64[us]") - self.origin) / np.timedelta64(1, "s")
        centre = self.intercept + self.slope * t
        spread = z * np.sqrt(self.noise**2 + (t * self.slope_se) ** 2)
        return centre, centre - spread, centre + spread


def fit_trend(times: TimeArray, values: FloatArray) -> Trend | None:
    """The robust line through the points, or None with fewer than three of them."""
    times = np.asarray(times, dtype="datetime64[us]")
    y = np.asarray(values, dtype=np.float64)
    if len(y) < 3:
        return None
    t = (times - times[-1]) / np.timedelta64(1, "s")
    keep = np.ones(len(y), dtype=bool)
    for _ in range(2):
        slope, intercept = np.polyfit(t[keep], y[keep], 1)
        residuals = y - (intercept + slope * t)
        mad = float(np.median(np.abs(residuals[keep] - np.median(residuals[keep]))))
        if mad == 0:
            break
        trimmed = np.abs(residuals) <= 3.5 * 1.4826 * mad
        if trimmed.sum() < 3:
            break
        keep = trimmed
    slope, intercept = np.polyfit(t[keep], y[keep], 1)
    residuals = y[keep] - (intercept + slope * t[keep])
    noise = math.sqrt(float(residuals @ residuals) / max(int(keep.sum()) - 2, 1))
    spread = float(((t[keep] - t[keep].mean()) ** 2).sum())
    slope_se = noise / math.sqrt(spread) if spread > 0 else 0.0
    return Trend(times[-1], float(intercept), float(slope), slope_se, noise)
