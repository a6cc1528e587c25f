"""The plan's thresholds as gates: each one fails the run on its own."""

from __future__ import annotations

from typing import Any

import pytest
from loadtests.gates import Thresholds, evaluate, passed


def summary(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "requests": 10_000,
        "failures": 0,
        "error_rate": 0.0,
        "scheduled": 10_000,
        "dropped": 0,
        "dropped_rate": 0.0,
        "latency_ms": {"p50": 20.0, "p95": 120.0, "p99": 300.0, "max": 900.0},
        "checks": {"passed": 20_000, "failed": 0},
    }
    return base | overrides


def failed_gates(result: dict[str, Any], thresholds: Thresholds | None = None) -> list[str]:
    return [g.name for g in evaluate(result, thresholds or Thresholds()) if not g.passed]


def test_a_healthy_run_passes_the_plans_gates() -> None:
    gates = evaluate(summary(), Thresholds())
    assert passed(gates)
    assert [g.limit for g in gates] == ["> 0", "< 500 ms", "< 0.10%", "< 0.10%", "all pass"]


@pytest.mark.parametrize(
    ("overrides", "gate"),
    [
        ({"latency_ms": {"p95": 500.0}}, "p95 latency"),
        ({"failures": 10, "error_rate": 0.001}, "errors"),
        ({"dropped": 10, "dropped_rate": 0.001}, "dropped (open model)"),
        ({"checks": {"passed": 19_999, "failed": 1}}, "checks"),
    ],
)
def test_each_threshold_fails_the_run(overrides: dict[str, Any], gate: str) -> None:
    assert failed_gates(summary(**overrides)) == [gate]


def test_a_run_that_sent_nothing_fails() -> None:
    empty = summary(requests=0, latency_ms={"p95": 0.0}, checks={"passed": 0, "failed": 0})
    assert failed_gates(empty) == ["requests sent", "p95 latency", "checks"]


def test_just_under_the_error_threshold_passes() -> None:
    assert failed_gates(summary(failures=9, error_rate=0.0009)) == []


def test_zero_errors_target_is_met_only_by_zero() -> None:
    strict = Thresholds(p95_ms=200, max_error_rate=0, max_dropped_rate=0)
    assert failed_gates(summary(), strict) == []
    assert failed_gates(summary(failures=1, error_rate=0.0001), strict) == ["errors"]
    assert evaluate(summary(), strict)[2].limit == "0"
