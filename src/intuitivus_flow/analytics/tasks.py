"""The copy of events into the analytics store, on the job queue every minute: requests only
write the application database, so analytics never slows one (analytics/copy.py)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from intuitivus_flow.analytics.copy import copy_to_store
from intuitivus_flow.analytics.store import open_store
from intuitivus_flow.jobs.context import JobContext
from intuitivus_flow.jobs.registry import TaskList

COPY = "analytics.copy_events"

TASKS = TaskList("analytics")


@TASKS.periodic(COPY, every=timedelta(minutes=1))
async def copy_events(job: JobContext) -> dict[str, Any]:
    store = open_store(job.settings.resolved_analytics_url)
    report = await copy_to_store(job.sessions, store, batch_size=job.settings.analytics_copy_batch)
    return report.as_dict()
