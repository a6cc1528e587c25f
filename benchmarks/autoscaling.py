"""Autoscaling response to a sudden 5x burst: reactive HPA vs predictive pre-scaling.

    python benchmarks/autoscaling.py [--trace deploy/autoscaling/traces/burst.json] [--starts 3]

1. Measures the pod start-up on the real server: `intuitivus-flow serve --workers 2
   --no-migrate` (the web Deployment's command; migrations run in their own Job before a
   rollout) from process start to the first 200 from `/ready`, `--starts` times on a migrated
   SQLite database, and keeps the slowest. The readiness probe's period (from the web
   Deployment manifest) is added: the kubelet only sees the pod ready at its next probe. Image
   pull and scheduling are not included (images are pre-pulled on the nodes; a new node from a
   cluster autoscaler would add minutes and is out of the HPA's reach).
2. Replays the trace through the HPA algorithm with the deployed HPA's numbers
   (`intuitivus-flow autoscale simulate`) at every phase of the 15 s sync and prints the
   worst time from the load change to the scale decision and to ready capacity.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import yaml

from intuitivus_flow.autoscaling.report import LEGEND
from intuitivus_flow.autoscaling.service import compare
from intuitivus_flow.autoscaling.simulation import SimulationParameters
from intuitivus_flow.autoscaling.trace import load_trace

ROOT = Path(__file__).resolve().parents[1]
BURST = ROOT / "deploy" / "autoscaling" / "traces" / "burst.json"
WEB_DEPLOYMENT = ROOT / "deploy" / "k8s" / "base" / "web" / "deployment.yaml"
START_TIMEOUT_SECONDS = 120.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def server_env(data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLOW_")}
    env.update(
        {
            "FLOW_DATA_DIR": str(data_dir),
            "FLOW_ENV": "local",
            "FLOW_SEED_DEMO": "false",
            "FLOW_LOG_LEVEL": "WARNING",
        }
    )
    return env


def migrate(env: dict[str, str]) -> None:
    command = [sys.executable, "-m", "intuitivus_flow", "db", "upgrade"]
    subprocess.run(command, env=env, check=True, capture_output=True, timeout=300)


def seconds_to_ready(env: dict[str, str]) -> float:
    """From `serve` process start to the first 200 on /ready."""
    port = free_port()
    command = [sys.executable, "-m", "intuitivus_flow", "serve", "--port", str(port)]
    command += ["--workers", "2", "--no-migrate"]
    started = time.perf_counter()
    server = subprocess.Popen(
        command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        while time.perf_counter() - started < START_TIMEOUT_SECONDS:
            if server.poll() is not None:
                raise SystemExit(f"serve exited with {server.returncode} before /ready")
            try:
                if httpx.get(f"http://127.0.0.1:{port}/ready", timeout=2).status_code == 200:
                    return time.perf_counter() - started
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        raise SystemExit("serve did not become ready")
    finally:
        server.terminate()
        server.wait(timeout=30)


def readiness_period_seconds() -> float:
    deployment = yaml.safe_load(WEB_DEPLOYMENT.read_text(encoding="utf-8"))
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    return float(container["readinessProbe"].get("periodSeconds", 10))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--trace", type=Path, default=BURST)
    parser.add_argument("--starts", type=int, default=3, help="serve start-ups to measure")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="flow-autoscaling-") as data_dir:
        env = server_env(Path(data_dir))
        migrate(env)
        starts = [seconds_to_ready(env) for _ in range(args.starts)]
    probe = readiness_period_seconds()
    startup = max(starts) + probe
    print(
        "serve to /ready: "
        + ", ".join(f"{s:.2f}" for s in starts)
        + f" s; slowest + readiness period {probe:.0f} s = pod start-up {startup:.1f} s"
    )
    params = SimulationParameters.from_manifest(startup_seconds=startup)
    comparison = compare(load_trace(args.trace), params)
    print(
        f"trace: {args.trace.relative_to(ROOT) if args.trace.is_relative_to(ROOT) else args.trace}"
    )
    print(comparison.table())
    peaks = ", ".join(f"{mode} {count}" for mode, count in comparison.peak_replicas.items())
    print(f"peak replicas: {peaks}")
    print(LEGEND)


if __name__ == "__main__":
    main()
