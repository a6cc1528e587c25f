"""The store's funnel SQL against a plain-Python reference of the documented semantics
(analytics/funnels.py's docstring) on random events: several seeds, every order mode, windows,
exclusions, property filters, repeated step events, equal timestamps, a date range and a
first-touch breakdown, on DuckDB and on the ClickHouse path (chDB). Sequential funnels of
distinct events without exclusions take DuckDB's ordered pass (analytics/funnel_pass.py), the
rest its SQL plan; on DuckDB the two plans must also agree with each other. Whoever makes
funnels faster changes one of them; this keeps the answers from moving with it."""

from __future__ import annotations

import random
import statistics
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest

from intuitivus_flow.analytics import funnels
from intuitivus_flow.analytics.funnels import FunnelPlan, funnel_plan, run_funnel
from intuitivus_flow.analytics.schemas import FunnelQuery, FunnelResult
from tests.analytics.events.conftest import T0, Loaded

NAMES = ["a", "b", "c", "d", "x"]
SPAN = 400  # seconds of activity per person: ties and windows both matter at this density


@dataclass(frozen=True)
class Ev:
    ord: int  # insertion index = message id order, the tie-break of equal timestamps
    person: str
    event: str
    ts: int
    props: dict[str, Any] = field(default_factory=dict)


def generate(rng: random.Random, *, unique_times: bool = False) -> list[Ev]:
    rows: list[Ev] = []
    for p in range(25):
        count = rng.randint(0, 14)
        times = (
            sorted(rng.sample(range(SPAN), count))
            if unique_times
            else sorted(rng.randrange(0, SPAN, 5) for _ in range(count))
        )
        for ts in times:
            props = {"plan": rng.choice(["free", "pro"])} if rng.random() < 0.7 else {}
            if rng.random() < 0.5:
                props["src"] = rng.choice(["ads", "mail", "web"])
            rows.append(Ev(0, f"p{p}", rng.choice(NAMES), ts, props))
    rng.shuffle(rows)  # message ids (insertion order) are not time order
    return [Ev(i, r.person, r.event, r.ts, r.props) for i, r in enumerate(rows)]


def matches(ev: Ev, step: Any) -> bool:
    return ev.event == step.event and all(ev.props.get(k) == v for k, v in step.properties.items())


def reference(rows: list[Ev], q: FunnelQuery) -> dict[str, Any]:
    """Per person: (steps, t1..tn, breakdown) of the attempt that got furthest."""
    n, window = len(q.steps), q.window_seconds
    lo = (q.date_from - T0).total_seconds() if q.date_from else float("-inf")
    hi = (q.date_to - T0).total_seconds() if q.date_to else float("inf")
    people: dict[str, list[Ev]] = {}
    for r in sorted(rows, key=lambda r: (r.ts, f"m{r.ord:06d}")):
        if lo <= r.ts <= hi + window:
            people.setdefault(r.person, []).append(r)
    picked: dict[str, Any] = {}
    for person, evs in people.items():
        best: tuple[Any, ...] | None = None
        anchors = [
            (i, e)
            for i, e in enumerate(evs)
            if lo <= e.ts <= hi
            and (
                any(matches(e, s) for s in q.steps) if q.order == "any" else matches(e, q.steps[0])
            )
        ]
        for i, first in anchors:
            if q.order == "any":
                found = []
                for s in q.steps:
                    at = next((e.ts for e in evs if e.ts >= first.ts and matches(e, s)), None)
                    if at is not None and at <= first.ts + window:
                        found.append(at)
                times = sorted(found)
                steps = len(times)
            else:
                chain = [(i, first)]
                for k in range(1, n):
                    step = q.steps[k]
                    prev_i, prev = chain[-1]
                    if q.order == "strict":
                        nxt = prev_i + 1
                        cands = [(nxt, evs[nxt])] if nxt < len(evs) else []
                    else:
                        # at or after the previous step's time, after earlier same-event steps
                        same = [j for j in range(k) if q.steps[j].event == step.event]
                        cands = [
                            (j, e)
                            for j, e in enumerate(evs)
                            if e.ts >= prev.ts and all(j > chain[s][0] for s in same)
                        ]
                    hit = next(((j, e) for j, e in cands if matches(e, step)), None)
                    if hit is None or hit[1].ts > first.ts + window:
                        break
                    chain.append(hit)
                times = [e.ts for _, e in chain]
                steps = 0
                for k in range(1, len(times) + 1):
                    if all(
                        not any(
                            matches(e, x)
                            and times[x.from_step - 1]
                            < e.ts
                            < (times[x.to_step - 1] if x.to_step <= k else first.ts + window + 1)
                            for e in evs
                        )
                        for x in q.exclusions
                        if x.from_step <= k
                    ):
                        steps = k
                times = times[:steps]
            if steps == 0:
                continue
            key = (-steps, times[0], i)
            if best is None or key < best[0]:
                bd = str(first.props.get(q.breakdown, "")) if q.breakdown else ""
                best = (key, steps, times, bd)
        if best is not None:
            picked[person] = best[1:]
    return picked


