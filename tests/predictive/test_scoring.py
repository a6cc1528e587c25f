"""The metric must agree with the shared protocol; checked on hand-computed cases."""

from __future__ import annotations

import math
from datetime import datetime

import numpy as np
import pytest

from intuitivus_flow.predictive.corpus import to_datetime64
from intuitivus_flow.predictive.scoring import Counts, group_alerts, probation_length, score_file

from .synthetic import timeline


def window(times: np.ndarray, first: int, last: int) -> tuple[datetime, datetime]:
    return (times[first].astype(datetime), times[last].astype(datetime))


@pytest.mark.parametrize(("n", "expected"), [(10, 1), (100, 15), (4000, 600), (10_000, 750)])
def test_probation_is_15_percent_capped_at_750(n: int, expected: int) -> None:
    assert probation_length(n) == expected


def test_hand_computed_case() -> None:
    # 40 rows -> probation 6 (rows 0..5 ignored). Windows: rows 0..4 (ends inside probation,
    # dropped), rows 10..14, rows 30..32. Detections at 2 (ignored), 8 9 (one alert, FP),
    # 11 (TP, finds window 1), 13 (gap 2 > merge gap 1: separate alert, TP), 20 (FP).
    times = timeline(40)
    scores = np.zeros(40)
    scores[[2, 8, 9, 11, 13, 20]] = [1.0, 0.5, 0.7, 0.9, 0.6, 0.51]
    scores[15] = 0.4999  # just below the threshold: not a detection
    windows = [window(times, 0, 4), window(times, 10, 14), window(times, 30, 32)]
    counts = score_file(times, scores, windows)
    assert counts == Counts(alerts=4, tp_alerts=2, windows=2, found=1)
    assert counts.precision == 0.5
    assert counts.recall == 0.5
    assert counts.f1 == 0.5


def test_merge_gap_and_alert_overlapping_window_edge() -> None:
    # An alert made of rows 9..11 touches window 10..12: it is one true-positive alert.
    times = timeline(40)
    scores = np.zeros(40)
    scores[[9, 11]] = 1.0  # gap of 2 rows
    counts_gap1 = score_file(times, scores, [window(times, 10, 12)], merge_gap=1)
    counts_gap2 = score_file(times, scores, [window(times, 10, 12)], merge_gap=2)
    assert counts_gap1 == Counts(alerts=2, tp_alerts=1, windows=1, found=1)
    assert counts_gap2 == Counts(alerts=1, tp_alerts=1, windows=1, found=1)


def test_window_straddling_probation_counts_and_bounds_are_inclusive() -> None:
    times = timeline(20)  # probation 3
    scores = np.zeros(20)
    scores[5] = 1.0
    counts = score_file(times, scores, [window(times, 1, 5)])
    assert counts == Counts(alerts=1, tp_alerts=1, windows=1, found=1)


def test_empty_results_give_nan_ratios() -> None:
    counts = score_file(timeline(20), np.zeros(20), [])
    assert counts == Counts()
    assert math.isnan(counts.precision)
    assert math.isnan(counts.recall)
    assert math.isnan(counts.f1)


def test_counts_add_up_before_ratios() -> None:
    total = Counts(2, 1, 2, 2) + Counts(2, 2, 2, 0)
    assert total == Counts(4, 3, 4, 2)
    assert total.precision == 0.75
    assert total.recall == 0.5


def test_group_alerts_splits_on_gaps() -> None:
    groups = group_alerts(np.array([1, 2, 4, 5, 9]), merge_gap=1)
    assert [g.tolist() for g in groups] == [[1, 2], [4, 5], [9]]


def test_row_count_mismatch_is_an_error() -> None:
    with pytest.raises(ValueError, match="row count"):
        score_file(to_datetime64([datetime(2024, 1, 1)]), np.zeros(2), [])
