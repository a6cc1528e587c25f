"""Metric history: record samples, read downsampled series, keep the table within retention.

Services take the session first and never commit; the sampler loop and the requests are the
units of work. Reading needs an operator (owner/admin) because the numbers describe the whole
instance, not one workspace.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from intuitivus_flow.kit.errors import InvalidInput
from intuitivus_flow.metrics_history import partitions
from intuitivus_flow.metrics_history.models import MetricSample
from intuitivus_flow.metrics_history.repository import MetricRepository
from intuitivus_flow.metrics_history.schemas import Series, SeriesPoint
from intuitivus_flow.metrics_history.signals import SIGNAL_NAMES

logger = logging.getLogger(__name__)

DEFAULT_RANGE = timedelta(hours=1)
DEFAULT_POINTS = 240  # what a chart a few hundred pixels wide can show
MAX_POINTS = 2000  # the most a single request may ask for
MAX_RANGE = timedelta(days=400)
MIN_STEP_SECONDS = 1
# Partitions created ahead of time: this month and the next two, so a month boundary never
# meets a missing partition even if maintenance was down for weeks.
MONTHS_AHEAD = 2


@dataclass(frozen=True, slots=True)
class SeriesQuery:
    start: datetime
    end: datetime
    step_seconds: int


def resolve_query(
    *, now: datetime, start: datetime | None, end: datetime | None, step: int | None
) -> SeriesQuery:
    """Fill defaults and refuse ranges that are empty, inverted, too long or too fine."""
    end = _utc(end) if end else now
    start = _utc(start) if start else end - DEFAULT_RANGE
    if start >= end:
        raise InvalidInput("start must be before end", field="start")
    span = (end - start).total_seconds()
    if end - start > MAX_RANGE:
        raise InvalidInput(f"the range may span at most {MAX_RANGE.days} days", field="start")
    if step is None:
        step = max(MIN_STEP_SECONDS, math.ceil(span / DEFAULT_POINTS))
    if step < MIN_STEP_SECONDS:
        raise InvalidInput("step must be at least 1 second", field="step")
    if math.ceil(span / step) > MAX_POINTS:
        raise InvalidInput(
            f"start..end / step gives more than {MAX_POINTS} points; use a larger step",
            field="step",
        )
    return SeriesQuery(start=start, end=end, step_seconds=step)


def _utc(moment: datetime) -> datetime:
    # A time without an offset is taken as UTC (what the API documents).
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def check_signal(name: str) -> None:
    if name not in SIGNAL_NAMES:
        raise InvalidInput(
            f"unknown metric '{name[:64]}'; known: {', '.join(sorted(SIGNAL_NAMES))}",
            field="name",
        )


async def get_series(
    session: AsyncSession, name: str, query: SeriesQuery, *, instance: str | None = None
) -> Series:
    check_signal(name)
    buckets = await MetricRepository(session).buckets(
        name,
        start=query.start,
        end=query.end,
        step_seconds=query.step_seconds,
        instance=instance,
    )
    step = timedelta(seconds=query.step_seconds)
    points = [
        SeriesPoint(
            time=query.start + step * bucket.index,
            avg=bucket.average,
            max=bucket.maximum,
            samples=bucket.samples,
        )
        for bucket in buckets
    ]
    return Series(
        name=name,
        instance=instance,
        start=query.start,
        end=query.end,
        step_seconds=query.step_seconds,
        points=points,
    )


async def record(session: AsyncSession, samples: Sequence[MetricSample]) -> None:
    if samples:
        await MetricRepository(session).add_many(samples)


@dataclass(frozen=True, slots=True)
class RetentionOutcome:
    created: list[str]
    dropped: list[str]
    deleted_rows: int


async def maintain(
    session: AsyncSession, *, now: datetime, retention_days: int
) -> RetentionOutcome:
    """Keep partitions ready ahead (PostgreSQL) and forget samples older than the retention.

    PostgreSQL drops whole monthly partitions, so rows live until their month has fully aged
    out (at most a month beyond the retention); SQLite deletes row by row.
    """
    cutoff = now - timedelta(days=retention_days)
    if session.get_bind().dialect.name != "postgresql":
        deleted = await MetricRepository(session).delete_before(cutoff)
        return RetentionOutcome(created=[], dropped=[], deleted_rows=deleted)
    await partitions.lock_maintenance(session)
    created = await partitions.ensure_upcoming(session, now, MONTHS_AHEAD)
    dropped = await partitions.drop_expired(session, cutoff)
    if dropped:
        logger.info("dropped expired metric partitions", extra={"partitions": dropped})
    return RetentionOutcome(created=created, dropped=dropped, deleted_rows=0)