def summary(picked: dict[str, Any], n: int) -> list[tuple[int, float | None, float | None]]:
    out = []
    for k in range(1, n + 1):
        reached = [times for steps, times, _ in picked.values() if steps >= k]
        deltas = [t[k - 1] - t[k - 2] for t in reached] if k > 1 else []
        out.append(
            (
                len(reached),
                round(statistics.median(deltas), 3) if deltas else None,
                round(statistics.fmean(deltas), 3) if deltas else None,
            )
        )
    return out


def of(result_steps: Any) -> list[tuple[int, float | None, float | None]]:
    return [(s.count, s.median_seconds_to_convert, s.mean_seconds_to_convert) for s in result_steps]


def random_query(rng: random.Random, order: str) -> FunnelQuery:
    n = rng.randint(2, 4)
    steps: list[dict[str, Any]] = []
    for _ in range(n):
        step: dict[str, Any] = {"event": rng.choice(NAMES[:4])}
        if rng.random() < 0.2:
            step["properties"] = {"plan": rng.choice(["free", "pro"])}
        steps.append(step)
    body: dict[str, Any] = {
        "steps": steps,
        "window_seconds": rng.choice([15, 60, 150, 1000]),
        "order": order,
    }
    if order != "any" and rng.random() < 0.6:  # exclusions do not apply to any-order funnels
        a = rng.randint(1, n - 1)
        body["exclusions"] = [{"event": "x", "from_step": a, "to_step": rng.randint(a + 1, n)}]
    if rng.random() < 0.4:
        body["date_from"] = (T0 + timedelta(seconds=rng.randrange(0, 100))).isoformat()
        body["date_to"] = (T0 + timedelta(seconds=rng.randrange(150, 300))).isoformat()
    return FunnelQuery.model_validate(body)


def check(result: FunnelResult, rows: list[Ev], query: FunnelQuery, label: str) -> None:
    picked = reference(rows, query)
    assert of(result.steps) == summary(picked, len(query.steps)), label


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("order", ["sequential", "strict", "any"])
def test_funnel_matches_the_reference(events: Loaded, seed: int, order: str) -> None:
    rng = random.Random(f"{seed}-{order}")
    rows = generate(rng)
    events.add((r.person, r.event, r.ts, r.props) for r in rows)
    for attempt in range(4):
        query = random_query(rng, order)
        result = run_funnel(events.store, events.workspace_id, query)
        check(result, rows, query, f"seed {seed} query {attempt}: {query.model_dump_json()}")


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("order", ["sequential", "strict"])
def test_breakdown_matches_the_reference(events: Loaded, seed: int, order: str) -> None:
    # unique times per person: with two step-1 events at one instant the first touch is a tie
    rng = random.Random(f"bd-{seed}-{order}")
    rows = generate(rng, unique_times=True)
    events.add((r.person, r.event, r.ts, r.props) for r in rows)
    query = random_query(rng, order).model_copy(update={"breakdown": "src"})
    result = run_funnel(events.store, events.workspace_id, query)
    picked = reference(rows, query)
    expected: dict[str | None, list[Any]] = {}
    for value in {bd for _, _, bd in picked.values()}:
        group = {p: v for p, v in picked.items() if v[2] == value}
        expected[value or None] = summary(group, len(query.steps))
    got = {b.value: of(b.steps) for b in result.breakdown or []}
    assert got == expected, query.model_dump_json()


