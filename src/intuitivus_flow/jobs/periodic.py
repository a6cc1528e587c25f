"""Work that repeats (an hourly billing sweep, a daily budget reset) on the durable job queue.

Time is cut into slots of the job's interval, counted from the Unix epoch in UTC. Each slot is
one ordinary job whose dedupe key names the slot, `periodic:<kind>:<slot start>`, so however
many workers schedule it, it is created once, runs once (at least once, like every job), and
retries with backoff when it fails. Workers schedule the current slot when they start and then
about once a minute: a fresh database, a restart after downtime, or a slot whose job was given
up all lead to the next slot being scheduled without anyone tending a chain of jobs.

Missed slots are not replayed: after a day of downtime an hourly job runs once, for the current
slot. Handlers therefore do "everything that is due as of now", never "the work of one hour".
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from intuitivus_flow.jobs.models import Job
from intuitivus_flow.jobs.registry import TaskRegistry, TaskSpec
from intuitivus_flow.jobs.service import enqueue
from intuitivus_flow.kit.models import utcnow

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Periodic:
    kind: str
    interval: timedelta
    queue: str = "default"

    @classmethod
    def of(cls, spec: TaskSpec) -> Periodic:
        if spec.every is None:
            raise ValueError(f"{spec.kind!r} is not periodic")
        return cls(spec.kind, spec.every, spec.queue)

    def slot_start(self, moment: datetime) -> datetime:
        """The start of the slot `moment` falls in."""
        elapsed = (moment - EPOCH) // self.interval
        return EPOCH + elapsed * self.interval

    def dedupe_key(self, slot: datetime) -> str:
        return f"periodic:{self.kind}:{slot.isoformat()}"


async def schedule_due(
    session: AsyncSession,
    *,
    queues: Iterable[str],
    tasks: TaskRegistry,
    now: datetime | None = None,
) -> list[Job]:
    """Make sure the current slot of every periodic task these queues serve has its job."""
    moment = now or utcnow()
    jobs = []
    for periodic in (Periodic.of(spec) for spec in tasks.periodic(queues)):
        slot = periodic.slot_start(moment)
        job = await enqueue(
            session,
            kind=periodic.kind,
            payload={"slot": slot.isoformat()},
            queue=periodic.queue,
            run_at=slot,
            dedupe_key=periodic.dedupe_key(slot),
        )
        jobs.append(job)
    return jobs


def slot_of(job: Job) -> datetime:
    """The slot a periodic job stands for (its handlers may use it as "now")."""
    return datetime.fromisoformat(str(job.payload["slot"]))
