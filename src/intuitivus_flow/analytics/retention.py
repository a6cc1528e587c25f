"""Retention (first-time and recurring cohorts), lifecycle and stickiness, in the store's SQL.

Periods are UTC days, ISO weeks (Monday) or calendar months. Definitions (docs/analytics.md):
- retention, first-time: a person's cohort is the period of their first start event ever;
  recurring: every period with a start event is a cohort of that person. Period 0 is the
  cohort itself (its size); period i counts the cohort's persons with a return event i periods
  later;
- lifecycle, per period, of persons doing the event: new (first period ever), returning (also
  active the period before), resurrecting (active before, but not the period before), dormant
  (active the period before, not in this one; shown negative);
- stickiness: for each person and period with activity, on how many distinct days they did
  the event; the histogram of those counts.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime

from intuitivus_flow.analytics.schemas import (
    ActivityQuery,
    LifecyclePeriod,
    LifecycleResult,
    Period,
    RetentionCohort,
    RetentionKind,
    RetentionQuery,
    RetentionResult,
    StickinessResult,
)
from intuitivus_flow.analytics.store import AnalyticsStore
from intuitivus_flow.analytics.store.dialects import SqlDialect


def _range(sql: SqlDialect, column: str, start: datetime | None, end: datetime | None) -> str:
    parts = ["1 = 1"]
    if start is not None:
        parts.append(f"{column} >= {sql.literal(start)}")
    if end is not None:
        parts.append(f"{column} <= {sql.literal(end)}")
    return " AND ".join(parts)


def _bucket_range(sql: SqlDialect, query: ActivityQuery | RetentionQuery) -> str:
    unit = query.period.value
    parts = ["1 = 1"]
    if query.date_from is not None:
        parts.append(f"b >= {sql.bucket(sql.literal(query.date_from), unit)}")
    if query.date_to is not None:
        parts.append(f"b <= {sql.bucket(sql.literal(query.date_to), unit)}")
    return " AND ".join(parts)


def run_retention(
    store: AnalyticsStore, workspace_id: uuid.UUID, query: RetentionQuery
) -> RetentionResult:
    sql = store.sql
    unit = query.period.value
    returning = query.return_event or query.start_event
    cohorts = (
        "SELECT person, min(b) AS cohort FROM starts GROUP BY person"
        if query.kind is RetentionKind.first_time
        else "SELECT person, b AS cohort FROM starts"
    )
    cohort_range = _bucket_range(sql, query).replace("b ", "cohort ")
    statement = (
        f"WITH starts AS (SELECT DISTINCT person_id AS person, {sql.bucket('timestamp', unit)} "
        f"AS b FROM {{events}} WHERE event = {{start}}), "
        f"cohorts AS (SELECT * FROM ({cohorts}) c WHERE {cohort_range}), "
        f"returns AS (SELECT DISTINCT person_id AS person, {sql.bucket('timestamp', unit)} AS b "
        f"FROM {{events}} WHERE event = {{returning}}), "
        "offsets AS (SELECT c.cohort, c.person, "
        f"{sql.periods_between('c.cohort', 'r.b', unit)} AS i "
        "FROM cohorts c JOIN returns r ON c.person = r.person WHERE r.b > c.cohort) "
        "SELECT cohort, 0 AS i, count(*) AS persons FROM cohorts GROUP BY cohort "
        "UNION ALL SELECT cohort, i, count(DISTINCT person) AS persons FROM offsets "
        f"WHERE i < {int(query.periods)} GROUP BY cohort, i "
        "ORDER BY cohort, i"
    )
    result = store.query(workspace_id, statement, start=query.start_event, returning=returning)
    table: dict[date, list[int]] = {}
    for cohort, index, persons in result.rows:
        table.setdefault(cohort, [0] * query.periods)[int(index)] = int(persons)
    return RetentionResult(
        period=query.period,
        kind=query.kind,
        cohorts=[
            RetentionCohort(
                cohort=cohort.isoformat(),
                size=counts[0],
                retained=counts,
                rates=[round(c / counts[0], 6) if counts[0] else 0.0 for c in counts],
            )
            for cohort, counts in sorted(table.items())
        ],
    )


def run_lifecycle(
    store: AnalyticsStore, workspace_id: uuid.UUID, query: ActivityQuery
) -> LifecycleResult:
    sql = store.sql
    unit = query.period.value
    window = "PARTITION BY person ORDER BY b"
    statement = (
        f"WITH active AS (SELECT DISTINCT person_id AS person, {sql.bucket('timestamp', unit)} "
        "AS b FROM {events} WHERE event = {event}), "
        f"marked AS (SELECT person, b, {sql.lag('b', window)} AS prev_b, "
        f"{sql.lead('b', window)} AS next_b, "
        f"row_number() OVER ({window}) AS nth, "
        "count(*) OVER (PARTITION BY person) AS total FROM active), "
        "statuses AS ("
        "SELECT b AS period, CASE WHEN nth = 1 THEN 'new' "
        f"WHEN {sql.periods_between('prev_b', 'b', unit)} = 1 THEN 'returning' "
        "ELSE 'resurrecting' END AS status FROM marked "
        # dormant the period after a person's last activity, or after any activity followed by
        # a gap (ClickHouse's lead gives a default, not NULL, past the last row: use nth/total)
        # (a new name: ClickHouse would read `b` in WHERE as this alias)
        f"UNION ALL SELECT {sql.add_periods('b', '1', unit)} AS period, 'dormant' AS status "
        f"FROM marked WHERE nth = total OR {sql.periods_between('b', 'next_b', unit)} > 1) "
        "SELECT period, status, count(*) FROM statuses "
        f"WHERE {_bucket_range(sql, query).replace('b ', 'period ')} "
        "AND period <= (SELECT max(b) FROM active) "
        "GROUP BY period, status ORDER BY period"
    )
    result = store.query(workspace_id, statement, event=query.event)
    periods: dict[date, dict[str, int]] = {}
    for bucket, status, count in result.rows:
        periods.setdefault(bucket, {})[str(status)] = int(count)
    return LifecycleResult(
        event=query.event,
        period=query.period,
        periods=[
            LifecyclePeriod(
                period=bucket.isoformat(),
                new=counts.get("new", 0),
                returning=counts.get("returning", 0),
                resurrecting=counts.get("resurrecting", 0),
                dormant=counts.get("dormant", 0),
            )
            for bucket, counts in sorted(periods.items())
        ],
    )


_DAYS_PER_PERIOD = {Period.day: 1, Period.week: 7, Period.month: 31}


def run_stickiness(
    store: AnalyticsStore, workspace_id: uuid.UUID, query: ActivityQuery
) -> StickinessResult:
    sql = store.sql
    unit = query.period.value
    statement = (
        f"WITH days AS (SELECT DISTINCT person_id AS person, {sql.bucket('timestamp', 'day')} "
        f"AS d, {sql.bucket('timestamp', unit)} AS b FROM {{events}} WHERE event = {{event}} "
        f"AND {_range(sql, 'timestamp', query.date_from, query.date_to)}), "
        "per AS (SELECT person, b, count(*) AS n FROM days GROUP BY person, b) "
        "SELECT n, count(*) FROM per GROUP BY n ORDER BY n"
    )
    result = store.query(workspace_id, statement, event=query.event)
    size = _DAYS_PER_PERIOD[query.period]
    histogram = [0] * size
    for days, persons in result.rows:
        histogram[int(days) - 1] = int(persons)
    return StickinessResult(
        event=query.event,
        period=query.period,
        days_per_period=size,
        persons_by_active_days=histogram,
    )
