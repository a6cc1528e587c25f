"""SLO maths against numbers worked out by hand (SRE workbook, ch. 5)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from intuitivus_flow.alerts.rules import BurnRateTier, Severity, SloKind, SloRule, default_rules
from intuitivus_flow.alerts.slo import (
    WindowCounts,
    allowed_bad_requests,
    budget_spent_by,
    burn_rate,
    enough_traffic,
    error_budget,
    evaluate_slo,
    evaluate_tier,
    remaining_error_budget,
)

HOUR = timedelta(hours=1)
PAGE_FAST = BurnRateTier(
    severity=Severity.critical, long_window=HOUR, short_window=timedelta(minutes=5), burn_rate=14.4
)


def availability() -> SloRule:
    return next(rule for rule in default_rules().slos if rule.kind is SloKind.availability)


class TestBudgetAndBurnRate:
    def test_error_budget_is_the_complement_of_the_objective(self) -> None:
        assert error_budget(0.995) == pytest.approx(0.005)
        assert error_budget(0.999) == pytest.approx(0.001)

    @pytest.mark.parametrize("objective", [0, 1, 1.5, -0.1])
    def test_objective_outside_zero_one_is_refused(self, objective: float) -> None:
        with pytest.raises(ValueError, match="objective"):
            error_budget(objective)

    def test_burn_rate(self) -> None:
        # 36 bad of 1000 = 3.6 %; against a 0.5 % budget that is 7.2x.
        assert burn_rate(WindowCounts(total=1000, bad=36), 0.995) == pytest.approx(7.2)
        # Exactly on budget burns at 1x.
        assert burn_rate(WindowCounts(total=1000, bad=5), 0.995) == pytest.approx(1.0)

    def test_no_traffic_burns_nothing(self) -> None:
        assert burn_rate(WindowCounts(total=0, bad=0), 0.995) == 0

    @pytest.mark.parametrize(("total", "bad"), [(-1, 0), (10, -1), (10, 11)])
    def test_impossible_counts_are_refused(self, total: float, bad: float) -> None:
        with pytest.raises(ValueError, match="cannot"):
            WindowCounts(total=total, bad=bad)

    def test_allowed_bad_requests(self) -> None:
        assert allowed_bad_requests(1_000_000, 0.995) == pytest.approx(5000)

    def test_budget_share_each_default_tier_spends(self) -> None:
        # 14.4 x 1h / 720h = 2 %; 6 x 6h / 720h = 5 %; 1 x 72h / 720h = 10 %.
        spent = sorted(budget_spent_by(t, timedelta(days=30)) for t in availability().tiers)
        assert spent == pytest.approx([0.02, 0.05, 0.10])


class TestRemainingBudget:
    def test_partly_spent(self) -> None:
        # 1M requests at 99.5 % allow 5000 bad; 2000 spent leaves 60 %.
        counts = WindowCounts(total=1_000_000, bad=2000)
        assert remaining_error_budget(counts, 0.995) == pytest.approx(0.6)

    def test_overspent_goes_negative(self) -> None:
        counts = WindowCounts(total=1_000_000, bad=6000)
        assert remaining_error_budget(counts, 0.995) == pytest.approx(-0.2)

    def test_untouched_without_traffic(self) -> None:
        assert remaining_error_budget(WindowCounts(total=0, bad=0), 0.995) == 1


class TestTrafficGuard:
    def test_requests_per_hour_over_the_window(self) -> None:
        assert enough_traffic(60, HOUR, 60)
        assert not enough_traffic(59, HOUR, 60)
        # 3 days at 60/h is 4320 requests.
        assert enough_traffic(4320, timedelta(days=3), 60)
        assert not enough_traffic(4319, timedelta(days=3), 60)
        # 5 minutes at 60/h is 5 requests.
        assert enough_traffic(5, timedelta(minutes=5), 60)


class TestTier:
    def test_fires_when_both_windows_burn_too_fast(self) -> None:
        # long: 800/10000 = 8 % → 16x; short: 100/1000 = 10 % → 20x; both above 14.4.
        decision = evaluate_tier(
            PAGE_FAST,
            long=WindowCounts(10_000, 800),
            short=WindowCounts(1000, 100),
            objective=0.995,
            min_requests_per_hour=60,
        )
        assert decision.long_burn_rate == pytest.approx(16)
        assert decision.short_burn_rate == pytest.approx(20)
        assert decision.enough_traffic
        assert decision.firing

    def test_short_window_resets_the_alert_once_recovered(self) -> None:
        # The last hour still burned 16x, but the last 5 minutes only 10x.
        decision = evaluate_tier(
            PAGE_FAST, long=WindowCounts(10_000, 800), short=WindowCounts(1000, 50), objective=0.995
        )
        assert not decision.firing

    def test_a_short_spike_alone_does_not_page(self) -> None:
        # 5 minutes at 100 % errors, but over the hour only 2 % → 4x.
        decision = evaluate_tier(
            PAGE_FAST, long=WindowCounts(10_000, 200), short=WindowCounts(200, 200), objective=0.995
        )
        assert decision.short_burn_rate == pytest.approx(200)
        assert not decision.firing

    def test_exactly_at_the_burn_rate_is_not_above_it(self) -> None:
        # 72 of 1000 = 7.2 % = 14.4 x 0.5 %.
        at_rate = WindowCounts(1000, 72)
        decision = evaluate_tier(PAGE_FAST, long=at_rate, short=at_rate, objective=0.995)
        assert not decision.firing

    def test_guard_mutes_a_quiet_hour(self) -> None:
        # 10 requests, all failing: a 200x burn, but 10/h is under the 60/h guard.
        everything_failed = WindowCounts(10, 10)
        decision = evaluate_tier(
            PAGE_FAST,
            long=everything_failed,
            short=everything_failed,
            objective=0.995,
            min_requests_per_hour=60,
        )
        assert decision.long_burn_rate == pytest.approx(200)
        assert not decision.enough_traffic
        assert not decision.firing


def counts_for(
    ratio_by_window: dict[str, float], per_hour: float = 10_000
) -> dict[timedelta, WindowCounts]:
    windows = {"5m": 5 / 60, "30m": 0.5, "1h": 1, "6h": 6, "3d": 72}
    result = {}
    for name, hours in windows.items():
        total = per_hour * hours
        result[timedelta(hours=hours)] = WindowCounts(total, total * ratio_by_window.get(name, 0))
    return result


class TestSloDecision:
    def test_fast_burn_fires_every_tier_and_pages(self) -> None:
        # 10 % errors everywhere = 20x.
        decision = evaluate_slo(
            availability(), counts_for(dict.fromkeys(["5m", "30m", "1h", "6h", "3d"], 0.1))
        )
        assert len(decision.firing) == 3
        assert decision.severity is Severity.critical

    def test_slow_burn_only_opens_a_ticket(self) -> None:
        # 2 % = 4x: above the 1x ticket tier, below the 6x and 14.4x page tiers.
        decision = evaluate_slo(
            availability(), counts_for(dict.fromkeys(["5m", "30m", "1h", "6h", "3d"], 0.02))
        )
        assert [d.tier.burn_rate for d in decision.firing] == [1]
        assert decision.severity is Severity.warning

    def test_medium_burn_pages_through_the_six_hour_tier(self) -> None:
        # 4 % = 8x over 6h and 30m; the last hour and 5 minutes recovered to 0.
        ratios = {"30m": 0.04, "6h": 0.04, "3d": 0.04}
        decision = evaluate_slo(availability(), counts_for(ratios))
        assert sorted(d.tier.burn_rate for d in decision.firing) == [1, 6]
        assert decision.severity is Severity.critical

    def test_within_budget_nothing_fires(self) -> None:
        decision = evaluate_slo(
            availability(), counts_for(dict.fromkeys(["5m", "1h", "3d"], 0.004))
        )
        assert decision.firing == []
        assert decision.severity is None

    def test_every_window_is_required(self) -> None:
        counts = counts_for({})
        del counts[timedelta(days=3)]
        with pytest.raises(ValueError, match="counts missing"):
            evaluate_slo(availability(), counts)
