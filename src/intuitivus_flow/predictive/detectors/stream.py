"""The default detector, incremental: constant work per new point, a state that serialises.

``start(detector, step)`` opens a stream; ``update(detector, state, times, values)`` scores
the new points and returns the next state. The state keeps only what the next points need:
the last ``lookback`` values (the longest window: three weeks of the same phase for the
weekly views, plus the smoothing), per view the ``tail + 1`` largest residuals of the
finished blocks and of the current one with their counts, and the alert policy's memory
(the calibration period's largest surprise, the last alert and watch). So one new point costs
the same whatever the length of the history behind it, and the evaluator does not rescore
the history at every tick.

Chunking does not change a score: every per-point quantity is computed from that point's
own window in a fixed order (medians of the window's values, sums added left to right, the
tail refreshed at block boundaries counted from the stream's first point), so scoring a
series in chunks, with the state serialised between them, gives exactly the scores of one
pass (tested). The batch ``RobustResidualDetector.score`` computes the same quantities with
whole-series array operations (a cumulative sum for the means, ``np.log10`` over arrays), so
the two agree to rounding (same alerts; tested on synthetic streams).
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from intuitivus_flow.predictive.detectors.alerting import (
    ALERT_FLOOR,
    QUIET_CEILING,
    WATCH_FLOOR,
    AlertPolicy,
)
from intuitivus_flow.predictive.detectors.base import (
    DAY,
    WEEK,
    FloatArray,
    TimeArray,
    season_length,
    span,
)
from intuitivus_flow.predictive.detectors.features import MAX_SURPRISE

if TYPE_CHECKING:
    from intuitivus_flow.predictive.detectors.robust import RobustResidualDetector

# Bumped when the state's layout or meaning changes: an older stored state is rebuilt.
STATE_FORMAT = 1
LN10 = math.log(10.0)
MAGIC = b"IFDS"  # Intuitivus Flow detector state


class StreamOrderError(ValueError):
    """New points must come after the state's last point, in time order."""


@dataclass(slots=True)
class TailState:
    """The largest residuals of one view: finished blocks (``top``) and the current one."""

    top: FloatArray = field(default_factory=lambda: np.empty(0))
    count: int = 0  # finite residuals in the finished blocks
    pending: FloatArray = field(default_factory=lambda: np.empty(0))
    pending_count: int = 0


@dataclass(slots=True)
class DetectorState:
    """Everything the default detector needs to score the next points of one series."""

    fingerprint: str  # the detector's parameters: a state of other parameters is not reused
    step_us: int  # sampling interval the durations were turned into samples with
    count: int = 0  # points consumed (the global index of the next point)
    last_time_us: int | None = None
    values: FloatArray = field(default_factory=lambda: np.empty(0))  # the last `lookback`
    tails: dict[str, TailState] = field(default_factory=dict)
    calibration_max: float = 0.0  # largest surprise so far within the calibration period
    last_alert: int | None = None
    last_watch: int | None = None

    @property
    def step(self) -> np.timedelta64:
        return np.timedelta64(self.step_us, "us")

    def to_bytes(self) -> bytes:
        """Exact serialisation: a small JSON header, then the buffered values as float64.

        Not compressed: noisy float64 values barely compress, and zlib cost more CPU than the
        whole update (measured: 8 of 9 ms per step).
        """
        header = {
            "format": STATE_FORMAT,
            "fingerprint": self.fingerprint,
            "step_us": self.step_us,
            "count": self.count,
            "last_time_us": self.last_time_us,
            # Python's float repr round-trips exactly through JSON.
            "tails": {
                name: [t.top.tolist(), t.count, t.pending.tolist(), t.pending_count]
                for name, t in self.tails.items()
            },
            "calibration_max": self.calibration_max,
            "last_alert": self.last_alert,
            "last_watch": self.last_watch,
        }
        text = json.dumps(header, separators=(",", ":")).encode()
        values = np.ascontiguousarray(self.values, dtype="<f8").tobytes()
        return MAGIC + len(text).to_bytes(4, "little") + text + values

    @classmethod
    def from_bytes(cls, data: bytes) -> DetectorState:
        """Raises ValueError when the bytes are not a state of this format."""
        try:
            if not data.startswith(MAGIC):
                raise ValueError("not a detector state")
            size = int.from_bytes(data[len(MAGIC) : len(MAGIC) + 4], "little")
            body = len(MAGIC) + 4
            header = json.loads(data[body : body + size])
            if header.get("format") != STATE_FORMAT:
                raise ValueError(f"detector state format {header.get('format')!r}")
            values = np.frombuffer(data[body + size :], dtype="<f8").astype(np.float64)
            return cls(
                fingerprint=str(header["fingerprint"]),
                step_us=int(header["step_us"]),
                count=int(header["count"]),
                last_time_us=header["last_time_us"],
                values=values,
                tails={
                    name: TailState(_array(top), int(count), _array(pending), int(pcount))
                    for name, (top, count, pending, pcount) in header["tails"].items()
                },
                calibration_max=float(header["calibration_max"]),
                last_alert=header["last_alert"],
                last_watch=header["last_watch"],
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"unreadable detector state: {exc}") from exc


