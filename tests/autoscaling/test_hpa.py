"""The HPA algorithm pinned on the worked examples of the Kubernetes documentation.

Sources: kubernetes.io "Horizontal Pod Autoscaling" (algorithm details, scaling policies,
stabilization window, default behavior) and the v1.33 "configurable tolerance" blog post.
"""

from __future__ import annotations

import pytest

from intuitivus_flow.autoscaling.hpa import (
    Behavior,
    HorizontalAutoscaler,
    MetricSample,
    PolicyType,
    ScalingPolicy,
    ScalingRules,
    SelectPolicy,
    replicas_for_metric,
)


def per_pod(average: float, target: float, pods: int) -> MetricSample:
    """A Pods/Resource metric: every one of `pods` reports `average`."""
    return MetricSample(value=average * pods, target=target, reporting_pods=pods)


class TestReplicasForMetric:
    def test_double_when_the_metric_is_twice_the_target(self) -> None:
        # "if the current metric value is 200m, and the desired value is 100m, the number of
        # replicas will be doubled, since 200.0 / 100.0 == 2.0"
        assert replicas_for_metric(4, per_pod(200, 100, 4)) == 8

    def test_halve_when_the_metric_is_half_the_target(self) -> None:
        # "If the current value is instead 50m, you'll halve the number of replicas"
        assert replicas_for_metric(4, per_pod(50, 100, 4)) == 2

    def test_blog_example_fifty_replicas_at_ninety_percent_of_seventy_five(self) -> None:
        # 50 replicas, CPU 90 % against a 75 % target: 50 * 90 / 75 = 60.
        assert replicas_for_metric(50, per_pod(90, 75, 50)) == 60

    # (Exactly 1.1 is not "within" in float64, in the controller as here: 1.1 - 1.0 > 0.1.)
    @pytest.mark.parametrize("average", [91, 100, 105, 109])
    def test_no_change_within_the_tolerance(self, average: float) -> None:
        # "The control plane skips any scaling action if the ratio is sufficiently close to
        # 1.0 (within a globally-configurable tolerance, 0.1 by default)."
        assert replicas_for_metric(10, per_pod(average, 100, 10)) == 10

    def test_just_outside_the_tolerance_scales(self) -> None:
        assert replicas_for_metric(10, per_pod(111, 100, 10)) == 12
        assert replicas_for_metric(10, per_pod(89, 100, 10)) == 9

    def test_ceiling_not_rounding(self) -> None:
        # desiredReplicas = ceil[currentReplicas * currentMetricValue / desiredMetricValue]
        assert replicas_for_metric(3, per_pod(120, 100, 3)) == 4  # 3.6 -> 4

    def test_missing_pods_count_as_zero_when_scaling_up(self) -> None:
        # 4 pods, one without metrics yet; 3 report 150 against 100: ratio 1.5 would ask for 5
        # (ceil(1.5 * 3)); with the missing pod at 0 the ratio is 450 / 400 = 1.125 -> 5.
        sample = MetricSample(value=450, target=100, reporting_pods=3)
        assert replicas_for_metric(4, sample) == 5

    def test_missing_pods_that_reverse_the_direction_cancel_the_scaling(self) -> None:
        # 5 of 10 pods report 120 (ratio 1.2, up); counting the 5 missing at 0 gives 0.6
        # (down): "if the new ratio reverses the scale direction ... skip any scaling".
        sample = MetricSample(value=600, target=100, reporting_pods=5)
        assert replicas_for_metric(10, sample) == 10

    def test_missing_pods_count_as_the_target_when_scaling_down(self) -> None:
        # 2 of 4 report 20 (ratio 0.2); the missing ones at 100: (40 + 200) / 400 = 0.6 -> 3.
        sample = MetricSample(value=40, target=100, reporting_pods=2)
        assert replicas_for_metric(4, sample) == 3

    def test_external_average_value_asks_for_value_over_target(self) -> None:
        # External metric with target averageValue 1: the forecast's replica count as is.
        assert replicas_for_metric(3, MetricSample(12, 1.0, reporting_pods=3)) == 12

    def test_plain_value_metric(self) -> None:
        assert replicas_for_metric(4, MetricSample(300, 100, average=False)) == 12
        assert replicas_for_metric(4, MetricSample(105, 100, average=False)) == 4

    def test_target_must_be_positive(self) -> None:
        with pytest.raises(ValueError, match="positive"):
            replicas_for_metric(3, MetricSample(1, 0, reporting_pods=3))


class TestMultipleMetrics:
    def test_the_largest_proposal_wins(self) -> None:
        # "the HorizontalPodAutoscaler ... chooses the largest of the desired replica counts":
        # a forecast asking for the minimum cannot take pods the request rate needs.
        hpa = HorizontalAutoscaler(min_replicas=3, max_replicas=20)
        reactive = per_pod(250, 100, 4)  # asks for 10
        forecast = MetricSample(3, 1.0, reporting_pods=4)  # asks for 3
        assert hpa.sync(0, 4, [reactive, forecast]) == 8  # 10, limited to +100 % per 15 s
        assert hpa.sync(15, 8, [per_pod(125, 100, 8), forecast]) == 10


