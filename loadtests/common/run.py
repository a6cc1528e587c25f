"""The one run a Locust process executes: its settings, seed and recorder, shared by all users.

gevent runs every simulated user on one thread, so plain shared objects need no locking.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from loadtests.common.recorder import Recorder
from loadtests.config import RunSettings, Seed


@dataclass
class Run:
    settings: RunSettings
    seed: Seed
    recorder: Recorder = field(default_factory=lambda: Recorder(time.monotonic()))
    _handed_out: int = 0

    def next_index(self) -> int:
        """0, 1, 2, ...: spreads users round-robin over workspaces and sessions."""
        index = self._handed_out
        self._handed_out += 1
        return index


_current: Run | None = None


def start_run(settings: RunSettings, seed: Seed) -> Run:
    global _current
    _current = Run(settings, seed)
    return _current


def current_run() -> Run:
    if _current is None:
        raise RuntimeError("the load-test run was not started (see loadtests/locustfile.py)")
    return _current
