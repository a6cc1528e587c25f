"""The forecast path drawn on the chart: a robust straight line and its widening band.

`predictive.forecast.forecast_breach` answers "when does the line cross the threshold"; the
chart and the explanation also need the line's value at every future step, which that function
does not return, so the same fit (least squares after trimming gross outliers at 3.5 robust
sigmas) is repeated here and projected with its 80 % band.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from intuitivus_flow.predictive.detectors import FloatArray, TimeArray
from intuitivus_flow.predictive.forecast import Z_80
from intuitivus_flow.predictive.line import robust_line


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
    line = robust_line((times - times[-1]) / np.timedelta64(1, "s"), y)
    return Trend(times[-1], line.level, line.slope, line.slope_se, line.noise)