class TestDefaultBehavior:
    def test_scale_up_adds_four_pods_or_doubles_whichever_is_more(self) -> None:
        # Default scaleUp: Percent 100 and Pods 4 per 15 s, selectPolicy Max.
        hpa = HorizontalAutoscaler(min_replicas=1, max_replicas=100)
        assert hpa.sync(0, 1, [per_pod(1000, 100, 1)]) == 5
        hpa = HorizontalAutoscaler(min_replicas=1, max_replicas=100)
        assert hpa.sync(0, 10, [per_pod(1000, 100, 10)]) == 20

    def test_the_period_counts_from_its_start(self) -> None:
        hpa = HorizontalAutoscaler(min_replicas=1, max_replicas=100)
        assert hpa.sync(0, 10, [per_pod(1000, 100, 10)]) == 20
        # 10 s later the same 15 s period already doubled from 10: no more room.
        assert hpa.sync(10, 20, [per_pod(1000, 100, 20)]) == 20
        assert hpa.sync(15, 20, [per_pod(1000, 100, 20)]) == 40

    def test_scale_down_waits_for_the_five_minute_window(self) -> None:
        # Default scaleDown: stabilizationWindowSeconds 300, "the highest recommendation in
        # the window" is used.
        hpa = HorizontalAutoscaler(min_replicas=1, max_replicas=100)
        assert hpa.sync(0, 10, [per_pod(100, 100, 10)]) == 10
        for t in range(15, 300, 15):
            assert hpa.sync(t, 10, [per_pod(20, 100, 10)]) == 10
        # At 300 s the recommendation of t=0 is no longer strictly inside the window.
        assert hpa.sync(300, 10, [per_pod(20, 100, 10)]) == 2

    def test_min_and_max_bound_the_result(self) -> None:
        hpa = HorizontalAutoscaler(min_replicas=3, max_replicas=20)
        assert hpa.sync(0, 15, [per_pod(1000, 100, 15)]) == 20
        relaxed = Behavior(
            scale_down=ScalingRules(0, (ScalingPolicy(PolicyType.percent, 100, 15),))
        )
        hpa = HorizontalAutoscaler(min_replicas=3, max_replicas=20, behavior=relaxed)
        assert hpa.sync(0, 10, [per_pod(1, 100, 10)]) == 3

    def test_bounds_are_validated(self) -> None:
        with pytest.raises(ValueError, match="minReplicas"):
            HorizontalAutoscaler(min_replicas=5, max_replicas=3)


class TestDocumentedPolicies:
    """The documentation's scale-down example: Pods 4 and Percent 10 per 60 s."""

    RULES = ScalingRules(
        stabilization_window_seconds=300,
        policies=(
            ScalingPolicy(PolicyType.pods, 4, 60),
            ScalingPolicy(PolicyType.percent, 10, 60),
        ),
    )

    def scaler(self, select: SelectPolicy = SelectPolicy.max) -> HorizontalAutoscaler:
        rules = ScalingRules(self.RULES.stabilization_window_seconds, self.RULES.policies, select)
        return HorizontalAutoscaler(1, 100, behavior=Behavior(scale_down=rules))

    def test_eighty_replicas_lose_eight_then_eight_again(self) -> None:
        # "80 replicas ... 8 replicas can be reduced. In the next iteration when the number of
        # replicas is 72, 10% of the pods is 7.2 but the number is rounded up to 8."
        hpa = self.scaler()
        to_ten = [per_pod(12.5, 100, 80)]  # 80 pods at 12.5 % of target ask for 10
        assert hpa.sync(0, 80, to_ten) == 72
        assert hpa.sync(60, 72, [per_pod(100 * 10 / 72, 100, 72)]) == 64

    def test_no_more_than_one_step_per_period(self) -> None:
        hpa = self.scaler()
        assert hpa.sync(0, 80, [per_pod(12.5, 100, 80)]) == 72
        assert hpa.sync(15, 72, [per_pod(100 * 10 / 72, 100, 72)]) == 72
        assert hpa.sync(45, 72, [per_pod(100 * 10 / 72, 100, 72)]) == 72

    def test_below_forty_replicas_the_pods_policy_allows_more(self) -> None:
        # "Once the number of replicas falls below 40, the first policy (Pods) is applied and
        # 4 replicas will be reduced at a time."
        hpa = self.scaler()
        assert hpa.sync(0, 30, [per_pod(100 / 3, 100, 30)]) == 26

    def test_select_policy_min_takes_the_smaller_change(self) -> None:
        hpa = self.scaler(SelectPolicy.min)
        assert hpa.sync(0, 30, [per_pod(100 / 3, 100, 30)]) == 27  # 10 % of 30 = 3

    def test_disabled_never_scales_down(self) -> None:
        # "selectPolicy: Disabled" turns scaling in that direction off.
        hpa = self.scaler(SelectPolicy.disabled)
        assert hpa.sync(0, 30, [per_pod(10, 100, 30)]) == 30
        assert hpa.sync(0, 30, [per_pod(300, 100, 30)]) == 60  # scale-up untouched


class TestStabilization:
    def test_scale_up_window_takes_the_lowest_recommendation(self) -> None:
        up = ScalingRules(60, (ScalingPolicy(PolicyType.percent, 900, 15),))
        hpa = HorizontalAutoscaler(1, 100, behavior=Behavior(scale_up=up))
        assert hpa.sync(0, 4, [per_pod(100, 100, 4)]) == 4
        # A spike: the window still holds the recommendation of 4, so nothing happens yet.
        assert hpa.sync(15, 4, [per_pod(300, 100, 4)]) == 4
        assert hpa.sync(30, 4, [per_pod(300, 100, 4)]) == 4
        # Once every recommendation of the last 60 s says 12, scale to 12.
        assert hpa.sync(61, 4, [per_pod(300, 100, 4)]) == 12

    def test_scale_down_window_keeps_the_highest_recommendation(self) -> None:
        hpa = HorizontalAutoscaler(1, 100)
        assert hpa.sync(0, 10, [per_pod(150, 100, 10)]) == 15
        assert hpa.sync(60, 15, [per_pod(40, 100, 15)]) == 15
        assert hpa.sync(299, 15, [per_pod(40, 100, 15)]) == 15
        assert hpa.sync(301, 15, [per_pod(40, 100, 15)]) == 6
