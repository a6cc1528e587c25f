"""Load traces: requests per second over time, read from CSV (`time,rps`) or JSON.

JSON is either a list of `{"time": s, "rps": r}` objects or `{"points": [...]}`. Times are
seconds from the start of the trace; between two points the load changes linearly (a k6
`stages` ramp is exactly that), so a sudden burst is two points one second apart.
"""

from __future__ import annotations

import bisect
import csv
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any


class TraceError(ValueError):
    """The trace file cannot be used (unreadable, no points, times not increasing)."""


@dataclass(frozen=True, slots=True)
class LoadTrace:
    times: tuple[float, ...]
    rps: tuple[float, ...]

    def __post_init__(self) -> None:
        if len(self.times) < 2 or len(self.times) != len(self.rps):
            raise TraceError("a trace needs at least two (time, rps) points")
        if any(b <= a for a, b in zip(self.times, self.times[1:], strict=False)):
            raise TraceError("trace times must increase strictly")
        if any(r < 0 for r in self.rps):
            raise TraceError("requests per second cannot be negative")

    @property
    def duration(self) -> float:
        return self.times[-1] - self.times[0]

    def at(self, t: float) -> float:
        """Requests per second at `t` (held flat outside the trace)."""
        if t <= self.times[0]:
            return self.rps[0]
        if t >= self.times[-1]:
            return self.rps[-1]
        right = bisect.bisect_right(self.times, t)
        t0, t1 = self.times[right - 1], self.times[right]
        r0, r1 = self.rps[right - 1], self.rps[right]
        return r0 + (r1 - r0) * (t - t0) / (t1 - t0)

    def rising_stages(self) -> list[tuple[float, float, float]]:
        """(start, end, peak rps) of every segment where the load goes up."""
        stages = []
        for (t0, r0), (t1, r1) in zip(
            zip(self.times, self.rps, strict=True),
            zip(self.times[1:], self.rps[1:], strict=True),
            strict=False,
        ):
            if r1 > r0:
                stages.append((t0, t1, r1))
        return stages


def load_trace(path: Path) -> LoadTrace:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise TraceError(f"cannot read {path}: {exc.strerror}") from exc
    rows = _json_rows(text) if path.suffix.lower() == ".json" else _csv_rows(text)
    return _from_rows(rows)


def _json_rows(text: str) -> Sequence[Any]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise TraceError(f"invalid JSON: {exc.msg}") from exc
    if isinstance(data, dict):
        data = data.get("points")
    if not isinstance(data, list):
        raise TraceError("a JSON trace is a list of points or {'points': [...]}")
    return data


def _csv_rows(text: str) -> Sequence[Any]:
    lines = [line for line in text.splitlines() if line.strip() and not line.startswith("#")]
    return list(csv.DictReader(lines))


def _from_rows(rows: Sequence[Any]) -> LoadTrace:
    times, rps = [], []
    for number, row in enumerate(rows, start=1):
        try:
            times.append(float(row["time"]))
            rps.append(float(row["rps"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise TraceError(f"point {number} needs numeric 'time' and 'rps'") from exc
    return LoadTrace(tuple(times), tuple(rps))
