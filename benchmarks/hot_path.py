"""The authenticated request path against the framework under it, served the same way.

    python benchmarks/hot_path.py [--seconds 10] [--connections 64] [--workers 2]

In one run, on loopback:

* the baseline: a bare Starlette app returning a small JSON document, served by gunicorn with
  `--workers` uvicorn workers (what `intuitivus-flow serve --workers N` runs);
* the product: `intuitivus-flow serve --workers N` on a scratch PostgreSQL database (created
  and dropped here) and its own throw-away redis-server, with one signed-up user.

Each is driven by the same closed loop (`wrk -t1 -c<connections>` when wrk is installed, else
an httpx client with as many concurrent connections) for `--seconds` per endpoint:
`/health`, `/api/auth/me` (bearer access token) and `/api/dashboard` (cached: `X-Cache: hit`).
Prints requests/s, p50/p95/p99, each endpoint's share of the bare app's requests/s next to
the targets of issue 12 (dashboard >= 25 %, /api/auth/me >= 20 %), and the Redis commands the
product sends per request (100 requests in a row, counted by the throw-away server's `INFO
commandstats`: a figure the machine's load cannot blur, unlike requests/s), and the CPU time
the server's worker processes spent per request during the wrk run (user + system, from
/proc). On a shared host requests/s mostly measure the scheduler's share; CPU per request
does not, and its inverse is the capacity of one worker on one idle core, for sizing.
Everything it starts is stopped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

import httpx
from redis import Redis

PASSWORD = "benchmark password"
ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
TARGETS = {"/api/auth/me": 0.20, "/api/dashboard": 0.25}

BARE_APP = """
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route


async def health(request):
    return JSONResponse({"status": "ok"})


app = Starlette(routes=[Route("/health", health)])
"""

# wrk reports p50/p75/p90/p99 only; this prints the percentiles we want as one JSON line.
WRK_REPORT = """
done = function(summary, latency, requests)
  local bad = summary.errors.status + summary.errors.connect + summary.errors.read
    + summary.errors.write + summary.errors.timeout
  io.write(string.format(
    '{"requests": %d, "seconds": %f, "errors": %d, "p50": %f, "p95": %f, "p99": %f, '
    .. '"status": %d, "connect": %d, "read": %d, "timeout": %d}\\n',
    summary.requests, summary.duration / 1e6, bad,
    latency:percentile(50) / 1e3, latency:percentile(95) / 1e3, latency:percentile(99) / 1e3,
    summary.errors.status, summary.errors.connect, summary.errors.read, summary.errors.timeout))
end
"""


@dataclass(frozen=True)
class Measurement:
    server: str
    path: str
    requests: int
    seconds: float
    errors: int
    p50_ms: float
    p95_ms: float
    p99_ms: float
    redis_per_request: float | None = None
    cpu_ms_per_request: float | None = None
    transactions_per_request: float | None = None

    @property
    def rps(self) -> float:
        return self.requests / self.seconds


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(("FLOW_", "OTEL_"))}


@contextmanager
def process(command: list[str], env: dict[str, str], cwd: Path) -> Iterator[int]:
    """A child in its own process group, stopped with its workers at the end."""
    child = subprocess.Popen(
        command,
        env=env,
        cwd=cwd,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        yield child.pid
    finally:
        os.killpg(child.pid, signal.SIGTERM)
        try:
            child.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(child.pid, signal.SIGKILL)
            child.wait()


@contextmanager
def scratch_database() -> Iterator[str]:
    name = f"hot_path_{uuid.uuid4().hex[:12]}"
    subprocess.run(
        ["psql", ADMIN_URL, "-qc", f"CREATE DATABASE {name}"], check=True, capture_output=True
    )
    try:
        yield f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"
    finally:
        subprocess.run(
            ["psql", ADMIN_URL, "-qc", f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"],
            check=False,
            capture_output=True,
        )


def database_transactions(database_url: str) -> int:
    """Transactions (committed and rolled back) the scratch database has counted so far.
    PostgreSQL publishes backends' counts within a second or so; callers wait that long."""
    name = database_url.rsplit("/", 1)[1]
    query = f"SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = '{name}'"
    output = subprocess.run(
        ["psql", ADMIN_URL, "-Atc", query], check=True, capture_output=True, text=True
    ).stdout
    return int(output.strip() or 0)


def wait_healthy(base: str, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"{base} did not become healthy")


def sign_up(base: str) -> str:
    response = httpx.post(
        f"{base}/api/auth/register",
        json={"email": "bench@example.com", "password": PASSWORD, "workspace_name": "Bench"},
        timeout=30,
    )
    response.raise_for_status()
    token = response.json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    for _ in range(2):  # the first fills the dashboard cache, the second must hit it
        dashboard = httpx.get(f"{base}/api/dashboard", headers=headers, timeout=30)
        dashboard.raise_for_status()
    if dashboard.headers.get("x-cache") != "hit":
        raise SystemExit("the dashboard is not served from the cache")
    return str(token)


