"""`intuitivus-flow analytics ...`: the analytics commands.

One Typer app for the whole analytics domain; each area adds its commands here (KPIs and CLV
below). Expected failures (a bad file, an unknown workspace) are one line on stderr and exit
code 2, never a traceback.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, date, datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from sqlalchemy.exc import DBAPIError, OperationalError

from intuitivus_flow.analytics import clv
from intuitivus_flow.config import ConfigurationError, Settings, get_settings
from intuitivus_flow.kit.db import create_engine, create_session_factory, unit_of_work

app = typer.Typer(help="Business analytics: KPIs, customer lifetime value.", no_args_is_help=True)


class OutputFormat(StrEnum):
    json = "json"
    text = "text"


def _fail(message: str) -> typer.Exit:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    return typer.Exit(2)


def _day(text: str) -> date:
    try:
        return datetime.fromisoformat(text).date()
    except ValueError:
        raise _fail(f"{text!r} is not a date (YYYY-MM-DD)") from None


@app.command("clv")
def clv_command(
    file: Annotated[
        Path,
        typer.Argument(
            help="Transactions: CDNOW's whitespace format (id, id, YYYYMMDD, count, amount) "
            "or a CSV customer_id,date,amount"
        ),
    ],
    calibration_end: Annotated[
        str, typer.Option(help="Last day of the calibration period (YYYY-MM-DD), inclusive")
    ],
    output: Annotated[
        OutputFormat, typer.Option("--format", help="json (machine) or text (a table)")
    ] = OutputFormat.json,
    penalizer: Annotated[
        float,
        typer.Option(
            min=0.0,
            help="Pull towards parameters of 1 for small data sets (0: plain maximum "
            f"likelihood; the product uses {clv.SMALL_DATA_PENALIZER})",
        ),
    ] = 0.0,
) -> None:
    """Fit BG/NBD and Gamma-Gamma to raw transactions and print their parameters."""
    end = _day(calibration_end)
    try:
        fitted = clv.fit(clv.read_transactions(file), calibration_end=end, penalizer=penalizer)
    except clv.ClvInputError as error:
        raise _fail(f"{file}: {error}") from None
    body = fitted.as_json()
    if output is OutputFormat.json:
        typer.echo(json.dumps(body, indent=2))
        return
    buyers = sum(1 for s in fitted.summaries if s.frequency > 0)
    typer.echo(f"{len(fitted.summaries)} customers, {buyers} with repeat purchases")
    for model, params in body.items():
        typer.echo(f"{model}:")
        for name, value in params.items():
            typer.echo(f"  {name:<15}{value:>14.4f}")


@app.command("kpis")
def kpis_command(
    workspace: Annotated[
        str | None,
        typer.Option(help="A workspace id: its marketing KPIs (default: the platform's)"),
    ] = None,
    month: Annotated[
        str | None, typer.Option(help="A day of the newest month (YYYY-MM-DD; default today)")
    ] = None,
    months: Annotated[int, typer.Option(min=1, max=36, help="Months shown")] = 6,
    output: Annotated[
        OutputFormat, typer.Option("--format", help="json (machine) or text (a table)")
    ] = OutputFormat.text,
) -> None:
    """The KPIs month by month: the platform's business, or one workspace's marketing."""
    last = _day(month) if month else datetime.now(UTC).date()
    workspace_id = None
    if workspace is not None:
        try:
            workspace_id = uuid.UUID(workspace)
        except ValueError:
            raise _fail(f"{workspace!r} is not a workspace id") from None
    try:
        body = asyncio.run(_kpis(get_settings(), workspace_id, last, months))
    except ConfigurationError as error:
        raise _fail(str(error)) from None
    except (OperationalError, DBAPIError, OSError) as error:
        raise _fail(f"database unavailable ({error.__class__.__name__})") from None
    if output is OutputFormat.json:
        typer.echo(json.dumps(body, indent=2, default=str))
        return
    # Flat columns for the terminal: the churn rates and MRR movements beside the month's KPIs.
    rows = [_flat(row) for row in body["months"]]
    if not rows:
        return
    columns = [name for name, value in rows[0].items() if not isinstance(value, dict)]
    typer.echo("  ".join(f"{name:>20}" for name in columns))
    for row in rows:
        typer.echo("  ".join(f"{_cell(row[name]):>20}" for name in columns))


def _flat(row: dict[str, Any]) -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for name, value in row.items():
        if isinstance(value, dict):
            flat.update({f"{name[:5]}.{key}"[:20]: item for key, item in value.items()})
        else:
            flat[name] = value
    return flat


def _cell(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


async def _kpis(
    settings: Settings, workspace_id: uuid.UUID | None, last: date, months: int
) -> dict[str, Any]:
    # Imported here: the clv command needs none of this. Every table is mapped already: the
    # top-level CLI imports the composition root before it mounts this group.
    from intuitivus_flow.analytics import kpis_service
    from intuitivus_flow.analytics.kpi_endpoints import platform_body, workspace_body

    engine = create_engine(settings)
    try:
        async with unit_of_work(create_session_factory(engine)) as session:
            if workspace_id is None:
                report = await kpis_service.compute_platform_report(
                    session, last=last, months=months
                )
                return platform_body(report).model_dump(mode="json")
            found = await kpis_service.compute_workspace_report(
                session, workspace_id, last=last, months=months
            )
            return workspace_body(found).model_dump(mode="json")
    finally:
        await engine.dispose()
