"""The plan's pass/fail thresholds applied to a run's summary; any failed gate fails the process.

Defaults are the plan's success metrics: p95 < 500 ms, errors < 0.1 %, every check passing.
The latency gated is schedule-corrected (from each request's due time), and dropped slots are
gated like errors, so a server too slow to take the offered load cannot pass by being sent
less of it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Thresholds:
    p95_ms: float = 500.0
    max_error_rate: float = 0.001
    max_dropped_rate: float = 0.001


@dataclass(frozen=True, slots=True)
class Gate:
    name: str
    limit: str
    measured: str
    passed: bool


def _under(rate: float, limit: float) -> bool:
    # "0 errors" (limit 0) is met by a rate of exactly 0.
    return rate == 0 or rate < limit


def evaluate(summary: dict[str, Any], thresholds: Thresholds) -> list[Gate]:
    requests = int(summary["requests"])
    checks = summary["checks"]
    p95 = float(summary["latency_ms"]["p95"])
    return [
        Gate("requests sent", "> 0", str(requests), requests > 0),
        Gate(
            "p95 latency",
            f"< {thresholds.p95_ms:g} ms",
            f"{p95:g} ms",
            requests > 0 and p95 < thresholds.p95_ms,
        ),
        Gate(
            "errors",
            f"< {thresholds.max_error_rate:.2%}" if thresholds.max_error_rate else "0",
            f"{summary['error_rate']:.3%} ({summary['failures']} of {requests})",
            _under(float(summary["error_rate"]), thresholds.max_error_rate),
        ),
        Gate(
            "dropped (open model)",
            f"< {thresholds.max_dropped_rate:.2%}" if thresholds.max_dropped_rate else "0",
            f"{summary['dropped_rate']:.3%} ({summary['dropped']} of {summary['scheduled']})",
            _under(float(summary["dropped_rate"]), thresholds.max_dropped_rate),
        ),
        Gate(
            "checks",
            "all pass",
            f"{checks['passed']} passed, {checks['failed']} failed",
            checks["failed"] == 0 and checks["passed"] > 0,
        ),
    ]


def passed(gates: list[Gate]) -> bool:
    return all(gate.passed for gate in gates)
