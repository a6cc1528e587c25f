"""The base of every scenario's user: Locust's `FastHttpUser` paced by an arrival schedule.

Each task makes exactly one scheduled request through `call`, which waits for the slot, counts
dropped and late slots, times the request from its due time, and runs the request's checks
(k6-style: a status check, then a body check) into the run's recorder.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import Any

import gevent
from locust import FastHttpUser
from locust.contrib.fasthttp import ResponseContextManager

from loadtests.common.arrivals import ArrivalSchedule
from loadtests.common.recorder import Sample
from loadtests.common.run import current_run

Check = Callable[[ResponseContextManager], bool]


def json_has(*keys: str) -> Check:
    def check(response: ResponseContextManager) -> bool:
        try:
            body = response.json()
        except ValueError:
            return False
        return isinstance(body, dict) and all(key in body for key in keys)

    return check


class OpenModelUser(FastHttpUser):
    abstract = True
    # A user's requests are sequential: one connection each, like one browser tab's API calls.
    concurrency = 1
    # Every run is bounded: a request the server never answers fails after this long.
    network_timeout = 30.0
    connection_timeout = 10.0

    schedule: ArrivalSchedule

    def on_start(self) -> None:
        rate = current_run().settings.rate_per_user
        self.schedule = ArrivalSchedule(
            rate,
            start=time.monotonic(),
            phase=random.random() / rate,  # noqa: S311 - spreads users over the interval
        )

    def wait_time(self) -> float:
        return self.schedule.wait(time.monotonic())

    def call(
        self,
        method: str,
        path: str,
        *,
        name: str,
        check: Check,
        expect: int = 200,
        **kwargs: Any,
    ) -> None:
        run = current_run()
        gevent.sleep(self.schedule.wait(time.monotonic()))  # the first task follows on_start
        claimed = time.monotonic()
        slot = self.schedule.claim(claimed)
        run.recorder.drop(slot.dropped, claimed)
        late = slot.lateness * 1000 > run.settings.late_after_ms
        started = time.monotonic()
        with self.client.request(
            method, path, name=name, catch_response=True, **kwargs
        ) as response:
            ended = time.monotonic()
            status_ok = response.status_code == expect
            body_ok = status_ok and check(response)
            run.recorder.check(f"{name}: status {expect}", status_ok)
            if status_ok:
                run.recorder.check(f"{name}: body", body_ok)
            if not status_ok:
                response.failure(f"status {response.status_code}, expected {expect}")
            elif not body_ok:
                response.failure("body check failed")
        run.recorder.add(Sample(name, started, ended, slot.due, status_ok, late))
