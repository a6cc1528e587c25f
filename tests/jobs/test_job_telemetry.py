"""Jobs join the trace that enqueued them; queue depth and lag reach the metrics."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client import CollectorRegistry

from intuitivus_flow.context import AppContext
from intuitivus_flow.jobs import service as jobs
from intuitivus_flow.jobs.context import JobContext
from intuitivus_flow.jobs.models import QUEUES
from intuitivus_flow.jobs.registry import TaskList
from intuitivus_flow.jobs.service import queue_stats
from intuitivus_flow.kit.db import SessionFactory, create_session_factory, unit_of_work
from intuitivus_flow.kit.models import utcnow
from intuitivus_flow.observability.collectors import QueueProbe, RuntimeGauges
from intuitivus_flow.observability.metrics import FlowMetrics
from intuitivus_flow.observability.tracing import new_tracer_provider
from tests.conftest import Database, empty_tables
from tests.jobs.conftest import make_worker


@pytest.fixture
async def sessions(database: Database) -> AsyncIterator[SessionFactory]:
    yield create_session_factory(database.engine)
    await empty_tables(database.engine)


@pytest.fixture
def provider() -> Iterator[tuple[TracerProvider, InMemorySpanExporter]]:
    exporter = InMemorySpanExporter()
    tracer_provider = new_tracer_provider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield tracer_provider, exporter
    tracer_provider.shutdown()


async def test_job_span_is_a_child_of_the_enqueuing_span(
    sessions: SessionFactory,
    provider: tuple[TracerProvider, InMemorySpanExporter],
    context: AppContext,
) -> None:
    tracer_provider, exporter = provider
    tracer = tracer_provider.get_tracer("test")
    registry = TaskList("test")

    @registry.task("traced")
    async def traced(run: JobContext) -> None:
        with tracer.start_as_current_span("inside the handler"):
            pass

    with tracer.start_as_current_span("request") as request_span:
        async with unit_of_work(sessions) as session:
            await jobs.enqueue(session, kind="traced", payload={})
    worker = make_worker(context, tasks=registry, tracer=tracer)
    assert await worker.run_until_idle() == 1
    spans = {span.name: span for span in exporter.get_finished_spans()}
    job_span, inner = spans["job traced"], spans["inside the handler"]
    trace_id = request_span.get_span_context().trace_id
    assert job_span.context is not None
    assert job_span.context.trace_id == trace_id
    assert job_span.parent is not None
    assert job_span.parent.span_id == request_span.get_span_context().span_id
    assert inner.parent is not None
    assert inner.parent.span_id == job_span.context.span_id


async def test_queue_depth_and_lag_gauges(
    sessions: SessionFactory, database: Database, tmp_path: Path
) -> None:
    async with unit_of_work(sessions) as session:
        await jobs.enqueue(session, kind="x", payload={}, run_at=utcnow() - timedelta(seconds=40))
        await jobs.enqueue(session, kind="x", payload={}, queue="campaigns")
    registry = CollectorRegistry()
    metrics = FlowMetrics(registry)
    probe = QueueProbe(QUEUES, queue_stats)
    gauges = RuntimeGauges(
        metrics, engine=database.engine, redis=None, data_dir=tmp_path, queues=probe
    )
    await gauges.refresh()
    depth = registry.get_sample_value("flow_job_queue_depth", {"queue": "default"})
    lag = registry.get_sample_value("flow_job_queue_lag_seconds", {"queue": "default"})
    assert depth == 1
    assert lag is not None
    assert 39 <= lag < 120
    assert registry.get_sample_value("flow_job_queue_depth", {"queue": "campaigns"}) == 1
