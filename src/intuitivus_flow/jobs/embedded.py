"""The worker that runs inside the web process in the embedded default (`make run`)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from intuitivus_flow.jobs.worker import Worker
from intuitivus_flow.kit.context import AppContext

logger = logging.getLogger(__name__)


def install_handlers(context: AppContext) -> None:
    """Every domain's job handlers, registered once per process."""
    from intuitivus_flow.agents import crews, tasks

    tasks.install_handler(context.secrets)
    crews.install_handler(context.secrets)


@contextlib.asynccontextmanager
async def embedded_worker(context: AppContext) -> AsyncIterator[Worker | None]:
    """Run a worker beside the app when configured (default: everywhere but production,
    where workers are their own processes: `intuitivus-flow worker`)."""
    install_handlers(context)
    if not context.settings.runs_embedded_worker:
        yield None
        return
    worker = Worker(context.sessions, concurrency=context.settings.worker_concurrency)
    task = asyncio.create_task(worker.run(), name="embedded-job-worker")
    logger.info("embedded job worker %s started", worker.name)
    try:
        yield worker
    finally:
        worker.stop()
        with contextlib.suppress(asyncio.CancelledError, TimeoutError):
            await asyncio.wait_for(task, timeout=10)
