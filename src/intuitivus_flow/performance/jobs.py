"""Jobs: queue lag and depth per queue, handler durations and retries per kind.

Lag is the age of the oldest job that is due and waiting (`jobs.service.queue_stats`, the same
figure the `flow_job_queue_lag_seconds` gauge and the workers' KEDA trigger use): a queue
whose lag grows is one its workers cannot keep up with.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from intuitivus_flow.jobs.service import queue_stats
from intuitivus_flow.performance.findings import Area, AreaReport, Finding, Severity, Table
from intuitivus_flow.performance.repository import HandlerStats, JobHistoryQueries

# The workers' KEDA trigger scales out at 30 s of lag (deploy/k8s/base/autoscaling).
LAG_WARNING_SECONDS = 30.0
LAG_CRITICAL_SECONDS = 300.0
SLOW_HANDLER_SECONDS = 30.0
RETRY_SHARE_WARNING = 0.1
MIN_JOBS = 5


async def analyze_jobs(session: AsyncSession, *, now: datetime, window: timedelta) -> AreaReport:
    queues = await queue_stats(session)
    handlers = await JobHistoryQueries(session).handlers(since=now - window, until=now)
    findings: list[Finding] = []
    for queue in queues:
        if queue.lag_seconds >= LAG_WARNING_SECONDS:
            findings.append(_lagging(queue.queue, queue.lag_seconds, queue.depth, queue.running))
    for handler in handlers:
        findings.extend(_handler_findings(handler))
    tables = (
        Table(
            title="Queues now",
            columns=("queue", "waiting", "lag s", "running"),
            rows=tuple(
                (q.queue, q.depth, round(q.lag_seconds, 1), q.running)
                for q in sorted(queues, key=lambda q: -q.lag_seconds)
            ),
            chart="lag s",
            unit="s",
        ),
        Table(
            title="Handlers (jobs finished in the window)",
            columns=("kind", "queue", "jobs", "failed", "retried", "mean s", "max s", "wait s"),
            rows=tuple(
                (
                    h.kind,
                    h.queue,
                    h.finished,
                    h.failed,
                    h.retried,
                    round(h.mean_seconds, 3),
                    round(h.max_seconds, 3),
                    round(h.mean_wait_seconds, 3),
                )
                for h in sorted(handlers, key=lambda h: -h.mean_seconds * h.finished)
            ),
            chart="mean s",
            unit="s",
        ),
    )
    return AreaReport(Area.JOBS, findings=tuple(findings), tables=tables)


def _lagging(queue: str, lag: float, depth: int, running: int) -> Finding:
    return Finding(
        area=Area.JOBS,
        code="jobs.queue_lag",
        title=f"Queue {queue} is falling behind: the oldest due job has waited {lag:.0f} s",
        severity=Severity.CRITICAL if lag >= LAG_CRITICAL_SECONDS else Severity.WARNING,
        impact=min(1.0, lag / LAG_CRITICAL_SECONDS),
        evidence={"lag_seconds": round(lag, 1), "waiting": depth, "running": running},
        recommendation=(
            f"Add workers for the {queue} queue (`intuitivus-flow worker --queues {queue}`, or "
            "raise the KEDA ScaledObject's maxReplicaCount), and check the handlers table for "
            "a kind whose duration grew; "
            + (
                "no job is running: is any worker up for this queue?"
                if running == 0
                else f"{running} running now."
            )
        ),
        subject=queue,
    )


def _handler_findings(handler: HandlerStats) -> list[Finding]:
    findings = []
    if handler.finished >= MIN_JOBS and handler.mean_seconds >= SLOW_HANDLER_SECONDS:
        findings.append(
            Finding(
                area=Area.JOBS,
                code="jobs.slow_handler",
                title=f"{handler.kind} jobs take {handler.mean_seconds:.0f} s on average",
                severity=Severity.WARNING,
                impact=min(1.0, handler.mean_seconds / LAG_CRITICAL_SECONDS),
                evidence={
                    "jobs": handler.finished,
                    "mean_seconds": round(handler.mean_seconds, 1),
                    "max_seconds": round(handler.max_seconds, 1),
                },
                recommendation=f"Split {handler.kind} into smaller jobs or move its slow "
                "calls out of the job's transaction; a long job holds a worker slot and its "
                "lease.",
                subject=handler.kind,
            )
        )
    retry_share = handler.retried / handler.finished if handler.finished else 0.0
    if handler.finished >= MIN_JOBS and retry_share >= RETRY_SHARE_WARNING:
        findings.append(
            Finding(
                area=Area.JOBS,
                code="jobs.retries",
                title=f"{retry_share:.0%} of {handler.kind} jobs needed retries",
                severity=Severity.WARNING,
                impact=retry_share * 0.5,
                evidence={
                    "jobs": handler.finished,
                    "retried": handler.retried,
                    "failed": handler.failed,
                },
                recommendation=f"Read last_error of the retried {handler.kind} jobs: a "
                "dependency that times out or a bug raised before the commit costs a whole "
                "attempt each time.",
                subject=handler.kind,
            )
        )
    return findings
