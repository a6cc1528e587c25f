"""Event retention: with `FLOW_EVENT_RETENTION_DAYS` set, events older than that are deleted
every hour, so the `events` table stops growing without bound.

`events` grows with every action of every workspace (docs/performance.md measures about
227 bytes a row with its indexes). The analytics store keeps its own copy, read
from here after a watermark, so set the retention longer than the copy can lag. Like the job
prune, it deletes in batches, each its own short transaction, and a run stops after
`MAX_BATCHES`: the next hour carries on.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from intuitivus_flow.events.repository import EventRetention
from intuitivus_flow.jobs.context import JobContext
from intuitivus_flow.jobs.registry import TaskList
from intuitivus_flow.kit.db import SessionFactory, unit_of_work

PRUNE = "events.prune"
BATCH = 1000
MAX_BATCHES = 200

TASKS = TaskList("events")


@TASKS.periodic(PRUNE, every=timedelta(hours=1))
async def prune_events(job: JobContext) -> dict[str, Any]:
    days = job.settings.event_retention_days
    if days == 0:
        return {"deleted": 0, "retention_days": 0}
    deleted = await prune(job.sessions, cutoff=job.now() - timedelta(days=days))
    return {"deleted": deleted, "retention_days": days}


async def prune(
    sessions: SessionFactory,
    *,
    cutoff: datetime,
    batch: int = BATCH,
    max_batches: int = MAX_BATCHES,
) -> int:
    """Delete events received before `cutoff`; returns how many went."""
    deleted = 0
    for _ in range(max_batches):
        async with unit_of_work(sessions) as session:
            count = await EventRetention(session).delete_received_before(cutoff, limit=batch)
        deleted += count
        if count < batch:
            break
    return deleted
