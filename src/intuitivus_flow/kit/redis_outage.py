"""Noticing that Redis is away, so its users fall back instead of failing or hanging.

Redis only ever speeds things up or shares state between processes here (counters, cached
views, invalidation versions); the database stays the truth. So when a command fails or
times out, its caller takes its in-process fallback, and this breaker keeps every caller on
that fallback for a few seconds instead of each request paying another socket timeout. The
first command after that pause tries Redis again: recovery needs no restart.
"""

from __future__ import annotations

import logging
import time

from redis.exceptions import RedisError

log = logging.getLogger(__name__)

# What a Redis that is down, refusing or hanging raises (redis-py wraps most socket errors).
REDIS_ERRORS: tuple[type[Exception], ...] = (RedisError, OSError)
# How long callers stay on their fallback before Redis is tried again.
RETRY_SECONDS = 5.0


class RedisOutage:
    def __init__(self, user: str, *, retry_seconds: float | None = None) -> None:
        self._user = user
        self._retry_seconds = retry_seconds
        self._down = False
        self._retry_at = 0.0

    @property
    def down(self) -> bool:
        return self._down

    def worth_trying(self) -> bool:
        """False while a recent failure says Redis is away (then use the fallback)."""
        return not self._down or time.monotonic() >= self._retry_at

    def failed(self, error: Exception) -> None:
        pause = RETRY_SECONDS if self._retry_seconds is None else self._retry_seconds
        self._retry_at = time.monotonic() + pause
        if not self._down:  # once per outage: a log line per request would drown the log
            log.warning("Redis unreachable for %s (%s); using the in-process fallback",
                        self._user, type(error).__name__)  # fmt: skip
        self._down = True

    def succeeded(self) -> None:
        if self._down:
            log.info("Redis reachable again for %s", self._user)
        self._down = False
