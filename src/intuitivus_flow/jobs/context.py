"""What a handler is given: one explicit context per job, nothing read from module state.

The composition root (`intuitivus_flow/task_registry.py`) builds a worker's `JobResources`
from its app's context once; the worker adds the job's own session and row for each call. A
process may hold several apps (tests, reloads): each worker carries its own app's resources,
so no handler can see another app's settings or secrets.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from intuitivus_flow.config import Settings
from intuitivus_flow.jobs.models import Job
from intuitivus_flow.kit.crypto import SecretBox
from intuitivus_flow.kit.db import SessionFactory
from intuitivus_flow.kit.models import utcnow
from intuitivus_flow.kit.outbound import OutboundPolicy

Clock = Callable[[], datetime]


@dataclass(frozen=True, slots=True)
class JobResources:
    """A worker's share of its app: the same for every job that worker runs."""

    settings: Settings
    # For side-channel writes beside the job's own transaction (progress, batched deletes).
    sessions: SessionFactory
    secrets: SecretBox
    # Where requests to tenant-chosen URLs may go; `outbound.client(...)` is the guarded client.
    outbound: OutboundPolicy
    clock: Clock = utcnow

    def for_job(self, session: AsyncSession, job: Job, worker: str) -> JobContext:
        return JobContext(
            session=session,
            job=job,
            worker=worker,
            settings=self.settings,
            sessions=self.sessions,
            secrets=self.secrets,
            outbound=self.outbound,
            clock=self.clock,
        )


@dataclass(frozen=True, slots=True)
class JobContext:
    """One run of one job. `session` is the job's transaction: the handler's writes commit
    with the job's fenced completion, or not at all."""

    session: AsyncSession
    job: Job
    worker: str  # the claim's holder, for extending the lease of a long job
    settings: Settings
    sessions: SessionFactory
    secrets: SecretBox
    outbound: OutboundPolicy
    clock: Clock

    def now(self) -> datetime:
        return self.clock()
