"""Chaos Toolkit control (`"controls": [{"name": "environment", "provider": {"type": "python",
"module": "chaos.control", "arguments": {...}}}]`): starts the environment before the
experiment, and after it writes the report and tears everything down.

Arguments: `web_workers`, `job_worker`, `db_proxy` (see `chaos.environment.Options`) and
`targets` (what the summary's verdict checks). Reports go to `$CHAOS_REPORT_DIR`, default
`var/chaos/<UTC timestamp>/`, one folder per experiment.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from chaoslib.exceptions import InterruptExecution  # type: ignore[import-untyped]

from chaos import environment, report
from chaos.environment import REPO_ROOT, Options
from chaos.processes import ProcessError


def _flag(value: Any) -> bool:
    return str(value).lower() in {"true", "1", "yes"}


def before_experiment_control(
    context: dict[str, Any],
    web_workers: int | str = 2,
    job_worker: bool | str = False,
    db_proxy: bool | str = False,
    targets: dict[str, Any] | None = None,
    **_: Any,
) -> None:
    options = Options(
        web_workers=int(web_workers), job_worker=_flag(job_worker), db_proxy=_flag(db_proxy)
    )
    try:
        environment.start(options)
    except (environment.EnvironmentError_, ProcessError, OSError) as error:
        # Without this, Chaos Toolkit logs a failed control and runs the experiment anyway.
        raise InterruptExecution(f"cannot start the environment: {error}") from error


def after_experiment_control(
    context: dict[str, Any],
    state: dict[str, Any],
    targets: dict[str, Any] | None = None,
    configuration: dict[str, Any] | None = None,
    **_: Any,
) -> None:
    try:
        env = environment.current()
    except environment.EnvironmentError_:
        return  # it never started: the journal says why
    try:
        directory = report_dir() / _slug(context)
        directory.mkdir(parents=True, exist_ok=True)
        env.save_logs(directory)
        report.write(
            directory,
            experiment=context,
            journal=state,
            env=env,
            targets=targets or {},
            configuration=configuration or {},
        )
    finally:
        environment.release()


def report_dir() -> Path:
    configured = os.environ.get("CHAOS_REPORT_DIR")
    if configured:
        return Path(configured)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    return REPO_ROOT / "var" / "chaos" / stamp


def _slug(experiment: dict[str, Any]) -> str:
    tags = experiment.get("tags") or []
    for tag in tags:
        if str(tag).startswith("experiment-"):
            return str(tag)
    title = str(experiment.get("title", "experiment"))
    return "".join(c if c.isalnum() else "-" for c in title.lower())[:60]
