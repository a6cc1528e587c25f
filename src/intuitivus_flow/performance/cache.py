"""Cache: hit ratio of the per-workspace view cache and of Redis, and Redis's evictions.

The view cache counts its reads (`flow_view_cache_requests_total`, kit/cache.py), so every
worker's reads add up. Redis's own figures come from `INFO stats`/`INFO memory`: server-wide
and since Redis started, so they include other users of the same server.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from prometheus_client.metrics_core import Metric
from redis.asyncio import Redis

from intuitivus_flow.performance.findings import Area, AreaReport, Finding, Severity, Skipped, Table

VIEW_CACHE = "flow_view_cache_requests"
MIN_READS = 20
HIT_RATIO_WARNING = 0.5
REDIS_MIN_LOOKUPS = 1000


def view_cache_reads(metrics: Iterable[Metric]) -> dict[str, float]:
    reads: dict[str, float] = {}
    for metric in metrics:
        if metric.name != VIEW_CACHE:  # prometheus_client drops `_total` from the family name
            continue
        for sample in metric.samples:
            if sample.name.endswith("_total"):
                outcome = sample.labels.get("outcome", "")
                reads[outcome] = reads.get(outcome, 0.0) + sample.value
    return reads


async def analyze_cache(metrics: Iterable[Metric], redis: Redis | None) -> AreaReport:
    findings: list[Finding] = []
    skipped: list[Skipped] = []
    rows: list[tuple[float | int | str, ...]] = []
    reads = view_cache_reads(metrics)
    hits, misses, bypasses = (reads.get(name, 0.0) for name in ("hit", "miss", "bypass"))
    total = hits + misses + bypasses
    if total == 0:
        skipped.append(Skipped(Area.CACHE, "the view cache has not been read in this process"))
    else:
        ratio = hits / total
        rows.append(("view cache (dashboard, /api/auth/me)", int(total), round(ratio, 3), "-"))
        if total >= MIN_READS and ratio < HIT_RATIO_WARNING:
            findings.append(_view_cache_finding(ratio, hits, misses, bypasses))
    if redis is None:
        skipped.append(Skipped(Area.CACHE, "no Redis configured (FLOW_REDIS_URL)"))
    else:
        try:
            stats = await redis.info("stats")
            memory = await redis.info("memory")
        except Exception as exc:  # Redis away: the rest of the report still stands
            skipped.append(Skipped(Area.CACHE, f"Redis INFO failed: {type(exc).__name__}"))
        else:
            findings.extend(_redis_findings(stats, memory, rows))
    table = Table(
        title="Cache hit ratios",
        columns=("cache", "lookups", "hit ratio", "evicted keys"),
        rows=tuple(rows),
        chart="hit ratio",
    )
    return AreaReport(Area.CACHE, findings=tuple(findings), skipped=tuple(skipped), tables=(table,))


def _view_cache_finding(ratio: float, hits: float, misses: float, bypasses: float) -> Finding:
    if bypasses > misses:
        cause = (
            "Most reads bypassed the cache because Redis could not be trusted: check "
            "FLOW_REDIS_URL and the redis dependency on the Service health page."
        )
    else:
        cause = (
            "Reads miss and recompute: check that the cache keeps entries (MemoryCache's "
            "max_entries, Redis maxmemory), that clients do not send Cache-Control: no-cache on "
            "every request, and that no background write bumps the workspace's data version "
            "on every request (kit/cache.py)."
        )
    return Finding(
        area=Area.CACHE,
        code="cache.view_hit_ratio",
        title=f"The view cache serves {ratio:.0%} of reads",
        severity=Severity.WARNING,
        impact=1.0 - ratio,
        evidence={
            "hits": int(hits),
            "misses": int(misses),
            "bypassed": int(bypasses),
            "hit_ratio": round(ratio, 3),
        },
        recommendation=cause,
        subject="view cache",
    )


def _redis_findings(
    stats: dict[str, Any], memory: dict[str, Any], rows: list[tuple[float | int | str, ...]]
) -> list[Finding]:
    hits = int(stats.get("keyspace_hits", 0))
    misses = int(stats.get("keyspace_misses", 0))
    evicted = int(stats.get("evicted_keys", 0))
    lookups = hits + misses
    ratio = hits / lookups if lookups else 0.0
    rows.append(("Redis (server-wide)", lookups, round(ratio, 3), evicted))
    findings = []
    if evicted > 0:
        maxmemory = int(memory.get("maxmemory", 0))
        policy = str(memory.get("maxmemory_policy", "?"))
        findings.append(
            Finding(
                area=Area.CACHE,
                code="cache.redis_evictions",
                title=f"Redis evicted {evicted} keys for lack of memory",
                severity=Severity.WARNING,
                impact=min(1.0, evicted / max(lookups, 1)),
                evidence={
                    "evicted_keys": evicted,
                    "maxmemory_bytes": maxmemory,
                    "used_memory_bytes": int(memory.get("used_memory", 0)),
                },
                recommendation=f"Raise Redis maxmemory (now {maxmemory} bytes, policy {policy}):"
                " evicted cache entries and versions are recomputed from the database.",
                subject="Redis",
            )
        )
    if lookups >= REDIS_MIN_LOOKUPS and ratio < HIT_RATIO_WARNING:
        findings.append(
            Finding(
                area=Area.CACHE,
                code="cache.redis_hit_ratio",
                title=f"Redis answers {ratio:.0%} of key lookups from existing keys",
                severity=Severity.INFO,
                impact=(1.0 - ratio) * 0.1,
                evidence={"keyspace_hits": hits, "keyspace_misses": misses},
                recommendation="Redis also holds counters and leases whose first read misses "
                "by design; a low ratio matters when the view cache's own ratio is low too.",
                subject="Redis",
            )
        )
    return findings
