"""The queue's SQL. Claiming is one atomic UPDATE, so two workers never take the same job:
PostgreSQL picks the row with FOR UPDATE SKIP LOCKED; SQLite serialises writers anyway."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, delete, func, inspect, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from intuitivus_flow.jobs.models import Job, JobStatus
from intuitivus_flow.kit.repository import Repository, WorkspaceRepository


@dataclass(frozen=True, slots=True)
class QueueStats:
    queue: str
    depth: int  # ready to run now
    lag_seconds: float  # how long the oldest ready job has waited
    running: int


class JobQueueRepository(Repository[Job]):
    """Instance-wide queue operations used by workers (jobs of every workspace)."""

    model = Job

    async def enqueue(self, job: Job) -> Job:
        if job.dedupe_key is None:
            return await self.add(job)
        # INSERT ... ON CONFLICT DO NOTHING rather than a savepoint: on SQLite a savepoint opened
        # as a transaction's first statement commits on its own, outside the caller's unit of
        # work. On PostgreSQL a concurrent insert of the same key makes this wait for its commit.
        await self.session.execute(
            _insert_for(self.session.get_bind().dialect.name, Job)
            .values(_column_values(job))
            .on_conflict_do_nothing(index_elements=[Job.dedupe_key])
        )
        stored = await self.first(select(Job).where(Job.dedupe_key == job.dedupe_key))
        if stored is None:  # pragma: no cover - the conflicting job was deleted meanwhile
            raise LookupError(f"job with dedupe key {job.dedupe_key!r} vanished")
        return stored

    async def claim(
        self, *, queues: list[str], worker: str, now: datetime, lease: timedelta
    ) -> uuid.UUID | None:
        claimable = or_(
            and_(Job.status == JobStatus.queued, Job.run_at <= now),
            # A running job whose lease ran out belongs to a worker that died: run it again.
            and_(Job.status == JobStatus.running, Job.locked_until < now),
        )
        candidate = (
            select(Job.id)
            .where(Job.queue.in_(queues), claimable)
            .order_by(Job.run_at, Job.created_at)
            .limit(1)
        )
        if self.session.get_bind().dialect.name == "postgresql":
            candidate = candidate.with_for_update(skip_locked=True)
        statement = (
            update(Job)
            .where(Job.id == candidate.scalar_subquery(), claimable)
            .values(
                status=JobStatus.running,
                locked_by=worker,
                locked_until=now + lease,
                attempts=Job.attempts + 1,
                started_at=now,
            )
            .returning(Job.id)
            .execution_options(synchronize_session=False)
        )
        return (await self.session.execute(statement)).scalar_one_or_none()

    async def finish(
        self, job_id: uuid.UUID, *, worker: str, now: datetime, result: dict[str, Any] | None
    ) -> bool:
        """Mark done, but only if this worker still holds the job (fencing)."""
        return await self._update_held(
            job_id,
            worker,
            status=JobStatus.succeeded,
            finished_at=now,
            result=result,
            locked_until=None,
        )

    async def retry_later(
        self, job_id: uuid.UUID, *, worker: str, run_at: datetime, error: str
    ) -> bool:
        return await self._update_held(
            job_id,
            worker,
            status=JobStatus.queued,
            run_at=run_at,
            last_error=error,
            locked_by=None,
            locked_until=None,
        )

    async def defer(self, job_id: uuid.UUID, *, worker: str, run_at: datetime) -> bool:
        """Back to the queue for later; the claim's attempt is given back (nothing failed)."""
        return await self._update_held(
            job_id,
            worker,
            status=JobStatus.queued,
            run_at=run_at,
            attempts=Job.attempts - 1,
            locked_by=None,
            locked_until=None,
        )

    async def extend_lease(self, job_id: uuid.UUID, *, worker: str, until: datetime) -> bool:
        """Keep a long job's claim while it makes progress, so it is not taken for a dead
        worker's and started again beside itself; only the holder extends, never shortens."""
        return await self._update_held(
            job_id, worker, locked_until=until, condition=Job.locked_until < until
        )

    async def give_up(self, job_id: uuid.UUID, *, worker: str, now: datetime, error: str) -> bool:
        return await self._update_held(
            job_id,
            worker,
            status=JobStatus.failed,
            finished_at=now,
            last_error=error,
            locked_until=None,
        )

    async def delete_finished(
        self, *, statuses: list[JobStatus], finished_before: datetime, limit: int
    ) -> int:
        """Delete up to `limit` jobs in `statuses` that finished before the cutoff; one
        bounded statement, so the rows it locks are few and held briefly."""
        batch = (
            select(Job.id)
            .where(Job.status.in_(statuses), Job.finished_at < finished_before)
            .limit(limit)
        )
        result = await self.session.execute(
            delete(Job)
            .where(Job.id.in_(batch.scalar_subquery()))
            .execution_options(synchronize_session=False)
        )
        return int(getattr(result, "rowcount", 0))

    async def stats(self, now: datetime) -> list[QueueStats]:
        ready = and_(Job.status == JobStatus.queued, Job.run_at <= now)
        statement = (
            select(
                Job.queue,
                func.count().filter(ready),
                func.min(Job.run_at).filter(ready),
                func.count().filter(Job.status == JobStatus.running),
            )
            .where(Job.status.in_([JobStatus.queued, JobStatus.running]))
            .group_by(Job.queue)
        )
        rows = (await self.session.execute(statement)).all()
        return [
            QueueStats(
                queue, int(depth), (now - oldest).total_seconds() if oldest else 0.0, int(running)
            )
            for queue, depth, oldest, running in rows
        ]

    async def _update_held(
        self,
        job_id: uuid.UUID,
        worker: str,
        *,
        condition: ColumnElement[bool] | None = None,
        **values: Any,
    ) -> bool:
        held = and_(Job.id == job_id, Job.locked_by == worker, Job.status == JobStatus.running)
        result = await self.session.execute(
            update(Job)
            .where(held if condition is None else and_(held, condition))
            .values(**values)
            .execution_options(synchronize_session=False)
        )
        return bool(getattr(result, "rowcount", 0))


# Jobs may also be instance-wide (no workspace); the scoped filter still hides those.
class WorkspaceJobRepository(WorkspaceRepository[Job]):  # type: ignore[type-var]
    """A workspace's own jobs, for status pages and cancellation."""

    model = Job
    not_found_message = "Job not found"

    async def cancel_if_waiting(self, job_id: uuid.UUID, now: datetime) -> bool:
        result = await self.execute(
            update(Job)
            .where(Job.id == job_id, Job.status == JobStatus.queued)
            .values(status=JobStatus.cancelled, finished_at=now)
            .execution_options(synchronize_session=False)
        )
        return bool(getattr(result, "rowcount", 0))


def _insert_for(dialect: str, model: type[Job]) -> Any:
    """The dialect's INSERT, which knows ON CONFLICT (both engines support it)."""
    return postgresql.insert(model) if dialect == "postgresql" else sqlite.insert(model)


def _column_values(job: Job) -> dict[str, Any]:
    """The job's set attributes by column; unset ones take the columns' defaults."""
    values = {}
    for attribute in inspect(Job).column_attrs:
        value = getattr(job, attribute.key)
        if value is not None:
            values[attribute.columns[0].name] = value
    return values
