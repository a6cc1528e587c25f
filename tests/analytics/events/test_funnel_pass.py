"""Which funnels take DuckDB's ordered pass (analytics/funnel_pass.py) and which keep the SQL
plan, and the store's column fetch the pass reads. Its answers are checked against the SQL plan
and a plain-Python reference in test_funnel_reference.py."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from intuitivus_flow.analytics import funnels
from intuitivus_flow.analytics.funnel_pass import (
    Furthest,
    StepEvents,
    in_person_time_order,
    step_summaries,
)
from intuitivus_flow.analytics.funnels import FunnelPlan, funnel_plan, run_funnel
from intuitivus_flow.analytics.schemas import FunnelQuery
from tests.analytics.events.conftest import Loaded

ORDERED_PASS = {"steps": [{"event": "a"}, {"event": "b", "properties": {"plan": "pro"}}]}
SQL_PLAN = {
    "same event twice": {"steps": [{"event": "a"}, {"event": "b"}, {"event": "a"}]},
    "exclusion": {
        "steps": [{"event": "a"}, {"event": "b"}],
        "exclusions": [{"event": "x", "from_step": 1, "to_step": 2}],
    },
    "strict": {"steps": [{"event": "a"}, {"event": "b"}], "order": "strict"},
    "any": {"steps": [{"event": "a"}, {"event": "b"}], "order": "any"},
}


def test_a_sequential_funnel_of_distinct_events_takes_the_ordered_pass_on_duckdb() -> None:
    query = FunnelQuery.model_validate(ORDERED_PASS | {"breakdown": "src"})
    assert funnel_plan("duckdb", query) is FunnelPlan.ordered_pass
    assert funnel_plan("clickhouse", query) is FunnelPlan.sql


@pytest.mark.parametrize("body", SQL_PLAN.values(), ids=SQL_PLAN.keys())
def test_other_funnels_keep_the_sql_plan(body: dict[str, Any]) -> None:
    assert funnel_plan("duckdb", FunnelQuery.model_validate(body)) is FunnelPlan.sql


@pytest.mark.parametrize("engine", ["duckdb"], indirect=True)
def test_run_funnel_follows_the_plan(events: Loaded, monkeypatch: pytest.MonkeyPatch) -> None:
    events.add([("p", "a", 0), ("p", "b", 5, {"plan": "pro"}), ("p", "a", 9), ("p", "x", 1)])
    passes: list[FunnelQuery] = []
    original = funnels.furthest_attempts

    def counted(*args: Any) -> Any:
        passes.append(query)
        return original(*args)

    monkeypatch.setattr(funnels, "furthest_attempts", counted)
    for body in SQL_PLAN.values():
        query = FunnelQuery.model_validate(body)
        assert run_funnel(events.store, events.workspace_id, query).steps[0].count == 1
    assert passes == []
    query = FunnelQuery.model_validate(ORDERED_PASS)
    assert [s.count for s in run_funnel(events.store, events.workspace_id, query).steps] == [1, 1]
    assert passes == [query]


def test_a_workspace_without_step_events_has_an_empty_funnel(events: Loaded) -> None:
    events.add([("p", "x", 0)])
    query = FunnelQuery.model_validate(ORDERED_PASS | {"breakdown": "src"})
    result = run_funnel(events.store, events.workspace_id, query)
    assert [s.count for s in result.steps] == [0, 0]
    assert result.breakdown == []


def test_query_columns_are_the_query_rows_as_arrays(events: Loaded) -> None:
    events.add([("p", "a", 0), ("q", "b", 2.5), ("p", "c", 1)])
    statement = (
        f"SELECT person_id AS person, {events.store.sql.epoch_us('timestamp')} AS ts "
        "FROM {events} WHERE event IN ('a', 'c') ORDER BY ts"
    )
    columns = events.store.query_columns(events.workspace_id, statement)
    assert list(columns) == ["person", "ts"]
    assert columns["person"].tolist() == ["p", "p"]
    assert np.diff(columns["ts"]).tolist() == [1_000_000]


@pytest.mark.parametrize(
    "span",
    [1_000, 2**56, 2**62],
    ids=["one integer key", "the step as a second key", "key would overflow"],
)
def test_step_events_sort_by_person_time_and_step(span: int) -> None:
    rng = np.random.default_rng(span % 1000)
    person = rng.integers(0, 2**64 - 1, 50, dtype=np.uint64, endpoint=True)[
        rng.integers(0, 50, 2000)
    ]
    ts = rng.integers(-span, span, 2000)
    step = rng.integers(1, 4, 2000).astype(np.int8)
    ordered = in_person_time_order(StepEvents(person, ts, step))
    expected = np.lexsort((step, ts, person))
    assert ordered.person.tolist() == person[expected].tolist()
    assert ordered.ts.tolist() == ts[expected].tolist()
    assert ordered.step.tolist() == step[expected].tolist()


def test_a_breakdown_keeps_the_order_of_equal_rows() -> None:
    person = np.array([7, 3, 7, 3, 7], dtype=np.uint64)
    ts = np.array([5, 1, 5, 1, 2])
    step = np.ones(5, dtype=np.int8)
    values = np.array(["first", "a", "second", "b", "earlier"], dtype=object)
    ordered = in_person_time_order(StepEvents(person, ts, step, values))
    assert ordered.breakdown is not None
    assert ordered.breakdown.tolist() == ["a", "b", "earlier", "first", "second"]


@pytest.mark.parametrize("persons", [1, 2, 1001, 1002])
def test_the_whole_funnel_summary_equals_one_group_of_the_breakdown(persons: int) -> None:
    """The single group's own path against the grouped one, odd and even counts, with deltas
    large enough that their int64 sum would overflow."""
    rng = np.random.default_rng(persons)
    reached = rng.integers(1, 4, persons).astype(np.int8)
    t1 = rng.integers(0, 2**40, persons)
    t2 = t1 + rng.integers(0, 2**61, persons)
    t3 = t2 + rng.integers(0, 1_000, persons)
    furthest = Furthest(reached, [t1, t2, t3], np.arange(persons))
    one_value = np.full(persons, "v", dtype=object)
    assert step_summaries(furthest, 3) == {"": step_summaries(furthest, 3, one_value)["v"]}
