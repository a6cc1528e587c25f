"""The embedded store bounds what DuckDB holds in the web process that embeds it: analyses past
the bound spill to disk beside the store file and answer the same."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pytest

from intuitivus_flow.analytics.paths import run_paths
from intuitivus_flow.analytics.schemas import PathQuery
from intuitivus_flow.analytics.store import StoreError
from intuitivus_flow.analytics.store.embedded import DuckDBStore

WORKSPACE = uuid.UUID(int=11)


def _setting(store: DuckDBStore, name: str) -> str:
    return str(store.execute(f"SELECT current_setting('{name}')").rows[0][0])


def test_the_default_bound_is_512_mb_and_spills_beside_the_file(tmp_path: Path) -> None:
    store = DuckDBStore(f"{tmp_path}/a.duckdb")
    store.migrate()

    assert _setting(store, "memory_limit") == "488.2 MiB"  # 512 MB in DuckDB's units
    assert _setting(store, "temp_directory") == f"{tmp_path}/a.duckdb.tmp"


def test_the_url_sets_the_bound(tmp_path: Path) -> None:
    store = DuckDBStore(f"{tmp_path}/a.duckdb?memory_limit=2GB&busy_timeout=1")
    store.migrate()

    assert _setting(store, "memory_limit") == "1.8 GiB"
    assert store.busy_timeout == 1


@pytest.mark.parametrize("limit", ["lots", "-5MB", "512", "1TB; DROP TABLE x"])
def test_a_bound_that_is_not_a_size_is_refused(tmp_path: Path, limit: str) -> None:
    with pytest.raises(StoreError, match="memory_limit"):
        DuckDBStore(f"{tmp_path}/a.duckdb?memory_limit={limit}")


def _events(count: int) -> pa.Table:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    names = ["page.viewed", "signup", "agent.created", "docs.opened"]
    return pa.table(
        {
            "workspace_id": [str(WORKSPACE)] * count,
            # each person's 40 events a minute apart: sessions of 40 events
            "person_id": [f"p{i // 40}" for i in range(count)],
            "event": [names[(i * 7 + i // 40) % len(names)] for i in range(count)],
            "timestamp": pa.array(
                [start + timedelta(minutes=i % 40) for i in range(count)],
                pa.timestamp("us", tz="UTC"),
            ),
            "properties": ["{}"] * count,
            "message_id": [f"m{i:08d}" for i in range(count)],
            "source": ["collect"] * count,
            "received_at": pa.array([start] * count, pa.timestamp("us", tz="UTC")),
        }
    )


def test_an_analysis_larger_than_a_small_bound_answers_as_without_one(tmp_path: Path) -> None:
    events = _events(200_000)
    bounded = DuckDBStore(f"{tmp_path}/bounded.duckdb?memory_limit=64MB")
    unbounded = DuckDBStore(":memory:")
    for store in (bounded, unbounded):
        store.migrate()
        store.insert_events(events)
    query = PathQuery(limit=10, steps=3)

    answer = run_paths(bounded, WORKSPACE, query)

    assert answer.transitions  # a real answer, not an empty one
    assert answer == run_paths(unbounded, WORKSPACE, query)
