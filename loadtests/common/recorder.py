"""What a run measured, kept in the Locust process and written out as one JSON summary.

Locust's own statistics round response times into buckets and know nothing of the schedule;
the gates need exact percentiles of the schedule-corrected latency (end minus due time), the
dropped slots and the checks. Samples are kept per second of the run for the report's
latency-over-time charts. Pure Python (no Locust, no gevent), so it is unit-tested directly.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any


def percentile(ordered: Sequence[float], p: float) -> float:
    """Nearest-rank percentile of an ascending sequence (0 for none)."""
    if not ordered:
        return 0.0
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


def _latency_summary(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "p50": round(percentile(ordered, 50), 1),
        "p95": round(percentile(ordered, 95), 1),
        "p99": round(percentile(ordered, 99), 1),
        "max": round(ordered[-1], 1) if ordered else 0.0,
    }


@dataclass
class _Second:
    latencies_ms: list[float] = field(default_factory=list)
    requests: int = 0
    failures: int = 0
    dropped: int = 0
    late: int = 0
    users: int | None = None  # sampled once a second by the Locust process


@dataclass
class _Endpoint:
    latencies_ms: list[float] = field(default_factory=list)
    failures: int = 0


@dataclass(frozen=True, slots=True)
class Sample:
    """One finished request. Times are on the time.monotonic() clock."""

    name: str
    started: float
    ended: float
    due: float | None  # None for requests outside the schedule (sign-in, token refresh)
    ok: bool
    late: bool = False


class Recorder:
    def __init__(self, started: float) -> None:
        self.started = started
        self.ended = started
        self._seconds: dict[int, _Second] = defaultdict(_Second)
        self._endpoints: dict[str, _Endpoint] = defaultdict(_Endpoint)
        self._service_ms: list[float] = []
        self._corrected_ms: list[float] = []
        self.requests = 0
        self.failures = 0
        self.slots = 0
        self.dropped = 0
        self.late = 0
        self.checks_passed = 0
        self.checks_failed = 0
        self.failed_checks: dict[str, int] = defaultdict(int)

    def _second(self, at: float) -> _Second:
        return self._seconds[max(0, int(at - self.started))]

    def add(self, sample: Sample) -> None:
        service = (sample.ended - sample.started) * 1000
        corrected = (sample.ended - sample.due) * 1000 if sample.due is not None else service
        self.requests += 1
        second = self._second(sample.ended)
        second.requests += 1
        endpoint = self._endpoints[sample.name]
        endpoint.latencies_ms.append(corrected)
        if not sample.ok:
            self.failures += 1
            second.failures += 1
            endpoint.failures += 1
        if sample.due is not None:
            # Latency figures are the schedule's requests; sign-in and token refresh (slow on
            # purpose: argon2id) are reported per endpoint, not mixed into them. Errors count
            # every request.
            self.slots += 1
            self._service_ms.append(service)
            self._corrected_ms.append(corrected)
            second.latencies_ms.append(corrected)
        if sample.late:
            self.late += 1
            second.late += 1
        self.ended = max(self.ended, sample.ended)

    def drop(self, slots: int, at: float) -> None:
        if slots:
            self.dropped += slots
            self._second(at).dropped += slots

    def check(self, name: str, passed: bool) -> None:
        if passed:
            self.checks_passed += 1
        else:
            self.checks_failed += 1
            self.failed_checks[name] += 1

    def users(self, count: int, at: float) -> None:
        self._second(at).users = count

    def window(self, now: float, seconds: int) -> dict[str, float]:
        """Requests/s, p95, failures and drops over the last `seconds` whole seconds: the
        progress line shown while a run goes on."""
        last = int(now - self.started)
        buckets = [
            self._seconds[i] for i in range(max(0, last - seconds), last) if i in self._seconds
        ]
        ordered = sorted(ms for second in buckets for ms in second.latencies_ms)
        return {
            "rps": sum(second.requests for second in buckets) / seconds,
            "p95": percentile(ordered, 95),
            "failures": sum(second.failures for second in buckets),
            "dropped": sum(second.dropped for second in buckets),
        }

    def summary(self) -> dict[str, Any]:
        requests, failures = self.requests, self.failures
        scheduled = self.slots + self.dropped
        duration = max(self.ended - self.started, 1e-9)
        return {
            "requests": requests,
            "failures": failures,
            "error_rate": failures / requests if requests else 0.0,
            "scheduled": scheduled,
            "dropped": self.dropped,
            "dropped_rate": self.dropped / scheduled if scheduled else 0.0,
            "late": self.late,
            "checks": {
                "passed": self.checks_passed,
                "failed": self.checks_failed,
                "failed_by_name": dict(self.failed_checks),
            },
            "duration_s": round(duration, 1),
            "rps": round(requests / duration, 1),
            "latency_ms": _latency_summary(self._corrected_ms),
            "service_latency_ms": _latency_summary(self._service_ms),
            "endpoints": {
                name: {"requests": len(e.latencies_ms), "failures": e.failures}
                | _latency_summary(e.latencies_ms)
                for name, e in sorted(self._endpoints.items())
            },
            "timeline": self._timeline(),
        }

    def _timeline(self) -> list[dict[str, float]]:
        if not self._seconds:
            return []
        users = 0
        rows = []
        for index in range(max(self._seconds) + 1):
            second = self._seconds.get(index, _Second())
            if second.users is not None:  # else carry the last sample over
                users = second.users
            ordered = sorted(second.latencies_ms)
            rows.append(
                {
                    "t": index,
                    "users": users,
                    "rps": second.requests,
                    "p50": round(percentile(ordered, 50), 1),
                    "p95": round(percentile(ordered, 95), 1),
                    "p99": round(percentile(ordered, 99), 1),
                    "failures": second.failures,
                    "dropped": second.dropped,
                    "late": second.late,
                }
            )
        return rows
