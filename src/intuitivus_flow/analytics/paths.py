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
from intuitivus_flow.analytics.store.dialects import SqlDialect

US = 1_000_000


def paths_sql(store: AnalyticsStore, query: PathQuery) -> tuple[str, str | None]:
    """(the statement of transitions and top paths, the start event they follow)."""
    sql = store.sql
    gap = query.session_gap_seconds * US
    steps = query.steps
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
    # Two ordered passes over a person's events (a window sort each), then one aggregate per
    # session joined back; the former plan sorted four times (by person, then by session) and
    # was slower than pandas on the same data (docs/analytics.md, Benchmark).
    window = "PARTITION BY person ORDER BY ts, seq"
    # the next `steps` events of each row (in its session when within `length`): a path is
    # read off the row it starts at, not string-aggregated per session
    # the second pass orders by the first one's row number: a sort on integers, not on the
    # time and message id text again
    again = "PARTITION BY person ORDER BY rn1"
    leads = ", ".join(f"{sql.lead('event', again, j)} AS next{j}" for j in range(1, steps + 1))
    carried = ", ".join(f"next{j}" for j in range(1, steps + 1))
    previous_ts = sql.lag("ts", window)
    ctes = (
        prefix + f"raw AS (SELECT {sql.person_key('e')} AS person, e.event AS event, "
        f"{sql.epoch_us('e.timestamp')} AS ts, e.message_id AS seq "
        f"FROM {{events}} e {join}WHERE {' AND '.join(ranges)}), "
        # a new session at a person's first event or after the gap; repeats inside it collapse
        # (a first row is told by its number: ClickHouse's lag gives 0, not NULL, there)
        f"marked AS (SELECT person, event, row_number() OVER ({window}) AS rn1, "
        f"CASE WHEN row_number() OVER ({window}) = 1 OR ts - {previous_ts} > {gap} "
        "THEN 1 ELSE 0 END AS starts, "
        f"CASE WHEN row_number() OVER ({window}) > 1 AND ts - {previous_ts} <= {gap} "
        f"AND event = {sql.lag('event', window)} THEN 1 ELSE 0 END AS repeated FROM raw), "
        # second pass, repeats gone: session number, row number, and the next event, which is
        # a transition when it continues the session (lead, not a self-join; past the last row
        # `continues` is NULL on DuckDB and 0 on ClickHouse, both no transition)
        "numbered AS (SELECT person, event, "
        f"sum(starts) OVER ({again} ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) "
        f"AS session, row_number() OVER ({again}) AS rn, "
        f"{sql.lead('1 - starts', again)} AS continues, {leads} "
        "FROM marked WHERE repeated = 0), "
        + _anchored(sql, carried)
        + ", pairs AS (SELECT person, session, event AS source, next1 AS target, pos, s0, e0 "
        "FROM anchored WHERE continues = 1)"
    )
    # a path runs over positions [first, last] of its session
    if query.end_event is not None:
        step = "e0 - pos"
        keep = "e0 IS NOT NULL AND pos < e0"
        first, last = f"greatest(1, e0 - {steps})", "e0"
    elif start_event is not None:
        step = "pos - s0 + 1"
        keep = "s0 IS NOT NULL AND pos >= s0"
        first, last = "s0", f"least(s0 + {steps}, length)"
    else:
        step = "pos"
        keep = "1 = 1"
        first, last = "1", f"least({1 + steps}, length)"
    anchor = "e0" if query.end_event is not None else "s0" if start_event is not None else "1"
    newline = sql.literal("\n")  # event names hold none
    path = ", ".join(
        ["event"]
        + [
            f"coalesce(CASE WHEN pos + {j} <= {last} THEN concat({newline}, next{j}) END, '')"
            for j in range(1, steps + 1)
        ]
    )
    # one statement for both answers: the ordered passes run once (DuckDB materialises
    # `anchored`); each part keeps its own order and limit, restored in Python after the union
    moves = (
        f"SELECT 'move' AS kind, step, source, target, count(DISTINCT person) AS persons, "
        f"count(*) AS sessions FROM (SELECT person, source, target, {step} AS step FROM pairs "
        f"WHERE {keep}) s WHERE step <= {steps} GROUP BY step, source, target "
        f"ORDER BY step, sessions DESC, source, target LIMIT {query.limit}"
    )
    top = (
        f"SELECT 'path' AS kind, 0 AS step, path AS source, '' AS target, 0 AS persons, "
        f"count(*) AS sessions FROM (SELECT concat({path}) AS path FROM anchored "
        f"WHERE {anchor} IS NOT NULL AND pos = {first}) j GROUP BY path "
        f"ORDER BY sessions DESC, path LIMIT {query.limit}"
    )
    statement = f"{ctes} SELECT * FROM ({moves}) m UNION ALL SELECT * FROM ({top}) t"
    return statement, start_event


