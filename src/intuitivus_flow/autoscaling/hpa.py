"""The Horizontal Pod Autoscaler's replica calculation, as Kubernetes documents and implements it.

One `HorizontalAutoscaler` is the controller's state for one HPA object: it is called once per
sync period (15 s by default) with the current replica count and the metrics, and answers the
replica count to set. The steps follow the controller (pkg/controller/podautoscaler):

1. per metric, `desiredReplicas = ceil(currentReplicas * currentValue / targetValue)`, skipped
   when the ratio is within the tolerance (0.1) of 1.0; pods without metrics yet (starting)
   count as using nothing when scaling up and exactly the target when scaling down, and may
   not reverse the direction;
2. the largest proposal over all metrics wins (so one metric can only add capacity, never take
   it away while another still needs it);
3. stabilisation: the recommendation is bounded by the lowest recommendation of the scale-up
   window and the highest of the scale-down window (default 0 s and 300 s);
4. rate policies: `Pods` (at most N pods) or `Percent` per `periodSeconds`, counted from the
   replica count at the start of the period, `selectPolicy` Max (most change), Min or Disabled;
5. minReplicas/maxReplicas.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum

DEFAULT_TOLERANCE = 0.1
DEFAULT_SYNC_SECONDS = 15.0


class PolicyType(StrEnum):
    pods = "Pods"
    percent = "Percent"


class SelectPolicy(StrEnum):
    max = "Max"
    min = "Min"
    disabled = "Disabled"


@dataclass(frozen=True, slots=True)
class ScalingPolicy:
    type: PolicyType
    value: int
    period_seconds: int


@dataclass(frozen=True, slots=True)
class ScalingRules:
    stabilization_window_seconds: int
    policies: tuple[ScalingPolicy, ...]
    select_policy: SelectPolicy = SelectPolicy.max


# The defaults the API server fills in when `behavior` (or one direction of it) is left out.
DEFAULT_SCALE_UP = ScalingRules(
    stabilization_window_seconds=0,
    policies=(
        ScalingPolicy(PolicyType.percent, 100, 15),
        ScalingPolicy(PolicyType.pods, 4, 15),
    ),
)
DEFAULT_SCALE_DOWN = ScalingRules(
    stabilization_window_seconds=300, policies=(ScalingPolicy(PolicyType.percent, 100, 15),)
)


@dataclass(frozen=True, slots=True)
class Behavior:
    scale_up: ScalingRules = DEFAULT_SCALE_UP
    scale_down: ScalingRules = DEFAULT_SCALE_DOWN


@dataclass(frozen=True, slots=True)
class MetricSample:
    """One metric as the HPA sees it in a sync.

    `average` metrics (Pods, Resource, External with averageValue) carry the total over the
    pods that reported (`value`) and how many reported (`reporting_pods`); the target is the
    per-pod average. A plain `Value` metric (External/Object with target value) has
    `average=False` and is compared with its target as is.
    """

    value: float
    target: float
    reporting_pods: int = 0
    average: bool = True


def replicas_for_metric(
    current_replicas: int, metric: MetricSample, *, tolerance: float = DEFAULT_TOLERANCE
) -> int:
    """The replica count one metric asks for (step 1)."""
    if metric.target <= 0:
        raise ValueError("a metric target must be positive")
    if not metric.average:
        ratio = metric.value / metric.target
        if abs(ratio - 1.0) <= tolerance:
            return current_replicas
        return math.ceil(ratio * current_replicas)
    return _replicas_for_average(current_replicas, metric, tolerance)


def _replicas_for_average(current_replicas: int, metric: MetricSample, tolerance: float) -> int:
    ready = metric.reporting_pods
    if ready == 0:
        # No pod reports yet: nothing to decide on (the controller keeps the count).
        return current_replicas
    missing = max(0, current_replicas - ready)
    ratio = metric.value / (metric.target * ready)
    if missing == 0:
        if abs(ratio - 1.0) <= tolerance:
            return current_replicas
        return math.ceil(ratio * ready)
    # Pods without metrics: assume the least helpful value for the direction being taken
    # (0 when scaling up, the target when scaling down), then refuse to flip direction.
    if ratio > 1.0:
        adjusted = metric.value / (metric.target * (ready + missing))
    else:
        adjusted = (metric.value + metric.target * missing) / (metric.target * (ready + missing))
    if abs(adjusted - 1.0) <= tolerance or (ratio > 1.0) != (adjusted > 1.0):
        return current_replicas
    return math.ceil(adjusted * (ready + missing))


@dataclass(frozen=True, slots=True)
class ScaleEvent:
    at: float
    change: int  # replicas added (> 0) or removed (< 0)


@dataclass(slots=True)
class HorizontalAutoscaler:
    """The per-HPA controller state: past recommendations and past scale events."""

    min_replicas: int
    max_replicas: int
    behavior: Behavior = field(default_factory=Behavior)
    tolerance: float = DEFAULT_TOLERANCE
    recommendations: list[tuple[float, int]] = field(default_factory=list)
    events: list[ScaleEvent] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not 1 <= self.min_replicas <= self.max_replicas:
            raise ValueError("need 1 <= minReplicas <= maxReplicas")

    def sync(self, now: float, current_replicas: int, metrics: Sequence[MetricSample]) -> int:
        """One reconcile: the replica count to set now (may equal `current_replicas`)."""
        proposals = [
            replicas_for_metric(current_replicas, m, tolerance=self.tolerance) for m in metrics
        ]
        desired = max(proposals) if proposals else current_replicas
        return self.normalize(now, current_replicas, desired)

    def normalize(self, now: float, current_replicas: int, desired: int) -> int:
        """Steps 3-5: stabilise, limit the rate, clamp; records the resulting scale event."""
        stabilized = self._stabilize(now, current_replicas, desired)
        limited = self._limit_rate(now, current_replicas, stabilized)
        if limited != current_replicas:
            self.events.append(ScaleEvent(now, limited - current_replicas))
        return limited

    def _stabilize(self, now: float, current: int, desired: int) -> int:
        up_cutoff = now - self.behavior.scale_up.stabilization_window_seconds
        down_cutoff = now - self.behavior.scale_down.stabilization_window_seconds
        up, down = desired, desired
        for at, recommended in self.recommendations:
            if at > up_cutoff:
                up = min(up, recommended)
            if at > down_cutoff:
                down = max(down, recommended)
        longest = max(
            self.behavior.scale_up.stabilization_window_seconds,
            self.behavior.scale_down.stabilization_window_seconds,
        )
        self.recommendations = [(a, r) for a, r in self.recommendations if a > now - longest]
        self.recommendations.append((now, desired))
        # Move from the current count only as far as every recommendation in the window agrees.
        return min(max(current, up), down)

    def _limit_rate(self, now: float, current: int, desired: int) -> int:
        if desired > current:
            limit = self._scale_up_limit(now, current)
            return max(current, min(desired, limit, self.max_replicas))
        if desired < current:
            limit = self._scale_down_limit(now, current)
            return min(current, max(desired, limit, self.min_replicas))
        return max(self.min_replicas, min(desired, self.max_replicas))

    def _changes_within(self, now: float, period: int) -> tuple[int, int]:
        added = sum(e.change for e in self.events if e.at > now - period and e.change > 0)
        removed = -sum(e.change for e in self.events if e.at > now - period and e.change < 0)
        return added, removed

    def _scale_up_limit(self, now: float, current: int) -> int:
        rules = self.behavior.scale_up
        if rules.select_policy is SelectPolicy.disabled:
            return current
        proposals = []
        for policy in rules.policies:
            added, removed = self._changes_within(now, policy.period_seconds)
            start = current - added + removed
            if policy.type is PolicyType.pods:
                proposals.append(start + policy.value)
            else:
                proposals.append(math.ceil(start * (1 + policy.value / 100)))
        chosen = max(proposals) if rules.select_policy is SelectPolicy.max else min(proposals)
        return max(chosen, current)

    def _scale_down_limit(self, now: float, current: int) -> int:
        rules = self.behavior.scale_down
        if rules.select_policy is SelectPolicy.disabled:
            return current
        proposals = []
        for policy in rules.policies:
            added, removed = self._changes_within(now, policy.period_seconds)
            start = current + removed - added
            if policy.type is PolicyType.pods:
                proposals.append(start - policy.value)
            else:
                proposals.append(int(start * (1 - policy.value / 100)))
        # "Max" selects the policy allowing the most change: the lowest count when scaling in.
        chosen = min(proposals) if rules.select_policy is SelectPolicy.max else max(proposals)
        return min(chosen, current)
