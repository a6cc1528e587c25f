"""End-to-end runs of ``evaluate`` on tiny generated corpora."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from intuitivus_flow.predictive.cli import app
from intuitivus_flow.predictive.corpus import open_corpus, read_scores
from intuitivus_flow.predictive.detectors import get_detector
from intuitivus_flow.predictive.evaluation import evaluate_corpus

from .synthetic import POINTS_PER_DAY, seasonal_series, write_corpus

runner = CliRunner()
ANOMALY_AT = 5 * POINTS_PER_DAY + 50


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    spiky = seasonal_series(days=6, seed=1)
    spiky[ANOMALY_AT] += 25
    shifted = seasonal_series(days=6, seed=2)
    shifted[ANOMALY_AT:] -= 12
    return write_corpus(
        tmp_path / "corpus",
        {
            "synthetic/spike.csv": spiky,
            "synthetic/shift.csv": shifted,
            "clean/quiet.csv": seasonal_series(days=6, seed=3),
        },
        {
            "synthetic/spike.csv": [(ANOMALY_AT - 20, ANOMALY_AT + 20)],
            "synthetic/shift.csv": [(ANOMALY_AT - 20, ANOMALY_AT + 20)],
        },
    )


def test_evaluate_writes_one_row_per_input_row_and_reports(corpus: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = runner.invoke(
        app, ["evaluate", str(corpus), "--detector", "default", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    for key in ("synthetic/spike.csv", "synthetic/shift.csv", "clean/quiet.csv"):
        with (out / key).open() as handle:
            rows = list(csv.DictReader(handle))
        with (corpus / "data" / key).open() as handle:
            source = list(csv.DictReader(handle))
        assert list(rows[0]) == ["timestamp", "value", "anomaly_score"]
        assert [r["timestamp"] for r in rows] == [r["timestamp"] for r in source]
        assert all(0.0 <= float(r["anomaly_score"]) <= 1.0 for r in rows)
    for label in ("synthetic", "clean", "overall"):
        assert label in result.output
    # Two planted anomalies, two alerts, both inside their windows: P = R = F1 = 1.
    overall = next(line for line in result.output.splitlines() if "overall" in line)
    assert overall.count("1.000") == 3


def test_metrics_recomputed_from_written_files_agree(corpus: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    report = evaluate_corpus(corpus, get_detector("default"), out)
    assert report.overall().counts.alerts == 2
    # Two one-row alerts out of the rows scored after probation (3 files x 6 days).
    overall = report.overall()
    assert overall.flagged_rows == 2
    assert overall.scored_rows == 3 * (6 * POINTS_PER_DAY - int(0.15 * 6 * POINTS_PER_DAY))
    for series in open_corpus(corpus):
        written = read_scores(out / series.key)
        np.testing.assert_array_equal(written, np.round(written, 6))
        assert len(written) == len(series)


def test_missing_dataset_is_one_readable_line(tmp_path: Path) -> None:
    result = runner.invoke(app, ["evaluate", str(tmp_path / "nope"), "--out", str(tmp_path / "o")])
    assert result.exit_code == 2
    assert "dataset directory not found" in result.output
    assert "Traceback" not in result.output


def test_unknown_detector(corpus: Path, tmp_path: Path) -> None:
    result = runner.invoke(
        app, ["evaluate", str(corpus), "-d", "magic", "--out", str(tmp_path / "o")]
    )
    assert result.exit_code == 2
    assert "unknown detector 'magic'" in result.output


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("time,val\n2024-01-01 00:00:00,1\n", "missing column"),
        ("timestamp,value\n2024-01-01 00:00:00,abc\n", "not a number"),
        ("timestamp,value\nyesterday,1\n", "unreadable timestamp"),
        ("timestamp,value\n", "no data rows"),
    ],
)
def test_bad_csv(corpus: Path, tmp_path: Path, content: str, message: str) -> None:
    (corpus / "data" / "clean" / "quiet.csv").write_text(content)
    result = runner.invoke(app, ["evaluate", str(corpus), "--out", str(tmp_path / "o")])
    assert result.exit_code == 2
    assert message in result.output
    assert "Traceback" not in result.output


def test_bad_windows_file(corpus: Path, tmp_path: Path) -> None:
    (corpus / "windows.json").write_text(json.dumps({"clean/quiet.csv": "oops"}))
    result = runner.invoke(app, ["evaluate", str(corpus), "--out", str(tmp_path / "o")])
    assert result.exit_code == 2
    assert "list of [start, end] pairs" in result.output
