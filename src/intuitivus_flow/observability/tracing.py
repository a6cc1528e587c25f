"""OpenTelemetry tracing: FastAPI, SQLAlchemy, Redis and httpx spans exported over OTLP/HTTP.

Off by default, and then nothing is instrumented and the SDK is not even imported. It is on
when `FLOW_TRACING_ENABLED=true` or when `OTEL_EXPORTER_OTLP_ENDPOINT` (or the traces-only
variant) is set; everything else about the export (endpoint, headers, sampler, service name)
comes from the standard `OTEL_*` variables, so Jaeger v2 or any OTLP collector works unchanged.

The provider is created per process, after fork: a BatchSpanProcessor's thread does not
survive `fork()`, so `serve --workers N` creates it in gunicorn's `post_fork` hook.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from opentelemetry import context as otel_context
from opentelemetry import metrics as otel_metrics
from opentelemetry import propagate, trace
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from intuitivus_flow.config import Settings

if TYPE_CHECKING:
    from fastapi import FastAPI
    from opentelemetry.sdk.trace import TracerProvider

    from intuitivus_flow.kit.resources import Resources

SERVICE_NAME = "intuitivus-flow"
TRACE_ID_HEADER = b"x-trace-id"
ENDPOINT_VARIABLES = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
# Probes and scrapes arrive every few seconds and say nothing about user requests.
EXCLUDED_URLS = r"^[a-z]+://[^/]+/(health|ready|metrics)/?(\?.*)?$"

_process_provider: tuple[int, TracerProvider] | None = None


def tracing_requested(settings: Settings) -> bool:
    if os.environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    return settings.tracing_enabled or any(os.environ.get(name) for name in ENDPOINT_VARIABLES)


def init_process_tracing(settings: Settings) -> TracerProvider | None:
    """The process's provider with the OTLP exporter, created once per process (pid)."""
    global _process_provider  # one provider per process is the OTel model
    if not tracing_requested(settings):
        return None
    if _process_provider is not None and _process_provider[0] == os.getpid():
        return _process_provider[1]
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    provider = new_tracer_provider()
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    # Outbound calls (LLM vendors, webhooks, notifications) use clients created anywhere.
    HTTPXClientInstrumentor().instrument(tracer_provider=provider)
    _process_provider = (os.getpid(), provider)
    return provider


def new_tracer_provider() -> TracerProvider:
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider

    from intuitivus_flow import __version__

    attributes: dict[str, str] = {"service.version": __version__}
    if not os.environ.get("OTEL_SERVICE_NAME"):
        attributes["service.name"] = SERVICE_NAME
    return TracerProvider(resource=Resource.create(attributes))


def instrument_app(app: FastAPI, context: Resources, provider: TracerProvider) -> None:
    """Server spans for the app, client spans for its database engine and Redis client."""
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
    from opentelemetry.instrumentation.redis import RedisInstrumentor
    from opentelemetry.instrumentation.sqlalchemy.engine import EngineTracer
    from opentelemetry.instrumentation.sqlalchemy.version import __version__ as sqla_version

    FastAPIInstrumentor.instrument_app(
        app,
        tracer_provider=provider,
        excluded_urls=EXCLUDED_URLS,
        exclude_spans=["receive", "send"],  # one span per request, not one per body chunk
    )
    # Per engine rather than SQLAlchemyInstrumentor().instrument(): that one patches
    # create_engine globally, once per process, and ignores every later provider.
    tracer = trace.get_tracer("opentelemetry.instrumentation.sqlalchemy", sqla_version, provider)
    usage = otel_metrics.get_meter(__name__).create_up_down_counter("db.client.connections.usage")
    EngineTracer(tracer, context.engine.sync_engine, usage)  # type: ignore[no-untyped-call]
    if context.redis is not None:
        RedisInstrumentor.instrument_client(context.redis, tracer_provider=provider)


class TraceIdHeaderMiddleware:
    """Adds `X-Trace-Id` (the current trace, 32 hex digits) to every traced response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_trace_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                trace_id = current_trace_id()
                if trace_id:
                    message["headers"] = [
                        *message.get("headers", []),
                        (TRACE_ID_HEADER, trace_id.encode()),
                    ]
            await send(message)

        await self.app(scope, receive, send_with_trace_id)


def current_trace_id() -> str | None:
    span_context = trace.get_current_span().get_span_context()
    return format(span_context.trace_id, "032x") if span_context.is_valid else None


def inject_context() -> dict[str, str]:
    """The current trace context as a carrier to store with a background job (W3C headers)."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier


@contextmanager
def attach_context(carrier: dict[str, str] | None) -> Iterator[None]:
    """Run a job inside the trace that enqueued it: spans started here become its children."""
    token = otel_context.attach(propagate.extract(carrier or {}))
    try:
        yield
    finally:
        otel_context.detach(token)
