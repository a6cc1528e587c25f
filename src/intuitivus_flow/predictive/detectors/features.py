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
