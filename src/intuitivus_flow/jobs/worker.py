"""The worker: claims jobs, runs their handler, and records the outcome.

Delivery is at least once: a worker that dies mid-job leaves its lease to expire, and another
worker runs the job again. Handlers therefore make their effects idempotent (unique keys on
what they write). A handler's database writes and the job's completion commit together, and
the completion is fenced on the lease, so a worker that lost its lease cannot also commit.

A worker is built with its own `TaskRegistry` and `JobResources` (by the composition root,
`intuitivus_flow/task_registry.py`); every handler is called with a `JobContext` made of those
resources and the job's own session, so it keeps nothing of an app in module state.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import socket
import uuid
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from opentelemetry import trace

from intuitivus_flow.jobs.context import JobResources
from intuitivus_flow.jobs.registry import TaskRegistry
from intuitivus_flow.jobs.repository import JobQueueRepository
from intuitivus_flow.kit.db import is_unavailable, unit_of_work
from intuitivus_flow.kit.models import utcnow
from intuitivus_flow.observability.tracing import attach_context

logger = logging.getLogger(__name__)
_tracer = trace.get_tracer(__name__)


class JobLeaseLost(RuntimeError):
    """Another worker took the job over; this run's writes must not commit."""


class PermanentJobError(Exception):
    """A failure retrying cannot fix (bad payload, deleted target): fail the job at once."""


class JobDeferred(Exception):
    """Not now (e.g. the job's campaign is paused): run the job again at `run_at` without
    spending an attempt. Like any failure, the handler's writes are rolled back."""

    def __init__(self, run_at: datetime, reason: str) -> None:
        super().__init__(reason)
        self.run_at = run_at


class Wakeups(Protocol):
    """Something that calls `wake()` when a job is enqueued (LISTEN/NOTIFY on PostgreSQL)."""

    def listen(
        self, queues: Iterable[str], wake: Callable[[], None]
    ) -> contextlib.AbstractAsyncContextManager[None]: ...


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    base: timedelta = timedelta(seconds=2)
    cap: timedelta = timedelta(minutes=10)

    def delay(self, attempt: int) -> timedelta:
        # Exponential with "full jitter": retries of many failed jobs spread out.
        ceiling = min(self.cap.total_seconds(), self.base.total_seconds() * 2 ** (attempt - 1))
        return timedelta(seconds=random.uniform(ceiling / 2, ceiling))  # noqa: S311


