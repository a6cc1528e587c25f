"""Observability tests get apps with their own metrics registry and an in-memory span exporter,
so values read back belong to the test alone."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client import CollectorRegistry

from intuitivus_flow.app import create_app
from intuitivus_flow.config import Settings
from intuitivus_flow.observability.install import Telemetry
from intuitivus_flow.observability.metrics import FlowMetrics
from intuitivus_flow.observability.tracing import new_tracer_provider
from tests.conftest import Database, empty_tables


@pytest.fixture
def span_exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
def tracer_provider(span_exporter: InMemorySpanExporter) -> Iterator[TracerProvider]:
    provider = new_tracer_provider()
    provider.add_span_processor(SimpleSpanProcessor(span_exporter))
    yield provider
    provider.shutdown()


@pytest.fixture
def registry() -> CollectorRegistry:
    return CollectorRegistry()


@pytest.fixture
def telemetry(registry: CollectorRegistry) -> Telemetry:
    return Telemetry(metrics=FlowMetrics(registry))


@pytest.fixture
def make_settings(database: Database, data_root: Path) -> Any:
    def make(**overrides: Any) -> Settings:
        return Settings(
            env="test", data_dir=data_root, database_url=database.url, seed_demo=False, **overrides
        )

    return make


@pytest.fixture
async def app(
    database: Database, make_settings: Any, settings_overrides: dict[str, Any], telemetry: Telemetry
) -> AsyncIterator[Any]:
    application = create_app(make_settings(**settings_overrides), telemetry=telemetry)
    yield application
    await application.state.context.close()
    await empty_tables(database.engine)


def sample(registry: CollectorRegistry, name: str, **labels: str) -> float:
    """A sample's value, 0 when the series does not exist yet."""
    return registry.get_sample_value(name, labels) or 0.0
