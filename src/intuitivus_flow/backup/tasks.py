"""Backups on the job queue: the daily backup + prune + drill (when `FLOW_BACKUP_DAILY_JOB`),
and the minute's watch that samples `backup_fresh` and `backup_drill_ok` for the alerts (when
`FLOW_BACKUP_WATCH`). Both are off by default: a development instance takes no backups.

The daily job extends its lease while it works: a dump of a large database may outlast the
lease, and another worker must not take the job over and start a second backup.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

from intuitivus_flow.backup import service
from intuitivus_flow.backup.databases import engine_of
from intuitivus_flow.backup.exceptions import BackupError
from intuitivus_flow.backup.status import health_samples
from intuitivus_flow.backup.store import store_for
from intuitivus_flow.jobs.context import JobContext
from intuitivus_flow.jobs.registry import TaskList
from intuitivus_flow.jobs.repository import JobQueueRepository
from intuitivus_flow.metrics_history.models import MetricSample

DAILY = "backup.daily"
WATCH = "backup.watch"
WATCH_INSTANCE = "backup"
LEASE_STEP = timedelta(minutes=5)

TASKS = TaskList("backup")


@contextlib.asynccontextmanager
async def _keeping_the_lease(job: JobContext) -> AsyncIterator[None]:
    async def extend() -> None:
        while True:
            await asyncio.sleep(LEASE_STEP.total_seconds() / 2)
            async with job.sessions() as session, session.begin():
                await JobQueueRepository(session).extend_lease(
                    job.job.id, worker=job.worker, until=job.now() + LEASE_STEP
                )

    keeper = asyncio.create_task(extend())
    try:
        yield
    finally:
        keeper.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await keeper


@TASKS.periodic(DAILY, every=timedelta(days=1))
async def daily_backup(job: JobContext) -> dict[str, Any]:
    settings = job.settings
    if not settings.backup_daily_job:
        return {"skipped": "FLOW_BACKUP_DAILY_JOB is off"}
    store = store_for(settings)
    async with _keeping_the_lease(job):
        created = await service.create_backup(settings, store)
        removed = await asyncio.to_thread(service.prune, store, service.policy_of(settings))
        try:
            drill = await service.drill_and_record(settings, store, created.name)
        except BackupError as exc:
            # Recorded for the BackupDrillFailed alert; retrying would not change the backup.
            return {"backup": created.name, "removed": removed, "drill": exc.detail}
    return {
        "backup": created.name,
        "removed": removed,
        "drill": "passed" if drill.ok else drill.problems,
        "rto_seconds": round(drill.restore_seconds, 3),
    }


@TASKS.periodic(WATCH, every=timedelta(minutes=1))
async def watch_backups(job: JobContext) -> dict[str, Any]:
    settings = job.settings
    if not settings.backup_watch:
        return {"skipped": "FLOW_BACKUP_WATCH is off"}
    now = job.now()
    samples = await asyncio.to_thread(
        health_samples,
        store_for(settings),
        engine_of(settings.resolved_database_url),
        now=now,
        max_age=timedelta(hours=settings.backup_max_age_hours),
    )
    job.session.add_all(
        MetricSample(name=name, time=now, instance=WATCH_INSTANCE, value=value)
        for name, value in samples.items()
    )
    return samples
