"""The backup CronJobs as rendered by kustomize (schemas and workload rules are checked with
every other manifest by `make k8s-check`): the plan's schedule, the drill after the backup,
the commands this CLI has, and nothing scheduled on the multi-region replica."""

from __future__ import annotations

from typing import Any

import pytest

from intuitivus_flow.backup.cli import app as backup_app
from tests.deploy.test_manifests import _of_kind, _render


def _cronjobs(target: str) -> dict[str, dict[str, Any]]:
    try:
        objects = _render(target)
    except FileNotFoundError as exc:  # kubectl is a dev extra
        pytest.skip(str(exc))
    return {job["metadata"]["name"]: job for job in _of_kind(objects, "CronJob")}


def _minute_of_day(schedule: str) -> int:
    minute, hour, *_ = schedule.split()
    return int(hour) * 60 + int(minute)


def test_the_backup_runs_daily_at_two_and_the_drill_after_it() -> None:
    jobs = _cronjobs("base")
    backup = jobs["intuitivus-flow-backup"]["spec"]
    drill = jobs["intuitivus-flow-backup-drill"]["spec"]

    assert backup["schedule"] == "0 2 * * *"
    assert drill["schedule"].endswith(" * * *")
    assert _minute_of_day(drill["schedule"]) > _minute_of_day(backup["schedule"])
    commands = {name.split("-", 2)[-1]: _container(job)["args"] for name, job in jobs.items()}
    assert commands == {"backup": ["backup", "create"], "backup-drill": ["backup", "drill"]}
    known = {command.name for command in backup_app.registered_commands}
    assert {"create", "drill"} <= known
    assert all(job["spec"]["concurrencyPolicy"] == "Forbid" for job in jobs.values())


def _container(job: dict[str, Any]) -> dict[str, Any]:
    container: dict[str, Any] = job["spec"]["jobTemplate"]["spec"]["template"]["spec"][
        "containers"
    ][0]
    return container


def test_the_pilot_light_region_schedules_no_backup() -> None:
    jobs = _cronjobs("overlays/multi-region")
    assert jobs
    assert all(job["spec"]["suspend"] is True for job in jobs.values())
