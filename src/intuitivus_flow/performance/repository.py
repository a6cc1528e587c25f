"""The performance analysis's own reads over instance-wide tables (jobs).

Jobs of every workspace are one queue, as the workers see them: like the queue's own
statistics (`JobQueueRepository.stats`), these aggregates are instance-wide and read only by
the instance's operators, so they stand outside the workspace repositories.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Float, case, cast, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from intuitivus_flow.jobs.models import Job, JobStatus


@dataclass(frozen=True, slots=True)
class HandlerStats:
    kind: str
    queue: str
    finished: int
    failed: int
    retried: int  # finished after more than one attempt (or failed after several)
    mean_seconds: float
    max_seconds: float
    mean_wait_seconds: float  # from due (run_at) to started


class JobHistoryQueries:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    def _seconds(self, later: Any, earlier: Any) -> ColumnElement[float]:
        if self.session.get_bind().dialect.name == "postgresql":
            return cast(func.extract("epoch", later - earlier), Float)
        # SQLite stores UTC text; julianday reads it, in days.
        return (func.julianday(later) - func.julianday(earlier)) * 86400.0

    async def handlers(self, *, since: datetime, until: datetime) -> list[HandlerStats]:
        """Jobs that finished in the window, per kind: counts, durations, retries."""
        duration = self._seconds(Job.finished_at, Job.started_at)
        wait = self._seconds(Job.started_at, Job.run_at)
        statement = (
            select(
                Job.kind,
                Job.queue,
                func.count(),
                func.count().filter(Job.status == JobStatus.failed),
                func.sum(case((Job.attempts > 1, 1), else_=0)),
                func.avg(duration),
                func.max(duration),
                func.avg(wait),
            )
            .where(
                Job.finished_at.is_not(None),
                Job.started_at.is_not(None),
                Job.finished_at > since,
                Job.finished_at <= until,
            )
            .group_by(Job.kind, Job.queue)
        )
        rows = (await self.session.execute(statement)).all()
        return [
            HandlerStats(
                kind=kind,
                queue=queue,
                finished=int(count),
                failed=int(failed),
                retried=int(retried or 0),
                mean_seconds=max(0.0, float(mean or 0.0)),
                max_seconds=max(0.0, float(longest or 0.0)),
                mean_wait_seconds=max(0.0, float(waited or 0.0)),
            )
            for kind, queue, count, failed, retried, mean, longest, waited in rows
        ]
