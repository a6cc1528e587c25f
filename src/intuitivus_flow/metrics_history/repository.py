"""All SQL over the `metrics` table.

The table is instance-wide (no workspace) and has no surrogate id (a time series keyed by
name, time and instance), so this repository stands alone instead of on `Repository[M]`,
whose helpers are built around an `id` column.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Integer, cast, delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from intuitivus_flow.metrics_history.models import MetricSample


@dataclass(frozen=True, slots=True)
class Bucket:
    index: int  # step number from the start of the range
    average: float
    maximum: float
    samples: int


@dataclass(frozen=True, slots=True)
class Latest:
    instance: str
    time: datetime
    value: float


class MetricRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    @property
    def _dialect(self) -> str:
        return self.session.get_bind().dialect.name

    async def add_many(self, samples: Sequence[MetricSample]) -> None:
        self.session.add_all(samples)
        await self.session.flush()

    def _bucket_index(self, start: datetime, step_seconds: int) -> ColumnElement[Any]:
        """Which step of the range a row falls in, computed by the database."""
        if self._dialect == "postgresql":
            seconds = func.extract("epoch", MetricSample.time) - start.timestamp()
            return cast(func.floor(seconds / step_seconds), Integer)
        # SQLite keeps UTC text; strftime('%s') reads it as epoch seconds (integer division).
        seconds_sqlite = cast(func.strftime("%s", MetricSample.time), Integer) - int(
            start.timestamp()
        )
        return seconds_sqlite // step_seconds

    async def buckets(
        self,
        name: str,
        *,
        start: datetime,
        end: datetime,
        step_seconds: int,
        instance: str | None,
    ) -> list[Bucket]:
        index = self._bucket_index(start, step_seconds).label("bucket")
        statement = (
            select(
                index,
                func.avg(MetricSample.value),
                func.max(MetricSample.value),
                func.count(),
            )
            .where(MetricSample.name == name, MetricSample.time >= start, MetricSample.time < end)
            .group_by(index)
            .order_by(index)
        )
        if instance is not None:
            statement = statement.where(MetricSample.instance == instance)
        rows = await self.session.execute(statement)
        return [
            Bucket(int(bucket), float(average), float(maximum), int(count))
            for bucket, average, maximum, count in rows.all()
        ]

    async def latest_per_instance(
        self, name: str, *, since: datetime, until: datetime
    ) -> list[Latest]:
        """The newest value of a signal for each instance that reported it in the window."""
        newest = (
            select(MetricSample.instance, func.max(MetricSample.time).label("time"))
            .where(
                MetricSample.name == name, MetricSample.time >= since, MetricSample.time <= until
            )
            .group_by(MetricSample.instance)
            .subquery()
        )
        statement = (
            select(MetricSample.instance, MetricSample.time, MetricSample.value)
            .join(
                newest,
                (MetricSample.instance == newest.c.instance) & (MetricSample.time == newest.c.time),
            )
            .where(MetricSample.name == name)
        )
        rows = await self.session.execute(statement.order_by(MetricSample.instance))
        return [Latest(instance, time, float(value)) for instance, time, value in rows.all()]

    async def sums(
        self, names: Sequence[str], *, since: datetime, until: datetime
    ) -> dict[str, float]:
        """Sum of each named count signal over (since, until], across instances."""
        statement = (
            select(MetricSample.name, func.sum(MetricSample.value))
            .where(
                MetricSample.name.in_(names),
                MetricSample.time > since,
                MetricSample.time <= until,
            )
            .group_by(MetricSample.name)
        )
        rows = await self.session.execute(statement)
        found = {name: float(total or 0.0) for name, total in rows.all()}
        return {name: found.get(name, 0.0) for name in names}

    async def delete_before(self, cutoff: datetime) -> int:
        result = await self.session.execute(delete(MetricSample).where(MetricSample.time < cutoff))
        return int(getattr(result, "rowcount", 0) or 0)

    async def count(self, name: str | None = None) -> int:
        statement = select(func.count()).select_from(MetricSample)
        if name is not None:
            statement = statement.where(MetricSample.name == name)
        return int(await self.session.scalar(statement) or 0)
