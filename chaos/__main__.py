"""`python -m chaos [--quick] [--only 1,3]`: run the experiments with the Chaos Toolkit CLI,
one after another, each report in `var/chaos/<UTC timestamp>/<experiment>/`, then print the
figures of all of them as one table. Exit status 1 when any verdict is FAIL."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from chaos.environment import EXPERIMENTS_DIR as EXPERIMENTS
from chaos.environment import REPO_ROOT

# Scaled down for a quick look (and for the test suite's variant): same code path.
QUICK = {
    "TOTAL_CHAOS_DURATION": "10",
    "CHAOS_INTERVAL": "5",
    "CHAOS_OUTAGE_SECONDS": "5",
    "CHAOS_LATENCY_SECONDS": "5",
    "CHAOS_STEADY_SECONDS": "3",
    "CHAOS_WARMUP_SECONDS": "2",
    "CHAOS_OBSERVE_SECONDS": "5",
    "CHAOS_CAMPAIGN_CONTACTS": "20",
    "CHAOS_KILL_AFTER_DELIVERIES": "6",
}
TIMEOUT_SECONDS = 600  # one experiment, environment start and teardown included


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m chaos", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="scaled-down durations")
    parser.add_argument("--only", default="", help="experiment numbers, e.g. 1,3")
    args = parser.parse_args(argv)
    chaos_cli = shutil.which("chaos", path=str(Path(sys.executable).parent)) or shutil.which(
        "chaos"
    )
    if chaos_cli is None:
        print("error: the Chaos Toolkit CLI is missing: pip install -e '.[chaos]'")
        return 2
    wanted = {f"{int(n):02d}" for n in args.only.split(",") if n.strip()}
    files = sorted(p for p in EXPERIMENTS.glob("*.json") if not wanted or p.name[:2] in wanted)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    out = REPO_ROOT / "var" / "chaos" / stamp
    out.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        **(QUICK if args.quick else {}),
        "CHAOS_REPORT_DIR": str(out),
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")])),
    }
    for number, path in enumerate(files, 1):
        print(f"[{number}/{len(files)}] {path.name} ...", flush=True)
        try:
            subprocess.run(
                [chaos_cli, "--log-file", str(out / f"{path.stem}.log"), "run",
                 "--journal-path", str(out / f"{path.stem}.journal.json"), str(path)],
                env=env, cwd=REPO_ROOT, timeout=TIMEOUT_SECONDS, check=False,
            )  # fmt: skip
        except subprocess.TimeoutExpired:
            print(f"  {path.name}: no end after {TIMEOUT_SECONDS} s, stopped")
    summaries = [json.loads(p.read_text()) for p in sorted(out.glob("*/summary.json"))]
    print(table(summaries))
    print(f"reports: {out}")
    ran_all = len(summaries) == len(files)
    return 0 if ran_all and all(s["verdict"] == "PASS" for s in summaries) else 1


def table(summaries: list[dict[str, object]]) -> str:
    header = (
        f"{'experiment':<58} {'verdict':<7} {'success':>9} {'answered':>9} {'p95 ms':>8} "
        f"{'recovery':>8} {'hanging':>7} {'acked':>6} {'lost':>5}"
    )
    lines = [header, "-" * len(header)]
    for s in summaries:
        under: dict[str, float] = s["during_fault"]  # type: ignore[assignment]
        writes: dict[str, int] = s["writes"]  # type: ignore[assignment]
        recovery = s["recovery_seconds"]
        lines.append(
            f"{str(s['title'])[:58]:<58} {s['verdict']!s:<7} "
            f"{under['success_ratio'] * 100:>8.3f}% {under['answered_ratio'] * 100:>8.3f}% "
            f"{under['p95_ms']:>8.0f} "
            f"{'-' if recovery is None else f'{recovery:.2f} s':>8} {under['hanging']:>7.0f} "
            f"{writes.get('acknowledged', 0):>6} "
            f"{writes.get('lost', 0) + writes.get('duplicated', 0):>5}"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
