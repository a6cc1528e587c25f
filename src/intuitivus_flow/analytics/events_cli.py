"""`intuitivus-flow analytics` event commands: copy (and backfill) events into the store,
funnel, retention and paths from the terminal. Bad input is one readable line and exit code 2,
never a traceback."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import datetime
from typing import Annotated, Any

import typer
from pydantic import ValidationError

from intuitivus_flow.analytics.copy import copy_to_store
from intuitivus_flow.analytics.funnels import run_funnel
from intuitivus_flow.analytics.paths import run_paths
from intuitivus_flow.analytics.retention import run_retention
from intuitivus_flow.analytics.schemas import FunnelQuery, PathQuery, RetentionQuery
from intuitivus_flow.analytics.store import AnalyticsStore, StoreError, open_store
from intuitivus_flow.config import ConfigurationError, Settings, get_settings
from intuitivus_flow.kit.db import create_engine, create_session_factory

Workspace = Annotated[str, typer.Option("--workspace", help="Workspace id (UUID).")]
AsJson = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]


def _fail(message: str) -> typer.Exit:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    return typer.Exit(2)


def _settings() -> Settings:
    try:
        return get_settings()
    except ConfigurationError as exc:
        raise _fail(str(exc)) from None


def _store(settings: Settings) -> AnalyticsStore:
    try:
        return open_store(settings.resolved_analytics_url)
    except StoreError as exc:
        raise _fail(exc.detail) from None


def _workspace(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise _fail(f"--workspace {value!r} is not a UUID") from None


def _validated(model: Any, body: dict[str, Any]) -> Any:
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "input"
        raise _fail(f"{where}: {first['msg']}") from None


def copy_command(
    since: Annotated[
        str | None,
        typer.Option(
            help="Backfill: copy everything received since this ISO time (with "
            "offset), whatever the watermark; rows already in the store are skipped."
        ),
    ] = None,
) -> None:
    """Copy new events from the database into the analytics store (what the job does each
    minute); with --since, a backfill."""
    settings = _settings()
    start = None
    if since is not None:
        try:
            start = datetime.fromisoformat(since)
        except ValueError:
            raise _fail(f"--since {since!r} is not an ISO time") from None
        if start.tzinfo is None:
            raise _fail("--since needs a UTC offset (e.g. 2026-01-01T00:00:00Z)")
    store = _store(settings)

    async def run() -> dict[str, Any]:
        engine = create_engine(settings)
        try:
            report = await copy_to_store(
                create_session_factory(engine),
                store,
                batch_size=settings.analytics_copy_batch,
                since=start,
                progress=lambda source, n: typer.echo(f"  {source}: {n:,} copied", err=True),
            )
        finally:
            await engine.dispose()
        return report.as_dict()

    typer.echo(json.dumps(asyncio.run(run()), indent=2))


def funnel_command(
    workspace: Workspace,
    steps: Annotated[str, typer.Option(help="Comma-separated event names, in order.")],
    window_days: Annotated[float, typer.Option(help="Conversion window from step 1.")] = 14,
    order: Annotated[str, typer.Option(help="sequential, strict or any.")] = "sequential",
    as_json: AsJson = False,
) -> None:
    """A funnel of persons through the steps."""
    query = _validated(
        FunnelQuery,
        {
            "steps": [{"event": s.strip()} for s in steps.split(",") if s.strip()],
            "window_seconds": int(window_days * 86400),
            "order": order,
        },
    )
    result = run_funnel(_store(_settings()), _workspace(workspace), query)
    if as_json:
        typer.echo(result.model_dump_json(indent=2))
        return
    typer.echo(f"{'step':32} {'persons':>9} {'from 1st':>9} {'from prev':>9} {'median':>10}")
    for s in result.steps:
        median = (
            "" if s.median_seconds_to_convert is None else f"{s.median_seconds_to_convert:.0f} s"
        )
        typer.echo(
            f"{s.label[:32]:32} {s.count:>9,} {s.conversion_from_first:>9.1%} "
            f"{s.conversion_from_previous:>9.1%} {median:>10}"
        )


def retention_command(
    workspace: Workspace,
    start_event: Annotated[str, typer.Option(help="The cohort's event.")],
    return_event: Annotated[str | None, typer.Option(help="Default: the start event.")] = None,
    period: Annotated[str, typer.Option(help="day, week or month.")] = "week",
    periods: Annotated[int, typer.Option(help="Periods shown.")] = 8,
    as_json: AsJson = False,
) -> None:
    """First-time retention cohorts."""
    query = _validated(
        RetentionQuery,
        {
            "start_event": start_event,
            "return_event": return_event,
            "period": period,
            "periods": periods,
        },
    )
    result = run_retention(_store(_settings()), _workspace(workspace), query)
    if as_json:
        typer.echo(result.model_dump_json(indent=2))
        return
    for cohort in result.cohorts:
        cells = " ".join(f"{rate:>6.1%}" for rate in cohort.rates)
        typer.echo(f"{cohort.cohort} {cohort.size:>8,}  {cells}")


def paths_command(
    workspace: Workspace,
    start_event: Annotated[str | None, typer.Option(help="Follow from this event.")] = None,
    end_event: Annotated[str | None, typer.Option(help="Lead toward this event.")] = None,
    as_json: AsJson = False,
) -> None:
    """Top transitions in sessions (30 minutes idle splits a session)."""
    query = _validated(PathQuery, {"start_event": start_event, "end_event": end_event})
    result = run_paths(_store(_settings()), _workspace(workspace), query)
    if as_json:
        typer.echo(result.model_dump_json(indent=2))
        return
    for t in result.transitions:
        typer.echo(
            f"{t.step:>3} {t.source} -> {t.target}: {t.sessions:,} sessions, {t.persons:,} persons"
        )


def register_event_commands(app: typer.Typer) -> None:
    app.command("copy")(copy_command)
    app.command("funnel")(funnel_command)
    app.command("retention")(retention_command)
    app.command("paths")(paths_command)
