"""Structured logs: JSON lines in production, readable console lines locally.

structlog renders every record, its own and the standard library's (uvicorn, gunicorn,
SQLAlchemy), so every line has the same shape and passes the same redaction. Each line carries
the request id, trace and span ids, workspace and user when known: a middleware binds the
request's values in contextvars and `bind_request_identity` adds the caller once authenticated.
"""

from __future__ import annotations

import logging
import re
import sys
import time
from collections.abc import Mapping
from typing import IO, TYPE_CHECKING, Any

import structlog
from opentelemetry import trace
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from structlog.typing import EventDict, Processor, WrappedLogger

from intuitivus_flow.config import LogFormat, Settings
from intuitivus_flow.observability.http_metrics import route_template

if TYPE_CHECKING:
    from intuitivus_flow.identity.principal import Principal

REDACTED = "[REDACTED]"
# Keys whose values are secrets whatever they look like (compared lower-case, '-' as '_').
SECRET_KEYS = frozenset(
    {
        "authorization",
        "proxy_authorization",
        "cookie",
        "set_cookie",
        "password",
        "new_password",
        "current_password",
        "passwd",
        "secret",
        "secret_key",
        "client_secret",
        "token",
        "access_token",
        "refresh_token",
        "id_token",
        "api_key",
        "apikey",
        "x_api_key",
        "private_key",
        "credential",
        "credentials",
    }
)
# Secrets inside free text: the value is replaced, the surrounding text is kept.
SECRET_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]+"), r"\1 " + REDACTED),
    (re.compile(r"\beyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*"), REDACTED),  # JWT
    (re.compile(r"\bifk_[A-Za-z0-9_-]+"), REDACTED),  # our API keys
    (re.compile(r"\bsk-[A-Za-z0-9_-]{8,}"), REDACTED),  # provider keys (OpenAI, Anthropic...)
    (re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://[^/\s:@]*):[^@\s/]+@"), r"\1:" + REDACTED + "@"),
    (
        re.compile(
            r"(?i)((?:^|[?&;,{\s\"'])(?:password|passwd|secret|token|access_token|refresh_token"
            r"|api_key|apikey|key)[\"']?\s*[=:]\s*[\"']?)[^&\s\"',;}]+"
        ),
        r"\1" + REDACTED,
    ),
)
# Loggers held at a floor whatever FLOW_LOG_LEVEL says (a higher FLOW_LOG_LEVEL still wins).
# uvicorn's access lines repeat ours. The drivers' debug lines print statement parameters
# (password hashes, token digests, ciphertexts) and the HTTP client's print request headers;
# SQLAlchemy's engine logs parameters already at INFO, and its ORM writes dozens of mapper
# set-up lines at INFO into every start's logs. DEBUG is for our own code.
QUIET_LOGGERS = {
    "uvicorn.access": logging.WARNING,
    "sqlalchemy.engine": logging.WARNING,
    "sqlalchemy.pool": logging.WARNING,
    "sqlalchemy.orm": logging.WARNING,
    "aiosqlite": logging.INFO,
    "asyncpg": logging.INFO,
    "redis": logging.INFO,
    "httpx": logging.INFO,
    "httpcore": logging.INFO,
    "hpack": logging.INFO,
    "urllib3": logging.INFO,
}
ROUTED_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access", "gunicorn.error", "gunicorn.access")


# Every pattern above needs one of these; one search spares most strings the full set.
_MAY_HOLD_SECRET = re.compile(r"(?i)bearer|basic|eyJ|ifk_|sk-|://|passw|secret|token|key")


def redact_text(text: str) -> str:
    if not _MAY_HOLD_SECRET.search(text):
        return text
    for pattern, replacement in SECRET_PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def redact_value(value: Any) -> Any:
    """Mask secrets anywhere inside a value: by key in mappings, by pattern in strings."""
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, Mapping):
        return {
            key: REDACTED if _is_secret_key(key) else redact_value(item)
            for key, item in value.items()
        }
    if isinstance(value, list | tuple | set | frozenset):
        return [redact_value(item) for item in value]
    if isinstance(value, bytes):
        return redact_text(value.decode("utf-8", "replace"))
    return value


def _is_secret_key(key: object) -> bool:
    return isinstance(key, str) and key.lower().replace("-", "_") in SECRET_KEYS


def redact_processor(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    redacted: EventDict = redact_value(event_dict)
    return redacted


def add_trace_context(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    context = trace.get_current_span().get_span_context()
    if context.is_valid:
        event_dict.setdefault("trace_id", format(context.trace_id, "032x"))
        event_dict.setdefault("span_id", format(context.span_id, "016x"))
    return event_dict


def bind_request_identity(principal: Principal) -> None:
    """Name the caller in every later log line of this request (called once authenticated)."""
    structlog.contextvars.bind_contextvars(
        workspace_id=str(principal.workspace_id),
        user_id=str(principal.user_id) if principal.user_id else None,
        api_key_id=str(principal.api_key_id) if principal.api_key_id else None,
    )


def _drop_none(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    return {key: value for key, value in event_dict.items() if value is not None}


def _shared_processors() -> list[Processor]:
    return [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        add_trace_context,
        _drop_none,
    ]


def _renderer(log_format: LogFormat) -> Processor:
    if log_format is LogFormat.json:
        return structlog.processors.JSONRenderer()
    return structlog.dev.ConsoleRenderer(colors=False)


class _FlowHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Marks the handler we install, so reconfiguring replaces it and keeps anyone else's."""


def configure_logging(settings: Settings, *, stream: IO[str] | None = None) -> None:
    """Route structlog and the standard library through one redacting renderer."""
    shared = _shared_processors()
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            # Last before rendering, so tracebacks and third-party messages are covered too.
            redact_processor,
            _renderer(settings.resolved_log_format),
        ],
    )
    handler = _FlowHandler(stream or sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    for existing in [h for h in root.handlers if isinstance(h, _FlowHandler)]:
        root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(settings.log_level)
    _route_server_loggers()
    _quiet_noisy_loggers(root.level)


def _route_server_loggers() -> None:
    # uvicorn and gunicorn install their own handlers; send their records to ours instead.
    for name in ROUTED_LOGGERS:
        server_logger = logging.getLogger(name)
        server_logger.handlers.clear()
        server_logger.propagate = True


def _quiet_noisy_loggers(root_level: int) -> None:
    for name, floor in QUIET_LOGGERS.items():
        logging.getLogger(name).setLevel(max(floor, root_level))


access_logger = structlog.stdlib.get_logger("intuitivus_flow.access")


class RequestLogMiddleware:
    """Binds the request's identity for every log line it causes, then logs one access line."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(request_id=scope.get("state", {}).get("request_id"))
        status = 500
        started = time.perf_counter()

        async def send_recording_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_recording_status)
        finally:
            access_logger.info(
                "request",
                method=scope.get("method"),
                path=scope.get("path"),
                route=route_template(scope),
                status=status,
                duration_ms=round((time.perf_counter() - started) * 1000, 2),
            )
            # Requests served in one task (tests, HTTP/1.1 keep-alive) must not inherit ours.
            structlog.contextvars.clear_contextvars()
