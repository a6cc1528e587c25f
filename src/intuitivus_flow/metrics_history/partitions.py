"""Monthly partitions of the `metrics` table on PostgreSQL.

Each month is one partition named `metrics_YYYY_MM`, bounded by UTC month starts. Maintenance
keeps the current and the next months ready (an insert into a month without a partition would
fail) and drops whole partitions once their newest possible row is older than the retention:
dropping a partition is instant and leaves no dead rows behind, unlike a DELETE.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from intuitivus_flow.metrics_history.models import METRICS_TABLE

PARTITION_NAME = re.compile(rf"^{METRICS_TABLE}_(\d{{4}})_(\d{{2}})$")
# Serialises maintenance between instances; an arbitrary constant that names this job.
MAINTENANCE_LOCK_KEY = 0x6D657472  # "metr"


def month_start(moment: datetime) -> datetime:
    moment = moment.astimezone(UTC)
    return datetime(moment.year, moment.month, 1, tzinfo=UTC)


def add_months(month: datetime, count: int) -> datetime:
    index = month.year * 12 + (month.month - 1) + count
    return datetime(index // 12, index % 12 + 1, 1, tzinfo=UTC)


def partition_name(month: datetime) -> str:
    return f"{METRICS_TABLE}_{month.year:04d}_{month.month:02d}"


def month_of(name: str) -> datetime | None:
    found = PARTITION_NAME.match(name)
    if found is None:
        return None
    return datetime(int(found.group(1)), int(found.group(2)), 1, tzinfo=UTC)


async def list_partitions(session: AsyncSession) -> list[str]:
    rows = await session.execute(
        text(
            "SELECT child.relname FROM pg_inherits "
            "JOIN pg_class parent ON parent.oid = pg_inherits.inhparent "
            "JOIN pg_class child ON child.oid = pg_inherits.inhrelid "
            "JOIN pg_namespace ns ON ns.oid = parent.relnamespace "
            "WHERE parent.relname = :parent AND ns.nspname = current_schema() "
            "ORDER BY child.relname"
        ),
        {"parent": METRICS_TABLE},
    )
    return [str(name) for name in rows.scalars()]


async def ensure_partition(session: AsyncSession, month: datetime) -> str:
    """Create the partition for `month` unless it exists; returns its name."""
    start = month_start(month)
    name = partition_name(start)
    # Identifiers come from integers formatted above, never from input; bounds are literals
    # because DDL takes no bind parameters.
    await session.execute(
        text(
            f'CREATE TABLE IF NOT EXISTS "{name}" PARTITION OF "{METRICS_TABLE}" '
            f"FOR VALUES FROM ('{start.isoformat()}') TO ('{add_months(start, 1).isoformat()}')"
        )
    )
    return name


async def lock_maintenance(session: AsyncSession) -> None:
    """Two instances creating the same partition at once would collide; take turns."""
    await session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MAINTENANCE_LOCK_KEY})


async def ensure_upcoming(session: AsyncSession, now: datetime, months_ahead: int) -> list[str]:
    current = month_start(now)
    return [
        await ensure_partition(session, add_months(current, n)) for n in range(months_ahead + 1)
    ]


async def drop_expired(session: AsyncSession, cutoff: datetime) -> list[str]:
    """Drop every partition whose whole month ends at or before `cutoff`."""
    dropped = []
    for name in await list_partitions(session):
        month = month_of(name)
        if month is not None and add_months(month, 1) <= cutoff:
            await session.execute(text(f'DROP TABLE IF EXISTS "{name}"'))
            dropped.append(name)
    return dropped


def include_object(
    object_: object, name: str | None, type_: str, reflected: bool, compare_to: object | None
) -> bool:
    """Alembic `include_object` hook: leave the monthly partitions out of model comparison.

    The partitions (`metrics_YYYY_MM`) are created at run time and have no model; everything
    else, the partitioned parent `metrics` included, is compared as usual. Used by the
    migration environment (autogenerate) and by the drift test, so both see the same schema.
    """
    is_partition = type_ == "table" and reflected and compare_to is None
    return not (is_partition and name is not None and PARTITION_NAME.match(name))
