"""Retention, lifecycle and stickiness on hand-written events, on both engines."""

from __future__ import annotations

from intuitivus_flow.analytics.retention import run_lifecycle, run_retention, run_stickiness
from intuitivus_flow.analytics.schemas import ActivityQuery, RetentionQuery
from tests.analytics.events.conftest import Loaded

DAY = 86400.0
WEEK = 7 * DAY


class TestRetention:
    def test_first_time_weekly_cohorts(self, events: Loaded) -> None:
        events.add(
            [
                # cohort week 0: p1 returns in weeks 1 and 2, p2 in week 2 only, p3 never
                ("p1", "signup", 0),
                ("p1", "use", WEEK + 1),
                ("p1", "use", 2 * WEEK + 1),
                ("p2", "signup", DAY),
                ("p2", "use", 2 * WEEK),
                ("p2", "use", 2 * WEEK + 5),
                ("p3", "signup", 2 * DAY),
                ("p3", "use", DAY * 2 + 60),  # same week: period 0
                # cohort week 1: p4 returns in its week 1; a second signup does not move it
                ("p4", "signup", WEEK),
                ("p4", "signup", 2 * WEEK),
                ("p4", "use", 2 * WEEK + 3),
            ]
        )
        result = run_retention(
            events.store,
            events.workspace_id,
            RetentionQuery(start_event="signup", return_event="use", periods=3),
        )
        table = {c.cohort: c.retained for c in result.cohorts}
        assert table == {"2026-03-02": [3, 1, 2], "2026-03-09": [1, 1, 0]}
        assert result.cohorts[0].rates == [1.0, round(1 / 3, 6), round(2 / 3, 6)]

    def test_recurring_cohorts_count_every_start_period(self, events: Loaded) -> None:
        events.add(
            [
                ("p", "visit", 0),
                ("p", "visit", WEEK),
                ("p", "visit", 3 * WEEK),
                ("q", "visit", WEEK + DAY),
            ]
        )
        result = run_retention(
            events.store,
            events.workspace_id,
            RetentionQuery(start_event="visit", periods=3, kind="recurring"),
        )
        table = {c.cohort: c.retained for c in result.cohorts}
        assert table == {
            "2026-03-02": [1, 1, 0],
            "2026-03-09": [2, 0, 1],
            "2026-03-23": [1, 0, 0],
        }

    def test_monthly_periods(self, events: Loaded) -> None:
        events.add([("p", "visit", 0), ("p", "visit", 31 * DAY), ("q", "visit", 40 * DAY)])
        result = run_retention(
            events.store,
            events.workspace_id,
            RetentionQuery(start_event="visit", periods=2, period="month"),
        )
        assert {c.cohort: c.retained for c in result.cohorts} == {
            "2026-03-01": [1, 1],
            "2026-04-01": [1, 0],
        }


class TestLifecycle:
    def test_new_returning_resurrecting_dormant(self, events: Loaded) -> None:
        events.add(
            [
                ("a", "use", 0),
                ("a", "use", WEEK),
                ("a", "use", 3 * WEEK),
                ("b", "use", WEEK),
                ("c", "use", 0),
                ("c", "use", 1),
                ("c", "use", 2 * WEEK),
            ]
        )
        result = run_lifecycle(
            events.store, events.workspace_id, ActivityQuery(event="use", period="week")
        )
        rows = {p.period: (p.new, p.returning, p.resurrecting, p.dormant) for p in result.periods}
        assert rows == {
            "2026-03-02": (2, 0, 0, 0),  # a, c new
            "2026-03-09": (1, 1, 0, 1),  # b new, a returning, c dormant
            "2026-03-16": (0, 0, 1, 2),  # c resurrecting, a and b dormant
            "2026-03-23": (0, 0, 1, 1),  # a resurrecting, c dormant
        }


class TestStickiness:
    def test_distinct_active_days_per_week(self, events: Loaded) -> None:
        events.add(
            [
                ("a", "use", 0),
                ("a", "use", 60),
                ("a", "use", DAY),
                ("a", "use", 2 * DAY),
                ("b", "use", 0),
                ("b", "use", WEEK),  # b's second week: another person-period with 1 day
                ("c", "other", 0),
            ]
        )
        result = run_stickiness(
            events.store, events.workspace_id, ActivityQuery(event="use", period="week")
        )
        assert result.days_per_period == 7
        assert result.persons_by_active_days == [2, 0, 1, 0, 0, 0, 0]
