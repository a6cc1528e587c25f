"""Every error leaves as RFC 9457 problem+json with a stable `type`; nothing leaks a traceback."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException

from intuitivus_flow.kit.db import is_unavailable
from intuitivus_flow.kit.errors import FlowError

PROBLEM_MEDIA_TYPE = "application/problem+json"
PROBLEM_BASE = "/problems/"
# When a client should try again after a dependency outage: about a pool reconnect's time.
RETRY_AFTER_SECONDS = 5
logger = logging.getLogger(__name__)

_HTTP_TYPES = {
    400: "bad-request",
    401: "unauthorized",
    403: "forbidden",
    404: "not-found",
    405: "method-not-allowed",
    406: "not-acceptable",
    409: "conflict",
    413: "payload-too-large",
    415: "unsupported-media-type",
    422: "invalid-input",
    429: "rate-limited",
}


def problem_response(
    request: Request | None,
    *,
    status: int,
    type_: str,
    title: str,
    detail: str | None = None,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": PROBLEM_BASE + type_,
        "title": title,
        "status": status,
        "detail": detail or title,
    }
    if request is not None:
        body["instance"] = request.url.path
    body.update({key: value for key, value in extra.items() if value is not None})
    return JSONResponse(body, status_code=status, media_type=PROBLEM_MEDIA_TYPE, headers=headers)


def _field_path(loc: Sequence[Any]) -> str:
    return ".".join(str(part) for part in loc)


def clean_validation_errors(errors: Sequence[Any]) -> list[dict[str, Any]]:
    # Only location and message: echoing the input could reflect passwords back.
    return [
        {
            "field": _field_path(error.get("loc", ())),
            "msg": error.get("msg", "invalid"),
            "code": error.get("type", "invalid"),
        }
        for error in errors
    ]


async def _flow_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, FlowError)
    extra = dict(exc.extra)
    if "errors" in extra:
        extra["errors"] = [
            {"field": _field_path(e["loc"]), "msg": e["msg"]} if "loc" in e else e
            for e in extra["errors"]
        ]
    return problem_response(
        request,
        status=exc.status_code,
        type_=exc.type,
        title=exc.title,
        detail=exc.detail,
        headers=exc.headers,
        **extra,
    )


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    return problem_response(
        request,
        status=422,
        type_="invalid-input",
        title="Invalid input",
        detail="The request did not validate; see `errors`.",
        errors=clean_validation_errors(exc.errors()),
    )


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    type_ = _HTTP_TYPES.get(exc.status_code, "http-error")
    title = type_.replace("-", " ").capitalize()
    detail = exc.detail if isinstance(exc.detail, str) else title
    return problem_response(
        request,
        status=exc.status_code,
        type_=type_,
        title=title,
        detail=detail,
        headers=getattr(exc, "headers", None),
    )


# Constraint violations by driver code: PostgreSQL's SQLSTATE (asyncpg), SQLite's extended
# result code name (Python 3.11+), and SQLite's message as the last resort.
_UNIQUE_SQLSTATES = frozenset({"23505", "23P01"})  # unique, exclusion
_SQLITE_UNIQUE = frozenset({"SQLITE_CONSTRAINT_UNIQUE", "SQLITE_CONSTRAINT_PRIMARYKEY"})
# (SQLSTATE, SQLite code name, what the client is told) of the other integrity errors.
_BROKEN_RULES = (
    ("23502", "SQLITE_CONSTRAINT_NOTNULL", "A required value is missing."),
    (
        "23503",
        "SQLITE_CONSTRAINT_FOREIGNKEY",
        "It refers to data that does not exist, or other data still refers to it.",
    ),
    ("23514", "SQLITE_CONSTRAINT_CHECK", "A value is outside what is allowed."),
)
_DATA_EXCEPTION_CLASS = "22"  # SQLSTATE class: a value the column cannot take


def _sqlstate(exc: DBAPIError) -> str | None:
    state = getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None)
    return state if isinstance(state, str) else None


def is_unique_violation(exc: IntegrityError) -> bool:
    """True for a unique (or primary key, or exclusion) violation: a conflict with data that
    exists, 409. Every other integrity error is bad input."""
    state = _sqlstate(exc)
    if state is not None:
        return state in _UNIQUE_SQLSTATES
    code_name = getattr(exc.orig, "sqlite_errorname", None)
    if isinstance(code_name, str):
        return code_name in _SQLITE_UNIQUE
    return "UNIQUE constraint failed" in str(exc.orig)


def _broken_rule(exc: IntegrityError) -> str:
    state, code_name = _sqlstate(exc), getattr(exc.orig, "sqlite_errorname", None)
    for sqlstate, sqlite_name, detail in _BROKEN_RULES:
        if state == sqlstate or code_name == sqlite_name:
            return detail
    return "The data breaks a rule of the database."


async def _integrity_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, IntegrityError)
    if is_unique_violation(exc):
        # Two requests raced for the same unique value: the loser is told, not crashed.
        return problem_response(
            request,
            status=409,
            type_="conflict",
            title="Conflict",
            detail="This conflicts with data that already exists.",
        )
    # A NOT NULL, foreign key or check violation: the input was wrong, not the timing. The
    # driver's message names tables and columns: it stays in the log.
    logger.warning("integrity error on %s %s: %s", request.method, request.url.path, exc.orig)
    return problem_response(
        request, status=422, type_="invalid-input", title="Invalid input", detail=_broken_rule(exc)
    )


def _unavailable(request: Request, exc: Exception) -> JSONResponse:
    # Logged without the traceback: an outage produces one per request, and the cause is the
    # dependency, not this code; /ready and the metrics tell the rest.
    logger.warning(
        "dependency unavailable on %s %s: %s", request.method, request.url.path, type(exc).__name__
    )
    return problem_response(
        request,
        status=503,
        type_="unavailable",
        title="Service unavailable",
        detail="A service this request needs cannot be reached right now; retry shortly.",
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
    )


async def _network_error(request: Request, exc: Exception) -> JSONResponse:
    if is_unavailable(exc):
        return _unavailable(request, exc)
    return await _unexpected_error(request, exc)


async def _database_error(request: Request, exc: Exception) -> JSONResponse:
    # Only PostgreSQL's data exceptions (a value too long, out of range, malformed) are the
    # client's: schemas should have refused them, this is the net. Anything else is ours.
    assert isinstance(exc, DBAPIError)
    if is_unavailable(exc):
        return _unavailable(request, exc)
    state = _sqlstate(exc)
    if state is None or not state.startswith(_DATA_EXCEPTION_CLASS):
        raise exc
    logger.warning("data error on %s %s: %s", request.method, request.url.path, exc.orig)
    return problem_response(
        request,
        status=422,
        type_="invalid-input",
        title="Invalid input",
        detail="A value does not fit where it is stored (too long, too large or malformed).",
    )


async def _unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    logger.exception("unhandled error on %s %s", request.method, request.url.path)
    return problem_response(
        request,
        status=500,
        type_="internal-error",
        title="Internal server error",
        detail="Something went wrong on our side; it has been logged.",
    )


def install_problem_handlers(app: FastAPI) -> None:
    app.add_exception_handler(FlowError, _flow_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(IntegrityError, _integrity_error)
    app.add_exception_handler(DBAPIError, _database_error)
    # A database that is down, refusing or hanging: 503 with Retry-After, not a 500.
    app.add_exception_handler(PoolTimeout, _network_error)
    app.add_exception_handler(OSError, _network_error)  # TimeoutError, ConnectionError too
    app.add_exception_handler(Exception, _unexpected_error)
