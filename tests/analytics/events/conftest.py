"""Fixtures of the event-analysis tests: both analytics engines and a loader of hand-written events.

Each test writes into its own workspace id, so tests share one store per engine (chDB allows
one session per process) and isolation between workspaces is exercised on every query.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow as pa
import pytest

from intuitivus_flow.analytics.store import AnalyticsStore, open_store

T0 = datetime(2026, 3, 2, tzinfo=UTC)  # a Monday

Row = tuple[str, str, float] | tuple[str, str, float, dict[str, Any]]


def batch(workspace_id: uuid.UUID, rows: Iterable[Row], *, start: datetime = T0) -> pa.Table:
    rows = list(rows)
    stamps = [start + timedelta(seconds=row[2]) for row in rows]
    return pa.table(
        {
            "workspace_id": [str(workspace_id)] * len(rows),
            "person_id": [row[0] for row in rows],
            "event": [row[1] for row in rows],
            "timestamp": pa.array(stamps, pa.timestamp("us", tz="UTC")),
            "properties": [json.dumps(row[3] if len(row) > 3 else {}) for row in rows],  # type: ignore[misc]
            "message_id": [f"m{index:06d}" for index in range(len(rows))],
            "source": ["collect"] * len(rows),
            "received_at": pa.array(stamps, pa.timestamp("us", tz="UTC")),
        }
    )


@pytest.fixture(scope="session", params=["duckdb", "chdb"])
def engine(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[AnalyticsStore]:
    if request.param == "duckdb":
        yield open_store(f"duckdb:///{tmp_path_factory.mktemp('duck')}/events.duckdb")
    else:
        yield open_store(f"chdb:///{tmp_path_factory.getbasetemp() / 'chdb-analytics'}")


class Loaded:
    def __init__(self, store: AnalyticsStore) -> None:
        self.store = store
        self.workspace_id = uuid.uuid4()

    def add(self, rows: Iterable[Row], *, start: datetime = T0) -> Loaded:
        self.store.insert_events(batch(self.workspace_id, rows, start=start))
        return self


@pytest.fixture
def events(engine: AnalyticsStore) -> Loaded:
    return Loaded(engine)
