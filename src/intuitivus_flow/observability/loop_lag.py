"""Event-loop lag: how late the loop runs a callback that was due now.

A coroutine that blocks the loop (CPU-bound work, a synchronous driver call, a large JSON
encode) delays every other request of the worker by as long as it runs, yet shows in no route's
own timing. A probe that sleeps a fixed interval and measures how much later it wakes sees
exactly that delay. It costs one timer per interval.
"""

from __future__ import annotations

import asyncio
from collections import deque

from intuitivus_flow.observability.metrics import FlowMetrics

PROBE_INTERVAL_SECONDS = 0.5
# The max gauge covers the last minute of probes: one blocked second stays visible to a scrape.
PROBES_KEPT = 120


class LoopLagProbe:
    def __init__(
        self,
        metrics: FlowMetrics,
        *,
        interval: float = PROBE_INTERVAL_SECONDS,
        kept: int = PROBES_KEPT,
    ) -> None:
        self.metrics = metrics
        self.interval = interval
        self.recent: deque[float] = deque(maxlen=kept)

    def record(self, lag: float) -> None:
        lag = max(0.0, lag)
        self.recent.append(lag)
        self.metrics.event_loop_lag_seconds.set(lag)
        self.metrics.event_loop_lag_max_seconds.set(max(self.recent))

    async def run_forever(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            started = loop.time()
            await asyncio.sleep(self.interval)
            self.record(loop.time() - started - self.interval)
