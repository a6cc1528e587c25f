"""Causal array primitives: every output at index t uses inputs at indices <= t only."""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from intuitivus_flow.predictive.detectors.base import FloatArray


def shifted(x: FloatArray, lag: int) -> FloatArray:
    """``x[t - lag]`` at t (NaN before the start)."""
    out = np.full(len(x), np.nan)
    if 0 < lag < len(x):
        out[lag:] = x[:-lag]
    elif lag == 0:
        out[:] = x
    return out


def past_median(x: FloatArray, width: int) -> FloatArray:
    """Median of the ``width`` points strictly before t (NaN until enough history)."""
    out = np.full(len(x), np.nan)
    if width < 1 or len(x) <= width:
        return out
    out[width:] = np.median(sliding_window_view(x[:-1], width), axis=1)
    return out


def trailing_mean(x: FloatArray, width: int) -> FloatArray:
    """Mean of the ``width`` points ending at t, t included (NaN until enough history)."""
    out = np.full(len(x), np.nan)
    if width < 1 or len(x) < width:
        return out
    sums = np.cumsum(np.insert(x, 0, 0.0))
    out[width - 1 :] = (sums[width:] - sums[:-width]) / width
    return out


def history_top(x: FloatArray, block: int, min_points: int, rank: int = 1) -> FloatArray:
    """The ``rank``-th largest finite value seen before the current block (NaN while fewer
    than ``min_points`` finite values have been seen).

    ``rank=1`` is the running maximum; a higher rank ignores a few one-off extremes (a glitch
    during warm-up should not blind the detector for the rest of the series). Refreshed every
    ``block`` points, so the statistic is piecewise constant and the cost stays linear; it is
    causal because block boundaries depend on the index, never on the values ahead.
    """
    n = len(x)
    out = np.full(n, np.nan)
    top = np.empty(0)
    seen = 0
    for start in range(0, n, block):
        if seen >= max(min_points, rank) and top.size >= rank:
            out[start : start + block] = top[-rank]
        chunk = x[start : start + block]
        chunk = chunk[np.isfinite(chunk)]
        seen += chunk.size
        # Keep only the `rank` largest values: enough to answer the query, cheap to merge.
        top = np.sort(np.concatenate([top, chunk]))[-rank:]
    return out


def seasonal_baseline(x: FloatArray, season: int, cycles: int) -> FloatArray:
    """Median of the same phase over the previous ``cycles`` seasons (NaN when none exist)."""
    lagged = np.vstack([shifted(x, k * season) for k in range(1, cycles + 1)])
    out = np.full(len(x), np.nan)
    available = np.isfinite(lagged).any(axis=0)
    out[available] = np.nanmedian(lagged[:, available], axis=0)
    return out


def tail_surprise(x: FloatArray, block: int, min_points: int, tail: int) -> FloatArray:
    """``-log10 P(X >= x[t])`` under an exponential tail fitted to the earlier values of ``x``.

    The ``tail + 1`` largest values seen before the current block give a threshold ``u`` (the
    smallest of them) and a mean excess ``sigma`` over it; a value ``v > u`` then has
    ``P = (tail / seen) * exp(-(v - u) / sigma)`` (peaks over threshold with a zero shape, as
    in SPOT). Unlike a plain ratio to the record, this knows how much history backs the
    estimate: the same excess is less surprising after 600 points than after 20 000, which
    is what keeps a young series from alerting on its first unusual day. Values at or below
    ``u`` score 0. Causal and piecewise like :func:`history_top` (refreshed every ``block``).
    """
    n = len(x)
    starts = np.arange(0, n, block)
    threshold = np.full(len(starts), np.nan)  # u, per block, from the blocks before it
    sigma = np.full(len(starts), np.nan)
    seen = np.zeros(len(starts))
    if n == 0:
        return np.zeros(0)
    finite = np.isfinite(x)
    block_max = np.fmax.reduceat(np.where(finite, x, -np.inf), starts)
    block_count = np.add.reduceat(finite.astype(np.int64), starts)
    top = np.empty(0)
    count = 0
    for b, begin in enumerate(starts.tolist()):
        if count >= min_points and top.size > tail:
            threshold[b], sigma[b], seen[b] = top[0], float(np.mean(top[1:] - top[0])), count
        count += int(block_count[b])
        # Most blocks hold nothing above the current tail: skip the merge (this is the cost).
        if top.size <= tail or block_max[b] > top[0]:
            chunk = x[begin : begin + block]
            top = np.sort(np.concatenate([top, chunk[np.isfinite(chunk)]]))[-(tail + 1) :]
    return _exceedance_surprise(
        x,
        np.repeat(threshold, block)[:n],
        np.repeat(sigma, block)[:n],
        np.repeat(seen, block)[:n],
        tail,
    )


# A flat history makes any excess infinitely unlikely; this caps the score (p = 1e-50).
MAX_SURPRISE = 50.0


def _exceedance_surprise(
    x: FloatArray, threshold: FloatArray, sigma: FloatArray, seen: FloatArray, tail: int
) -> FloatArray:
    """``-log10`` of the exponential-tail exceedance probability (0 where not ready/below u)."""
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        excess = x - threshold
        surprise = np.log10(seen / tail) + excess / (sigma * np.log(10))
    surprise = np.where(sigma > 0, surprise, MAX_SURPRISE)
    above = np.nan_to_num(excess, nan=-1.0) > 0
    return np.where(above, np.clip(np.nan_to_num(surprise, nan=0.0), 0.0, MAX_SURPRISE), 0.0)
