"""A lease in the database: with several instances, only the holder runs a named job.

A lease is one row (name, holder, expires_at). Taking it is a single atomic statement on both
engines, so two instances racing can never both win:

1. `INSERT ... ON CONFLICT DO NOTHING` creates the row when nobody ever held the lease;
2. otherwise `UPDATE ... WHERE holder = me OR expires_at <= now` renews our own lease or takes
   over an expired one. PostgreSQL re-checks the WHERE clause after waiting for a competing
   writer's row lock, and SQLite runs one writer at a time, so exactly one UPDATE matches.

The holder renews well before expiry (every evaluation); if it dies, another instance takes
over once the lease expires. The caller commits right away, so the others see the row.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import case, delete, or_, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import CursorResult
from sqlalchemy.ext.asyncio import AsyncSession

from intuitivus_flow.alerts.models import Lease

EVALUATOR_LEASE = "alerts:evaluator"


def sampler_lease(instance: str) -> str:
    """Workers of one instance share the aggregated registry: one of them samples it."""
    return f"metrics:sampler:{instance}"


async def try_acquire(
    session: AsyncSession, *, name: str, holder: str, now: datetime, ttl: timedelta
) -> bool:
    """Take or renew the lease; False when another holder has it and it has not expired."""
    if await _insert_if_absent(session, name=name, holder=holder, now=now, ttl=ttl):
        return True
    statement = (
        update(Lease)
        .where(Lease.name == name, or_(Lease.holder == holder, Lease.expires_at <= now))
        .values(
            holder=holder,
            expires_at=now + ttl,
            # A renewal keeps the original start; a takeover starts afresh.
            acquired_at=case((Lease.holder == holder, Lease.acquired_at), else_=now),
        )
        .execution_options(synchronize_session=False)
    )
    result = await session.execute(statement)
    return _rowcount(result) == 1


async def _insert_if_absent(
    session: AsyncSession, *, name: str, holder: str, now: datetime, ttl: timedelta
) -> bool:
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    statement = (
        insert(Lease)
        .values(name=name, holder=holder, acquired_at=now, expires_at=now + ttl)
        .on_conflict_do_nothing(index_elements=[Lease.name])
    )
    return _rowcount(await session.execute(statement)) == 1


async def release(session: AsyncSession, *, name: str, holder: str) -> None:
    """Give the lease up at shutdown so another instance need not wait for the expiry."""
    await session.execute(delete(Lease).where(Lease.name == name, Lease.holder == holder))


async def holder_of(session: AsyncSession, *, name: str, now: datetime) -> str | None:
    lease = await session.get(Lease, name, populate_existing=True)
    if lease is None or lease.expires_at <= now:
        return None
    return lease.holder


def _rowcount(result: object) -> int:
    return int(result.rowcount) if isinstance(result, CursorResult) else 0
