"""Fixed-window counters for throttling (login failures, sign-ups, event batches).

Redis holds them when it is configured, so every worker and instance shares one count;
otherwise they live in this process, which is right for the single-process embedded default.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Protocol

from redis.asyncio import Redis

from intuitivus_flow.kit.errors import TooManyRequests


@dataclass(frozen=True, slots=True)
class WindowCount:
    count: int
    retry_after: int  # seconds until the window resets


class CounterStore(Protocol):
    async def increment(self, key: str, window_seconds: int) -> WindowCount: ...

    async def peek(self, key: str) -> WindowCount: ...

    async def reset(self, key: str) -> None: ...


class MemoryCounterStore:
    def __init__(self) -> None:
        self._windows: dict[str, tuple[int, float]] = {}

    def _live(self, key: str) -> tuple[int, float] | None:
        entry = self._windows.get(key)
        if entry and entry[1] <= time.monotonic():
            del self._windows[key]
            return None
        return entry

    async def increment(self, key: str, window_seconds: int) -> WindowCount:
        entry = self._live(key)
        count, expires = entry if entry else (0, time.monotonic() + window_seconds)
        self._windows[key] = (count + 1, expires)
        return WindowCount(count + 1, math.ceil(expires - time.monotonic()))

    async def peek(self, key: str) -> WindowCount:
        entry = self._live(key)
        if entry is None:
            return WindowCount(0, 0)
        return WindowCount(entry[0], math.ceil(entry[1] - time.monotonic()))

    async def reset(self, key: str) -> None:
        self._windows.pop(key, None)


class RedisCounterStore:
    def __init__(self, redis: Redis, prefix: str = "flow:rl:") -> None:
        self._redis = redis
        self._prefix = prefix

    async def increment(self, key: str, window_seconds: int) -> WindowCount:
        name = self._prefix + key
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.incr(name)
            pipe.expire(name, window_seconds, nx=True)
            pipe.ttl(name)
            count, _, ttl = await pipe.execute()
        return WindowCount(int(count), max(int(ttl), 1))

    async def peek(self, key: str) -> WindowCount:
        name = self._prefix + key
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.get(name)
            pipe.ttl(name)
            count, ttl = await pipe.execute()
        return WindowCount(int(count or 0), max(int(ttl), 0))

    async def reset(self, key: str) -> None:
        await self._redis.delete(self._prefix + key)


class Throttle:
    """A named limit over a store: `check` refuses once `limit` hits happened in the window."""

    def __init__(self, store: CounterStore, name: str, *, limit: int, window_seconds: int) -> None:
        self.store = store
        self.name = name
        self.limit = limit
        self.window_seconds = window_seconds

    def _key(self, subject: str) -> str:
        return f"{self.name}:{subject}"

    async def check(self, subject: str, message: str) -> None:
        state = await self.store.peek(self._key(subject))
        if state.count >= self.limit:
            raise TooManyRequests(message, retry_after=state.retry_after)

    async def hit(self, subject: str) -> WindowCount:
        return await self.store.increment(self._key(subject), self.window_seconds)

    async def reset(self, subject: str) -> None:
        await self.store.reset(self._key(subject))
