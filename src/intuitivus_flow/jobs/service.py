"""Enqueue background work inside the caller's transaction."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from intuitivus_flow.jobs.models import Job
from intuitivus_flow.jobs.repository import JobQueueRepository, QueueStats
from intuitivus_flow.jobs.wakeups import notify_enqueued
from intuitivus_flow.kit.models import utcnow
from intuitivus_flow.observability.tracing import inject_context


async def enqueue(
    session: AsyncSession,
    *,
    kind: str,
    payload: dict[str, Any],
    workspace_id: uuid.UUID | None = None,
    queue: str = "default",
    run_at: datetime | None = None,
    dedupe_key: str | None = None,
    max_attempts: int = 5,
    trace_context: dict[str, str] | None = None,
) -> Job:
    """Add a job that becomes visible to workers when the caller's transaction commits.

    With a `dedupe_key`, enqueuing the same work twice returns the first job. The current
    trace context goes with the job, so the worker's spans join the trace that asked for it.
    On PostgreSQL a job due now wakes idle workers when the transaction commits.
    """
    now = utcnow()
    job = await JobQueueRepository(session).enqueue(
        Job(
            workspace_id=workspace_id,
            queue=queue,
            kind=kind,
            payload=payload,
            run_at=run_at or now,
            dedupe_key=dedupe_key,
            max_attempts=max_attempts,
            trace_context=trace_context if trace_context is not None else inject_context(),
        )
    )
    if run_at is None or run_at <= now:  # a job for later is found by polling when due
        await notify_enqueued(session, queue)
    return job


async def queue_stats(session: AsyncSession) -> list[QueueStats]:
    """Depth (ready jobs), lag (age of the oldest ready job) and running count per queue."""
    return await JobQueueRepository(session).stats(utcnow())