# The longest pause between claims while the database keeps failing them: how late, at most,
# a worker notices that the database is back.
CLAIM_PAUSE_CAP = 10.0


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class Worker:
    def __init__(
        self,
        resources: JobResources,
        tasks: TaskRegistry,
        *,
        queues: Iterable[str] = ("default",),
        concurrency: int = 2,
        poll_interval: float = 1.0,
        lease: timedelta = timedelta(minutes=5),
        retry: RetryPolicy | None = None,
        name: str | None = None,
        tracer: trace.Tracer | None = None,
        schedule_every: float = 60.0,
        wakeups: Wakeups | None = None,
    ) -> None:
        self.resources = resources
        self.sessions = resources.sessions
        self.tasks = tasks
        self.queues = list(queues)
        self.concurrency = concurrency
        self.poll_interval = poll_interval
        self.lease = lease
        self.retry = retry or RetryPolicy()
        self.name = name or worker_name()
        self.tracer = tracer or _tracer
        self.schedule_every = _scheduling_period(tasks, self.queues, schedule_every)
        self.wakeups = wakeups
        self._stopping = asyncio.Event()
        self._wake = asyncio.Event()
        self._failed_claims = 0  # consecutive, over all slots: the database's, not a slot's
        self._outage_started = 0.0

    def stop(self) -> None:
        self._stopping.set()
        self._wake.set()

    def wake(self) -> None:
        """A job may be ready: idle slots poll now instead of at their next interval."""
        self._wake.set()

    async def run(self) -> None:
        """Process jobs until `stop()`; each slot claims and runs one job at a time."""
        async with self._listening():
            slots = (self._slot() for _ in range(self.concurrency))
            await asyncio.gather(self._keep_periodic_jobs_scheduled(), *slots)

    @contextlib.asynccontextmanager
    async def _listening(self) -> AsyncIterator[None]:
        if self.wakeups is None:
            yield
            return
        async with self.wakeups.listen(self.queues, self.wake):
            yield

    async def schedule_periodic(self) -> int:
        """Create the current slot's job of every periodic task this worker's queues serve."""
        from intuitivus_flow.jobs import periodic  # periodic enqueues through the service

        async with unit_of_work(self.sessions) as session:
            jobs = await periodic.schedule_due(session, queues=self.queues, tasks=self.tasks)
        return len(jobs)

    async def _keep_periodic_jobs_scheduled(self) -> None:
        failing = False
        while not self._stopping.is_set():
            try:
                await self.schedule_periodic()
            except Exception as error:  # same as polling: a database hiccup must not stop it
                # Once per outage, one line: a traceback every cycle would drown the log while
                # the database is away. Anything else is a bug: its traceback is worth it.
                if not failing:
                    logger.error(
                        "job worker %s cannot schedule periodic jobs: %s: %s",
                        self.name,
                        type(error).__name__,
                        str(error).splitlines()[0][:200] if str(error) else "",
                        exc_info=not is_unavailable(error),
                    )
                failing = True
            else:
                if failing:
                    logger.info("job worker %s schedules periodic jobs again", self.name)
                failing = False
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), timeout=self.schedule_every)

    async def run_until_idle(self, max_jobs: int = 10_000) -> int:
        """Process ready jobs until none is left (tests, drills, one-shot CLI)."""
        done = 0
        while done < max_jobs and await self.run_one():
            done += 1
        return done

    async def run_one(self) -> bool:
        job_id = await self._claim()
        if job_id is None:
            return False
        await self._execute(job_id)
        return True

    async def _slot(self) -> None:
        while not self._stopping.is_set():
            try:
                worked = await self.run_one()
            except Exception as error:  # a broken database must not kill the worker
                await self._pause_claiming(error)
                continue
            self._claims_resumed()
            if not worked:
                await self._idle()

    async def _pause_claiming(self, error: Exception) -> None:
        """The database failed a claim: stop claiming for a while, longer each time it fails
        again (up to `CLAIM_PAUSE_CAP`), and say so once per outage, not once per poll."""
        self._failed_claims += 1
        if self._failed_claims == 1:
            self._outage_started = asyncio.get_running_loop().time()
            logger.error(
                "job worker %s pauses claiming: %s: %s",
                self.name,
                type(error).__name__,
                str(error).splitlines()[0][:200] if str(error) else "",
            )
        pause = min(CLAIM_PAUSE_CAP, self.poll_interval * 2 ** min(self._failed_claims, 16))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), timeout=pause)

    def _claims_resumed(self) -> None:
        if self._failed_claims:
            paused = asyncio.get_running_loop().time() - self._outage_started
            logger.info("job worker %s resumed claiming after %.1f s", self.name, paused)
            self._failed_claims = 0

    async def _idle(self) -> None:
        """Wait for a wake-up (a job enqueued, or stopping) or, failing one, the next poll."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), timeout=self.poll_interval)
        # Cleared after waking, before claiming: a wake-up that arrives while this slot claims
        # stays set, so no enqueue between the claim and the next wait goes unnoticed.
        if not self._stopping.is_set():
            self._wake.clear()

    async def _claim(self) -> uuid.UUID | None:
        async with unit_of_work(self.sessions) as session:
            return await JobQueueRepository(session).claim(
                queues=self.queues, worker=self.name, now=utcnow(), lease=self.lease
            )

    async def _execute(self, job_id: uuid.UUID) -> None:
        try:
            async with unit_of_work(self.sessions) as session:
                job = await JobQueueRepository(session).get_or_raise(job_id)
                handler = self.tasks.handler(job.kind)
                if handler is None:
                    raise PermanentJobError(f"no handler for job kind {job.kind!r}")
                with (
                    attach_context(job.trace_context),
                    self.tracer.start_as_current_span(
                        f"job {job.kind}",
                        attributes={"job.id": str(job.id), "job.attempt": job.attempts},
                    ),
                ):
                    result = await handler(self.resources.for_job(session, job, self.name))
                if not await JobQueueRepository(session).finish(
                    job_id, worker=self.name, now=utcnow(), result=result
                ):
                    raise JobLeaseLost(f"job {job_id} was taken over; discarding this run")
        except JobLeaseLost:
            logger.warning("job %s: lease lost by %s", job_id, self.name)
        except JobDeferred as deferred:
            async with unit_of_work(self.sessions) as session:
                await JobQueueRepository(session).defer(
                    job_id, worker=self.name, run_at=deferred.run_at
                )
            logger.info("job %s deferred to %s: %s", job_id, deferred.run_at.isoformat(), deferred)
        except Exception as error:  # every failure is recorded on the job, never lost
            await self._record_failure(job_id, error)

    async def _record_failure(self, job_id: uuid.UUID, error: Exception) -> None:
        message = f"{type(error).__name__}: {error}"[:2000]
        async with unit_of_work(self.sessions) as session:
            repository = JobQueueRepository(session)
            job = await repository.get_or_raise(job_id)
            now = utcnow()
            if isinstance(error, PermanentJobError) or job.attempts >= job.max_attempts:
                await repository.give_up(job_id, worker=self.name, now=now, error=message)
                logger.error("job %s (%s) failed for good: %s", job_id, job.kind, message)
            else:
                run_at = now + self.retry.delay(job.attempts)
                await repository.retry_later(job_id, worker=self.name, run_at=run_at, error=message)
                logger.warning(
                    "job %s (%s) attempt %d failed, retry at %s: %s",
                    job_id,
                    job.kind,
                    job.attempts,
                    run_at.isoformat(),
                    message,
                )


def _scheduling_period(tasks: TaskRegistry, queues: Iterable[str], most: float) -> float:
    """How often to schedule periodic slots: at most `most` seconds, and at least twice per
    slot of the shortest period, so no slot of a minute-long task goes unscheduled."""
    periods = [spec.every.total_seconds() for spec in tasks.periodic(queues) if spec.every]
    return min([most, *(period / 2 for period in periods)])
