"""The KPI goal watcher on the job queue: hourly, every goal's KPI scored for a drop.

The KPIs move by the day at most (30-day windows over invoices, contacts and conversions), so
an hourly slot notices a drop the day it happens without recomputing the series every minute.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from intuitivus_flow.alerts.notifications.service import Notifier
from intuitivus_flow.analytics.goals_service import WATCHER, watch_goals
from intuitivus_flow.jobs.context import JobContext
from intuitivus_flow.jobs.registry import TaskList

TASKS = TaskList("analytics.goals")


@TASKS.periodic(WATCHER, every=timedelta(hours=1))
async def watch_kpi_goals(job: JobContext) -> dict[str, Any]:
    settings = job.settings
    # The job's own transaction: the goals' verdicts and the alerts commit with the job.
    return await watch_goals(
        job.session,
        now=job.now(),
        notifier=Notifier.from_settings(settings),
        external_url=settings.public_url.rstrip("/"),
    )
