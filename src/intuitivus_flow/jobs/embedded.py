"""The worker that runs inside the web process in the embedded default (`make run`)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from datetime import timedelta

from intuitivus_flow.context import AppContext
from intuitivus_flow.jobs.worker import Worker

logger = logging.getLogger(__name__)

# Every queue the product uses; one worker (embedded or `intuitivus-flow worker`) takes them all
# unless told otherwise (`--queues campaigns` for a dedicated campaigns worker).
QUEUES = ("default", "campaigns")


def install_handlers() -> None:
    """Every domain's job handlers, registered once per process (repeat calls do nothing).

    Handlers hold no app state: the worker passes its app's context to each call.
    """
    from intuitivus_flow.agents import crews, tasks
    from intuitivus_flow.billing import tasks as billing_tasks
    from intuitivus_flow.campaigns import tasks as campaign_tasks
    from intuitivus_flow.conversations import tasks as conversation_tasks
    from intuitivus_flow.dataport import tasks as dataport_tasks

    tasks.install_handler()
    campaign_tasks.install_handlers()
    crews.install_handler()
    conversation_tasks.install_handlers()
    billing_tasks.install_handler()
    dataport_tasks.install_handler()


@contextlib.asynccontextmanager
async def embedded_worker(context: AppContext) -> AsyncIterator[Worker | None]:
    """Run a worker beside the app when configured (default: everywhere but production,
    where workers are their own processes: `intuitivus-flow worker`)."""
    install_handlers()
    if not context.settings.runs_embedded_worker:
        yield None
        return
    worker = Worker(
        context,
        queues=QUEUES,
        concurrency=context.settings.worker_concurrency,
        lease=timedelta(seconds=context.settings.worker_lease_seconds),
    )
    task = asyncio.create_task(worker.run(), name="embedded-job-worker")
    logger.info("embedded job worker %s started", worker.name)
    try:
        yield worker
    finally:
        worker.stop()
        with contextlib.suppress(asyncio.CancelledError, TimeoutError):
            await asyncio.wait_for(task, timeout=10)
