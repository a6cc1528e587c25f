"""Leave-one-category-out cross-validation of the default detector's global parameters.

    python benchmarks/predictive_cv.py [--dataset PATH] [--objective f1|precision]
                                       [--nab-dir /tmp/nab --nab-python /tmp/nabvenv/bin/python]

Every global parameter the default detector uses (the alert bar, its calibrated ceiling, the
quiet period after an alert, the tail size) is chosen on a grid. In-sample: the grid point
with the best objective on the whole corpus. Cross-validated: for each category, the grid
point is chosen on the OTHER categories and the held-out category is scored with it; the
held-out counts are pooled (nothing is chosen per file or per category). Both are printed
beside the shipped default, plus the seconds per series against the Prophet rule.

Objectives: ``f1`` (default) maximises F1; ``precision`` maximises recall among the grid
points with precision >= 0.85 (F1 when none reaches it).

NAB's official scorer (optional, a second metric): check NAB out somewhere (e.g. with
``git clone https://github.com/numenta/NAB /tmp/nab``; it is MIT-licensed and never
committed here), make a venv with ``pandas<3`` and ``simplejson`` for it, and pass
``--nab-dir`` / ``--nab-python``. The script writes the shipped default's scores in NAB's
results layout under the NAB checkout, runs ``run.py --optimize --score --normalize`` on the
nab-dev files only (its own windows file) and prints the standard, reward_low_FP and
reward_low_FN scores.
"""

from __future__ import annotations

import argparse
import csv
import itertools
import json
import math
import shutil
import subprocess
import time
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np

from intuitivus_flow.predictive.corpus import Series, open_corpus
from intuitivus_flow.predictive.detectors.base import FloatArray, median_step
from intuitivus_flow.predictive.detectors.robust import HOUR, RobustResidualDetector
from intuitivus_flow.predictive.evaluation import as_reported_scores
from intuitivus_flow.predictive.scoring import Counts, score_file, sum_counts

DEFAULT_DATASET = Path("/work/shared/datasets/nab-dev")
# Prophet is not installed in the development venv; this is the figure recorded by
# benchmarks/predictive_nab.py on nab-dev (docs/predictive.md, "Measurements"), 10 causal refits.
PROPHET_SECONDS_PER_SERIES = 5.7839
PRECISION_TARGET = 0.85

# The grid of global parameters (the view windows are fixed durations, not swept).
TAIL_POINTS = (10, 20)
# Sample-size floors of the windows (point, level smoothing, level baseline, tail refresh):
# only series sampled more coarsely than every 5 minutes reach them.
FLOORS = {"large": (48, 12, 288, 10), "small": (12, 3, 24, 1)}
BARS = (5.0, 5.5, 6.0, 6.5, 7.0)
CEILING_STEPS = (0.0, 1.0, 2.0, 3.0)  # 0: no per-series calibration
QUIET = tuple(np.timedelta64(h, "h") for h in (12, 24, 50, 72, 96))

Setting = tuple[str, int, float, float, np.timedelta64]


