"""Default detector vs the plan's Prophet rule on a NAB-layout corpus, side by side.

    python benchmarks/predictive_nab.py [--dataset PATH] [--skip-prophet] [--extra NAME ...]

Writes result files under --out (default: a temporary directory), prints precision, recall,
F1, seconds per series and per 10k points for each detector, the F1 and speed ratios against
Prophet, and re-scores the written files with the shared reference tool
(/work/shared/tools/anomaly_eval.py, when present) to show both implementations agree.
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path

from intuitivus_flow.predictive.detectors import get_detector
from intuitivus_flow.predictive.evaluation import EvaluationReport, evaluate_corpus

DEFAULT_DATASET = Path("/work/shared/datasets/nab-dev")
REFERENCE_TOOL = Path("/work/shared/tools/anomaly_eval.py")


def main() -> int:
    args = parse_args()
    out_root = Path(args.out or tempfile.mkdtemp(prefix="predictive-nab-"))
    names = ["default", *args.extra] + ([] if args.skip_prophet else ["prophet"])
    reports: dict[str, EvaluationReport] = {}
    for name in names:
        print(f"running {name} ...", flush=True)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # prophet/pandas deprecation chatter
            reports[name] = evaluate_corpus(args.dataset, get_detector(name), out_root / name)
    print()
    print_table(reports)
    print_ratios(reports)
    print()
    cross_check(args.dataset, out_root, reports)
    print(f"\nresult files: {out_root}")
    return 0


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", type=Path, default=DEFAULT_DATASET)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--skip-prophet", action="store_true")
    parser.add_argument(
        "--extra", nargs="*", default=[], help="other registered detectors to include"
    )
    return parser.parse_args()


def print_table(reports: dict[str, EvaluationReport]) -> None:
    columns = ["alerts", "TP", "win", "found", "P", "R", "F1", "flag %", "s/series", "s/10k pts"]
    header = f"{'detector':14s} " + " ".join(f"{c:>9s}" for c in columns)
    print(header)
    print("-" * len(header))
    for name, report in reports.items():
        row = report.overall()
        c = row.counts
        print(
            f"{name:14s} {c.alerts:9d} {c.tp_alerts:9d} {c.windows:9d} {c.found:9d} "
            f"{c.precision:9.3f} {c.recall:9.3f} {c.f1:9.3f} {100 * row.flagged_share:9.3f} "
            f"{row.seconds_per_series:9.4f} {row.seconds_per_10k_points:9.4f}"
        )


def print_ratios(reports: dict[str, EvaluationReport]) -> None:
    if "prophet" not in reports:
        return
    base = reports["prophet"].overall()
    for name, report in reports.items():
        if name == "prophet":
            continue
        row = report.overall()
        f1_ratio = row.counts.f1 / base.counts.f1 if base.counts.f1 else math.nan
        speed = base.seconds_per_series / row.seconds_per_series if row.seconds else math.inf
        print(
            f"{name} vs prophet: F1 ratio {f1_ratio:.2f}x (target >= 2), "
            f"speed ratio {speed:.0f}x per series (target >= 50)"
        )


def cross_check(dataset: Path, out_root: Path, reports: dict[str, EvaluationReport]) -> None:
    if not REFERENCE_TOOL.is_file():
        print(f"reference tool {REFERENCE_TOOL} not found: cross-check skipped")
        return
    for name, report in reports.items():
        completed = subprocess.run(
            [sys.executable, str(REFERENCE_TOOL), str(dataset), str(out_root / name), "--json"],
            capture_output=True,
            text=True,
            check=True,
        )
        reference = next(
            r for r in json.loads(completed.stdout)["categories"] if r["name"] == "overall"
        )
        ours = report.overall().counts
        mine = {
            "alerts": ours.alerts,
            "tp_alerts": ours.tp_alerts,
            "windows": ours.windows,
            "found": ours.found,
        }
        theirs = {k: reference[k] for k in mine}
        verdict = "agree" if mine == theirs else "DISAGREE"
        print(f"cross-check {name}: harness {mine} | anomaly_eval.py {theirs} -> {verdict}")


if __name__ == "__main__":
    raise SystemExit(main())
