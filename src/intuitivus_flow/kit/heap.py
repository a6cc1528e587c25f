"""The garbage collector and a long-lived server's heap.

A server process builds most of its objects once (the routes, the ORM's mappers and compiled
statements, pydantic's validators, settings, templates): a few hundred thousand objects that
live as long as the process. CPython's oldest-generation collection walks every one of them
to find the few cycles that requests left behind: under `wrk` each such collection held the
event loop for 40-200 ms, which was the tail of every latency figure (p50 33 ms, p99 655 ms,
max 1.7 s on `/api/auth/me`). Freezing the heap once the app has started moves those objects
out of the collector's view (`gc.freeze`, CPython 3.7+, the technique Instagram published for
its Django servers), so a collection walks only what requests created since.
"""

from __future__ import annotations

import gc


def freeze_startup_heap() -> None:
    """Collect what startup left as garbage, then keep every survivor out of later
    collections. Objects frozen are never collected, so call this once per process, after
    startup, never in a process that builds many apps (tests)."""
    gc.collect()
    gc.freeze()