def run_paths(store: AnalyticsStore, workspace_id: uuid.UUID, query: PathQuery) -> PathResult:
    statement, start_event = paths_sql(store, query)
    values = {"start": start_event, "end": query.end_event}
    rows = store.query(workspace_id, statement + store.sql.join_settings(), **values).rows
    moves = sorted(
        (row for row in rows if row[0] == "move"),
        key=lambda row: (int(row[1]), -int(row[5]), str(row[2]), str(row[3])),
    )
    paths = sorted(
        (row for row in rows if row[0] == "path"), key=lambda row: (-int(row[5]), str(row[2]))
    )
    return PathResult(
        transitions=[
            Transition(
                step=int(step),
                source=str(source),
                target=str(target),
                persons=int(persons),
                sessions=int(sessions),
            )
            for _, step, source, target, persons, sessions in moves
        ],
        top_paths=[
            PathSequence(events=str(path).split("\n"), sessions=int(sessions))
            for _, _, path, _, _, sessions in paths
        ],
    )


def _anchored(sql: SqlDialect, carried: str) -> str:
    """`anchored`: each row's position in its session, the session's length and the positions
    of its first start and end events. DuckDB: one aggregate per session joined back (cheaper
    than a window per session there); ClickHouse inlines CTEs, so a join would compute
    `numbered` twice: a window per session instead (1 M events on chDB: 5.5 s -> 2.2 s)."""
    if not sql.inlines_ctes:
        return (
            "bounds AS (SELECT person, session, min(rn) AS first_rn, max(rn) AS last_rn, "
            "min(CASE WHEN event = {start} THEN rn END) AS start_rn, "
            "min(CASE WHEN event = {end} THEN rn END) AS end_rn "
            "FROM numbered GROUP BY person, session), "
            f"anchored AS {sql.materialized()}(SELECT n.person AS person, "
            "n.session AS session, n.event AS event, "
            + ", ".join(f"n.{c} AS {c}" for c in carried.split(", "))
            + ", n.continues AS continues, n.rn - b.first_rn + 1 AS pos, "
            "b.last_rn - b.first_rn + 1 AS length, "
            "b.start_rn - b.first_rn + 1 AS s0, b.end_rn - b.first_rn + 1 AS e0 "
            "FROM numbered n JOIN bounds b ON n.person = b.person AND n.session = b.session)"
        )
    return (
        f"anchored AS (SELECT person, session, event, {carried}, continues, "
        "rn - min(rn) OVER s + 1 AS pos, max(rn) OVER s - min(rn) OVER s + 1 AS length, "
        "min(CASE WHEN event = {start} THEN rn END) OVER s - min(rn) OVER s + 1 AS s0, "
        "min(CASE WHEN event = {end} THEN rn END) OVER s - min(rn) OVER s + 1 AS e0 "
        "FROM numbered WINDOW s AS (PARTITION BY person, session))"
    )
