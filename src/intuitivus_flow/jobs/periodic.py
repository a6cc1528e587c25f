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

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from intuitivus_flow.jobs.models import Job
from intuitivus_flow.jobs.service import enqueue
from intuitivus_flow.jobs.worker import Handler, HandlerRegistry, registry
from intuitivus_flow.kit.models import utcnow

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Periodic:
    kind: str
    interval: timedelta
    queue: str = "default"

    def slot_start(self, moment: datetime) -> datetime:
        """The start of the slot `moment` falls in."""
        elapsed = (moment - EPOCH) // self.interval
        return EPOCH + elapsed * self.interval

    def dedupe_key(self, slot: datetime) -> str:
        return f"periodic:{self.kind}:{slot.isoformat()}"


# kind -> schedule, for every periodic handler registered in this process
SCHEDULES: dict[str, Periodic] = {}


def every(
    kind: str,
    interval: timedelta,
    *,
    queue: str = "default",
    handlers: HandlerRegistry = registry,
) -> Callable[[Handler], Handler]:
    """Register `handler` for `kind` and have workers run it once per `interval` slot."""
    if interval < timedelta(minutes=1):
        raise ValueError("periodic jobs run at most once a minute")

    def decorator(handler: Handler) -> Handler:
        handlers.register(kind)(handler)
        SCHEDULES[kind] = Periodic(kind, interval, queue)
        return handler

    return decorator


async def schedule_due(
    session: AsyncSession,
    *,
    queues: Iterable[str],
    handlers: HandlerRegistry = registry,
    now: datetime | None = None,
) -> list[Job]:
    """Make sure the current slot of every periodic job these queues serve has its job."""
    moment = now or utcnow()
    wanted = set(queues)
    jobs = []
    for periodic in SCHEDULES.values():
        if periodic.queue not in wanted or periodic.kind not in handlers.handlers:
            continue
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
