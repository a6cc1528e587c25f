"""The robust straight line every trend in the product is measured with.

Least squares on time (seconds, 0 at the last point) after trimming points beyond 3.5 robust
sigmas, twice, so a single spike cannot tilt the line. Used by the straight-line breach
forecast, the seasonal model's trend and the forecasting domain's trend charts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class Line:
    level: float  # the value at the last point (t = 0)
    slope: float  # per second
    slope_se: float
    noise: float  # residual standard deviation


def robust_line(seconds: FloatArray, values: FloatArray) -> Line:
    """The trimmed least-squares line through (seconds, values); needs three points or more."""
    t = seconds - seconds[-1]
    keep = np.ones(len(values), dtype=bool)
    for _ in range(2):
        slope, level = np.polyfit(t[keep], values[keep], 1)
        residual = values - (level + slope * t)
        mad = float(np.median(np.abs(residual[keep] - np.median(residual[keep]))))
        if mad == 0:
            break
        trimmed = np.abs(residual) <= 3.5 * 1.4826 * mad
        if trimmed.sum() < 3:
            break
        keep = trimmed
    slope, level = np.polyfit(t[keep], values[keep], 1)
    residual = values[keep] - (level + slope * t[keep])
    noise = math.sqrt(float(residual @ residual) / max(int(keep.sum()) - 2, 1))
    spread = float(((t[keep] - t[keep].mean()) ** 2).sum())
    slope_se = noise / math.sqrt(spread) if spread > 0 else 0.0
    return Line(float(level), float(slope), slope_se, noise)
