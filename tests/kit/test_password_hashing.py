"""Password hashing runs off the event loop: a sign-in must not stall every other request."""

from __future__ import annotations

import asyncio
import time

import pytest

from intuitivus_flow.kit import security

# The production costs: the point is that a real, slow hash leaves the loop free.
pytestmark = pytest.mark.real_password_hashing


async def _longest_loop_stall(work: asyncio.Future[object]) -> float:
    """The longest gap between ticks of a 5 ms ticker while `work` runs."""
    longest, last = 0.0, time.perf_counter()
    while not work.done():
        await asyncio.sleep(0.005)
        now = time.perf_counter()
        longest, last = max(longest, now - last), now
    return longest


async def test_hashing_and_verifying_leave_the_event_loop_free() -> None:
    started = time.perf_counter()
    stored = await security.hash_password("correct horse battery staple")
    one_hash = time.perf_counter() - started

    work = asyncio.ensure_future(
        asyncio.gather(
            security.verify_password(stored, "correct horse battery staple"),
            security.verify_password(stored, "wrong"),
            security.verify_password(None, "unknown account"),
            security.hash_password("another password"),
        )
    )
    stall = await _longest_loop_stall(work)
    right, wrong, unknown, _ = await work

    assert (right, wrong, unknown) == (True, False, False)
    # Four hashes ran; run on the loop, the ticker would have waited for at least one whole
    # hash. Compared with this machine's own hash time, so a slow machine does not matter.
    assert stall < one_hash / 2, (stall, one_hash)
