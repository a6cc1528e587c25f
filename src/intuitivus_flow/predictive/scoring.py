"""Alert-level precision and window recall: the protocol of the shared ``anomaly_eval`` tool.

Per file:
  * the first 15 % of the rows (at most 750) are the probationary period: detections there are
    ignored and a labelled window that *ends* before the first scored row is dropped;
  * a row is a detection when its score is >= ``threshold``;
  * detections at most ``merge_gap`` rows apart form one alert;
  * an alert is a true positive when any of its rows lies inside a window (bounds inclusive);
  * a window is found when at least one detection lies inside it.
Counts are summed per category and overall before the ratios are taken.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import numpy.typing as npt

from intuitivus_flow.predictive.corpus import to_datetime64

DEFAULT_THRESHOLD = 0.5
DEFAULT_MERGE_GAP = 1
PROBATION_FRACTION = 0.15
PROBATION_CAP = 750


def probation_length(n_rows: int) -> int:
    """Rows at the start of a file that are never scored (and that detectors may learn from)."""
    return min(int(PROBATION_FRACTION * n_rows), PROBATION_CAP)


@dataclass(frozen=True)
class Counts:
    alerts: int = 0
    tp_alerts: int = 0
    windows: int = 0
    found: int = 0

    def __add__(self, other: Counts) -> Counts:
        return Counts(
            self.alerts + other.alerts,
            self.tp_alerts + other.tp_alerts,
            self.windows + other.windows,
            self.found + other.found,
        )

    @property
    def precision(self) -> float:
        return self.tp_alerts / self.alerts if self.alerts else math.nan

    @property
    def recall(self) -> float:
        return self.found / self.windows if self.windows else math.nan

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        if math.isnan(p) or math.isnan(r) or p + r == 0:
            return math.nan
        return 2 * p * r / (p + r)


def sum_counts(items: Iterable[Counts]) -> Counts:
    total = Counts()
    for item in items:
        total = total + item
    return total


def group_alerts(hit_rows: npt.NDArray[np.intp], merge_gap: int) -> list[npt.NDArray[np.intp]]:
    """Split sorted detection rows into alerts wherever the gap exceeds ``merge_gap``."""
    if hit_rows.size == 0:
        return []
    breaks = np.flatnonzero(np.diff(hit_rows) > merge_gap) + 1
    return list(np.split(hit_rows, breaks))


def score_file(
    times: npt.NDArray[np.datetime64],
    scores: npt.NDArray[np.float64],
    windows: Sequence[tuple[datetime, datetime]],
    threshold: float = DEFAULT_THRESHOLD,
    merge_gap: int = DEFAULT_MERGE_GAP,
) -> Counts:
    """Counts for one file; ``times`` and ``scores`` are row-aligned."""
    n = len(times)
    if len(scores) != n:
        raise ValueError(f"row count differs: data {n}, scores {len(scores)}")
    probation = probation_length(n)
    if probation >= n:
        return Counts()
    bounds = to_datetime64([t for pair in windows for t in pair]).reshape(-1, 2)
    # Windows ending before the first scored row could never be found: they do not count.
    bounds = bounds[bounds[:, 1] >= times[probation]]
    hit_rows = probation + np.flatnonzero(scores[probation:] >= threshold)
    window_of_hit = _window_index(times[hit_rows], bounds)
    alerts = group_alerts(hit_rows, merge_gap)
    inside = window_of_hit >= 0
    # Position of each hit in hit_rows lets us reuse the window lookup per alert.
    starts = np.cumsum([0] + [len(a) for a in alerts])
    tp_alerts = sum(bool(inside[a:b].any()) for a, b in itertools.pairwise(starts))
    found = len(set(window_of_hit[inside].tolist()))
    return Counts(alerts=len(alerts), tp_alerts=tp_alerts, windows=len(bounds), found=found)


def _window_index(
    stamps: npt.NDArray[np.datetime64], bounds: npt.NDArray[np.datetime64]
) -> npt.NDArray[np.intp]:
    """Index of the first window containing each stamp (inclusive bounds), -1 when none."""
    if bounds.size == 0 or stamps.size == 0:
        return np.full(stamps.shape, -1, dtype=np.intp)
    inside = (stamps[:, None] >= bounds[None, :, 0]) & (stamps[:, None] <= bounds[None, :, 1])
    first = np.argmax(inside, axis=1).astype(np.intp)
    return np.where(inside.any(axis=1), first, -1)
