"""Open-model pacing: each simulated user sends on a fixed schedule, whatever the server does.

A closed loop (send, wait for the answer, send again) slows down with the server, so a slow
server is measured with fewer, faster-looking requests: coordinated omission. Here each user
owns a schedule of due times (its rate, with a random phase so users do not fire in step). A
request that starts after its due time is *late*, and its latency is counted from the due time
(what a real client arriving then would have waited). Slots that passed entirely while the
user was still waiting for an earlier answer are *dropped*: offered load the server did not
take, counted and gated like errors.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Slot:
    due: float  # when the request should have started (time.monotonic() clock)
    lateness: float  # seconds it started after `due`
    dropped: int  # earlier slots skipped because they passed while the user was busy


class ArrivalSchedule:
    """Due times `start + phase + k / rate` for k = 0, 1, ..."""

    def __init__(self, rate: float, *, start: float, phase: float) -> None:
        if rate <= 0:
            raise ValueError("the arrival rate must be positive")
        if not 0 <= phase < 1 / rate:
            raise ValueError("the phase must fall within one interval")
        self.interval = 1 / rate
        self._next_due = start + phase

    def wait(self, now: float) -> float:
        """Seconds to sleep before the next slot is due (0 when it already is)."""
        return max(0.0, self._next_due - now)

    def claim(self, now: float) -> Slot:
        """Take the slot to run now: the latest one due, skipping (dropping) older ones."""
        behind = now - self._next_due
        dropped = math.floor(behind / self.interval) if behind >= self.interval else 0
        due = self._next_due + dropped * self.interval
        self._next_due = due + self.interval
        return Slot(due=due, lateness=max(0.0, now - due), dropped=dropped)
