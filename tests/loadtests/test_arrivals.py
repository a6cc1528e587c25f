"""Open-model pacing: due times, late starts and dropped slots (coordinated omission)."""

from __future__ import annotations

import pytest
from loadtests.common.arrivals import ArrivalSchedule


def test_slots_fall_on_the_schedule_whatever_the_requests_took() -> None:
    schedule = ArrivalSchedule(2.0, start=100.0, phase=0.1)
    assert schedule.wait(100.0) == pytest.approx(0.1)
    first = schedule.claim(100.1)
    assert (first.due, first.lateness, first.dropped) == (pytest.approx(100.1), 0, 0)
    # The request took 0.3 s: the next slot is still due at 100.6, not 0.5 s after it ended.
    assert schedule.wait(100.4) == pytest.approx(0.2)


def test_a_start_after_the_due_time_is_late_and_keeps_its_due_time() -> None:
    schedule = ArrivalSchedule(1.0, start=0.0, phase=0.0)
    schedule.claim(0.0)
    slot = schedule.claim(1.4)  # the first answer took 1.4 s
    assert slot.due == pytest.approx(1.0)
    assert slot.lateness == pytest.approx(0.4)
    assert slot.dropped == 0
    assert schedule.wait(1.5) == pytest.approx(0.5)  # back on the grid: due at 2.0


def test_slots_that_passed_while_waiting_are_dropped_not_sent_in_a_burst() -> None:
    schedule = ArrivalSchedule(1.0, start=0.0, phase=0.0)
    schedule.claim(0.0)
    slot = schedule.claim(3.5)  # an answer took 3.5 s: slots at 1 and 2 passed unsent
    assert slot.dropped == 2
    assert slot.due == pytest.approx(3.0)
    assert slot.lateness == pytest.approx(0.5)
    assert schedule.wait(3.5) == pytest.approx(0.5)


@pytest.mark.parametrize(("rate", "phase"), [(0, 0), (-1, 0), (1, 1.0), (2, 0.6), (1, -0.1)])
def test_a_schedule_needs_a_positive_rate_and_a_phase_within_one_interval(
    rate: float, phase: float
) -> None:
    with pytest.raises(ValueError, match=r"rate|phase"):
        ArrivalSchedule(rate, start=0, phase=phase)
