"""Composition root of the job system: which domains' tasks a worker runs, and what they get.

`jobs/` knows no domain and no app: each domain declares its tasks in its `tasks.py` (a
`TaskList`), and this module names those lists, builds a `TaskRegistry` for each worker, and
gives the worker its app's share of resources (`JobResources`: settings, sessions, secret box,
outbound rule, clock). It also runs the embedded worker beside the web app and is the
`intuitivus-flow worker` command.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import AsyncIterator, Iterable
from datetime import timedelta
from typing import Annotated, Any

import typer

from intuitivus_flow.agents import crews as crew_tasks
from intuitivus_flow.agents import tasks as agent_tasks
from intuitivus_flow.alerts import tasks as alert_tasks
from intuitivus_flow.analytics import goals_tasks
from intuitivus_flow.analytics import tasks as analytics_tasks
from intuitivus_flow.backup import tasks as backup_tasks
from intuitivus_flow.billing import tasks as billing_tasks
from intuitivus_flow.campaigns import tasks as campaign_tasks
from intuitivus_flow.config import ConfigurationError, get_settings
from intuitivus_flow.context import AppContext
from intuitivus_flow.conversations import tasks as conversation_tasks
from intuitivus_flow.dataport import tasks as dataport_tasks
from intuitivus_flow.events import tasks as event_tasks
from intuitivus_flow.forecasting import tasks as forecasting_tasks
from intuitivus_flow.jobs import retention
from intuitivus_flow.jobs.context import JobResources
from intuitivus_flow.jobs.models import QUEUES
from intuitivus_flow.jobs.registry import TaskRegistry, TaskSpec
from intuitivus_flow.jobs.wakeups import wakeups_for
from intuitivus_flow.jobs.worker import Worker
from intuitivus_flow.metrics_history import tasks as history_tasks

logger = logging.getLogger(__name__)

# Every domain's declared tasks; a worker runs all of them unless built with fewer.
DOMAIN_TASKS: tuple[Iterable[TaskSpec], ...] = (
    agent_tasks.TASKS,
    alert_tasks.TASKS,
    crew_tasks.TASKS,
    backup_tasks.TASKS,
    billing_tasks.TASKS,
    campaign_tasks.TASKS,
    conversation_tasks.TASKS,
    dataport_tasks.TASKS,
    event_tasks.TASKS,
    forecasting_tasks.TASKS,
    history_tasks.TASKS,
    retention.TASKS,
    goals_tasks.TASKS,
    analytics_tasks.TASKS,
)


def task_registry(*declarations: Iterable[TaskSpec]) -> TaskRegistry:
    """A new registry of the given declarations (default: every domain's)."""
    return TaskRegistry(declarations or DOMAIN_TASKS)


def job_resources(context: AppContext) -> JobResources:
    """The app's share a worker hands its handlers (the same objects the app itself uses)."""
    return JobResources(
        settings=context.settings,
        sessions=context.sessions,
        secrets=context.secrets,
        outbound=context.outbound,
    )


def worker_for(context: AppContext, *, tasks: TaskRegistry | None = None, **options: Any) -> Worker:
    """A worker of `context`'s app with its own registry (every domain's tasks by default);
    on PostgreSQL it is woken by LISTEN/NOTIFY as soon as a job is enqueued."""
    options.setdefault("lease", timedelta(seconds=context.settings.worker_lease_seconds))
    options.setdefault("wakeups", wakeups_for(context.engine.url))
    return Worker(job_resources(context), tasks or task_registry(), **options)


@contextlib.asynccontextmanager
async def embedded_worker(context: AppContext) -> AsyncIterator[Worker | None]:
    """Run a worker beside the app when configured (default: everywhere but production,
    where workers are their own processes: `intuitivus-flow worker`)."""
    if not context.settings.runs_embedded_worker:
        yield None
        return
    worker = worker_for(context, queues=QUEUES, concurrency=context.settings.worker_concurrency)
    task = asyncio.create_task(worker.run(), name="embedded-job-worker")
    logger.info("embedded job worker %s started", worker.name)
    try:
        yield worker
    finally:
        worker.stop()
        with contextlib.suppress(asyncio.CancelledError, TimeoutError):
            await asyncio.wait_for(task, timeout=10)


def worker_command(
    queues: Annotated[str, typer.Option(help="Comma-separated queues to take jobs from.")] = (
        ",".join(QUEUES)
    ),
    concurrency: Annotated[int, typer.Option(min=1, max=64, help="Jobs run at once.")] = 4,
) -> None:
    """Take jobs from the queue until stopped (SIGTERM/SIGINT finish the running jobs first)."""
    import intuitivus_flow.models  # noqa: F401 - foreign keys need every table mapped

    try:
        context = AppContext.build(get_settings())
    except ConfigurationError as exc:
        typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
        raise typer.Exit(2) from None

    async def run() -> None:
        job_worker = worker_for(
            context, queues=[q.strip() for q in queues.split(",")], concurrency=concurrency
        )
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, job_worker.stop)
        typer.echo(f"worker {job_worker.name} taking jobs from {queues}")
        try:
            await job_worker.run()
        finally:
            await context.close()

    asyncio.run(run())
