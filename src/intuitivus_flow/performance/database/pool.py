"""Connection-pool saturation: how many connections are in use, and how long checkouts wait.

The wait comes from `flow_db_pool_wait_seconds` (observability/collectors.py times every
checkout); the occupancy from the pool itself. A pool whose checkouts wait is a bottleneck no
statement-level view shows: each request pays the wait before its first query runs.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine

from intuitivus_flow.observability.metrics import FlowMetrics
from intuitivus_flow.performance.findings import Area, Finding, Severity, Skipped

# A checkout slower than this waited for a connection (opening one takes a few ms).
WAITED_SECONDS = 0.025


@dataclass(frozen=True, slots=True)
class PoolWaits:
    checkouts: int
    total_seconds: float
    waited: int  # checkouts slower than WAITED_SECONDS (from the histogram's buckets)


def pool_waits(metrics: FlowMetrics) -> PoolWaits:
    count = total = 0.0
    fast = 0.0
    fast_bound = -1.0
    for family in metrics.db_pool_wait_seconds.collect():
        for sample in family.samples:
            if sample.name.endswith("_count"):
                count = sample.value
            elif sample.name.endswith("_sum"):
                total = sample.value
            elif sample.name.endswith("_bucket"):
                bound = float(sample.labels["le"])
                # The largest bucket at or below the threshold counts the checkouts that did
                # not wait.
                if bound <= WAITED_SECONDS and bound > fast_bound:
                    fast_bound, fast = bound, sample.value
    return PoolWaits(int(count), total, int(count - fast))


def analyze_pool(
    engine: AsyncEngine, metrics: FlowMetrics | None
) -> tuple[list[Finding], list[Skipped]]:
    pool = engine.sync_engine.pool
    size_reader = getattr(pool, "size", None)
    if not callable(size_reader):
        return [], [Skipped(Area.DATABASE, f"{type(pool).__name__} keeps no pool to saturate")]
    size = int(size_reader())
    limit = size + max(0, int(getattr(pool, "_max_overflow", 0)))
    in_use = int(pool.checkedout())  # type: ignore[attr-defined]
    if metrics is None:
        return [], [Skipped(Area.DATABASE, "pool wait not analysed: no metrics registry given")]
    waits = pool_waits(metrics)
    # Opening a connection is slow too (tens of ms to PostgreSQL) but is not waiting for a
    # free one: the pool opens at most `limit` connections (more only after invalidations).
    waits = PoolWaits(waits.checkouts, waits.total_seconds, max(0, waits.waited - limit))
    if waits.checkouts == 0:
        return [], [Skipped(Area.DATABASE, "pool wait not analysed: no checkout recorded yet")]
    waited_share = waits.waited / waits.checkouts
    mean_wait = waits.total_seconds / waits.checkouts if waits.waited else 0.0
    evidence: dict[str, float | int | str] = {
        "pool_size": size,
        "max_connections": limit,
        "in_use": in_use,
        "checkouts": waits.checkouts,
        "waited_checkouts": waits.waited,
        "mean_wait_ms": round(mean_wait * 1000, 2),
    }
    if waited_share < 0.05 and mean_wait < WAITED_SECONDS:
        return [], []
    critical = waited_share >= 0.2 or mean_wait >= 0.1
    finding = Finding(
        area=Area.DATABASE,
        code="db.pool_saturated",
        title=f"{waited_share:.0%} of connection checkouts waited for a free connection "
        f"(mean {mean_wait * 1000:.0f} ms)",
        severity=Severity.CRITICAL if critical else Severity.WARNING,
        impact=min(1.0, max(waited_share, mean_wait)),
        evidence=evidence,
        recommendation=(
            f"Raise FLOW_DATABASE_POOL_SIZE (now {size}) and FLOW_DATABASE_MAX_OVERFLOW "
            f"(now {limit - size}) within the server's max_connections, or shorten the "
            "transactions that hold connections (long statements, work done while a session "
            "is open)"
        ),
        subject="connection pool",
    )
    return [finding], []
