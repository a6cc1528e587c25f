"""Hourly maintenance of the metric history as a periodic job: monthly `metrics` partitions
created ahead (PostgreSQL) and history older than `FLOW_METRICS_RETENTION_DAYS` removed."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from intuitivus_flow.jobs.context import JobContext
from intuitivus_flow.jobs.registry import TaskList
from intuitivus_flow.metrics_history import service

MAINTAIN_HISTORY = "metrics_history.maintain"

TASKS = TaskList("metrics_history")


@TASKS.periodic(MAINTAIN_HISTORY, every=timedelta(hours=1))
async def maintain_history(job: JobContext) -> dict[str, Any]:
    outcome = await service.maintain(
        job.session, now=job.now(), retention_days=job.settings.metrics_retention_days
    )
    return {
        "created": outcome.created,
        "dropped": outcome.dropped,
        "deleted_rows": outcome.deleted_rows,
    }
