"""Bottleneck rules (each one), their ranking, and one person's journey."""

from __future__ import annotations

from datetime import timedelta

from intuitivus_flow.analytics.journeys import (
    analyze_user_journey,
    find_bottlenecks,
    onboarding_funnel,
    recommend,
)
from intuitivus_flow.analytics.schemas import (
    BottleneckQuery,
    FunnelResult,
    FunnelStepResult,
)
from tests.analytics.events.conftest import T0, Loaded

HOUR = 3600.0


def result(counts: list[int], medians: list[float | None] | None = None) -> FunnelResult:
    medians = medians or [None] * len(counts)
    steps, previous = [], counts[0]
    for index, (count, median) in enumerate(zip(counts, medians, strict=True), start=1):
        steps.append(
            FunnelStepResult(
                index=index,
                event=f"e{index}",
                label=f"E{index}",
                count=count,
                conversion_from_first=count / counts[0] if counts[0] else 0.0,
                conversion_from_previous=count / previous if previous else 0.0,
                dropped=previous - count if index > 1 else 0,
                median_seconds_to_convert=median,
                mean_seconds_to_convert=median,
            )
        )
        previous = count
    return FunnelResult(order="sequential", window_seconds=100, steps=steps)


def rules(found: list) -> list[tuple[str, int, int]]:  # type: ignore[type-arg]
    return [(r.rule, r.step, r.impact_persons) for r in found]


class TestRules:
    def test_largest_drop_off(self) -> None:
        # 100 -> 80 (80 %) -> 20 (25 %) -> 15 (75 %)
        assert rules(recommend(result([100, 80, 20, 15]), None)) == [("largest_drop_off", 3, 60)]

    def test_no_conversion(self) -> None:
        found = rules(recommend(result([10, 4, 0]), None))
        assert ("no_conversion", 3, 4) in found
        assert found[0] == ("largest_drop_off", 3, 4)

    def test_slow_step_over_an_hour_only(self) -> None:
        found = recommend(result([10, 9, 8], [None, 30.0, 5 * HOUR]), None)
        assert ("slow_step", 3, 8) in rules(found)
        slow = next(r for r in found if r.rule == "slow_step")
        assert slow.evidence[0].value == 5 * HOUR
        assert "5.0 hours" in slow.title
        assert "slow_step" not in [
            r.rule for r in recommend(result([10, 9], [None, 59 * 60.0]), None)
        ]

    def test_conversion_fell_against_history(self) -> None:
        before = result([100, 50, 40])  # 50 %, 80 %
        now = result([100, 40, 32])  # 40 %, 80 %
        found = recommend(now, before)
        fell = [r for r in found if r.rule == "conversion_fell"]
        assert [(r.step, r.impact_persons) for r in fell] == [(2, 10)]
        assert (fell[0].evidence[0].value, fell[0].evidence[0].baseline) == (0.4, 0.5)

    def test_slower_than_before(self) -> None:
        before = result([10, 10], [None, 2 * HOUR])
        now = result([10, 10], [None, 3 * HOUR])
        assert ("slower_than_before", 2, 10) in rules(recommend(now, before))
        assert "slower_than_before" not in [
            r.rule for r in recommend(result([10, 10], [None, 2.5 * HOUR]), before)
        ]

    def test_ranked_by_persons_lost(self) -> None:
        found = recommend(result([1000, 900, 100], [None, 10 * HOUR, 60.0]), None)
        assert [r.impact_persons for r in found] == sorted(
            (r.impact_persons for r in found), reverse=True
        )
        assert found[0].rule == "slow_step"  # 900 persons waited 10 hours; 800 dropped later


class TestOnStore:
    def test_bottlenecks_compare_with_the_previous_period(self, events: Loaded) -> None:
        day = 86400.0
        rows = []
        # previous 10 days: 4 of 4 created an agent; current 10 days: 1 of 4
        for i in range(4):
            rows += [
                (f"old{i}", "user.signed_up", i * 60.0),
                (f"old{i}", "agent.created", i * 60.0 + 30),
            ]
            rows += [(f"new{i}", "user.signed_up", 10 * day + i * 60.0)]
        rows.append(("new0", "agent.created", 10 * day + 90))
        events.add(rows)
        query = BottleneckQuery.model_validate(
            {
                "steps": [{"event": "user.signed_up"}, {"event": "agent.created"}],
                "date_from": (T0 + timedelta(days=10)).isoformat(),
                "date_to": (T0 + timedelta(days=20)).isoformat(),
            }
        )
        report = find_bottlenecks(events.store, events.workspace_id, query, now=T0)
        assert [s.count for s in report.current.steps] == [4, 1]
        assert report.previous is not None
        assert [s.count for s in report.previous.steps] == [4, 4]
        assert rules(report.recommendations)[:2] == [
            ("largest_drop_off", 2, 3),
            ("conversion_fell", 2, 3),
        ]
        assert "agent templates" in report.recommendations[0].action

    def test_user_journey(self, events: Loaded) -> None:
        events.add(
            [
                ("u1", "user.signed_up", 0),
                ("u1", "agent.created", 60),
                ("u1", "page.viewed", 4000),  # more than 30 minutes later: session 2
                ("u2", "user.signed_up", 0),
            ]
        )
        journey = analyze_user_journey(events.store, events.workspace_id, "u1")
        assert [(e.event, e.session) for e in journey.events] == [
            ("user.signed_up", 1),
            ("agent.created", 1),
            ("page.viewed", 2),
        ]
        assert (journey.sessions, journey.furthest_step, journey.stuck_at) == (
            2,
            2,
            "Connect a channel",
        )
        assert journey.recommendations[0].rule == "stuck_at_step"
        assert len(onboarding_funnel().steps) == 6
