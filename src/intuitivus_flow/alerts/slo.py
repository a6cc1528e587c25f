"""SLO maths: error budgets, burn rates and the multiwindow multi-burn-rate decision.

Pure functions over request counts, following the Google SRE workbook, ch. 5 "Alerting on
SLOs". The engine sums ``requests_total_count`` and ``requests_errors_count`` (availability) or
``requests_slow_count`` (latency) from the metric history over each window and calls
:func:`evaluate_slo`; the Prometheus export computes the same quantities in PromQL.

Example: objective 99.5 % leaves an error budget of 0.5 %. With 1 000 requests and 36 errors in
the last hour the error ratio is 3.6 %, a burn rate of 7.2: the budget would last 30 d / 7.2.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta

from intuitivus_flow.alerts.rules import BurnRateTier, Severity, SloRule

HOUR = timedelta(hours=1)


@dataclass(frozen=True)
class WindowCounts:
    """Requests seen in one window, and how many of them spent the error budget."""

    total: float
    bad: float

    def __post_init__(self) -> None:
        if self.total < 0 or self.bad < 0:
            raise ValueError(f"counts cannot be negative (total={self.total}, bad={self.bad})")
        if self.bad > self.total:
            raise ValueError(f"bad ({self.bad}) cannot exceed total ({self.total})")

    @property
    def error_ratio(self) -> float:
        """Share of bad requests; 0 without traffic (nothing failed)."""
        return self.bad / self.total if self.total else 0.0


@dataclass(frozen=True)
class TierDecision:
    tier: BurnRateTier
    long_burn_rate: float
    short_burn_rate: float
    enough_traffic: bool
    firing: bool


@dataclass(frozen=True)
class SloDecision:
    rule: SloRule
    tiers: list[TierDecision]

    @property
    def firing(self) -> list[TierDecision]:
        return [decision for decision in self.tiers if decision.firing]

    @property
    def severity(self) -> Severity | None:
        """The most urgent firing tier's severity, or ``None`` when nothing fires."""
        order = [Severity.info, Severity.warning, Severity.critical]
        firing = [decision.tier.severity for decision in self.firing]
        return max(firing, key=order.index) if firing else None


def error_budget(objective: float) -> float:
    """The share of requests allowed to be bad: 1 - objective (99.5 % → 0.005)."""
    if not 0 < objective < 1:
        raise ValueError(f"objective must be between 0 and 1 (exclusive), got {objective}")
    return 1 - objective


def burn_rate(counts: WindowCounts, objective: float) -> float:
    """How many times faster than sustainable the budget is spent (1 = exactly on budget)."""
    return counts.error_ratio / error_budget(objective)


def enough_traffic(total: float, window: timedelta, min_requests_per_hour: float) -> bool:
    """The minimum-traffic guard: average requests per hour over ``window`` reach the minimum.

    With a handful of requests one failure is a huge error ratio; the guard keeps such noise
    from paging. Prometheus side: ``rate(requests[window]) * 3600 >= min_requests_per_hour``.
    """
    return total / (window / HOUR) >= min_requests_per_hour


def evaluate_tier(
    tier: BurnRateTier,
    *,
    long: WindowCounts,
    short: WindowCounts,
    objective: float,
    min_requests_per_hour: float = 0,
) -> TierDecision:
    """Fire when both windows burn faster than the tier's rate and the long window had traffic.

    The long window proves the problem is significant; the short window proves it is still
    happening, so the alert resets minutes (not hours) after recovery.
    """
    long_rate = burn_rate(long, objective)
    short_rate = burn_rate(short, objective)
    traffic = enough_traffic(long.total, tier.long_window, min_requests_per_hour)
    firing = traffic and long_rate > tier.burn_rate and short_rate > tier.burn_rate
    return TierDecision(tier, long_rate, short_rate, traffic, firing)


def evaluate_slo(rule: SloRule, counts: Mapping[timedelta, WindowCounts]) -> SloDecision:
    """Every tier of ``rule`` from counts keyed by window (all of ``rule.windows`` needed)."""
    missing = [window for window in rule.windows if window not in counts]
    if missing:
        raise ValueError(f"{rule.name}: counts missing for windows {missing}")
    decisions = [
        evaluate_tier(
            tier,
            long=counts[tier.long_window],
            short=counts[tier.short_window],
            objective=rule.objective,
            min_requests_per_hour=rule.min_requests_per_hour,
        )
        for tier in rule.tiers
    ]
    return SloDecision(rule, decisions)


def remaining_error_budget(counts: WindowCounts, objective: float) -> float:
    """Share of the SLO window's budget still unspent: 1 untouched, 0 spent, < 0 overspent.

    ``counts`` are the totals over the SLO window (e.g. 30 days).
    """
    return 1 - burn_rate(counts, objective)


def reported_error_budget(
    counts: WindowCounts, objective: float, *, min_requests: int
) -> float | None:
    """The remaining budget as shown to people: ``None`` ("not enough data") until the window
    holds ``min_requests``, then between 0 (spent or overspent) and 1 (untouched).

    With a handful of requests the raw figure is noise: one slow request in eight at 99 % reads
    as -1150 %. How far over budget an SLO went is told by its bad and allowed request counts.
    """
    if counts.total < min_requests:
        return None
    return max(0.0, remaining_error_budget(counts, objective))


def allowed_bad_requests(total: float, objective: float) -> float:
    """How many of ``total`` requests may be bad without breaking the SLO."""
    return total * error_budget(objective)


def budget_spent_by(tier: BurnRateTier, slo_window: timedelta) -> float:
    """Share of the budget a tier's burn rate spends in its long window (14.4 x 1h/30d = 2 %)."""
    return tier.burn_rate * (tier.long_window / slo_window)
