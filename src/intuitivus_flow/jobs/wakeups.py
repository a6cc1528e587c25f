"""Wake idle workers at once on PostgreSQL: `NOTIFY` on enqueue, `LISTEN` in the worker.

`notify_enqueued` runs in the enqueuing transaction, so PostgreSQL delivers the notification
when (and only if) that transaction commits: a worker woken by it finds the job visible. The
payload is the queue's name; PostgreSQL folds identical notifications of one transaction into
one, so enqueuing a thousand steps wakes each listener once.

A worker listens on a connection of its own (asyncpg, outside the SQLAlchemy pool: a pooled
connection held forever would shrink the pool, and a pool may reset it). Polling stays: it is
the fallback when the listening connection is down, and the only mechanism on SQLite.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Iterable
from typing import Any

import asyncpg  # type: ignore[import-untyped]  # no stubs or py.typed
from sqlalchemy import text
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncSession

logger = logging.getLogger(__name__)

CHANNEL = "flow_jobs"
RECONNECT_SECONDS = 5.0


async def notify_enqueued(session: AsyncSession, queue: str) -> None:
    """Tell listening workers that `queue` has a job, once this transaction commits."""
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(
            text("SELECT pg_notify(:channel, :queue)"), {"channel": CHANNEL, "queue": queue}
        )


class PostgresWakeups:
    """Calls `wake()` whenever a job is enqueued on one of `queues` (see module doc)."""

    def __init__(self, url: URL, *, reconnect_seconds: float = RECONNECT_SECONDS) -> None:
        self._connect_args = _asyncpg_args(url)
        self.reconnect_seconds = reconnect_seconds
        # Set while a LISTEN is in place (tests wait for it before enqueuing).
        self.listening = asyncio.Event()

    @contextlib.asynccontextmanager
    async def listen(self, queues: Iterable[str], wake: Callable[[], None]) -> AsyncIterator[None]:
        wanted = frozenset(queues)
        task = asyncio.create_task(self._keep_listening(wanted, wake), name="job-wakeups")
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _keep_listening(self, queues: frozenset[str], wake: Callable[[], None]) -> None:
        failing = False  # said once per outage, not at every reconnection attempt
        while True:
            try:
                await self._listen_once(queues, wake)
            except asyncio.CancelledError:
                raise
            except Exception as error:  # polling covers the gap; try again later
                if not failing:
                    logger.warning("job wake-ups unavailable, polling only: %s", error)
                failing = True
            else:
                failing = False
            self.listening.clear()
            await asyncio.sleep(self.reconnect_seconds)

    async def _listen_once(self, queues: frozenset[str], wake: Callable[[], None]) -> None:
        connection = await asyncpg.connect(**self._connect_args)
        lost = asyncio.Event()

        def on_notify(_connection: Any, _pid: int, _channel: str, queue: str) -> None:
            if queue in queues:
                wake()

        connection.add_termination_listener(lambda _connection: lost.set())
        try:
            await connection.add_listener(CHANNEL, on_notify)
            self.listening.set()
            # Jobs enqueued while nobody listened are found by the next poll; waking once
            # here finds them now.
            wake()
            await lost.wait()
        finally:
            self.listening.clear()
            with contextlib.suppress(Exception):
                await connection.close(timeout=2)


def wakeups_for(url: URL) -> PostgresWakeups | None:
    """Wake-ups for a PostgreSQL database; None (polling only) for any other."""
    return PostgresWakeups(url) if url.get_backend_name() == "postgresql" else None


def _asyncpg_args(url: URL) -> dict[str, Any]:
    args: dict[str, Any] = url.translate_connect_args(username="user")
    args.update({key: value for key, value in url.query.items() if key in ("ssl", "sslmode")})
    if "sslmode" in args:  # asyncpg takes libpq's sslmode values under the name `ssl`
        args["ssl"] = args.pop("sslmode")
    return args
