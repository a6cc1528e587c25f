"""CLV check: BG/NBD and Gamma-Gamma on CDNOW from raw transactions vs the published results.

    python benchmarks/cdnow.py [--data ../shared/datasets/cdnow]

Reads `CDNOW_sample.txt` (the 1/10 sample of Fader, Hardie and Lee 2005), summarises the
39-week calibration period (1997-01-01 to 1997-09-30) with `analytics.clv.summarise`, checks
that summary against the data set's own `cdnow_customers_summary.csv`, fits both models and
prints each parameter next to the published value with their ratio; exits 1 when a parameter
is more than 1 % off. The full master file (23,570 customers) is fitted too, for the time.
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from collections import Counter
from datetime import date
from pathlib import Path

from intuitivus_flow.analytics import clv

CALIBRATION_END = date(1997, 9, 30)
PUBLISHED = {
    "bgnbd": {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426, "log_likelihood": -9582.4},
    "gamma_gamma": {"p": 6.25, "q": 3.74, "gamma": 15.44, "log_likelihood": -4055.9},
}
TOLERANCE = 0.01


def _check_summary(summaries: list[clv.CustomerSummary], reference: Path) -> int:
    """Customers whose (frequency, recency, T) the data set's own summary lacks. It numbers
    customers 1..n in another order than the transactions' ids, so compare the multisets."""
    with reference.open() as handle:
        theirs = Counter(
            (int(row["frequency"]), round(float(row["recency"]), 2), round(float(row["T"]), 2))
            for row in csv.DictReader(handle)
        )
    ours = Counter((s.frequency, round(s.recency, 2), round(s.T, 2)) for s in summaries)
    return sum((ours - theirs).values())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "cdnow"
    parser.add_argument("--data", type=Path, default=default)
    args = parser.parse_args()
    sample = args.data / "CDNOW_sample.txt"
    if not sample.exists():
        print(f"error: {sample} not found (pass --data)", file=sys.stderr)
        return 2

    started = time.perf_counter()
    transactions = clv.read_transactions(sample)
    summaries = clv.summarise(transactions, calibration_end=CALIBRATION_END)
    read_s = time.perf_counter() - started
    mismatches = _check_summary(summaries, args.data / "cdnow_customers_summary.csv")
    print(
        f"sample: {len(transactions)} transactions, {len(summaries)} customers, "
        f"{sum(s.frequency > 0 for s in summaries)} repeat buyers; summary vs "
        f"cdnow_customers_summary.csv: {mismatches} mismatching customers ({read_s:.2f} s)"
    )

    started = time.perf_counter()
    fitted = {
        "bgnbd": clv.fit_bgnbd(summaries),
        "gamma_gamma": clv.fit_gamma_gamma(summaries),
    }
    fit_s = time.perf_counter() - started

    failures = mismatches
    print(f"\n{'model':<12}{'parameter':<16}{'published':>12}{'fitted':>14}{'ratio':>10}  ok")
    for model, values in PUBLISHED.items():
        for name, published in values.items():
            value = getattr(fitted[model], name)
            ratio = value / published
            # The log-likelihood is published to one decimal: compare it to 0.1.
            ok = (
                abs(value - published) <= 0.1
                if name == "log_likelihood"
                else abs(ratio - 1) <= TOLERANCE
            )
            failures += not ok
            print(
                f"{model:<12}{name:<16}{published:>12.3f}{value:>14.4f}{ratio:>10.4f}"
                f"  {'yes' if ok else 'NO'}"
            )
    print(f"\nfit time (both models, sample): {fit_s:.2f} s")

    master = args.data / "CDNOW_master.txt"
    if master.exists():
        started = time.perf_counter()
        full = clv.fit(clv.read_transactions(master), calibration_end=CALIBRATION_END)
        full_s = time.perf_counter() - started
        print(
            f"master ({len(full.summaries)} customers): read + fit {full_s:.2f} s, "
            f"{full_s / fit_s:.1f}x the sample's fit; r={full.bgnbd.r:.3f} "
            f"alpha={full.bgnbd.alpha:.3f} a={full.bgnbd.a:.3f} b={full.bgnbd.b:.3f}"
        )
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
