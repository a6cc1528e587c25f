"""Run a detector causally over a corpus, write the result files and score them."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from intuitivus_flow.predictive.corpus import FloatArray, Series, open_corpus, write_scores
from intuitivus_flow.predictive.detectors import Detector
from intuitivus_flow.predictive.scoring import (
    DEFAULT_MERGE_GAP,
    DEFAULT_THRESHOLD,
    Counts,
    probation_length,
    score_file,
    sum_counts,
)

# Called after each file with the number of rows just processed (drives a progress bar).
ProgressCallback = Callable[[Series], None]


@dataclass(frozen=True)
class FileResult:
    key: str
    counts: Counts
    points: int
    seconds: float
    # Rows at or above the threshold after probation, and rows scored: the flagged share shows
    # a detector is not winning alerts by flagging long runs that merge into one alert.
    flagged_rows: int = 0
    scored_rows: int = 0

    @property
    def category(self) -> str:
        return self.key.split("/", 1)[0]


@dataclass(frozen=True)
class SummaryRow:
    name: str
    counts: Counts
    files: int
    points: int
    seconds: float
    flagged_rows: int = 0
    scored_rows: int = 0

    @property
    def flagged_share(self) -> float:
        return self.flagged_rows / self.scored_rows if self.scored_rows else float("nan")

    @property
    def seconds_per_10k_points(self) -> float:
        return 10_000 * self.seconds / self.points if self.points else float("nan")

    @property
    def seconds_per_series(self) -> float:
        return self.seconds / self.files if self.files else float("nan")


@dataclass(frozen=True)
class EvaluationReport:
    detector: str
    files: list[FileResult] = field(default_factory=list)

    def categories(self) -> list[SummaryRow]:
        names = sorted({f.category for f in self.files})
        return [
            self._summarise(name, [f for f in self.files if f.category == name]) for name in names
        ]

    def overall(self) -> SummaryRow:
        return self._summarise("overall", self.files)

    @staticmethod
    def _summarise(name: str, files: list[FileResult]) -> SummaryRow:
        return SummaryRow(
            name=name,
            counts=sum_counts(f.counts for f in files),
            files=len(files),
            points=sum(f.points for f in files),
            seconds=sum(f.seconds for f in files),
            flagged_rows=sum(f.flagged_rows for f in files),
            scored_rows=sum(f.scored_rows for f in files),
        )


def as_reported_scores(raw: FloatArray) -> FloatArray:
    """Clip to [0, 1] and round like the written CSV, so in-memory and on-disk metrics agree."""
    clipped = np.clip(np.nan_to_num(np.asarray(raw, dtype=np.float64), nan=0.0), 0.0, 1.0)
    return np.round(clipped, 6).astype(np.float64)


def evaluate_corpus(
    dataset: Path | str,
    detector: Detector,
    out: Path | str | None = None,
    *,
    threshold: float = DEFAULT_THRESHOLD,
    merge_gap: int = DEFAULT_MERGE_GAP,
    on_file_done: ProgressCallback | None = None,
) -> EvaluationReport:
    """Score every file of a NAB-layout corpus; time only the detector, not the I/O."""
    corpus = open_corpus(dataset)
    report = EvaluationReport(detector=detector.name)
    for series in corpus:
        started = time.perf_counter()
        scores = as_reported_scores(detector.score(series.times, series.values))
        elapsed = time.perf_counter() - started
        if out is not None:
            write_scores(Path(out), series, scores)
        counts = score_file(series.times, scores, series.windows, threshold, merge_gap)
        probation = probation_length(len(series))
        flagged = int(np.count_nonzero(scores[probation:] >= threshold))
        report.files.append(
            FileResult(
                series.key,
                counts,
                len(series),
                elapsed,
                flagged_rows=flagged,
                scored_rows=max(len(series) - probation, 0),
            )
        )
        if on_file_done is not None:
            on_file_done(series)
    return report
