"""`python -m loadtests` (`make loadtest ARGS=...`): start or reach the server, seed it, run each
profile in a Locust process, gate the results, append the CSV history, write the HTML report.

Exit status: 0 every gate passed, 1 a gate failed, 2 the run could not be set up.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from loadtests.common.net import is_loopback
from loadtests.config import RunSettings, Seed
from loadtests.gates import Thresholds, evaluate
from loadtests.report import ProfileResult, RunInfo, append_history, render_html
from loadtests.seed import SeedError, SeedPlan, seed
from loadtests.server import EmbeddedServer, ServerError, ServerOptions
from loadtests.stages import PROFILES, Profile, quick

ROOT = Path(__file__).resolve().parent.parent
LOCUSTFILE = Path(__file__).resolve().parent / "locustfile.py"
# Beyond the profile's own length: users' sign-ins, in-flight requests, writing the results.
GRACE_SECONDS = 90


class SetupError(RuntimeError):
    pass


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m loadtests",
        description="The plan's load tests (Locust, open model) with pass/fail gates.",
    )
    parser.add_argument("--url", help="server to load (default: start the embedded one)")
    parser.add_argument(
        "--profile",
        choices=[*PROFILES, "all"],
        default="all",
        help="stages: the plan's 100/200-user stages; headline: 1000 simultaneous users",
    )
    parser.add_argument("--scenario", choices=["dashboard", "mix"], help="default: per profile")
    parser.add_argument("--quick", action="store_true", help="seconds-long variant (CI smoke)")
    parser.add_argument("--rate", type=float, help="requests/s of each user (default 1)")
    server = parser.add_argument_group("embedded server (when no --url)")
    server.add_argument("--workers", type=int, default=1, help="serve --workers N")
    server.add_argument("--database", help="PostgreSQL URL: a scratch database is made there")
    server.add_argument("--redis", help="Redis URL for the server (cache, limits)")
    data = parser.add_argument_group("seeding")
    data.add_argument("--workspaces", type=int, help="default 5 (quick: 2)")
    data.add_argument("--sessions", type=int, help="signed-in sessions (default 100, quick 10)")
    data.add_argument("--contacts", type=int, help="per workspace (default 50, quick 10)")
    gates = parser.add_argument_group("gates (defaults: the plan's)")
    plan = Thresholds()
    gates.add_argument("--p95-ms", type=float, default=plan.p95_ms)
    gates.add_argument("--max-error-rate", type=float, default=plan.max_error_rate)
    gates.add_argument("--max-dropped-rate", type=float, default=plan.max_dropped_rate)
    gates.add_argument("--late-after-ms", type=float, default=50.0, help="lateness counted late")
    parser.add_argument("--out", type=Path, default=ROOT / "var" / "loadtests", help="results")
    args = parser.parse_args(argv)
    if args.url and (args.database or args.redis or args.workers != 1):
        parser.error("--workers, --database and --redis configure the embedded server, not --url")
    if args.url and not args.url.startswith(("http://", "https://")):
        parser.error("--url must start with http:// or https://")
    if args.rate is not None and args.rate <= 0:
        parser.error("--rate must be positive")
    return args


@dataclass(frozen=True, slots=True)
class Planned:
    profile: Profile
    scenario: str
    rate: float


def planned_profiles(args: argparse.Namespace) -> list[Planned]:
    names = list(PROFILES) if args.profile == "all" else [args.profile]
    plans = []
    for name in names:
        profile = quick(PROFILES[name]) if args.quick else PROFILES[name]
        rate = args.rate if args.rate is not None else profile.rate_per_user
        plans.append(Planned(profile, args.scenario or profile.scenario, rate))
    return plans


def seed_plan(args: argparse.Namespace) -> SeedPlan:
    return SeedPlan(
        workspaces=args.workspaces or (2 if args.quick else 5),
        sessions=args.sessions or (10 if args.quick else 100),
        contacts=args.contacts or (10 if args.quick else 50),
    )


def run_locust(url: str, settings: RunSettings, seconds: float) -> dict[str, object]:
    command = [
        sys.executable,
        "-m",
        "locust",
        "-f",
        str(LOCUSTFILE),
        "--headless",
        "--host",
        url,
        "--only-summary",
        "--loglevel",
        "WARNING",
        "--stop-timeout",
        "5",
        "--exit-code-on-error",
        "0",
    ]
    env = {**_inherited_env(), **settings.to_env()}
    process = subprocess.Popen(command, cwd=ROOT, env=env)  # noqa: S603 - fixed arguments
    try:
        process.wait(seconds + GRACE_SECONDS)
    except subprocess.TimeoutExpired:
        print("load generator over its time bound: stopping it", file=sys.stderr)
        process.send_signal(signal.SIGINT)
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    if not settings.results_file.exists():
        raise SetupError(f"the load generator wrote no results (exit status {process.returncode})")
    results: dict[str, object] = json.loads(settings.results_file.read_text())
    return results


def _inherited_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return env


def _commit() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],  # noqa: S607 - git from PATH
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return out.stdout.strip()


def _print_gates(result: ProfileResult) -> None:
    print(f"\n{result.profile} ({result.scenario}, up to {result.peak_users} users):")
    for gate in result.gates:
        mark = "pass" if gate.passed else "FAIL"
        print(f"  {mark}  {gate.name:<22} {gate.limit:<12} measured {gate.measured}")


def execute(args: argparse.Namespace) -> int:
    thresholds = Thresholds(args.p95_ms, args.max_error_rate, args.max_dropped_rate)
    options = ServerOptions(args.workers, args.database, args.redis)
    results: list[ProfileResult] = []
    started = datetime.now(UTC).strftime("%Y-%m-%dT%H%M%SZ")
    server_log: Path | None = None
    with ExitStack() as stack:
        if args.url:
            url, target = args.url.rstrip("/"), args.url
            if not is_loopback(url):
                print(f"note: sending load to {url}, which is not this machine", file=sys.stderr)
        else:
            print(f"starting the server ({options.describe()})...", flush=True)
            server = stack.enter_context(EmbeddedServer(options))
            url, target = server.url, options.describe()
        scratch = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="loadtest-")))
        plan = seed_plan(args)
        print(f"seeding {plan.workspaces} workspaces, {plan.sessions} sessions...", flush=True)
        seeded: Seed = seed(url, plan)
        seed_file = scratch / "seed.json"
        seeded.write(seed_file)
        for planned in planned_profiles(args):
            settings = RunSettings(
                profile=planned.profile.name,
                scenario=planned.scenario,
                quick=args.quick,
                rate_per_user=planned.rate,
                seed_file=seed_file,
                results_file=scratch / f"{planned.profile.name}.json",
                late_after_ms=args.late_after_ms,
            )
            print(
                f"\n{planned.profile.name}: {planned.scenario} scenario, "
                f"{planned.profile.seconds:.0f} s, up to {planned.profile.peak_users} users "
                f"at {planned.rate:g} request/s each",
                flush=True,
            )
            raw = run_locust(url, settings, planned.profile.seconds)
            summary = raw["summary"]
            assert isinstance(summary, dict)
            if raw.get("generator_cpu_warning"):
                print("warning: the load generator ran out of CPU; latencies include its lag")
            result = ProfileResult(
                profile=planned.profile.name,
                scenario=planned.scenario,
                peak_users=planned.profile.peak_users,
                offered_rps=planned.profile.peak_users * planned.rate,
                summary=summary,
                gates=evaluate(summary, thresholds),
            )
            _print_gates(result)
            results.append(result)
        if not args.url:
            args.out.mkdir(parents=True, exist_ok=True)
            server_log = server.save_log(args.out / f"server-{started}.log")
    run = RunInfo(
        finished_at=datetime.now(UTC).isoformat(timespec="seconds"),
        commit=_commit(),
        target=target,
        quick=args.quick,
    )
    args.out.mkdir(parents=True, exist_ok=True)
    append_history(args.out / "history.csv", run, results)
    stamp = run.finished_at.replace(":", "").replace("+0000", "Z")
    report = args.out / f"report-{stamp}.html"
    report.write_text(render_html(run, results), encoding="utf-8")
    passed = all(result.passed for result in results)
    print(f"\nreport: {report}\nhistory: {args.out / 'history.csv'}")
    if server_log is not None:
        print(f"server log: {server_log}")
    print("load test passed" if passed else "load test FAILED: a gate was not met")
    return 0 if passed else 1


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        return execute(args)
    except (SetupError, ServerError, SeedError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: the server and its scratch data were removed", file=sys.stderr)
        return 130
