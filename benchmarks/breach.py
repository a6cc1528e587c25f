"""Breach forecasts: the old straight line vs the seasonal model, side by side (issue 16).

    python benchmarks/breach.py [--seeds 50] [--nab PATH] [--families trend,flat,nab]

Replays what the product does at every 5-minute step after the one-day cold start: the
trainer refits the seasonal model every 6 hours on the history so far (at most 14 days), the
evaluator asks "does the signal cross the threshold within 6 h?" at each step. The OLD method
is `predictive.forecast.forecast_breach` over the last 6 h (what the evaluator did before).

Families (threshold 90, upper):
* trend: 60 -> 95 over 2 days x daily swing {0, 2, 5} (peak to trough) x noise {0.5, 1}
  (standard deviation), random phase, 50 seeds each; the truth is the noise-free signal;
* flat: level {60, 80, 85} x swing {0, 2, 5} at noise 1 over 2 days (the second evaluated);
* nab: the NAB series (../shared/datasets/nab-dev) whose values later exceed the maximum of
  their first third (that maximum is the threshold); the truth is the observed series.

Columns: first alert's crossing error (predicted minus true crossing, hours: median and 90th
percentile of the absolute error), its lead time (true crossing minus first alert), the share
of series whose true crossing lies inside the predicted crossing band, the 80 % value band's
coverage of the observed values up to the horizon (from every 6th evaluation), and false
predictions: alert episodes (a run of consecutive predicting steps) whose crossing did not
come within the horizon, per week of evaluated data.
"""

from __future__ import annotations

import argparse
import csv
import math
import os
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

# One BLAS thread: the fits are small, and a thread pool spinning on a shared 2-core machine
# cost 40x the CPU in a measurement (docs/predictive.md).
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np

from intuitivus_flow.forecasting.trend import fit_trend
from intuitivus_flow.predictive.forecast import forecast_breach
from intuitivus_flow.predictive.seasonal import (
    DAY,
    FloatArray,
    SeasonalModel,
    SeasonalModelError,
    TimeArray,
)

STEP = 300.0
HORIZON = 6 * 3600.0
THRESHOLD = 90.0
RETRAIN = 6 * 3600.0
HISTORY = 14 * DAY
COLD_START = DAY
BAND_EVERY = 6  # value-band coverage from every 6th evaluation
DEFAULT_NAB = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "nab-dev"
WEEK_S = 7 * DAY
EVALUATED_BEFORE = 3 * DAY


@dataclass
class Series:
    name: str
    times: TimeArray
    observed: FloatArray
    truth: FloatArray  # what "crossed" is judged on


@dataclass
class Verdict:
    """One evaluation: predicted crossing (seconds after now) and band, or nothing."""

    predicted: float | None
    earliest: float | None = None
    latest: float | None = None
    band: tuple[FloatArray, FloatArray] | None = None  # lower, upper at the next steps


@dataclass
class Tally:
    errors: list[float] = field(default_factory=list)  # hours, signed
    relative: list[float] = field(default_factory=list)  # |error| / lead
    leads: list[float] = field(default_factory=list)
    in_band: int = 0
    alerted: int = 0
    missed: int = 0
    inside: int = 0
    compared: int = 0
    false_episodes: int = 0
    false_steps: int = 0
    evaluated_s: float = 0.0
    seconds: float = 0.0
    evaluations: int = 0


Method = Callable[[TimeArray, FloatArray, "Trainer"], Verdict]


@dataclass
class Trainer:
    """What the trainer persisted: the seasonal model of the last fit (every 6 h)."""

    model: SeasonalModel | None = None
    fitted_at: float = -math.inf

    def refresh(self, times: TimeArray, values: FloatArray, now: float) -> None:
        if now - self.fitted_at < RETRAIN:
            return
        seconds = _epoch(times)
        keep = seconds > now - HISTORY
        try:
            self.model = SeasonalModel.fit(times[keep], values[keep], max_horizon=HORIZON)
        except SeasonalModelError:
            self.model = None
        self.fitted_at = now


def _epoch(times: TimeArray) -> FloatArray:
    return np.asarray(times.astype("datetime64[us]").astype(np.int64) / 1e6, dtype=np.float64)