def main() -> int:
    args = parse_args()
    corpus = open_corpus(args.dataset)
    series = list(corpus)
    print(
        f"{len(series)} files, {sum(len(s) for s in series)} points, categories: "
        f"{', '.join(sorted({s.category for s in series}))}",
        flush=True,
    )
    surprises = cache_surprises(series)
    grid = list(itertools.product(FLOORS, TAIL_POINTS, BARS, CEILING_STEPS, QUIET))
    print(f"scoring {len(grid)} grid points ...", flush=True)
    table = {setting: counts_per_file(series, surprises, setting) for setting in grid}
    choose = OBJECTIVES[args.objective]
    shipped = setting_of(RobustResidualDetector())

    print()
    print(
        f"{'protocol':46s} {'alerts':>6s} {'TP':>4s} {'win':>4s} {'found':>5s} "
        f"{'P':>6s} {'R':>6s} {'F1':>6s}"
    )
    in_sample = choose(grid, lambda s: sum_counts(table[s].values()))
    row("shipped default " + describe(shipped), sum_counts(table[shipped].values()))
    row("in-sample best " + describe(in_sample), sum_counts(table[in_sample].values()))
    pooled: list[Counts] = []
    for category in sorted({s.category for s in series}):

        def train(setting: Setting, held: str = category) -> Counts:
            return sum_counts(c for k, c in table[setting].items() if not k.startswith(held + "/"))

        chosen = choose(grid, train)
        held = sum_counts(c for k, c in table[chosen].items() if k.startswith(category + "/"))
        shipped_held = sum_counts(
            c for k, c in table[shipped].items() if k.startswith(category + "/")
        )
        pooled.append(held)
        row(f"  CV {category[:22]} {describe(chosen)}", held)
        row("     same, shipped default", shipped_held)
    row(f"LOCO CV pooled ({args.objective})", sum_counts(pooled))
    print()
    speed(series)
    if args.nab_dir is not None:
        print()
        nab_scores(args, series)
    return 0


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", type=Path, default=DEFAULT_DATASET)
    parser.add_argument("--objective", choices=sorted(OBJECTIVES), default="f1")
    parser.add_argument("--nab-dir", type=Path, default=None, help="a NAB checkout")
    parser.add_argument("--nab-python", type=Path, default=None, help="python of NAB's venv")
    parser.add_argument(
        "--nab-references",
        nargs="*",
        default=["numenta", "ARTime", "windowedGaussian"],
        help="detectors whose recorded NAB results are scored on the same files",
    )
    return parser.parse_args()


def detector_for(setting: Setting) -> RobustResidualDetector:
    floors, tail, bar, ceiling_step, quiet = setting
    point, level, baseline, block = FLOORS[floors]
    return RobustResidualDetector(
        point_window_min=point,
        level_window_min=level,
        level_baseline_min=baseline,
        history_block_min=block,
        tail_points=tail,
        bar=bar,
        bar_ceiling=bar + ceiling_step,
        quiet=quiet,
    )


def setting_of(detector: RobustResidualDetector) -> Setting:
    floors = (
        detector.point_window_min,
        detector.level_window_min,
        detector.level_baseline_min,
        detector.history_block_min,
    )
    return (
        next(name for name, value in FLOORS.items() if value == floors),
        detector.tail_points,
        detector.bar,
        detector.bar_ceiling - detector.bar,
        detector.quiet.astype("timedelta64[h]"),
    )


def describe(setting: Setting) -> str:
    floors, tail, bar, ceiling_step, quiet = setting
    return (
        f"({floors}, tail {tail}, bar {bar:g}-{bar + ceiling_step:g}, quiet {int(quiet / HOUR)} h)"
    )


def cache_surprises(series: list[Series]) -> dict[tuple[str, str, int], FloatArray]:
    """The surprise of every file for each tail size: the expensive part, computed once."""
    out: dict[tuple[str, str, int], FloatArray] = {}
    for floors, tail in itertools.product(FLOORS, TAIL_POINTS):
        detector = detector_for((floors, tail, 6.0, 0.0, QUIET[0]))
        for s in series:
            out[(floors, s.key, tail)] = detector.surprise(s.times, s.values)
        print(f"  surprises cached for {floors} floors, tail {tail}", flush=True)
    return out


def counts_per_file(
    series: list[Series], surprises: dict[tuple[str, str, int], FloatArray], setting: Setting
) -> dict[str, Counts]:
    detector = detector_for(setting)
    out = {}
    for s in series:
        policy = detector.policy(median_step(s.times))
        scores = as_reported_scores(policy.apply(surprises[(setting[0], s.key, setting[1])]))
        out[s.key] = score_file(s.times, scores, s.windows)
    return out


def best_f1(grid: Iterable[Setting], total: Callable[[Setting], Counts]) -> Setting:
    # Ties go to the first grid point (the grid is ordered from the simplest setting).
    return max(grid, key=lambda s: nan_to(total(s).f1))


def best_recall_at_precision(
    grid: Iterable[Setting], total: Callable[[Setting], Counts]
) -> Setting:
    grid = list(grid)
    precise = [s for s in grid if nan_to(total(s).precision) >= PRECISION_TARGET]
    if not precise:
        return best_f1(grid, total)
    return max(precise, key=lambda s: (total(s).found, nan_to(total(s).precision)))


OBJECTIVES = {"f1": best_f1, "precision": best_recall_at_precision}


