"""`intuitivus-flow analytics ...`: the analytics commands.

One Typer app for the whole analytics domain; each area adds its commands here (KPIs and CLV
below). Expected failures (a bad file, an unknown workspace) are one line on stderr and exit
code 2, never a traceback.
"""

from __future__ import annotations

import json
from datetime import date, datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from intuitivus_flow.analytics import clv

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
