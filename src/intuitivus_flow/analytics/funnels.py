"""Funnels in the store's SQL, one text for DuckDB and ClickHouse (docs/analytics.md).

Two plans give the same answers (`funnel_plan`): on DuckDB, a sequential funnel whose steps
are distinct events and that has no exclusions is one query fetching the step events, then
one ordered pass over them by person and time in numpy (funnel_pass.py: the web process
holds those events' columns, about 85 bytes a step event at the peak, for the call); every
other funnel, and every funnel on ClickHouse, is the SQL below: per step an ASOF join, then a
window picking each person's furthest attempt.

Semantics (PostHog's, differences documented there):
- unit = unique persons; a person counts once per step, with the attempt that got furthest
  (ties: the earliest step 1);
- every step-1 event in the date range starts an attempt; the whole chain must fit in the
  window measured from that step-1 event (later steps may fall after `date_to`);
- sequential: each next step is the earliest matching event at or after the previous step's
  time (equal timestamps count as in order); one event never fills two steps, so two steps of
  the same event need two events;
- strict: the next step must be the person's very next event (ties broken by message id);
- any: a step counts when its event happens inside the window started by any step event;
  step k = persons who did at least k distinct steps;
- an exclusion event strictly between `from_step` and `to_step` of an attempt (or, when
  `to_step` was not reached, after `from_step` until the window ends) voids that attempt; a
  person whose every attempt is void is not in the funnel;
- breakdown: the property value on the step-1 event of the counted attempt (first touch).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from intuitivus_flow.analytics.funnel_pass import (
    StepEvents,
    furthest_attempts,
    in_person_time_order,
    step_summaries,
)
from intuitivus_flow.analytics.schemas import (
    Exclusion,
    FunnelBreakdown,
    FunnelOrder,
    FunnelQuery,
    FunnelResult,
    FunnelStepResult,
    StepFilter,
)
from intuitivus_flow.analytics.store import AnalyticsStore
from intuitivus_flow.analytics.store.dialects import SqlDialect

US = 1_000_000


@dataclass(frozen=True)
class FunnelSQL:
    """`ctes` defines `funnel_people(person, steps, breakdown, t1..tN)`: one row per person in
    the funnel, furthest step and step times (epoch microseconds). Other analyses (paths of
    drop-offs) reuse it."""

    ctes: str
    steps: int


def match(sql: SqlDialect, step: StepFilter, alias: str = "") -> str:
    prefix = f"{alias}." if alias else ""
    parts = [f"{prefix}event = {sql.literal(step.event)}"]
    for key, value in sorted(step.properties.items()):
        text = value if isinstance(value, str) else _json_text(value)
        parts.append(f"{sql.json_text(prefix + 'properties', key)} = {sql.literal(text)}")
    return "(" + " AND ".join(parts) + ")"


def _json_text(value: bool | int | float) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value) if isinstance(value, float) else str(value)


def funnel_sql(sql: SqlDialect, query: FunnelQuery) -> FunnelSQL:
    n = len(query.steps)
    window = query.window_seconds * US
    date_filter, anchor_filter = _date_filters(sql, query)
    filters = [*query.steps, *query.exclusions]
    relevant = _relevant(sql, filters)
    # properties are the widest column: carried only when a filter or the breakdown reads them
    properties = "properties, " if query.breakdown or any(f.properties for f in filters) else ""
    breakdown = (
        f"coalesce({sql.json_text('properties', query.breakdown)}, '')" if query.breakdown else "''"
    )
    ranked_events = _needs_order_numbers(query)
    numbering = (
        # `ord` numbers a person's events in time order (unique), `rnk` is the first ord sharing
        # the timestamp, so "at or after time t, not this same event" is `ord >= rnk`. Only
        # repeated step events and strict order need them (a window over every event is the
        # costliest part of a funnel): otherwise steps join on the timestamp itself.
        ", row_number() OVER (PARTITION BY person_id ORDER BY timestamp, message_id) AS ord, "
        "rank() OVER (PARTITION BY person_id ORDER BY timestamp) AS rnk"
        if ranked_events
        else ", 0 AS ord, 0 AS rnk"
    )
    ctes = [
        f"ev AS {sql.materialized()}(SELECT {sql.person_key()} AS person, event, "
        f"{properties}{sql.epoch_us('timestamp')} AS ts{numbering} "
        f"FROM {{events}} WHERE {date_filter}"
        + ("" if query.order is FunnelOrder.strict else f" AND ({relevant})")
        + ")",
    ]
    if query.order is FunnelOrder.any:
        ctes += _any_order_chains(sql, query, window, anchor_filter, breakdown)
    else:
        ctes += _ordered_chains(sql, query, window, anchor_filter, breakdown, ranked_events)
    times = ", ".join(f"t{k}" for k in range(1, n + 1))
    ctes.append(
        "ranked AS (SELECT person, steps, breakdown, "
        f"{times}, row_number() OVER (PARTITION BY person ORDER BY steps DESC, t1, o1) AS pick "
        "FROM chains)"
    )
    ctes.append(
        f"funnel_people AS (SELECT person, steps, breakdown, {times} FROM ranked WHERE pick = 1)"
    )
    return FunnelSQL("WITH " + ",\n".join(ctes), n)


def _relevant(sql: SqlDialect, filters: Sequence[StepFilter]) -> str:
    """The events any of `filters` may match."""
    names = ", ".join(sql.literal(name) for name in sorted({f.event for f in filters}))
    # an IN list on the event name is pushed into the table scan; property filters apply after
    relevant = f"event IN ({names})"
    if any(f.properties for f in filters):
        relevant += " AND (" + " OR ".join(match(sql, f) for f in filters) + ")"
    return relevant


def _date_filters(sql: SqlDialect, query: FunnelQuery) -> tuple[str, str]:
    events, anchors = ["1 = 1"], ["1 = 1"]
    if query.date_from is not None:
        events.append(f"timestamp >= {sql.literal(query.date_from)}")
        anchors.append(f"ts >= {int(query.date_from.timestamp() * US)}")
    if query.date_to is not None:
        # later steps may complete after date_to, within the window
        events.append(
            f"{sql.epoch_us('timestamp')} <= "
            f"{int(query.date_to.timestamp() * US) + query.window_seconds * US}"
        )
        anchors.append(f"ts <= {int(query.date_to.timestamp() * US)}")
    return " AND ".join(events), " AND ".join(anchors)


def _needs_order_numbers(query: FunnelQuery) -> bool:
    if query.order is FunnelOrder.strict:
        return True
    if query.order is FunnelOrder.any:
        return False
    names = [step.event for step in query.steps]
    return len(set(names)) < len(names)


def _ordered_chains(
    sql: SqlDialect,
    query: FunnelQuery,
    window: int,
    anchor_filter: str,
    breakdown: str,
    ranked_events: bool,
) -> list[str]:
    n = len(query.steps)
    ctes = [
        f"c1 AS (SELECT person, {breakdown} AS breakdown, ts AS t1, ord AS o1, rnk AS r1 "
        f"FROM ev WHERE {match(sql, query.steps[0])} AND {anchor_filter})"
    ]
    for k in range(2, n + 1):
        step = query.steps[k - 1]
        carried = ", ".join(
            ["c.person", "c.breakdown"]
            + [f"c.{c}{j}" for j in range(1, k) for c in ("t", "o", "r")]
        )
        ctes.append(f"s{k} AS (SELECT person, ts, ord, rnk FROM ev WHERE {match(sql, step)})")
        if query.order is FunnelOrder.strict:
            ctes.append(f"p{k} AS (SELECT *, o{k - 1} + 1 AS lb FROM c{k - 1})")
            join = f"INNER JOIN s{k} s ON c.person = s.person AND c.lb = s.ord"
        elif not ranked_events:
            ctes.append(f"p{k} AS (SELECT * FROM c{k - 1})")
            join = f"ASOF JOIN s{k} s ON c.person = s.person AND c.t{k - 1} <= s.ts"
        else:
            # at or after the previous step's time; after every earlier step of the same event
            bounds = [f"r{k - 1}"] + [
                f"o{j} + 1" for j in range(1, k) if query.steps[j - 1].event == step.event
            ]
            lower = bounds[0] if len(bounds) == 1 else f"greatest({', '.join(bounds)})"
            ctes.append(f"p{k} AS (SELECT *, {lower} AS lb FROM c{k - 1})")
            join = f"ASOF JOIN s{k} s ON c.person = s.person AND c.lb <= s.ord"
        ctes.append(
            f"c{k} AS {sql.materialized()}(SELECT {carried}, "
            f"s.ts AS t{k}, s.ord AS o{k}, s.rnk AS r{k} "
            f"FROM p{k} c {join} WHERE s.ts <= c.t1 + {window})"
        )
    return ctes + _void_and_union(sql, query, window)


def _any_order_chains(
    sql: SqlDialect, query: FunnelQuery, window: int, anchor_filter: str, breakdown: str
) -> list[str]:
    n = len(query.steps)
    anchor_match = " OR ".join(match(sql, s) for s in query.steps)
    ctes = [
        f"a AS (SELECT person, {breakdown} AS breakdown, ts AS ta, ord AS o1 FROM ev "
        f"WHERE ({anchor_match}) AND {anchor_filter})"
    ]
    joined = "a"
    for k in range(1, n + 1):
        ctes.append(f"s{k} AS (SELECT person, ts FROM ev WHERE {match(sql, query.steps[k - 1])})")
    columns = ["a.person", "a.breakdown", "a.ta", "a.o1"]
    for k in range(1, n + 1):
        previous = "a" if k == 1 else f"j{k - 1}"
        carried = ", ".join(["x.*"] if k > 1 else columns)
        ctes.append(
            f"j{k} AS (SELECT {carried}, CASE WHEN s.ts <= x.ta + {window} THEN s.ts END AS u{k} "
            f"FROM {previous} x ASOF LEFT JOIN s{k} s ON x.person = s.person AND x.ta <= s.ts)"
            if k > 1
            else f"j1 AS (SELECT {carried}, CASE WHEN s.ts <= a.ta + {window} THEN s.ts END AS u1 "
            f"FROM a ASOF LEFT JOIN s1 s ON a.person = s.person AND a.ta <= s.ts)"
        )
        joined = f"j{k}"
    us = ", ".join(f"u{k}" for k in range(1, n + 1))
    ordered = sql.sorted_non_null(us)
    count = " + ".join(f"(CASE WHEN u{k} IS NULL THEN 0 ELSE 1 END)" for k in range(1, n + 1))
    times = ", ".join(
        f"CASE WHEN steps >= {k} THEN {sql.element('sorted_times', k)} END AS t{k}"
        for k in range(1, n + 1)
    )
    ctes.append(
        f"counted AS (SELECT person, breakdown, o1, {count} AS steps, {ordered} AS sorted_times "
        f"FROM {joined})"
    )
    ctes.append(f"chains AS (SELECT person, steps, breakdown, o1, {times} FROM counted)")
    return ctes


def _void_and_union(sql: SqlDialect, query: FunnelQuery, window: int) -> list[str]:
    """Attempts reaching exactly k steps are c_k's rows; exclusions void some; the union pads
    the missing step times with NULL."""
    n = len(query.steps)
    ctes: list[str] = []
    parts = []
    for k in range(1, n + 1):
        source = f"c{k}"
        for index, exclusion in enumerate(query.exclusions):
            if exclusion.from_step > k:
                continue
            name = f"x{k}_{index}"
            ctes.append(_exclusion_cte(sql, name, source, exclusion, k, window))
            source = name
        times = ", ".join(
            f"t{j}" if j <= k else f"{sql.null_int()} AS t{j}" for j in range(1, n + 1)
        )
        parts.append(f"SELECT person, {k} AS steps, breakdown, o1, {times} FROM {source}")
    ctes.append("chains AS (" + " UNION ALL ".join(parts) + ")")
    return ctes


def _exclusion_cte(
    sql: SqlDialect, name: str, source: str, exclusion: Exclusion, k: int, window: int
) -> str:
    a, b = exclusion.from_step, exclusion.to_step
    end = f"c.t{b}" if b <= k else f"c.t1 + {window} + 1"
    columns = ", ".join(
        ["c.person", "c.breakdown"]
        + [f"c.{c}{j}" for j in range(1, k + 1) for c in ("t", "o", "r")]
    )
    return (
        f"{name}_ev AS (SELECT person, ts FROM ev WHERE {match(sql, exclusion)}), "
        f"{name} AS (SELECT {columns} FROM {source} c "
        f"ASOF LEFT JOIN {name}_ev x ON c.person = x.person AND c.t{a} < x.ts "
        f"WHERE x.ts IS NULL OR x.ts >= {end})"
    )


class FunnelPlan(StrEnum):
    sql = "sql"
    ordered_pass = "ordered_pass"


def funnel_plan(dialect: str, query: FunnelQuery) -> FunnelPlan:
    """The ordered pass (funnel_pass.py) for a sequential funnel of distinct events without
    exclusions on DuckDB, where it gives the SQL plan's answer several times faster (docs/
    analytics.md, Benchmark); the SQL plan for the rest, and on ClickHouse, whose SQL plan
    runs in the server."""
    names = [step.event for step in query.steps]
    if (
        dialect == "duckdb"
        and query.order is FunnelOrder.sequential
        and not query.exclusions
        and len(set(names)) == len(names)
    ):
        return FunnelPlan.ordered_pass
    return FunnelPlan.sql


def run_funnel(store: AnalyticsStore, workspace_id: uuid.UUID, query: FunnelQuery) -> FunnelResult:
    """The funnel of one workspace, computed in the store (blocking: call from a thread)."""
    if funnel_plan(store.dialect, query) is FunnelPlan.ordered_pass:
        overall, grouped = _by_ordered_pass(store, workspace_id, query)
    else:
        overall, grouped = _by_sql(store, workspace_id, query)
    result = FunnelResult(
        order=query.order,
        window_seconds=query.window_seconds,
        steps=overall.get("", _empty_steps(query)),
    )
    if query.breakdown:
        result.breakdown = [
            FunnelBreakdown(value=value or None, steps=steps)
            for value, steps in sorted(grouped.items(), key=lambda item: -item[1][0].count)
        ]
    return result


StepsByBreakdown = dict[str, list[FunnelStepResult]]


def _by_sql(
    store: AnalyticsStore, workspace_id: uuid.UUID, query: FunnelQuery
) -> tuple[StepsByBreakdown, StepsByBreakdown]:
    built = funnel_sql(store.sql, query)
    overall = _aggregate(store, workspace_id, built, query, by_breakdown=False)
    if not query.breakdown:
        return overall, {}
    return overall, _aggregate(store, workspace_id, built, query, by_breakdown=True)


def _by_ordered_pass(
    store: AnalyticsStore, workspace_id: uuid.UUID, query: FunnelQuery
) -> tuple[StepsByBreakdown, StepsByBreakdown]:
    columns = store.query_columns(workspace_id, step_events_sql(store.sql, query))
    events = StepEvents(
        person=columns["person"],
        ts=columns["ts"],
        step=columns["step"],
        breakdown=columns.get("breakdown"),
    )
    if not query.breakdown:  # fetched unsorted (step_events_sql)
        events = in_person_time_order(events)
    n = len(query.steps)
    furthest = furthest_attempts(events, n, query.window_seconds * US)
    overall = {label: _steps_of(row, query) for label, row in step_summaries(furthest, n).items()}
    if events.breakdown is None:
        return overall, {}
    grouped = step_summaries(furthest, n, events.breakdown)
    return overall, {label: _steps_of(row, query) for label, row in grouped.items()}


def step_events_sql(sql: SqlDialect, query: FunnelQuery) -> str:
    """The ordered pass's input: `person, ts, step` of the events matching a step, step-1
    events only inside the date range. Unsorted (numpy sorts them faster, funnel_pass.
    in_person_time_order) unless a breakdown is asked: then with each step-1 row's value,
    sorted by person, time, step and message id, so that of two step-1 events at one instant
    the first gives the value, as in the SQL plan for repeated steps (its plan for distinct steps
    leaves that tie to the engine)."""
    date_filter, anchor_filter = _date_filters(sql, query)
    # Each step's event name is its own, so a join on the name gives the step: cheaper than a
    # CASE comparing names (2 M events: 16 ms of CPU against 23), and exact with the property
    # filters of `_relevant`, which an event can only pass for the step of its name.
    numbers = ", ".join(
        f"({sql.literal(step.event)}, {k})" for k, step in enumerate(query.steps, start=1)
    )
    breakdown, order = "", ""
    if query.breakdown:
        value = f"coalesce({sql.json_text('properties', query.breakdown)}, '')"
        breakdown = f", CASE WHEN s.step = 1 THEN {value} ELSE '' END AS breakdown, message_id"
        order = " ORDER BY person, ts, step, message_id"
    return (
        f"SELECT person, ts, step{', breakdown' if breakdown else ''} FROM ("
        f"SELECT {sql.person_key()} AS person, {sql.epoch_us('timestamp')} AS ts, "
        f"CAST(s.step AS TINYINT) AS step{breakdown} FROM {{events}} "
        f"JOIN (VALUES {numbers}) s(step_event, step) ON event = s.step_event "
        f"WHERE {date_filter} AND ({_relevant(sql, query.steps)})) "
        f"WHERE step > 1 OR ({anchor_filter}){order}"
    )


def _aggregate(
    store: AnalyticsStore,
    workspace_id: uuid.UUID,
    built: FunnelSQL,
    query: FunnelQuery,
    *,
    by_breakdown: bool,
) -> dict[str, list[FunnelStepResult]]:
    sql = store.sql
    columns = []
    for k in range(1, built.steps + 1):
        columns.append(f"sum(CASE WHEN steps >= {k} THEN 1 ELSE 0 END) AS n{k}")
        if k > 1:
            delta = f"CASE WHEN steps >= {k} THEN t{k} - t{k - 1} END"
            columns.append(f"avg({delta}) AS mean{k}")
            columns.append(f"{sql.median(delta)} AS median{k}")
    group = "breakdown" if by_breakdown else "''"
    statement = (
        f"{built.ctes}\nSELECT {group} AS bd, {', '.join(columns)} FROM funnel_people"
        + (" GROUP BY breakdown" if by_breakdown else "")
        + sql.join_settings()
    )
    result = store.query(workspace_id, statement)
    out: dict[str, list[FunnelStepResult]] = {}
    for row in result.dicts():
        if not row["n1"]:
            continue
        out[str(row["bd"])] = _steps_of(row, query)
    return out


def _steps_of(row: dict[str, object], query: FunnelQuery) -> list[FunnelStepResult]:
    steps = []
    first = int(row["n1"] or 0)  # type: ignore[call-overload]
    previous = first
    for k, step in enumerate(query.steps, start=1):
        count = int(row[f"n{k}"] or 0)  # type: ignore[call-overload]
        mean = row.get(f"mean{k}")
        median = row.get(f"median{k}")
        steps.append(
            FunnelStepResult(
                index=k,
                event=step.event,
                label=step.label,
                count=count,
                conversion_from_first=_ratio(count, first),
                conversion_from_previous=_ratio(count, previous),
                dropped=previous - count if k > 1 else 0,
                median_seconds_to_convert=_seconds(median) if count and k > 1 else None,
                mean_seconds_to_convert=_seconds(mean) if count and k > 1 else None,
            )
        )
        previous = count
    return steps


def _empty_steps(query: FunnelQuery) -> list[FunnelStepResult]:
    return [
        FunnelStepResult(
            index=k,
            event=s.event,
            label=s.label,
            count=0,
            conversion_from_first=0.0,
            conversion_from_previous=0.0,
            dropped=0,
            median_seconds_to_convert=None,
            mean_seconds_to_convert=None,
        )
        for k, s in enumerate(query.steps, start=1)
    ]


def _ratio(part: int, whole: int) -> float:
    return round(part / whole, 6) if whole else 0.0


def _seconds(microseconds: object) -> float | None:
    if microseconds is None:
        return None
    return round(float(microseconds) / US, 3)  # type: ignore[arg-type]
