"""The default detector's incremental form: chunked scoring with a serialised state."""

from __future__ import annotations

import numpy as np
import pytest

from intuitivus_flow.predictive.detectors.ewma import EwmaZDetector
from intuitivus_flow.predictive.detectors.robust import RobustResidualDetector, record_detector
from intuitivus_flow.predictive.detectors.stream import DetectorState, StreamOrderError

from .synthetic import POINTS_PER_DAY, STEP, seasonal_series, timeline

DETECTORS = [RobustResidualDetector(), record_detector()]


def incidents(days: int = 16) -> np.ndarray:
    """Two weeks and more (the weekly views switch on) with a spike, a shift and a dip."""
    values = seasonal_series(days=days, seed=2)
    for day, change in ((6.35, 15.0), (15.1, -30.0)):
        if int(day * POINTS_PER_DAY) < len(values):
            values[int(day * POINTS_PER_DAY)] += change
    values[10 * POINTS_PER_DAY :] += 8
    return values


@pytest.mark.parametrize("detector", DETECTORS, ids=lambda d: d.name)
def test_chunks_with_a_serialised_state_give_the_scores_of_one_pass(
    detector: RobustResidualDetector,
) -> None:
    values = incidents()
    times = timeline(len(values))
    _, one_pass = detector.update(detector.start(STEP), times, values)
    cuts = np.sort(np.random.default_rng(0).choice(np.arange(1, len(values)), 30, replace=False))
    state, parts, previous = detector.start(STEP), [], 0
    for cut in [*cuts.tolist(), len(values)]:
        state = DetectorState.from_bytes(state.to_bytes())  # as the product stores it
        state, scores = detector.update(state, times[previous:cut], values[previous:cut])
        parts.append(scores)
        previous = cut
    np.testing.assert_array_equal(np.concatenate(parts), one_pass)
    # One point at a time over the last 6 hours: the evaluator's tick.
    tail = len(values) - 72
    state, _ = detector.update(detector.start(STEP), times[:tail], values[:tail])
    for i in range(tail, len(values)):
        state = DetectorState.from_bytes(state.to_bytes())
        state, scores = detector.update(state, times[i : i + 1], values[i : i + 1])
        assert scores[0] == one_pass[i]


@pytest.mark.parametrize("detector", DETECTORS, ids=lambda d: d.name)
def test_the_stream_agrees_with_the_batch_detector(detector: RobustResidualDetector) -> None:
    values = incidents()
    times = timeline(len(values))
    batch = detector.score(times, values)
    _, streamed = detector.update(detector.start(STEP), times, values)
    np.testing.assert_allclose(streamed, batch, rtol=0, atol=1e-9)
    alerts = np.flatnonzero(streamed >= 0.5).tolist()
    assert alerts == np.flatnonzero(batch >= 0.5).tolist()
    assert alerts == [int(6.35 * POINTS_PER_DAY), 10 * POINTS_PER_DAY, int(15.1 * POINTS_PER_DAY)]


def test_the_stream_is_causal_and_silent_during_the_cold_start() -> None:
    detector = RobustResidualDetector()
    values = incidents(days=7)
    times = timeline(len(values))
    _, full = detector.update(detector.start(STEP), times, values)
    for cut in (149, 751, 3 * POINTS_PER_DAY + 7):
        _, prefix = detector.update(detector.start(STEP), times[:cut], values[:cut])
        np.testing.assert_array_equal(prefix, full[:cut])
    assert np.all(full[: detector.cold_start_points(STEP)] == 0)


def test_the_state_stays_bounded_whatever_the_history() -> None:
    detector = RobustResidualDetector()
    values = incidents(days=30)
    times = timeline(len(values))
    state, _ = detector.update(detector.start(STEP), times, values)
    # Three weeks of the same phase plus the smoothing hour: the longest window.
    assert state.values.size == 3 * 7 * POINTS_PER_DAY + 11
    assert all(t.top.size <= detector.tail_points + 1 for t in state.tails.values())
    assert state.count == len(values)


def test_points_out_of_order_or_a_foreign_state_are_refused() -> None:
    detector = RobustResidualDetector()
    values = seasonal_series(days=1)
    times = timeline(len(values))
    state, _ = detector.update(detector.start(STEP), times, values)
    with pytest.raises(StreamOrderError):
        detector.update(state, times[-1:], values[-1:])  # already scored
    with pytest.raises(ValueError, match="other parameters"):
        RobustResidualDetector(bar=7.0).update(state, times[:0], values[:0])
    with pytest.raises(ValueError, match="unreadable detector state"):
        DetectorState.from_bytes(b"not a state")
    same, scores = detector.update(state, times[:0], values[:0])
    assert same is state
    assert scores.size == 0


def test_the_ewma_baseline_counts_its_windows_in_time() -> None:
    detector = EwmaZDetector()
    five_minutes, hour = np.timedelta64(5, "m"), np.timedelta64(1, "h")
    assert detector.alpha(five_minutes) == pytest.approx(0.02)  # the former point counts
    assert detector.policy(five_minutes).refractory == 600
    assert detector.alpha(hour) == pytest.approx(0.2)  # the same 250 minutes of memory
    assert detector.policy(hour).refractory == 50  # 50 hours, not 25 days
