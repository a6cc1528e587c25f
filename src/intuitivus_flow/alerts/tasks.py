"""Notification retention: finished alert notifications and their send attempts are deleted
after `FLOW_NOTIFICATION_RETENTION_DAYS` (30), so `notification_deliveries` and
`notification_attempts` stop growing.

A delivery is finished once delivered or given up (`failed`, after the last retry); pending
ones are never touched, whatever their age, since the dispatcher still owes them a send. Like
the job and event prunes it deletes in batches, each its own short transaction (a delivery and
its attempts go together), and a run stops after `MAX_BATCHES`: the next hour carries on.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from intuitivus_flow.alerts.repository import DeliveryRepository
from intuitivus_flow.jobs.context import JobContext
from intuitivus_flow.jobs.registry import TaskList
from intuitivus_flow.kit.db import SessionFactory, unit_of_work

PRUNE = "alerts.prune_notifications"
# Ids are passed as an IN list: 500 stays well under SQLite's bound-parameter limit.
BATCH = 500
MAX_BATCHES = 200

TASKS = TaskList("alerts")


@TASKS.periodic(PRUNE, every=timedelta(hours=1))
async def prune_notifications(job: JobContext) -> dict[str, Any]:
    days = job.settings.notification_retention_days
    deleted = await prune(job.sessions, cutoff=job.now() - timedelta(days=days))
    return {"deleted": deleted, "retention_days": days}


async def prune(
    sessions: SessionFactory,
    *,
    cutoff: datetime,
    batch: int = BATCH,
    max_batches: int = MAX_BATCHES,
) -> int:
    """Delete the finished deliveries created before `cutoff` with their attempts; returns how
    many deliveries went."""
    deleted = 0
    for _ in range(max_batches):
        async with unit_of_work(sessions) as session:
            count = await DeliveryRepository(session).delete_finished(
                created_before=cutoff, limit=batch
            )
        deleted += count
        if count < batch:
            break
    return deleted
