"""Engine, sessions and the unit of work.

The boundary (an HTTP request, a CLI command, a job) owns the transaction: it commits when the
work succeeds and rolls back when it raises. Services and repositories never commit.
"""

from __future__ import annotations

import errno
import socket
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import event
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import ConnectionPoolEntry

from intuitivus_flow.config import Settings
from intuitivus_flow.kit.cache import TOUCHED_KEY
from intuitivus_flow.kit.errors import FlowError

SessionFactory = async_sessionmaker[AsyncSession]
CommitHook = Callable[[set[uuid.UUID]], Awaitable[None]]
InfoHook = Callable[[dict[str, Any]], Awaitable[None]]
COMMIT_HOOKS = "after_commit_hooks"
INFO_HOOKS = "after_commit_info_hooks"


def create_engine(settings: Settings) -> AsyncEngine:
    url = make_url(settings.resolved_database_url)
    if url.get_backend_name() == "sqlite":
        return _create_sqlite_engine(settings, url.database)
    return create_async_engine(
        url,
        pool_size=settings.database_pool_size,
        max_overflow=settings.database_max_overflow,
        # An unreachable or hanging server must cost a request a bounded wait, then a 503
        # (kit/http/problems.py), never a hang: connect, checkout and each statement are
        # limited. A dead connection found by the pre-ping invalidates the whole pool, so
        # service resumes by itself, without a restart, once the server is back.
        pool_pre_ping=True,
        pool_timeout=settings.database_timeout_seconds,
        connect_args=_asyncpg_timeouts(settings),
        hide_parameters=True,  # see _create_sqlite_engine
    )


def _asyncpg_timeouts(settings: Settings) -> dict[str, float]:
    timeouts = {"timeout": settings.database_timeout_seconds}
    if settings.database_statement_timeout_seconds:
        timeouts["command_timeout"] = settings.database_statement_timeout_seconds
    return timeouts


# What a database that is down, refusing or hanging raises: the driver's connect errors and
# timeouts pass through SQLAlchemy's asyncpg adapter untranslated (OSError, TimeoutError).
_CONNECTION_ERRNOS = frozenset({errno.ECONNREFUSED, errno.ECONNRESET, errno.EHOSTUNREACH,
                                errno.ENETUNREACH, errno.ETIMEDOUT, errno.EPIPE})  # fmt: skip


def is_unavailable(exc: BaseException) -> bool:
    """True when `exc` says the database (or another network dependency) could not be
    reached or did not answer in time, rather than that the work itself was wrong."""
    if isinstance(exc, sa_exc.TimeoutError):  # no pooled connection within the timeout
        return True
    if isinstance(exc, sa_exc.DBAPIError):
        if exc.connection_invalidated:
            return True
        orig = exc.orig
        return orig is not None and (is_unavailable(orig) or _unavailable_cause(orig))
    if isinstance(exc, TimeoutError | ConnectionError | socket.gaierror):
        return True
    if isinstance(exc, OSError):
        # asyncpg's "Multiple exceptions: [Errno 111] Connect call failed" has no errno.
        return exc.errno in _CONNECTION_ERRNOS or "Connect call failed" in str(exc)
    # Connection exceptions (class 08) and a server shutting down or starting (57P0x).
    state = getattr(exc, "sqlstate", None)
    return isinstance(state, str) and state.startswith(("08", "57P0"))


def _unavailable_cause(error: BaseException) -> bool:
    # SQLAlchemy's adapter wraps asyncpg's exception; the reason is on the original.
    cause = error.__cause__
    return cause is not None and cause is not error and is_unavailable(cause)


