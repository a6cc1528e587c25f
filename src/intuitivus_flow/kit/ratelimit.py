"""Fixed-window counters for throttling (login failures, sign-ups, event batches).

Redis holds them when it is configured, so every worker and instance shares one count;
otherwise they live in this process, which is right for the single-process embedded default.

A throttle counts an attempt and tests the new count in one atomic step (`Throttle.acquire`),
before the work it guards. Reading the count first and adding to it after the work (a slow
password check) let parallel attempts all read the same old count and all get through.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass
from typing import Protocol

from redis.asyncio import Redis

from intuitivus_flow.kit.errors import TooManyRequests
from intuitivus_flow.kit.redis_outage import REDIS_ERRORS, RedisOutage


@dataclass(frozen=True, slots=True)
class WindowCount:
    count: int
    retry_after: int  # seconds until the window resets


class CounterStore(Protocol):
    async def increment(self, key: str, window_seconds: int) -> WindowCount:
        """Add one and return the new count, atomically; the first hit starts the window."""
        ...

    async def decrement(self, key: str) -> None:
        """Take one back from a live window (never below zero, never starting a window)."""
        ...

    async def peek(self, key: str) -> WindowCount: ...

    async def reset(self, key: str) -> None: ...


class MemoryCounterStore:
    def __init__(self) -> None:
        self._windows: dict[str, tuple[int, float]] = {}
        # The event loop alone would keep each update whole (no await inside), but the store
        # may also be reached from worker threads; the lock keeps read-modify-write atomic.
        self._lock = threading.Lock()

    def _live(self, key: str) -> tuple[int, float] | None:
        entry = self._windows.get(key)
        if entry and entry[1] <= time.monotonic():
            del self._windows[key]
            return None
        return entry

    async def increment(self, key: str, window_seconds: int) -> WindowCount:
        with self._lock:
            entry = self._live(key)
            count, expires = entry if entry else (0, time.monotonic() + window_seconds)
            self._windows[key] = (count + 1, expires)
        return WindowCount(count + 1, math.ceil(expires - time.monotonic()))

    async def decrement(self, key: str) -> None:
        with self._lock:
            entry = self._live(key)
            if entry and entry[0] > 0:
                self._windows[key] = (entry[0] - 1, entry[1])

    async def peek(self, key: str) -> WindowCount:
        with self._lock:
            entry = self._live(key)
        if entry is None:
            return WindowCount(0, 0)
        return WindowCount(entry[0], math.ceil(entry[1] - time.monotonic()))

    async def reset(self, key: str) -> None:
        with self._lock:
            self._windows.pop(key, None)


# DECR only a live, positive count: a plain DECR on a key that just expired would create it
# at -1 with no expiry, a free attempt that never goes away.
_DECREMENT_LIVE = """
local count = tonumber(redis.call('GET', KEYS[1]) or '0')
if count > 0 then
  return redis.call('DECR', KEYS[1])
end
return 0
"""


class RedisCounterStore:
    """Counters shared by every process, with this process's own counters as the fallback
    while Redis is away (kit/redis_outage.py): throttling then counts per process (a limit
    of N becomes at most N per process for that time), which keeps the API serving and
    still stops a flood, rather than refusing every attempt or letting all of them through.
    """

    def __init__(self, redis: Redis, prefix: str = "flow:rl:") -> None:
        self._redis = redis
        self._prefix = prefix
        self._decrement_live = redis.register_script(_DECREMENT_LIVE)
        self._fallback = MemoryCounterStore()
        self.outage = RedisOutage("throttling")

    async def increment(self, key: str, window_seconds: int) -> WindowCount:
        if self.outage.worth_trying():
            try:
                found = await self._increment(self._prefix + key, window_seconds)
            except REDIS_ERRORS as error:
                self.outage.failed(error)
            else:
                self.outage.succeeded()
                return found
        return await self._fallback.increment(key, window_seconds)

    async def _increment(self, name: str, window_seconds: int) -> WindowCount:
        # One MULTI/EXEC round trip: INCR and the window's expiry cannot be split by a crash
        # or interleaved with another client's commands.
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.incr(name)
            pipe.expire(name, window_seconds, nx=True)
            pipe.ttl(name)
            count, _, ttl = await pipe.execute()
        return WindowCount(int(count), max(int(ttl), 1))

    async def decrement(self, key: str) -> None:
        await self._fallback.decrement(key)
        if self.outage.worth_trying():
            try:
                await self._decrement_live(keys=[self._prefix + key])
            except REDIS_ERRORS as error:
                self.outage.failed(error)

    async def peek(self, key: str) -> WindowCount:
        if self.outage.worth_trying():
            try:
                found = await self._peek(self._prefix + key)
            except REDIS_ERRORS as error:
                self.outage.failed(error)
            else:
                return found
        return await self._fallback.peek(key)

    async def _peek(self, name: str) -> WindowCount:
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.get(name)
            pipe.ttl(name)
            count, ttl = await pipe.execute()
        return WindowCount(int(count or 0), max(int(ttl), 0))

    async def reset(self, key: str) -> None:
        await self._fallback.reset(key)
        if self.outage.worth_trying():
            try:
                await self._redis.delete(self._prefix + key)
            except REDIS_ERRORS as error:
                self.outage.failed(error)


class Throttle:
    """A named limit over a store: at most `limit` attempts per subject in a window.

    Call `acquire` before the work, never after it: the attempt is counted and the new count
    tested in one atomic store operation, so N parallel attempts get exactly `limit` through.
    When the attempt turns out to be one the limit is not about (a correct password), give
    it back with `release`, or clear the subject with `reset`.
    """

    def __init__(self, store: CounterStore, name: str, *, limit: int, window_seconds: int) -> None:
        self.store = store
        self.name = name
        self.limit = limit
        self.window_seconds = window_seconds

    def _key(self, subject: str) -> str:
        return f"{self.name}:{subject}"

    async def acquire(self, subject: str, message: str) -> WindowCount:
        """Count one attempt; raise 429 (with Retry-After) when it is over the limit."""
        state = await self.hit(subject)
        if state.count > self.limit:
            raise TooManyRequests(message, retry_after=state.retry_after)
        return state

    async def hit(self, subject: str) -> WindowCount:
        return await self.store.increment(self._key(subject), self.window_seconds)

    async def release(self, subject: str) -> None:
        await self.store.decrement(self._key(subject))

    async def reset(self, subject: str) -> None:
        await self.store.reset(self._key(subject))
