"""Process: CPU and memory per worker, event-loop lag, memory growth over the window.

Workers are this process and, under `serve --workers N`, the processes whose metric files are
in `PROMETHEUS_MULTIPROC_DIR` (prometheus_client names them by pid). CPU is measured over a
short interval now; the window's averages come from the metric history (`cpu_usage_percent`,
`memory_usage_percent`, the whole service).
"""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import psutil
from prometheus_client.metrics_core import Metric

from intuitivus_flow.observability.metrics import multiprocess_dir
from intuitivus_flow.performance.findings import Area, AreaReport, Finding, Severity, Skipped, Table

LOOP_LAG = "flow_event_loop_lag_max_seconds"
LAG_WARNING_SECONDS = 0.1
LAG_CRITICAL_SECONDS = 0.5
CPU_WARNING_PERCENT = 80.0
MEMORY_GROWTH_POINTS = 5.0  # percentage points of the machine's memory over the window
CPU_SAMPLE_SECONDS = 0.3
_PID_IN_FILE = re.compile(r"_(\d+)\.db$")


@dataclass(frozen=True, slots=True)
class Trend:
    """A history signal over the window: its mean, first and last step (None without data)."""

    mean: float | None = None
    first: float | None = None
    last: float | None = None


def worker_pids(directory: str | None = None) -> list[int]:
    pids = {os.getpid()}
    directory = directory or multiprocess_dir()
    if directory:
        for path in Path(directory).glob("*.db"):
            found = _PID_IN_FILE.search(path.name)
            if found:
                pids.add(int(found.group(1)))
    return sorted(pid for pid in pids if psutil.pid_exists(pid))


def loop_lags(metrics: Iterable[Metric], *, own: str) -> dict[str, float]:
    """The largest recent event-loop delay per worker (pid label in multiprocess mode)."""
    lags: dict[str, float] = {}
    for metric in metrics:
        if metric.name == LOOP_LAG:
            for sample in metric.samples:
                # A declared gauge reads 0 until the probe's first tick; a measured delay is
                # never exactly 0 (a timer always wakes a little late), so 0 is "not measured".
                if sample.value == 0:
                    continue
                # Multiprocess mode labels each worker's value; otherwise the value is this
                # process's when it serves the app, or an unknown server's ("").
                pid = sample.labels.get("pid", own)
                lags[pid] = max(lags.get(pid, 0.0), sample.value)
    return lags


async def _measure(pids: list[int]) -> list[tuple[int, float, float, int]]:
    """(pid, CPU % of one core, RSS MiB, threads) per live worker, CPU over a short interval."""
    processes = []
    for pid in pids:
        try:
            process = psutil.Process(pid)
            process.cpu_percent(interval=None)  # starts the interval
            processes.append(process)
        except psutil.Error:
            continue
    await asyncio.sleep(CPU_SAMPLE_SECONDS)
    measured = []
    for process in processes:
        try:
            with process.oneshot():
                measured.append(
                    (
                        process.pid,
                        process.cpu_percent(interval=None),
                        process.memory_info().rss / 2**20,
                        process.num_threads(),
                    )
                )
        except psutil.Error:
            continue
    return measured


async def analyze_process(
    metrics: Iterable[Metric],
    *,
    cpu: Trend,
    memory: Trend,
    in_server: bool = True,
    workers_dir: str | None = None,
) -> AreaReport:
    """`in_server`: this process serves the app (the page); the CLI measures the workers whose
    metric files it finds, never itself."""
    own = str(os.getpid())
    lags = loop_lags(metrics, own=own if in_server else "")
    pids = [pid for pid in worker_pids(workers_dir) if in_server or str(pid) != own]
    measured = await _measure(pids)
    findings: list[Finding] = []
    skipped: list[Skipped] = []
    if not lags:
        skipped.append(
            Skipped(Area.PROCESS, "no event-loop lag gauge yet (the probe runs in a serving app)")
        )
    for pid, lag in sorted(lags.items()):
        if lag >= LAG_WARNING_SECONDS:
            findings.append(_lag_finding(pid, lag))
    if cpu.mean is None:
        skipped.append(Skipped(Area.PROCESS, "no CPU history in the window"))
    elif cpu.mean >= CPU_WARNING_PERCENT:
        findings.append(_cpu_finding(cpu.mean, len(measured)))
    growth = _growth(memory)
    if growth is not None and growth >= MEMORY_GROWTH_POINTS:
        findings.append(_memory_finding(memory, growth))
    rows = tuple(
        (pid, round(cpu_now, 1), round(rss, 1), threads, _lag_ms(lags.get(str(pid))))
        for pid, cpu_now, rss, threads in measured
    )
    table = Table(
        title="Workers now",
        columns=("pid", "CPU % (one core)", "RSS MiB", "threads", "loop lag max ms"),
        rows=rows,
        chart="RSS MiB",
        unit="MiB",
    )
    return AreaReport(
        Area.PROCESS, findings=tuple(findings), skipped=tuple(skipped), tables=(table,)
    )


def _lag_ms(lag: float | None) -> float | str:
    return round(lag * 1000, 1) if lag is not None else "-"


def _growth(memory: Trend) -> float | None:
    if memory.first is None or memory.last is None:
        return None
    return memory.last - memory.first


def _lag_finding(pid: str, lag: float) -> Finding:
    whose = f"Worker {pid}'s" if pid else "The server's"
    return Finding(
        area=Area.PROCESS,
        code="process.loop_lag",
        title=f"{whose} event loop was blocked for {lag * 1000:.0f} ms",
        severity=Severity.CRITICAL if lag >= LAG_CRITICAL_SECONDS else Severity.WARNING,
        impact=min(1.0, lag / (2 * LAG_CRITICAL_SECONDS)),
        evidence={"loop_lag_max_ms": round(lag * 1000, 1), "pid": pid},
        recommendation="Something runs synchronously on the event loop (CPU-bound work, a "
        "sync driver or file call): every request of this worker waits for it. Find it with "
        "`py-spy dump --pid <pid>` while it happens, and move it to a thread "
        "(`asyncio.to_thread`) or a job.",
        subject=f"worker {pid}" if pid else "server",
    )


def _cpu_finding(mean: float, workers: int) -> Finding:
    return Finding(
        area=Area.PROCESS,
        code="process.cpu",
        title=f"The service used {mean:.0f} % of the machine's CPU on average over the window",
        severity=Severity.WARNING,
        impact=min(1.0, mean / 100),
        evidence={"cpu_mean_percent": round(mean, 1), "workers": workers},
        recommendation="The web tier is CPU-bound: add replicas (the HPA's CPU target is 70 %)"
        " and look at the routes with the most total time first.",
        subject="CPU",
    )


def _memory_finding(memory: Trend, growth: float) -> Finding:
    assert memory.first is not None
    assert memory.last is not None
    return Finding(
        area=Area.PROCESS,
        code="process.memory_growth",
        title=f"Memory grew from {memory.first:.1f} % to {memory.last:.1f} % of the machine "
        "over the window",
        severity=Severity.WARNING,
        impact=min(1.0, growth / 100 * 4),
        evidence={
            "memory_first_percent": round(memory.first, 2),
            "memory_last_percent": round(memory.last, 2),
        },
        recommendation="A steady climb that does not level off is a leak: compare two "
        "`tracemalloc` snapshots of one worker, or set gunicorn's max_requests so workers are "
        "recycled meanwhile.",
        subject="memory",
    )
