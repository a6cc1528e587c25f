"""Small synthetic metric streams and corpora for the tests (nothing read from disk)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import numpy.typing as npt

STEP = np.timedelta64(5, "m")
START = np.datetime64("2024-03-04T00:00:00", "us")
POINTS_PER_DAY = 288


def timeline(n: int) -> npt.NDArray[np.datetime64]:
    return START + np.arange(n) * STEP


def seasonal_series(days: int = 8, seed: int = 7, noise: float = 1.0) -> npt.NDArray[np.float64]:
    """A daily cycle (amplitude 20) on a level of 50, with Gaussian noise."""
    n = days * POINTS_PER_DAY
    phase = 2 * np.pi * np.arange(n) / POINTS_PER_DAY
    rng = np.random.default_rng(seed)
    return 50 + 20 * np.sin(phase) + rng.normal(0, noise, n)


def write_corpus(
    root: Path,
    series: dict[str, npt.NDArray[np.float64]],
    windows: dict[str, list[tuple[int, int]]],
) -> Path:
    """Write a NAB-layout corpus; ``windows`` are given as (first row, last row) pairs."""
    labels: dict[str, list[list[str]]] = {}
    for key, values in series.items():
        path = root / "data" / key
        path.parent.mkdir(parents=True, exist_ok=True)
        stamps = [fmt(t) for t in timeline(len(values))]
        lines = ["timestamp,value"] + [
            f"{s},{v!r}" for s, v in zip(stamps, values.tolist(), strict=True)
        ]
        path.write_text("\n".join(lines) + "\n")
        labels[key] = [[stamps[a], stamps[b]] for a, b in windows.get(key, [])]
    (root / "windows.json").write_text(json.dumps(labels))
    return root


def fmt(stamp: np.datetime64) -> str:
    return str(stamp.astype("datetime64[s]")).replace("T", " ")
