"""What the newest value of a series was compared with, in words an operator reads.

The default detector judges a value against the same phase of earlier days and weeks (its
seasonal views). An alert that says "same time last week: 41; now 78" tells the operator
which normal the value broke; this module builds that sentence from the series itself, with
the detector's own windows (durations turned into samples with the series' median step).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from intuitivus_flow.predictive.detectors.base import (
    DAY,
    WEEK,
    FloatArray,
    TimeArray,
    median_step,
    season_length,
)
from intuitivus_flow.predictive.detectors.robust import RobustResidualDetector

SEASONS = ((WEEK, "week", "weeks"), (DAY, "day", "days"))


@dataclass(frozen=True, slots=True)
class SeasonalComparison:
    season: str  # "week" or "day"
    cycles: int  # how many earlier seasons the expected value is the median of
    expected: float
    observed: float

    @property
    def label(self) -> str:
        if self.cycles == 1:
            return "same time yesterday" if self.season == "day" else "same time last week"
        return f"same time of {self.season}, median of the last {self.cycles} {self.season}s"

    def __str__(self) -> str:
        return f"{self.label}: {self.expected:.4g}; now {self.observed:.4g}"


def seasonal_comparison(
    times: TimeArray,
    values: FloatArray,
    detector: RobustResidualDetector | None = None,
) -> SeasonalComparison | None:
    """The seasonal normal the newest value is compared with, None when no season is known.

    The weekly season is named when the series has at least one week of history (it also
    covers the daily cycle and knows weekends), else the daily one; at most the detector's
    ``seasonal_cycles`` earlier seasons, like its seasonal views.
    """
    detector = detector or RobustResidualDetector()
    values = np.asarray(values, dtype=np.float64)
    n = len(values)
    if n == 0:
        return None
    step = median_step(times)
    for period, name, _ in SEASONS:
        if period == WEEK and not detector.weekly:
            continue
        season = season_length(step, period)
        if season < detector.min_season_points or n <= season:
            continue
        lags = [n - 1 - k * season for k in range(1, detector.seasonal_cycles + 1)]
        earlier = values[[lag for lag in lags if lag >= 0]]
        return SeasonalComparison(
            season=name,
            cycles=len(earlier),
            expected=float(np.median(earlier)),
            observed=float(values[-1]),
        )
    return None
