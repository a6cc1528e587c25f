"""Reading and writing corpora in the NAB layout.

A corpus is ``DATASET/data/<category>/<name>.csv`` (columns ``timestamp,value``) plus
``DATASET/windows.json`` mapping ``"<category>/<name>.csv"`` to a list of ``[start, end]``
timestamp pairs, the labelled anomaly windows. Results go to ``OUT/<category>/<name>.csv``
with columns ``timestamp,value,anomaly_score``, one row per input row.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
TimeArray = npt.NDArray[np.datetime64]


class CorpusError(ValueError):
    """The corpus (or a result file) is missing or malformed; the message is user-facing."""


def parse_timestamp(text: str) -> datetime:
    """Parse a corpus timestamp (``YYYY-MM-DD HH:MM:SS[.ffffff]`` or the ISO ``T`` form)."""
    try:
        return datetime.fromisoformat(text.strip())
    except ValueError as exc:
        raise CorpusError(f"unreadable timestamp: {text!r}") from exc


def to_datetime64(stamps: Sequence[datetime]) -> TimeArray:
    """Microsecond-resolution numpy timestamps, the representation the detectors work on."""
    return np.array(stamps, dtype="datetime64[us]")


@dataclass(frozen=True)
class Series:
    """One metric stream of the corpus."""

    key: str  # "<category>/<name>.csv", the key used by windows.json
    raw_timestamps: tuple[str, ...]  # written back verbatim so results line up with the input
    times: TimeArray
    values: FloatArray
    windows: tuple[tuple[datetime, datetime], ...] = field(default=())

    @property
    def category(self) -> str:
        return self.key.split("/", 1)[0]

    def __len__(self) -> int:
        return len(self.values)


@dataclass(frozen=True)
class Corpus:
    root: Path
    windows: dict[str, list[tuple[datetime, datetime]]]

    @property
    def keys(self) -> list[str]:
        return sorted(self.windows)

    def load(self, key: str) -> Series:
        return read_series(self.root / "data" / key, key, self.windows[key])

    def __iter__(self) -> Iterator[Series]:
        for key in self.keys:
            yield self.load(key)

    def total_points(self) -> int:
        """Row count of every listed file, cheap enough to size a progress bar."""
        total = 0
        for key in self.keys:
            with (self.root / "data" / key).open("rb") as handle:
                total += max(sum(1 for _ in handle) - 1, 0)
        return total


def open_corpus(root: Path | str) -> Corpus:
    """Validate the layout and read the labelled windows (the data files are read lazily)."""
    root = Path(root)
    if not root.is_dir():
        raise CorpusError(f"dataset directory not found: {root}")
    windows_path = root / "windows.json"
    if not windows_path.is_file():
        raise CorpusError(f"no windows.json in {root}")
    try:
        raw = json.loads(windows_path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise CorpusError(f"{windows_path}: not valid JSON ({exc})") from exc
    if not isinstance(raw, dict):
        raise CorpusError(f"{windows_path}: expected an object mapping file keys to windows")
    windows: dict[str, list[tuple[datetime, datetime]]] = {}
    for key, pairs in raw.items():
        windows[key] = _parse_windows(windows_path, key, pairs)
        if not (root / "data" / key).is_file():
            raise CorpusError(f"{windows_path} lists {key} but {root / 'data' / key} is missing")
    if not windows:
        raise CorpusError(f"{windows_path} lists no files")
    return Corpus(root=root, windows=windows)


def _parse_windows(path: Path, key: str, pairs: object) -> list[tuple[datetime, datetime]]:
    if not isinstance(pairs, list) or not all(
        isinstance(p, list | tuple) and len(p) == 2 for p in pairs
    ):
        raise CorpusError(f"{path}: windows of {key} must be a list of [start, end] pairs")
    return [(parse_timestamp(str(a)), parse_timestamp(str(b))) for a, b in pairs]


def read_series(path: Path, key: str, windows: Sequence[tuple[datetime, datetime]] = ()) -> Series:
    """Read a ``timestamp,value`` CSV; non-finite or empty values are an error."""
    rows = _read_rows(path, ("timestamp", "value"))
    stamps: list[str] = []
    values: list[float] = []
    for line, row in enumerate(rows, start=2):
        stamps.append(row["timestamp"])
        try:
            value = float(row["value"])
        except (TypeError, ValueError) as exc:
            raise CorpusError(f"{path}:{line}: value {row['value']!r} is not a number") from exc
        if not math.isfinite(value):
            raise CorpusError(f"{path}:{line}: value {row['value']!r} is not finite")
        values.append(value)
    parsed = [parse_timestamp(s) for s in stamps]
    return Series(
        key=key,
        raw_timestamps=tuple(stamps),
        times=to_datetime64(parsed),
        values=np.asarray(values, dtype=np.float64),
        windows=tuple(windows),
    )


def _read_rows(path: Path, required: Sequence[str]) -> list[dict[str, str]]:
    try:
        with path.open(newline="") as handle:
            reader = csv.DictReader(handle)
            missing = [c for c in required if c not in (reader.fieldnames or [])]
            if missing:
                raise CorpusError(f"{path}: missing column(s) {', '.join(missing)}")
            rows = list(reader)
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise CorpusError(f"{path}: cannot read CSV ({exc})") from exc
    if not rows:
        raise CorpusError(f"{path}: no data rows")
    return rows


def write_scores(out_root: Path, series: Series, scores: FloatArray) -> Path:
    """Write ``OUT/<key>`` with ``timestamp,value,anomaly_score``, one row per input row."""
    if len(scores) != len(series):
        raise ValueError(f"{series.key}: {len(scores)} scores for {len(series)} rows")
    target = out_root / series.key
    target.parent.mkdir(parents=True, exist_ok=True)
    with target.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["timestamp", "value", "anomaly_score"])
        for stamp, value, score in zip(
            series.raw_timestamps, series.values.tolist(), scores.tolist(), strict=True
        ):
            writer.writerow([stamp, repr(value), f"{score:.6f}"])
    return target


def read_scores(path: Path) -> FloatArray:
    """The ``anomaly_score`` column of a result file."""
    rows = _read_rows(path, ("anomaly_score",))
    try:
        return np.asarray([float(r["anomaly_score"]) for r in rows], dtype=np.float64)
    except ValueError as exc:
        raise CorpusError(f"{path}: anomaly_score is not numeric ({exc})") from exc
