"""Paths: what persons do next, in sessions, in the store's SQL (docs/analytics.md).

A person's events split into sessions after `session_gap_seconds` of inactivity (30 min by
default); inside a session consecutive repeats of one event collapse into one. Transitions are
counted from the first `start_event` of each session (step 1 = the move out of it), or toward
the first `end_event` (step 1 = the move into it), or from the session's start. `top_paths` are
the most frequent event sequences from that point. With a funnel and `dropped_at_step`, only
persons whose furthest step was that one are followed, from the time they reached it.
"""

from __future__ import annotations

import uuid

from intuitivus_flow.analytics.funnels import funnel_sql
from intuitivus_flow.analytics.schemas import PathQuery, PathResult, PathSequence, Transition
from intuitivus_flow.analytics.store import AnalyticsStore

US = 1_000_000


def paths_sql(store: AnalyticsStore, query: PathQuery) -> tuple[str, str, str | None]:
    """(transitions statement, top-paths statement, the start event they follow)."""
    sql = store.sql
    gap = query.session_gap_seconds * US
    ranges = ["1 = 1"]
    if query.date_from is not None:
        ranges.append(f"e.timestamp >= {sql.literal(query.date_from)}")
    if query.date_to is not None:
        ranges.append(f"e.timestamp <= {sql.literal(query.date_to)}")
    prefix = "WITH "
    join = ""
    start_event = query.start_event
    if query.funnel is not None and query.dropped_at_step is not None:
        built = funnel_sql(sql, query.funnel)
        k = query.dropped_at_step
        prefix = (
            built.ctes + f", dropped AS (SELECT person, t{k} AS since FROM funnel_people "
            f"WHERE steps = {k}), "
        )
        join = (
            f"JOIN dropped d ON {sql.person_key('e')} = d.person "
            f"AND {sql.epoch_us('e.timestamp')} >= d.since "
        )
        start_event = start_event or query.funnel.steps[k - 1].event
    window = "PARTITION BY person ORDER BY ts, seq"
    session_window = "PARTITION BY person, session ORDER BY ts, seq"
    ctes = (
        prefix + "raw AS (SELECT e.person_id AS person, e.event AS event, "
        f"{sql.epoch_us('e.timestamp')} AS ts, e.message_id AS seq "
        f"FROM {{events}} e {join}WHERE {' AND '.join(ranges)}), "
        f"lagged AS (SELECT person, event, ts, seq, {sql.lag('ts', window)} AS prev_ts, "
        f"{sql.lag('event', window)} AS prev_event, row_number() OVER ({window}) AS rn "
        "FROM raw), "
        # a new session at a person's first event or after the gap; repeats inside it collapse
        "flagged AS (SELECT person, event, ts, seq, "
        f"CASE WHEN rn = 1 OR ts - prev_ts > {gap} THEN 1 ELSE 0 END AS starts, "
        f"CASE WHEN rn > 1 AND ts - prev_ts <= {gap} AND event = prev_event THEN 1 ELSE 0 END "
        "AS repeated FROM lagged), "
        "sessioned AS (SELECT person, event, ts, seq, repeated, sum(starts) OVER (PARTITION BY "
        "person ORDER BY ts, seq ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS session "
        "FROM flagged), "
        f"positioned AS (SELECT person, session, event, "
        f"row_number() OVER ({session_window}) AS pos, "
        f"{sql.lead('event', session_window)} AS target, "
        "count(*) OVER (PARTITION BY person, session) AS length "
        "FROM sessioned WHERE repeated = 0), "
        f"anchored AS (SELECT person, session, event, target, pos, length, "
        "min(CASE WHEN event = {start} THEN pos END) OVER (PARTITION BY person, session) AS s0, "
        "min(CASE WHEN event = {end} THEN pos END) OVER (PARTITION BY person, session) AS e0 "
        "FROM positioned), "
        # a transition is a row and the next one in its session (lead, not a self-join)
        "pairs AS (SELECT person, session, event AS source, target, pos, s0, e0 "
        "FROM anchored WHERE pos < length)"
    )
    if query.end_event is not None:
        step = "e0 - pos"
        keep = "e0 IS NOT NULL AND pos < e0"
        path_keep = f"e0 IS NOT NULL AND pos <= e0 AND pos > e0 - {query.steps + 1}"
    elif start_event is not None:
        step = "pos - s0 + 1"
        keep = "s0 IS NOT NULL AND pos >= s0"
        path_keep = f"s0 IS NOT NULL AND pos >= s0 AND pos <= s0 + {query.steps}"
    else:
        step = "pos"
        keep = "1 = 1"
        path_keep = f"pos <= {query.steps + 1}"
    transitions = (
        ctes + f", steps_ AS (SELECT person, session, source, target, {step} AS step "
        f"FROM pairs WHERE {keep}) "
        "SELECT step, source, target, count(DISTINCT person) AS persons, count(*) AS sessions "
        f"FROM steps_ WHERE step <= {query.steps} GROUP BY step, source, target "
        f"ORDER BY step, sessions DESC, source, target LIMIT {query.limit}"
    )
    top = (
        ctes + ", journey AS (SELECT person, session, "
        f"{sql.ordered_concat('event', 'pos')} AS path FROM anchored WHERE {path_keep} "
        "GROUP BY person, session) "
        "SELECT path, count(*) AS sessions FROM journey GROUP BY path "
        f"ORDER BY sessions DESC, path LIMIT {query.limit}"
    )
    return transitions, top, start_event


def run_paths(store: AnalyticsStore, workspace_id: uuid.UUID, query: PathQuery) -> PathResult:
    transitions, top, start_event = paths_sql(store, query)
    values = {"start": start_event, "end": query.end_event}
    moves = store.query(workspace_id, transitions + store.sql.join_settings(), **values)
    sequences = store.query(workspace_id, top + store.sql.join_settings(), **values)
    return PathResult(
        transitions=[
            Transition(
                step=int(step),
                source=str(source),
                target=str(target),
                persons=int(persons),
                sessions=int(sessions),
            )
            for step, source, target, persons, sessions in moves.rows
        ],
        top_paths=[
            PathSequence(events=str(path).split("\n"), sessions=int(sessions))
            for path, sessions in sequences.rows
        ],
    )