def _array(values: list[float]) -> FloatArray:
    return np.asarray(values, dtype=np.float64).reshape(-1)


def fingerprint(detector: RobustResidualDetector) -> str:
    """Identifies the detector's parameters (a changed default invalidates stored states)."""
    described = {f.name: str(getattr(detector, f.name)) for f in fields(detector)}
    text = json.dumps([STATE_FORMAT, described], sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class _Plan:
    """The detector's windows in samples, for one sampling interval."""

    point: int
    smoothing: int
    baseline: int
    seasons: tuple[tuple[str, int], ...]  # ("", daily season) and ("_weekly", weekly season)
    block: int
    cold_start: int
    keep: int  # residuals kept per tail
    policy: AlertPolicy

    cycles: int  # earlier seasons a seasonal baseline is the median of

    @property
    def lookback(self) -> int:
        """Values the next point may read: the longest window behind a point."""
        longest = max(self.point, self.baseline + self.smoothing - 1)
        for _, season in self.seasons:
            longest = max(longest, self.cycles * season + self.smoothing - 1)
        return longest


def _plan(detector: RobustResidualDetector, step: np.timedelta64) -> _Plan:
    periods = [("", DAY)] + ([("_weekly", WEEK)] if detector.weekly else [])
    seasons = tuple(
        (suffix, season)
        for suffix, period in periods
        if (season := season_length(step, period)) >= detector.min_season_points
    )
    keep = detector.tail_points + 1 if detector.normaliser == "tail" else detector.record_rank
    return _Plan(
        point=span(detector.point_window, step, detector.point_window_min),
        smoothing=span(detector.level_window, step, detector.level_window_min),
        baseline=span(detector.level_baseline, step, detector.level_baseline_min),
        seasons=seasons,
        block=span(detector.history_block, step, detector.history_block_min),
        cold_start=detector.cold_start_points(step),
        keep=keep,
        policy=detector.policy(step),
        cycles=detector.seasonal_cycles,
    )


def start(detector: RobustResidualDetector, step: np.timedelta64) -> DetectorState:
    """An empty stream for a series sampled every ``step``."""
    step_us = int(step.astype("timedelta64[us]").astype(np.int64))
    if step_us <= 0:
        raise ValueError("the sampling interval must be positive")
    return DetectorState(fingerprint=fingerprint(detector), step_us=step_us)


def update(
    detector: RobustResidualDetector,
    state: DetectorState,
    times: TimeArray,
    values: FloatArray,
) -> tuple[DetectorState, FloatArray]:
    """Score the new points (after ``state``'s last one) and return the next state.

    ``state`` is not modified. The scores are those ``detector.score`` gives these points
    when it reads the whole series from the stream's first point (to rounding).
    """
    if state.fingerprint != fingerprint(detector):
        raise ValueError("the state belongs to a detector with other parameters")
    stamps = np.asarray(times, dtype="datetime64[us]").astype(np.int64)
    new = np.asarray(values, dtype=np.float64)
    if stamps.shape != new.shape:
        raise ValueError("times and values differ in length")
    if stamps.size and (
        np.any(np.diff(stamps) <= 0)
        or (state.last_time_us is not None and stamps[0] <= state.last_time_us)
    ):
        raise StreamOrderError("new points must be later than the state's last point")
    k = new.size
    if k == 0:
        return state, np.zeros(0)
    plan = _plan(detector, state.step)
    x = np.concatenate([state.values, new])
    first = state.values.size  # position of the first new point in x
    offset = state.count - first  # global index of x[0]
    positions = np.arange(first, first + k)
    glob = positions + offset
    tails = {name: _copy_tail(t) for name, t in state.tails.items()}
    surprise = np.zeros(k)
    for name, (residual, least) in _residuals(detector, plan, x, positions, offset).items():
        tail = tails.setdefault(name, TailState())
        scored = _normalise(detector, plan, tail, residual, glob, least)
        surprise = np.maximum(surprise, scored)
    scores, calibration_max, last_alert, last_watch = _alerts(plan.policy, state, surprise, glob)
    keep = x[-plan.lookback :] if plan.lookback > 0 else x[:0]
    after = DetectorState(
        fingerprint=state.fingerprint,
        step_us=state.step_us,
        count=state.count + k,
        last_time_us=int(stamps[-1]),
        values=keep.copy(),
        tails=tails,
        calibration_max=calibration_max,
        last_alert=last_alert,
        last_watch=last_watch,
    )
    return after, scores


def _copy_tail(tail: TailState) -> TailState:
    return TailState(tail.top.copy(), tail.count, tail.pending.copy(), tail.pending_count)


def _residuals(
    detector: RobustResidualDetector,
    plan: _Plan,
    x: FloatArray,
    positions: np.ndarray,
    offset: int,
) -> dict[str, tuple[FloatArray, int]]:
    """Each view's residual at ``positions`` of ``x`` and the history its tail needs."""
    views: dict[str, tuple[FloatArray, int]] = {}
    glob = positions + offset
    s = plan.smoothing
    if "point" in detector.views:
        views["point"] = (np.abs(x[positions] - _past_median(x, positions, plan.point)), 0)
    if "level" in detector.views:
        baseline = _past_median(x, positions - (s - 1), plan.baseline)
        views["level"] = (np.abs(_trailing_mean(x, positions, s) - baseline), 0)
    for suffix, season in plan.seasons:
        ready = glob >= season + s  # a full season (plus smoothing) behind the point
        if "season" in detector.views:
            smoothed = np.full(positions.size, np.nan)
            if ready.any():
                at = positions[ready]
                window = np.concatenate([at - j for j in range(s - 1, -1, -1)])
                residual = np.nan_to_num(_seasonal_residual(x, window, season, offset, plan))
                total = np.zeros(at.size)
                for j in range(s):  # left to right, like the window itself
                    total = total + residual[j * at.size : (j + 1) * at.size]
                smoothed[ready] = np.abs(total / s)
            views["season" + suffix] = (smoothed, season)
        if "season_point" in detector.views:
            unsmoothed = np.full(positions.size, np.nan)
            if ready.any():
                at = positions[ready]
                unsmoothed[ready] = np.abs(_seasonal_residual(x, at, season, offset, plan))
            views["season_point" + suffix] = (unsmoothed, season)
    return views


def _past_median(x: FloatArray, positions: np.ndarray, width: int) -> FloatArray:
    """Median of the ``width`` values before each position (NaN without that history)."""
    out = np.full(positions.size, np.nan)
    ok = positions >= width
    if width >= 1 and ok.any():
        rows = sliding_window_view(x, width)[positions[ok] - width]
        out[ok] = np.median(rows, axis=1)
    return out


def _trailing_mean(x: FloatArray, positions: np.ndarray, width: int) -> FloatArray:
    """Mean of the ``width`` values ending at each position, summed left to right."""
    out = np.full(positions.size, np.nan)
    ok = positions >= width - 1
    if ok.any():
        at = positions[ok]
        total = np.zeros(at.size)
        for j in range(width - 1, -1, -1):
            total = total + x[at - j]
        out[ok] = total / width
    return out


def _seasonal_residual(
    x: FloatArray, positions: np.ndarray, season: int, offset: int, plan: _Plan
) -> FloatArray:
    """Value minus the median of the same phase in the previous seasons that exist."""
    lagged = np.full((plan.cycles, positions.size), np.nan)
    for j in range(1, plan.cycles + 1):
        source = positions - j * season
        ok = source + offset >= 0
        lagged[j - 1, ok] = x[source[ok]]
    ordered = np.sort(lagged, axis=0)  # NaN (missing) last
    n = np.isfinite(ordered).sum(axis=0)
    columns = np.arange(positions.size)
    low = ordered[np.maximum((n - 1) // 2, 0), columns]
    high = ordered[np.maximum(n // 2, 0), columns]
    median = np.where(n % 2 == 1, low, (low + high) / 2)
    median = np.where(n > 0, median, np.nan)
    return np.asarray(x[positions] - median, dtype=np.float64)


def _normalise(
    detector: RobustResidualDetector,
    plan: _Plan,
    tail: TailState,
    residual: FloatArray,
    glob: np.ndarray,
    min_history: int,
) -> FloatArray:
    """The view's surprise at each new point, advancing its tail block by block."""
    least = max(plan.cold_start, min_history)
    block = plan.block
    out = np.zeros(residual.size)
    begin = 0
    while begin < residual.size:
        t = int(glob[begin])
        if t % block == 0 and t > 0:
            _close_block(tail, plan.keep)
        end = min(residual.size, begin + block - t % block)
        segment = residual[begin:end]
        out[begin:end] = _score_segment(detector, tail, segment, least)
        finite = segment[np.isfinite(segment)]
        if finite.size:
            tail.pending_count += int(finite.size)
            if tail.pending.size < plan.keep or finite.max() > tail.pending[0]:
                tail.pending = np.sort(np.concatenate([tail.pending, finite]))[-plan.keep :]
        begin = end
    return out


def _close_block(tail: TailState, keep: int) -> None:
    tail.count += tail.pending_count
    if tail.pending.size:
        tail.top = np.sort(np.concatenate([tail.top, tail.pending]))[-keep:]
    tail.pending, tail.pending_count = np.empty(0), 0


def _score_segment(
    detector: RobustResidualDetector, tail: TailState, segment: FloatArray, least: int
) -> FloatArray:
    if detector.normaliser == "tail":
        if tail.count < least or tail.top.size <= detector.tail_points:
            return np.zeros(segment.size)
        u = float(tail.top[0])
        sigma = float(np.mean(tail.top[1:] - tail.top[0]))
        with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
            excess = segment - u
            if sigma > 0:
                level = math.log10(tail.count / detector.tail_points)
                surprise = level + excess / (sigma * LN10)
            else:
                surprise = np.full(segment.size, MAX_SURPRISE)
        above = np.nan_to_num(excess, nan=-1.0) > 0
        clipped = np.clip(np.nan_to_num(surprise, nan=0.0), 0.0, MAX_SURPRISE)
        return np.asarray(np.where(above, clipped, 0.0), dtype=np.float64)
    rank = detector.record_rank
    if tail.count < max(least, rank) or tail.top.size < rank:
        return np.zeros(segment.size)
    record = float(tail.top[-rank])
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        ratio = segment / max(record, float(np.finfo(np.float64).tiny))
    return np.asarray(np.where(np.isfinite(ratio), np.minimum(ratio, 1e6), 0.0), np.float64)


def _alerts(
    policy: AlertPolicy, state: DetectorState, surprise: FloatArray, glob: np.ndarray
) -> tuple[FloatArray, float, int | None, int | None]:
    """``AlertPolicy.apply`` for the new points, continuing the state's debouncing."""
    surprise = np.where(np.isfinite(surprise), surprise, 0.0)
    bar = np.full(surprise.size, policy.threshold)
    calibration_max = state.calibration_max
    if policy.calibration > 0:
        early = np.where(glob < policy.calibration, surprise, 0.0)
        running = np.maximum.accumulate(np.concatenate([[calibration_max], early]))
        ceiling = max(policy.ceiling, policy.threshold)
        bar = np.clip(policy.calibration_factor * running[:-1], policy.threshold, ceiling)
        calibration_max = float(running[-1])
    graded = np.minimum(surprise / bar, 1.0) * QUIET_CEILING
    last_watch = state.last_watch
    if policy.watch_margin > 0:
        watch_bar = np.maximum(bar - policy.watch_margin, np.finfo(np.float64).tiny)
        graded = np.minimum(surprise / watch_bar, 1.0) * (WATCH_FLOOR - 0.001)
        watched, last_watch = _debounce(surprise >= watch_bar, glob, last_watch, policy.refractory)
        closeness = np.clip((surprise - watch_bar) / (bar - watch_bar), 0.0, 1.0)
        graded[watched] = WATCH_FLOOR + (QUIET_CEILING - WATCH_FLOOR) * closeness[watched]
    fired, last_alert = _debounce(surprise >= bar, glob, state.last_alert, policy.refractory)
    strength = np.minimum((surprise - bar) / bar, 1.0)
    graded[fired] = ALERT_FLOOR + 0.5 * np.clip(strength[fired], 0.0, 1.0)
    return graded, calibration_max, last_alert, last_watch


def _debounce(
    candidate: np.ndarray, glob: np.ndarray, last: int | None, refractory: int
) -> tuple[list[int], int | None]:
    """Chunk positions of the candidates more than ``refractory`` points after the last kept."""
    kept: list[int] = []
    for i in np.flatnonzero(candidate).tolist():
        t = int(glob[i])
        if last is None or t - last > refractory:
            kept.append(i)
            last = t
    return kept, last


def describe(state: DetectorState) -> dict[str, Any]:
    """A few figures of a state, for logs and the benchmark."""
    return {
        "points": state.count,
        "buffered": int(state.values.size),
        "views": sorted(state.tails),
        "bytes": len(state.to_bytes()),
    }
