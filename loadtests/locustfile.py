"""What Locust loads (`locust -f loadtests/locustfile.py`). Start runs with `python -m loadtests`
(`make loadtest`): it seeds the server, sets the `LOADTEST_*` variables read here, and gates
the results this file writes when the run stops.

Exactly one user class and one shape are bound at module level, because Locust runs every
non-abstract user class and shape it finds in this module.
"""

from __future__ import annotations

import json
import time
from typing import Any

import gevent
from locust import events
from locust.env import Environment

from loadtests.common.recorder import Recorder
from loadtests.common.run import Run, start_run
from loadtests.config import RunSettings, Seed
from loadtests.scenarios import SCENARIOS
from loadtests.shapes import shape_for
from loadtests.stages import PROFILES, Profile, quick

PROGRESS_EVERY_SECONDS = 5


def _profile(settings: RunSettings) -> Profile:
    profile = PROFILES[settings.profile]
    return quick(profile) if settings.quick else profile


_settings = RunSettings.from_env()
_run: Run = start_run(_settings, Seed.read(_settings.seed_file))
_chosen = _profile(_settings)

ScenarioUser = type("ScenarioUser", (SCENARIOS[_settings.scenario],), {"abstract": False})
Shape = shape_for(_chosen)


def _progress(environment: Environment) -> None:
    total = _chosen.seconds
    while True:
        gevent.sleep(1)
        now = time.monotonic()
        users = environment.runner.user_count if environment.runner else 0
        _run.recorder.users(users, now)
        elapsed = now - _run.recorder.started
        if int(elapsed) % PROGRESS_EVERY_SECONDS == 0:
            recent = _run.recorder.window(now, PROGRESS_EVERY_SECONDS)
            print(
                f"[{_chosen.name} {elapsed:4.0f}/{total:.0f} s] users {users:4d}, "
                f"{recent['rps']:6.1f} req/s, p95 {recent['p95']:6.0f} ms, "
                f"failures {recent['failures']:.0f}, dropped {recent['dropped']:.0f} "
                f"(last {PROGRESS_EVERY_SECONDS} s)",
                flush=True,
            )


_progress_greenlet: gevent.Greenlet[Any, Any] | None = None


def _on_start(environment: Environment, **_: Any) -> None:
    global _progress_greenlet
    _run.recorder = Recorder(time.monotonic())
    _progress_greenlet = gevent.spawn(_progress, environment)


def _on_stop(environment: Environment, **_: Any) -> None:
    if _progress_greenlet is not None:
        _progress_greenlet.kill()
    runner = environment.runner
    results = {
        "profile": _chosen.name,
        "scenario": _settings.scenario,
        "peak_users": _chosen.peak_users,
        "offered_rps": _chosen.peak_users * _settings.rate_per_user,
        "generator_cpu_warning": bool(runner and runner.cpu_warning_emitted),
        "summary": _run.recorder.summary(),
    }
    _settings.results_file.write_text(json.dumps(results))


# Locust's EventHook.add_listener is unannotated.
events.test_start.add_listener(_on_start)  # type: ignore[no-untyped-call]
events.test_stop.add_listener(_on_stop)  # type: ignore[no-untyped-call]