def _create_sqlite_engine(settings: Settings, database: str | None) -> AsyncEngine:
    if database and database != ":memory:":
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = create_async_engine(
        settings.resolved_database_url,
        connect_args={"timeout": 30},
        pool_pre_ping=True,
        # Statement errors end up in logs and tracebacks; their parameters are password
        # hashes, token digests and ciphertexts, so SQLAlchemy leaves them out of messages.
        hide_parameters=True,
    )

    @event.listens_for(engine.sync_engine, "connect")
    def _configure_sqlite(dbapi_connection: object, _: ConnectionPoolEntry) -> None:
        # WAL lets readers run beside the writer; foreign keys are off by default in SQLite.
        cursor = dbapi_connection.cursor()  # type: ignore[attr-defined]
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    return engine


def create_session_factory(engine: AsyncEngine) -> SessionFactory:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=True)


def on_commit(factory: SessionFactory, hook: CommitHook) -> None:
    """Run `hook(touched workspace ids)` after every unit of work of this factory commits."""
    hooks: list[CommitHook] = factory.kw.setdefault("info", {}).setdefault(COMMIT_HOOKS, [])
    hooks.append(hook)


def on_commit_info(factory: SessionFactory, hook: InfoHook) -> None:
    """Run `hook(session.info)` after every unit of work of this factory commits: for
    listeners that note at flush time what to do once the work is durable."""
    hooks: list[InfoHook] = factory.kw.setdefault("info", {}).setdefault(INFO_HOOKS, [])
    hooks.append(hook)


async def _after_commit(session: AsyncSession) -> None:
    touched = session.info.pop(TOUCHED_KEY, set())
    for hook in session.info.get(COMMIT_HOOKS, []):
        await hook(touched)
    for info_hook in session.info.get(INFO_HOOKS, []):
        await info_hook(session.info)


async def _commit(session: AsyncSession) -> None:
    # A request answered from caches never began a transaction (the session begins on first
    # use); committing it would still cost a round through the greenlet bridge.
    if session.in_transaction():
        await session.commit()
    await _after_commit(session)


async def _settle_failed(session: AsyncSession, error: BaseException) -> None:
    if isinstance(error, FlowError) and error.keeps_work:
        await _commit(session)
    else:
        await session.rollback()


@asynccontextmanager
async def unit_of_work(factory: SessionFactory) -> AsyncIterator[AsyncSession]:
    """A session whose work is committed on success and rolled back on any error."""
    async with factory() as session:
        try:
            yield session
        except BaseException as error:
            await _settle_failed(session, error)
            raise
        else:
            await _commit(session)


class LazyUnitOfWork:
    """A unit of work whose session is constructed on first use of `session`.

    A request answered from the principal cache and the view cache runs no query, yet
    constructing, closing (a task, through `asyncio.shield`) and finishing an `AsyncSession`
    cost it about a tenth of its CPU. `info` is the request's own scratch space (the view
    version authentication read along, see kit/cache.py); it is not the session's `info`,
    which keeps what its flush listeners note for after the commit."""

    __slots__ = ("_factory", "_session", "info")

    def __init__(self, factory: SessionFactory) -> None:
        self._factory = factory
        self._session: AsyncSession | None = None
        self.info: dict[str, Any] = {}

    @property
    def session(self) -> AsyncSession:
        if self._session is None:
            self._session = self._factory()
        return self._session

    @property
    def session_if_used(self) -> AsyncSession | None:
        """The session, if something has used it; None keeps it unconstructed."""
        return self._session


@asynccontextmanager
async def lazy_unit_of_work(factory: SessionFactory) -> AsyncIterator[LazyUnitOfWork]:
    """`unit_of_work` for a boundary that may need no database: committed on success and
    rolled back on any error as that one, and nothing at all when the session was never used
    (there is nothing to commit, and the commit hooks would get nothing touched; a bump owed
    to Redis is sent before the next version read anyway)."""
    work = LazyUnitOfWork(factory)
    try:
        yield work
    except BaseException as error:
        session = work.session_if_used
        if session is not None:
            async with session:
                await _settle_failed(session, error)
        raise
    else:
        session = work.session_if_used
        if session is not None:
            async with session:
                await _commit(session)
