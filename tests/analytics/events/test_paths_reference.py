"""The store's paths SQL against a plain-Python reference of the documented semantics
(analytics/paths.py's docstring) on random events: sessions split after the gap, consecutive
repeats collapsed, equal timestamps ordered by message id, transitions and top paths from the
session start, from a start event and toward an end event, a date range, on DuckDB and chDB.
Whoever makes paths faster changes the SQL; this keeps the answers from moving with it."""

from __future__ import annotations

import random
from collections import defaultdict
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest

from intuitivus_flow.analytics.paths import run_paths
from intuitivus_flow.analytics.schemas import PathQuery
from tests.analytics.events.conftest import T0, Loaded

NAMES = ["home", "pricing", "docs", "signup"]
GAP = 60  # seconds: the smallest session gap a query accepts


@dataclass(frozen=True)
class Ev:
    ord: int  # insertion index = message id order, the tie-break of equal timestamps
    person: str
    event: str
    ts: int


def generate(rng: random.Random) -> list[Ev]:
    rows: list[Ev] = []
    for p in range(20):
        ts = rng.randrange(0, 50)
        for _ in range(rng.randint(0, 16)):
            # ties, short steps inside a session, and gaps over GAP
            ts += rng.choice([0, 0, 5, 20, 40, 59, 60, 61, 90, 300])
            rows.append(Ev(0, f"p{p}", rng.choice(NAMES), ts))
    rng.shuffle(rows)  # message ids (insertion order) are not time order
    return [Ev(i, r.person, r.event, r.ts) for i, r in enumerate(rows)]


def sessions(rows: list[Ev], query: PathQuery) -> list[tuple[str, list[str]]]:
    lo = (query.date_from - T0).total_seconds() if query.date_from else float("-inf")
    hi = (query.date_to - T0).total_seconds() if query.date_to else float("inf")
    people: dict[str, list[Ev]] = defaultdict(list)
    for r in sorted(rows, key=lambda r: (r.ts, f"m{r.ord:06d}")):
        if lo <= r.ts <= hi:
            people[r.person].append(r)
    out: list[tuple[str, list[str]]] = []
    for person, evs in people.items():
        current: list[str] = []
        for i, e in enumerate(evs):
            if i == 0 or e.ts - evs[i - 1].ts > query.session_gap_seconds:
                if current:
                    out.append((person, current))
                current = [e.event]
            elif e.event != evs[i - 1].event:
                current.append(e.event)
        if current:
            out.append((person, current))
    return out


def reference(rows: list[Ev], query: PathQuery) -> tuple[dict[Any, Any], dict[Any, int]]:
    moves: dict[tuple[int, str, str], list[Any]] = {}
    paths: dict[tuple[str, ...], int] = defaultdict(int)
    n = query.steps
    for person, evs in sessions(rows, query):
        length = len(evs)
        if query.end_event is not None:
            if query.end_event not in evs:
                continue
            e0 = evs.index(query.end_event) + 1
            first, last = max(1, e0 - n), e0
            steps = {pos: e0 - pos for pos in range(1, e0)}
        elif query.start_event is not None:
            if query.start_event not in evs:
                continue
            s0 = evs.index(query.start_event) + 1
            first, last = s0, min(s0 + n, length)
            steps = {pos: pos - s0 + 1 for pos in range(s0, length)}
        else:
            first, last = 1, min(1 + n, length)
            steps = {pos: pos for pos in range(1, length)}
        for pos, step in steps.items():
            if step <= n:
                key = (step, evs[pos - 1], evs[pos])
                seen = moves.setdefault(key, [set(), 0])
                seen[0].add(person)
                seen[1] += 1
        paths[tuple(evs[first - 1 : last])] += 1
    return {k: (len(v[0]), v[1]) for k, v in moves.items()}, dict(paths)


def random_query(rng: random.Random, mode: str) -> PathQuery:
    body: dict[str, Any] = {"steps": rng.randint(1, 4), "limit": 1000}
    body["session_gap_seconds"] = rng.choice([GAP, 100])
    if mode == "start":
        body["start_event"] = rng.choice(NAMES)
    elif mode == "end":
        body["end_event"] = rng.choice(NAMES)
    if rng.random() < 0.3:
        body["date_from"] = (T0 + timedelta(seconds=rng.randrange(0, 200))).isoformat()
        body["date_to"] = (T0 + timedelta(seconds=rng.randrange(400, 900))).isoformat()
    return PathQuery.model_validate(body)


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("mode", ["session", "start", "end"])
def test_paths_match_the_reference(events: Loaded, seed: int, mode: str) -> None:
    rng = random.Random(f"paths-{seed}-{mode}")
    rows = generate(rng)
    events.add((r.person, r.event, r.ts) for r in rows)
    for attempt in range(3):
        query = random_query(rng, mode)
        result = run_paths(events.store, events.workspace_id, query)
        moves, paths = reference(rows, query)
        label = f"seed {seed} query {attempt}: {query.model_dump_json()}"
        got = {(t.step, t.source, t.target): (t.persons, t.sessions) for t in result.transitions}
        assert got == moves, label
        assert {tuple(p.events): p.sessions for p in result.top_paths} == paths, label
        # the order of the answer: by step, then most sessions first
        assert [(t.step, -t.sessions) for t in result.transitions] == sorted(
            (t.step, -t.sessions) for t in result.transitions
        ), label
