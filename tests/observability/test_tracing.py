"""Spans asserted with the in-memory exporter: server span, SQL spans as its children, the
X-Trace-Id header, and a trace carried into a background job."""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Sequence
from typing import Any

import httpx
import pytest
from opentelemetry import context as otel_context
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from intuitivus_flow.config import Settings
from intuitivus_flow.observability.install import Telemetry
from intuitivus_flow.observability.metrics import FlowMetrics
from intuitivus_flow.observability.tracing import (
    attach_context,
    inject_context,
    tracing_requested,
)
from tests.helpers import register


@pytest.fixture
def telemetry(registry: Any, tracer_provider: TracerProvider) -> Telemetry:
    return Telemetry(metrics=FlowMetrics(registry), tracer_provider=tracer_provider)


def server_spans(spans: Sequence[ReadableSpan]) -> list[ReadableSpan]:
    return [span for span in spans if span.kind is SpanKind.SERVER]


def sql_spans(spans: Sequence[ReadableSpan]) -> list[ReadableSpan]:
    return [s for s in spans if s.kind is SpanKind.CLIENT and "db.system" in (s.attributes or {})]


async def test_request_span_with_sql_children_and_trace_header(
    client: httpx.AsyncClient, span_exporter: InMemorySpanExporter
) -> None:
    response = await client.post(
        "/api/auth/register",
        json={
            "email": "tracer@example.com",
            "password": "a long enough password",
            "workspace_name": "Traced",
        },
    )
    assert response.status_code == 201
    spans = span_exporter.get_finished_spans()
    (server,) = server_spans(spans)
    assert server.attributes is not None
    assert server.attributes["http.route"] == "/api/auth/register"
    assert server.context is not None
    assert response.headers["x-trace-id"] == format(server.context.trace_id, "032x")
    statements = sql_spans(spans)
    assert any("INSERT" in s.name for s in statements)
    for statement in statements:
        assert statement.context is not None
        assert statement.context.trace_id == server.context.trace_id
        assert statement.parent is not None
        assert statement.parent.span_id == server.context.span_id


async def test_probes_and_scrapes_are_not_traced(
    client: httpx.AsyncClient, span_exporter: InMemorySpanExporter
) -> None:
    for path in ("/health", "/metrics"):
        response = await client.get(path)
        assert response.status_code == 200
        assert "x-trace-id" not in response.headers
    assert server_spans(span_exporter.get_finished_spans()) == []
    traced = await client.get("/api/auth/me")
    assert len(traced.headers["x-trace-id"]) == 32


async def test_context_is_carried_into_a_background_job(
    tracer_provider: TracerProvider, span_exporter: InMemorySpanExporter
) -> None:
    tracer = tracer_provider.get_tracer("test")
    with tracer.start_as_current_span("enqueue") as enqueue:
        carrier = inject_context()
    assert carrier["traceparent"].split("-")[1] == format(
        enqueue.get_span_context().trace_id, "032x"
    )

    async def job(carrier: dict[str, str]) -> None:
        with attach_context(carrier), tracer.start_as_current_span("job"):
            await asyncio.sleep(0)

    # A worker runs the job later, in a context that knows nothing of the request.
    await asyncio.create_task(job(carrier), context=contextvars.Context())
    assert otel_context.get_current() == {}
    spans = {span.name: span for span in span_exporter.get_finished_spans()}
    job_span = spans["job"]
    assert job_span.parent is not None
    assert job_span.parent.span_id == enqueue.get_span_context().span_id
    assert job_span.context is not None
    assert job_span.context.trace_id == enqueue.get_span_context().trace_id


@pytest.mark.parametrize("telemetry", [None])
async def test_off_by_default(client: httpx.AsyncClient, app: Any) -> None:
    assert app.state.observability.tracer_provider is None
    assert not getattr(app, "_is_instrumented_by_opentelemetry", False)
    owner = await register(client)
    response = await client.get("/api/auth/me", headers=owner.headers)
    assert response.status_code == 200
    assert "x-trace-id" not in response.headers


def test_switched_on_by_setting_or_standard_endpoint(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("OTEL_SDK_DISABLED", raising=False)
    assert not tracing_requested(Settings())
    assert tracing_requested(Settings(tracing_enabled=True))
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318")
    assert tracing_requested(Settings())
    monkeypatch.setenv("OTEL_SDK_DISABLED", "true")
    assert not tracing_requested(Settings(tracing_enabled=True))
