"""Which errors mean "the database is away" (503) and which are bugs or bad input (not)."""

from __future__ import annotations

import errno

import asyncpg
import pytest
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from intuitivus_flow.kit.db import is_unavailable


class _AdaptedError(Exception):
    """Like SQLAlchemy's asyncpg adapter error: the driver's exception is its cause."""


def _wrapped(driver_error: Exception) -> OperationalError:
    adapted = _AdaptedError("adapted")
    adapted.__cause__ = driver_error
    return OperationalError("SELECT 1", {}, adapted)


@pytest.mark.parametrize(
    "error",
    [
        ConnectionRefusedError(errno.ECONNREFUSED, "refused"),
        OSError("Multiple exceptions: [Errno 111] Connect call failed ('127.0.0.1', 1)"),
        TimeoutError(),
        PoolTimeout("QueuePool limit reached, connection timed out"),
        _wrapped(asyncpg.exceptions.CannotConnectNowError("the database system is starting up")),
        _wrapped(asyncpg.exceptions.ConnectionDoesNotExistError("connection was closed")),
    ],
    ids=["refused", "asyncpg-connect", "timeout", "pool", "starting-up", "closed-mid-query"],
)
def test_outages_are_unavailable(error: Exception) -> None:
    assert is_unavailable(error)


@pytest.mark.parametrize(
    "error",
    [
        FileNotFoundError(errno.ENOENT, "no such file"),
        IntegrityError("INSERT", {}, _AdaptedError("duplicate key")),
        _wrapped(asyncpg.exceptions.UndefinedTableError("relation does not exist")),
        ValueError("bad"),
    ],
    ids=["missing-file", "integrity", "undefined-table", "value-error"],
)
def test_bugs_and_bad_input_are_not(error: Exception) -> None:
    assert not is_unavailable(error)