def run_wrk(
    url: str, headers: dict[str, str], seconds: int, connections: int, tmp: Path
) -> dict[str, float]:
    script = tmp / "report.lua"
    script.write_text(WRK_REPORT)
    command = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "-s", str(script), url]
    for name, value in headers.items():
        command += ["-H", f"{name}: {value}"]
    output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    found = re.search(r"^\{.*\}$", output, re.MULTILINE)
    if found is None:
        raise SystemExit(f"wrk printed no report:\n{output}")
    report: dict[str, float] = json.loads(found.group(0))
    if report["errors"]:
        kinds = ("status", "connect", "read", "timeout")
        print("    errors: " + ", ".join(f"{kind} {int(report[kind])}" for kind in kinds))
    return report


async def run_python_client(
    url: str, headers: dict[str, str], seconds: int, connections: int
) -> dict[str, float]:
    latencies: list[float] = []
    errors = 0
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    async with httpx.AsyncClient(limits=limits, timeout=30, headers=headers) as client:
        deadline = time.perf_counter() + seconds

        async def loop() -> None:
            nonlocal errors
            while time.perf_counter() < deadline:
                started = time.perf_counter()
                try:
                    ok = (await client.get(url)).status_code < 400
                except httpx.HTTPError:
                    ok = False
                latencies.append((time.perf_counter() - started) * 1000)
                errors += not ok

        started = time.perf_counter()
        await asyncio.gather(*(loop() for _ in range(connections)))
        elapsed = time.perf_counter() - started
    ordered = sorted(latencies) or [0.0]

    def pct(p: float) -> float:
        return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]

    return {
        "requests": len(latencies),
        "seconds": elapsed,
        "errors": errors,
        "p50": pct(50),
        "p95": pct(95),
        "p99": pct(99),
    }


def server_cpu_seconds(master: int) -> float:
    """User + system CPU time of `master`'s child processes (gunicorn's workers) so far;
    0 where /proc is not there."""
    total = 0
    try:
        children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
        for pid in children:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14, 15)
    except OSError:
        return 0.0
    return total / os.sysconf("SC_CLK_TCK")


def measure(
    server: str,
    base: str,
    path: str,
    headers: dict[str, str],
    args: argparse.Namespace,
    tmp: Path,
    master: int,
) -> Measurement:
    print(f"  {server} {path} ...", flush=True)
    cpu_before = server_cpu_seconds(master)
    if shutil.which("wrk") and not args.python_client:
        report = run_wrk(base + path, headers, args.seconds, args.connections, tmp)
    else:
        report = asyncio.run(
            run_python_client(base + path, headers, args.seconds, args.connections)
        )
    cpu = server_cpu_seconds(master) - cpu_before
    requests = int(report["requests"])
    return Measurement(
        server,
        path,
        requests,
        float(report["seconds"]),
        int(report["errors"]),
        float(report["p50"]),
        float(report["p95"]),
        float(report["p99"]),
        cpu_ms_per_request=cpu * 1000 / requests if cpu and requests else None,
    )


def redis_calls(port: int) -> int:
    """Commands the Redis server at `port` has run (INFO itself excluded)."""
    with Redis(port=port) as client:
        stats = client.info("commandstats")
    return sum(int(v["calls"]) for k, v in stats.items() if k != "cmdstat_info")


def redis_round_trips(
    url: str, headers: dict[str, str], redis_port: int, count: int = 100
) -> float:
    """Redis commands per request, from `count` requests one after the other (under wrk's
    overload, requests the server finished after wrk gave up would blur the count)."""
    with httpx.Client(headers=headers, timeout=30) as client:
        client.get(url).raise_for_status()
        before = redis_calls(redis_port)
        for _ in range(count):
            client.get(url).raise_for_status()
        return (redis_calls(redis_port) - before) / count


def measure_bare(args: argparse.Namespace, tmp: Path) -> Measurement:
    (tmp / "bare_app.py").write_text(BARE_APP)
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "gunicorn",
        "--workers",
        str(args.workers),
        "--worker-class",
        "uvicorn_worker.UvicornWorker",
        "--bind",
        f"127.0.0.1:{port}",
        "--keep-alive",
        "75",
        "bare_app:app",
    ]
    base = f"http://127.0.0.1:{port}"
    with process(command, clean_env(), tmp) as master:
        wait_healthy(base)
        return measure("bare", base, "/health", {}, args, tmp, master)