def old_method(times: TimeArray, values: FloatArray, _: Trainer) -> Verdict:
    window = max(HORIZON, 12 * STEP)
    seconds = _epoch(times)
    keep = seconds > seconds[-1] - window
    t, y = times[keep], values[keep]
    found = forecast_breach(t, y, THRESHOLD, np.timedelta64(int(HORIZON), "s"))
    ahead = STEP * np.arange(1, int(HORIZON // STEP) + 1)
    trend = fit_trend(t, y)
    band = None
    if trend is not None:
        at = t[-1] + (ahead * 1e6).astype("timedelta64[us]")
        _, lower, upper = trend.project(at)
        band = (lower, upper)
    if found is None:
        return Verdict(None, band=band)
    last = t[-1]
    return Verdict(
        (found.predicted_at - last) / np.timedelta64(1, "s"),
        (found.earliest - last) / np.timedelta64(1, "s"),
        None if found.latest is None else (found.latest - last) / np.timedelta64(1, "s"),
        band,
    )


def new_method(times: TimeArray, values: FloatArray, trainer: Trainer) -> Verdict:
    if trainer.model is None:
        return Verdict(None)
    crossing, path = trainer.model.crossing(times, values, THRESHOLD, HORIZON, step=STEP)
    steps = int(HORIZON // STEP)
    band = (path.lower[:steps], path.upper[:steps])
    if crossing is None:
        return Verdict(None, band=band)
    return Verdict(crossing.predicted, crossing.earliest, crossing.latest, band)


def replay(series: Series, method: Method, tally: Tally) -> None:
    seconds = _epoch(series.times)
    crossed = np.flatnonzero(series.truth >= THRESHOLD)
    true_cross = float(seconds[crossed[0]]) if crossed.size else math.inf
    # Long real series: only the EVALUATED_BEFORE before the crossing are replayed (cost).
    first = seconds[0] + COLD_START
    if math.isfinite(true_cross):
        first = max(first, true_cross - EVALUATED_BEFORE)
    start = int(np.searchsorted(seconds, first))
    trainer = Trainer()
    first_alert: tuple[float, Verdict] | None = None
    in_episode = False
    episode_false = False
    began = time.process_time()
    steps = int(HORIZON // STEP)
    for i in range(start, len(seconds)):
        now = float(seconds[i])
        if now >= true_cross:
            break
        trainer.refresh(series.times[: i + 1], series.observed[: i + 1], now)
        verdict = method(series.times[: i + 1], series.observed[: i + 1], trainer)
        tally.evaluations += 1
        tally.evaluated_s += STEP
        if verdict.band is not None and (i - start) % BAND_EVERY == 0:
            future = series.observed[i + 1 : i + 1 + steps]
            lower, upper = verdict.band[0][: len(future)], verdict.band[1][: len(future)]
            tally.inside += int(((future >= lower) & (future <= upper)).sum())
            tally.compared += len(future)
        alert = verdict.predicted is not None
        truly = true_cross - now <= HORIZON
        if alert and not truly:
            tally.false_steps += 1
            if not in_episode or not episode_false:
                tally.false_episodes += 1
            episode_false = True
        elif not alert:
            episode_false = False
        in_episode = alert
        if alert and first_alert is None:
            first_alert = (now, verdict)
    tally.seconds += time.process_time() - began
    if not math.isfinite(true_cross):
        return
    if first_alert is None:
        tally.missed += 1
        return
    now, verdict = first_alert
    assert verdict.predicted is not None
    lead = true_cross - now
    error = now + verdict.predicted - true_cross
    tally.alerted += 1
    tally.errors.append(error / 3600)
    tally.leads.append(lead / 3600)
    tally.relative.append(abs(error) / lead if lead > 0 else math.inf)
    earliest = now + (verdict.earliest if verdict.earliest is not None else verdict.predicted)
    latest = math.inf if verdict.latest is None else now + verdict.latest
    tally.in_band += int(earliest <= true_cross <= latest)


def _grid(days: float) -> TimeArray:
    count = int(days * DAY / STEP)
    start = np.datetime64("2026-11-02T00:00:00", "us")
    return start + (np.arange(count) * STEP * 1e6).astype("timedelta64[us]")


def _swing(times: TimeArray, swing: float, rng: np.random.Generator) -> FloatArray:
    phase = rng.uniform(0, 2 * np.pi)
    hours = (_epoch(times) % DAY) / 3600
    return np.asarray(swing / 2 * np.sin(2 * np.pi * hours / 24 + phase), dtype=np.float64)


def trend_family(swing: float, noise: float, seeds: int) -> Iterator[Series]:
    times = _grid(2.0)
    base = 60 + 35 * np.arange(len(times)) / len(times)
    for seed in range(seeds):
        rng = np.random.default_rng(seed)
        truth = base + _swing(times, swing, rng)
        yield Series(f"s{seed}", times, truth + rng.normal(0, noise, len(times)), truth)


def flat_family(level: float, swing: float, noise: float, seeds: int) -> Iterator[Series]:
    times = _grid(2.0)
    for seed in range(seeds):
        rng = np.random.default_rng(1000 + seed)
        truth = level + _swing(times, swing, rng)
        yield Series(f"s{seed}", times, truth + rng.normal(0, noise, len(times)), truth)


def nab_series(root: Path) -> Iterator[Series]:
    for path in sorted((root / "data").glob("*/*.csv")):
        with path.open() as handle:
            rows = list(csv.DictReader(handle))
        times = np.array([np.datetime64(r["timestamp"].replace(" ", "T"), "us") for r in rows])
        values = np.array([float(r["value"]) for r in rows])
        third = len(values) // 3
        limit = float(values[:third].max())
        later = np.flatnonzero(values[third:] > limit)
        if not later.size or values.std() == 0:
            continue
        # Rescale to 0..100 around the threshold so the benchmark's fixed 90 applies to all.
        low = float(values[:third].min())
        scaled = 60 + 29.999 * (values - low) / (limit - low) if limit > low else values
        # Regular grid at the file's own step (NAB files have a few gaps): last value carried.
        step_us = int(np.median(np.diff(times).astype(np.int64)))
        grid = times[0] + np.arange(0, int((times[-1] - times[0]).astype(np.int64)) + 1, step_us)
        index = np.searchsorted(times, grid.astype("datetime64[us]"), side="right") - 1
        regular = scaled[index]
        # The truth: a crossing of 90 sustained for two steps (a single spike is an anomaly,
        # not a breach).
        truth = np.minimum(regular, np.roll(regular, -1))
        truth[-1] = regular[-1]
        yield Series(path.stem, grid.astype("datetime64[us]"), regular, truth)


def summarise(label: str, tally: Tally) -> list[str]:
    def pct(values: list[float], q: float) -> str:
        return f"{np.percentile(values, q):+.2f}" if values else "-"

    absolute = [abs(e) for e in tally.errors]
    weeks = tally.evaluated_s / WEEK_S
    return [
        label,
        f"{tally.alerted}/{tally.alerted + tally.missed}" if tally.alerted + tally.missed else "-",
        pct(tally.errors, 50),
        f"{np.percentile(absolute, 90):.2f}" if absolute else "-",
        f"{np.median(tally.leads):.2f}" if tally.leads else "-",
        f"{np.median(tally.relative) * 100:.0f}%" if tally.relative else "-",
        f"{tally.in_band / tally.alerted * 100:.0f}%" if tally.alerted else "-",
        f"{tally.inside / tally.compared * 100:.0f}%" if tally.compared else "-",
        f"{tally.false_episodes / weeks:.2f}" if weeks else "-",
        str(tally.false_steps),
        f"{tally.seconds / max(tally.evaluations, 1) * 1e3:.2f}",
    ]


HEADER = [
    "family / method",
    "alerted",
    "med err h",
    "p90 |err| h",
    "lead h",
    "|err|/lead",
    "cross in band",
    "value cov",
    "false/week",
    "false steps",
    "ms/eval",
]


def run_family(label: str, make: Callable[[], Iterator[Series]]) -> list[list[str]]:
    rows = []
    for name, method in (("old", old_method), ("new", new_method)):
        tally = Tally()
        for series in make():
            replay(series, method, tally)
        rows.append(summarise(f"{label} {name}", tally))
        print("  " + " | ".join(rows[-1]), file=sys.stderr, flush=True)
    return rows


def print_table(rows: list[list[str]]) -> None:
    print("| " + " | ".join(HEADER) + " |")
    print("|" + "---|" * len(HEADER))
    for row in rows:
        print("| " + " | ".join(row) + " |")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=50)
    parser.add_argument("--nab", type=Path, default=DEFAULT_NAB)
    parser.add_argument("--families", default="trend,flat,nab")
    parser.add_argument("--match", default="", help="only the families whose label contains it")
    args = parser.parse_args()
    chosen = set(args.families.split(","))
    rows: list[list[str]] = []
    began = time.perf_counter()
    if "trend" in chosen:
        for swing in (0.0, 2.0, 5.0):
            for noise in (0.5, 1.0):
                label = f"trend swing {swing:g} noise {noise:g}"
                if args.match not in label:
                    continue
                print(f"{label} ...", file=sys.stderr, flush=True)
                rows += run_family(label, lambda s=swing, n=noise: trend_family(s, n, args.seeds))
    if "flat" in chosen:
        for level in (60.0, 80.0, 85.0):
            for swing in (0.0, 2.0, 5.0):
                label = f"flat {level:g} swing {swing:g}"
                if args.match not in label:
                    continue
                print(f"{label} ...", file=sys.stderr, flush=True)
                rows += run_family(
                    label, lambda lv=level, s=swing: flat_family(lv, s, 1.0, args.seeds)
                )
    if "nab" in chosen and args.nab.exists():
        print("nab ...", file=sys.stderr, flush=True)
        rows += run_family("nab", lambda: nab_series(args.nab))
    print()
    print_table(rows)
    print(f"\n{time.perf_counter() - began:.0f} s wall")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
