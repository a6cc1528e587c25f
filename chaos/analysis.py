"""Figures of an experiment from what its load recorded: success ratio and p95 during the
fault, answered ratio, hanging requests, recovery time, and the per-second timeline."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from chaos.environment import HANG_SECONDS, Fault
from chaos.load import Attempt, Operation


@dataclass(frozen=True, slots=True)
class Figures:
    operations: int
    success_ratio: float  # of user operations, 1.0 when there were none
    p95_ms: float
    attempts: int
    answered_ratio: float  # HTTP requests that got any answer
    unavailable: int  # 503 answers
    unavailable_with_retry_after: int
    hanging: int  # requests unanswered or answered after HANG_SECONDS


def p95(values: Sequence[float]) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(0.95 * len(ordered)) - 1)]


def figures(operations: Sequence[Operation], attempts: Sequence[Attempt]) -> Figures:
    ok = sum(op.ok for op in operations)
    answered = [a for a in attempts if a.status is not None]
    unavailable = [a for a in answered if a.status == 503]
    hanging = [a for a in attempts if a.duration >= HANG_SECONDS]
    return Figures(
        operations=len(operations),
        success_ratio=ok / len(operations) if operations else 1.0,
        p95_ms=round(p95([op.duration for op in operations]) * 1000, 1),
        attempts=len(attempts),
        answered_ratio=len(answered) / len(attempts) if attempts else 1.0,
        unavailable=len(unavailable),
        unavailable_with_retry_after=sum(a.retry_after for a in unavailable),
        hanging=len(hanging),
    )


def during(
    faults: Sequence[Fault], operations: Sequence[Operation], attempts: Sequence[Attempt]
) -> Figures:
    """Over what started while a fault was on."""

    def inside(started: float) -> bool:
        return any(f.started <= started <= (f.ended or math.inf) for f in faults)

    return figures(
        [op for op in operations if inside(op.started)], [a for a in attempts if inside(a.started)]
    )


def recovery_seconds(faults: Sequence[Fault], operations: Sequence[Operation]) -> float | None:
    """From the end of the last fault to the end of the last failed operation after it (0 when
    everything after the fault succeeded); None while the fault never ended."""
    if not faults or faults[-1].ended is None:
        return None
    ended = faults[-1].ended
    late = [op.started + op.duration for op in operations if not op.ok]
    late = [t for t in late if t > ended]
    return round(max(late) - ended, 2) if late else 0.0


@dataclass(frozen=True, slots=True)
class Second:
    at: int
    ok: int
    failed: int
    p95_ms: float


def timeline(operations: Sequence[Operation]) -> list[Second]:
    if not operations:
        return []
    first = int(min(op.started for op in operations))
    last = int(max(op.started for op in operations))
    seconds = []
    for at in range(first, last + 1):
        bucket = [op for op in operations if at <= op.started < at + 1]
        seconds.append(
            Second(
                at=at,
                ok=sum(op.ok for op in bucket),
                failed=sum(not op.ok for op in bucket),
                p95_ms=p95([op.duration for op in bucket]) * 1000,
            )
        )
    return seconds