def measure_product(args: argparse.Namespace, tmp: Path) -> list[Measurement]:
    redis_port, port = free_port(), free_port()
    redis = ["redis-server", "--port", str(redis_port), "--bind", "127.0.0.1", "--save", ""]
    redis += ["--appendonly", "no"]
    data_dir = tmp / "data"
    with scratch_database() as database_url, process(redis, clean_env(), tmp):
        env = clean_env() | {
            "FLOW_DATA_DIR": str(data_dir),
            "FLOW_ENV": "local",
            "FLOW_SEED_DEMO": "false",
            "FLOW_LOG_LEVEL": "WARNING",
            "FLOW_DATABASE_URL": database_url,
            "FLOW_REDIS_URL": f"redis://127.0.0.1:{redis_port}/0",
            "FLOW_METRICS_SAMPLE_SECONDS": "0",
            "FLOW_ALERT_EVALUATION_SECONDS": "0",
        }
        command = [sys.executable, "-m", "intuitivus_flow", "serve", "--port", str(port)]
        command += ["--workers", str(args.workers)]
        base = f"http://127.0.0.1:{port}"
        with process(command, env, tmp) as master:
            wait_healthy(base)
            token = sign_up(base)
            auth = {"Authorization": f"Bearer {token}"}
            found = []
            for path, headers in (
                ("/health", {}),
                ("/api/auth/me", auth),
                ("/api/dashboard", auth),
            ):
                transactions = database_transactions(database_url)
                row = measure("product", base, path, headers, args, tmp, master)
                time.sleep(1.5)  # the workers publish their transaction counts
                transactions = database_transactions(database_url) - transactions
                per_request = redis_round_trips(base + path, headers, redis_port)
                found.append(
                    replace(
                        row,
                        redis_per_request=per_request,
                        transactions_per_request=transactions / max(row.requests, 1),
                    )
                )
            return found


def print_table(bare: Measurement, product: list[Measurement], args: argparse.Namespace) -> None:
    client = "wrk -t1" if shutil.which("wrk") and not args.python_client else "httpx"
    print(
        f"\nclosed loop, {client}, {args.connections} connections, {args.seconds} s each, "
        f"{args.workers} workers, {os.cpu_count()} CPUs"
    )
    header = (
        f"{'server':<9}{'endpoint':<17}{'req/s':>9}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}"
        f"{'errors':>8}{'of bare':>9}{'target':>9}{'redis/req':>10}{'cpu ms/req':>11}"
        f"{'req/s/core':>11}{'db tx/req':>10}"
    )
    print(header)
    print("-" * len(header))
    for row in (bare, *product):
        share = row.rps / bare.rps
        target = TARGETS.get(row.path) if row.server == "product" else None
        verdict = "" if target is None else f"{target:.0%} {'ok' if share >= target else 'MISS'}"
        redis = "" if row.redis_per_request is None else f"{row.redis_per_request:.2f}"
        cpu = row.cpu_ms_per_request
        cpu_text = "" if cpu is None else f"{cpu:.3f}"
        capacity = "" if cpu is None else f"{1000 / cpu:.0f}"
        tx = row.transactions_per_request
        tx_text = "" if tx is None else f"{tx:.3f}"
        print(
            f"{row.server:<9}{row.path:<17}{row.rps:>9.0f}{row.p50_ms:>9.1f}{row.p95_ms:>9.1f}"
            f"{row.p99_ms:>9.1f}{row.errors:>8}{share:>9.1%}{verdict:>9}{redis:>10}"
            f"{cpu_text:>11}{capacity:>11}{tx_text:>10}"
        )
    if bare.cpu_ms_per_request:
        print(
            "cpu ms/req: the workers' CPU per request during the run; req/s/core: what one "
            "worker serves with a core to itself (sizing). Bare over product CPU per request, "
            "the share the product would reach with the cores to itself: "
            + ", ".join(
                f"{row.path} {bare.cpu_ms_per_request / row.cpu_ms_per_request:.1%}"
                for row in product
                if row.cpu_ms_per_request
            )
        )
    print(
        "db tx/req: PostgreSQL transactions during the wrk run per request served (the "
        "background loops' few count too); a cached request needs none."
    )
    load = os.getloadavg()
    print(f"load average during the run: {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--seconds", type=int, default=10, help="per endpoint")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--python-client", action="store_true", help="even if wrk is installed")
    args = parser.parse_args()
    for tool in ("psql", "redis-server"):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} is needed (PostgreSQL client and Redis server)")
    with tempfile.TemporaryDirectory() as tmp:
        print("bare Starlette app:", flush=True)
        bare = measure_bare(args, Path(tmp))
        print("intuitivus-flow serve (PostgreSQL + Redis):", flush=True)
        product = measure_product(args, Path(tmp))
    print_table(bare, product, args)


if __name__ == "__main__":
    main()
