"""`intuitivus-flow worker`: a job worker process (production runs these beside the web)."""

from __future__ import annotations

import asyncio
import signal
from datetime import timedelta
from typing import Annotated

import typer

from intuitivus_flow.config import ConfigurationError, get_settings
from intuitivus_flow.context import AppContext
from intuitivus_flow.jobs.embedded import QUEUES, install_handlers
from intuitivus_flow.jobs.worker import Worker


def worker(
    queues: Annotated[str, typer.Option(help="Comma-separated queues to take jobs from.")] = (
        ",".join(QUEUES)
    ),
    concurrency: Annotated[int, typer.Option(min=1, max=64, help="Jobs run at once.")] = 4,
) -> None:
    """Take jobs from the queue until stopped (SIGTERM/SIGINT finish the running jobs first)."""
    try:
        context = AppContext.build(get_settings())
    except ConfigurationError as exc:
        typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
        raise typer.Exit(2) from None

    async def run() -> None:
        install_handlers()
        job_worker = Worker(
            context,
            queues=[q.strip() for q in queues.split(",")],
            concurrency=concurrency,
            lease=timedelta(seconds=context.settings.worker_lease_seconds),
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
