"""Job retention: finished jobs are deleted after a while, so the `jobs` table stops growing.

Succeeded and cancelled jobs go after `FLOW_JOB_RETENTION_DAYS` (14), failed ones after
`FLOW_JOB_FAILED_RETENTION_DAYS` (30: their errors are what someone may still look for). The
prune deletes in batches, each its own short transaction, so it never holds many row locks or
one long transaction against the workers; a run stops after `MAX_BATCHES` and the next hour
carries on.

A deleted job's dedupe key is free again. Nothing re-enqueues an old key: periodic slots name
their time, and the keys of other work (a campaign step per contact, an agent task) are only
enqueued while that work is live; the campaign steps' exactly-once rests on their own
deliveries table besides.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from intuitivus_flow.jobs.context import JobContext
from intuitivus_flow.jobs.models import JobStatus
from intuitivus_flow.jobs.registry import TaskList
from intuitivus_flow.jobs.repository import JobQueueRepository
from intuitivus_flow.kit.db import SessionFactory, unit_of_work

PRUNE_FINISHED = "jobs.prune_finished"
BATCH = 500
MAX_BATCHES = 200

TASKS = TaskList("jobs")

DONE = [JobStatus.succeeded, JobStatus.cancelled]
FAILED = [JobStatus.failed]


@dataclass(frozen=True, slots=True)
class Retention:
    done: timedelta
    failed: timedelta


@TASKS.periodic(PRUNE_FINISHED, every=timedelta(hours=1))
async def prune_finished_jobs(job: JobContext) -> dict[str, Any]:
    settings = job.settings
    retention = Retention(
        done=timedelta(days=settings.job_retention_days),
        failed=timedelta(days=settings.job_failed_retention_days),
    )
    return await prune(job.sessions, retention, now=job.now())


async def prune(
    sessions: SessionFactory,
    retention: Retention,
    *,
    now: datetime,
    batch: int = BATCH,
    max_batches: int = MAX_BATCHES,
) -> dict[str, Any]:
    """Delete the finished jobs past their retention; returns how many of each kind went."""
    done = await _prune_statuses(sessions, DONE, now - retention.done, batch, max_batches)
    failed = await _prune_statuses(sessions, FAILED, now - retention.failed, batch, max_batches)
    return {"deleted_done": done, "deleted_failed": failed}


async def _prune_statuses(
    sessions: SessionFactory, statuses: list[JobStatus], cutoff: datetime, batch: int, batches: int
) -> int:
    deleted = 0
    for _ in range(batches):
        async with unit_of_work(sessions) as session:
            count = await JobQueueRepository(session).delete_finished(
                statuses=statuses, finished_before=cutoff, limit=batch
            )
        deleted += count
        if count < batch:
            break
    return deleted