def nan_to(value: float, default: float = -1.0) -> float:
    return default if math.isnan(value) else value


def row(label: str, c: Counts) -> None:
    print(
        f"{label:46s} {c.alerts:6d} {c.tp_alerts:4d} {c.windows:4d} {c.found:5d} "
        f"{c.precision:6.3f} {c.recall:6.3f} {c.f1:6.3f}"
    )


def speed(series: list[Series]) -> None:
    detector = RobustResidualDetector()
    started = time.process_time()
    for s in series:
        detector.score(s.times, s.values)
    per_series = (time.process_time() - started) / len(series)
    print(
        f"speed: default {per_series:.4f} s CPU per series; Prophet rule "
        f"{PROPHET_SECONDS_PER_SERIES:.2f} s per series (recorded, prophet not installed "
        f"here) -> {PROPHET_SECONDS_PER_SERIES / per_series:.0f}x faster (target >= 50x)"
    )


def nab_scores(args: argparse.Namespace, series: list[Series]) -> None:
    """Run NAB's own scorer on the shipped default's output for the nab-dev files."""
    nab, python = args.nab_dir, args.nab_python
    if not (nab / "run.py").is_file() or python is None:
        print(f"NAB scorer: no run.py in {nab} or no --nab-python: skipped")
        return
    name = "intuitivusDefault"
    # A results directory of our own: NAB scores every file it finds there, and its shipped
    # results cover the 58-file corpus.
    results_root = nab / "results_intuitivus"
    shutil.rmtree(results_root, ignore_errors=True)
    results = results_root / name
    detector = RobustResidualDetector()
    windows = json.loads((args.dataset / "windows.json").read_text())
    for s in series:
        category, file_name = s.key.split("/", 1)
        target = results / category / f"{name}_{file_name}"
        target.parent.mkdir(parents=True, exist_ok=True)
        scores = as_reported_scores(detector.score(s.times, s.values))
        with target.open("w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["timestamp", "value", "anomaly_score", "label"])
            for stamp, value, score in zip(
                s.raw_timestamps, s.values.tolist(), scores.tolist(), strict=True
            ):
                writer.writerow([stamp, repr(value), f"{score:.6f}", 0])
    # NAB's recorded results of published detectors, restricted to the same files: the
    # references on the same scorer and the same subset.
    references = [r for r in args.nab_references if (nab / "results" / r).is_dir()]
    for reference in references:
        for s in series:
            category, file_name = s.key.split("/", 1)
            source = nab / "results" / reference / category / f"{reference}_{file_name}"
            target = results_root / reference / category / source.name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, target)
    dev_windows = nab / "labels" / "intuitivus_dev_windows.json"
    dev_windows.write_text(json.dumps(windows, indent=1))
    data = str((args.dataset / "data").resolve())
    command = [
        str(python),
        "run.py",
        "-d",
        ",".join([name, "null", *references]),
        "--optimize",
        "--score",
        "--normalize",
        "--skipConfirmation",
        "--windowsFile",
        str(dev_windows),
        "--dataDir",
        data,
        "--resultsDir",
        str(results_root),
    ]
    # The null detector is NAB's normalisation baseline: it is run on the same files.
    detect = [
        str(python),
        "run.py",
        "-d",
        "null",
        "--detect",
        "--skipConfirmation",
        "--windowsFile",
        str(dev_windows),
        "--dataDir",
        data,
        "--resultsDir",
        str(results_root),
    ]
    for step in (detect, command):
        completed = subprocess.run(step, cwd=nab, capture_output=True, text=True, check=False)
        if completed.returncode != 0:
            print("NAB scorer failed:", completed.stderr.strip().splitlines()[-1:])
            return
    final = json.loads((results_root / "final_results.json").read_text())
    for reference in references:
        print(
            f"NAB scorer on nab-dev, reference {reference}: "
            + ", ".join(f"{p} {v:.1f}" for p, v in sorted(final.get(reference, {}).items()))
        )
    print(
        f"NAB scorer on nab-dev ({name}): "
        + ", ".join(f"{profile} {value:.1f}" for profile, value in final.get(name, {}).items())
    )


if __name__ == "__main__":
    raise SystemExit(main())