def ordered_pass_query(rng: random.Random, *, breakdown: bool = False) -> FunnelQuery:
    """A random query the ordered pass takes: sequential, distinct events, no exclusions."""
    steps: list[dict[str, Any]] = []
    for name in rng.sample(NAMES, rng.randint(2, 5)):
        step: dict[str, Any] = {"event": name}
        if rng.random() < 0.2:
            step["properties"] = {"plan": rng.choice(["free", "pro"])}
        steps.append(step)
    body: dict[str, Any] = {"steps": steps, "window_seconds": rng.choice([15, 60, 150, 1000])}
    if rng.random() < 0.4:
        body["date_from"] = (T0 + timedelta(seconds=rng.randrange(0, 100))).isoformat()
        body["date_to"] = (T0 + timedelta(seconds=rng.randrange(150, 300))).isoformat()
    if breakdown:
        body["breakdown"] = "src"
    return FunnelQuery.model_validate(body)


@pytest.mark.parametrize("seed", range(8))
def test_distinct_step_funnel_matches_the_reference(events: Loaded, seed: int) -> None:
    rng = random.Random(f"pass-{seed}")
    rows = generate(rng)
    events.add((r.person, r.event, r.ts, r.props) for r in rows)
    for attempt in range(6):
        query = ordered_pass_query(rng)
        result = run_funnel(events.store, events.workspace_id, query)
        check(result, rows, query, f"seed {seed} query {attempt}: {query.model_dump_json()}")


def breakdown_by_value(result: FunnelResult) -> dict[str | None, Any]:
    # breakdown values with equal counts come in no particular order from the SQL plan
    return {b.value: b.steps for b in result.breakdown or []}


@pytest.mark.parametrize("engine", ["duckdb"], indirect=True)
@pytest.mark.parametrize("seed", range(12))
def test_ordered_pass_and_sql_plan_give_the_same_funnel(
    events: Loaded, seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Equal timestamps on odd seeds; unique ones on even seeds, where a breakdown is asked:
    # the SQL plan breaks a tie between two step-1 events at one instant arbitrarily.
    rng = random.Random(f"plans-{seed}")
    unique_times = seed % 2 == 0
    rows = generate(rng, unique_times=unique_times)
    events.add((r.person, r.event, r.ts, r.props) for r in rows)
    for attempt in range(6):
        query = ordered_pass_query(rng, breakdown=unique_times and rng.random() < 0.6)
        label = f"seed {seed} query {attempt}: {query.model_dump_json()}"
        assert funnel_plan(events.store.dialect, query) is FunnelPlan.ordered_pass, label
        fast = run_funnel(events.store, events.workspace_id, query)
        with monkeypatch.context() as patched:
            patched.setattr(funnels, "funnel_plan", lambda *_: FunnelPlan.sql)
            planned = run_funnel(events.store, events.workspace_id, query)
        assert fast.model_copy(update={"breakdown": None}) == planned.model_copy(
            update={"breakdown": None}
        ), label
        assert breakdown_by_value(fast) == breakdown_by_value(planned), label


@pytest.mark.parametrize("engine", ["duckdb"], indirect=True)
@pytest.mark.parametrize("seed", range(4))
def test_ordered_pass_breakdown_with_equal_times_matches_the_reference(
    events: Loaded, seed: int
) -> None:
    # two step-1 events at one instant: the first by message id is the counted attempt's
    rng = random.Random(f"pass-bd-{seed}")
    rows = generate(rng)
    events.add((r.person, r.event, r.ts, r.props) for r in rows)
    query = ordered_pass_query(rng, breakdown=True)
    result = run_funnel(events.store, events.workspace_id, query)
    picked = reference(rows, query)
    expected = {
        value or None: summary({p: v for p, v in picked.items() if v[2] == value}, len(query.steps))
        for value in {bd for _, _, bd in picked.values()}
    }
    assert {b.value: of(b.steps) for b in result.breakdown or []} == expected
