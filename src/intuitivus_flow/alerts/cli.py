"""``intuitivus-flow alerts``: check rule files and export them to Prometheus/Alertmanager.

Bad input (an invalid rule file, an unwritable directory) prints readable ``error:`` lines and
exits with status 2, like the rest of the CLI.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError

from intuitivus_flow.alerts.export.service import (
    PLACEHOLDER_WEBHOOK,
    ExportError,
    ExportOptions,
    export_prometheus,
)
from intuitivus_flow.alerts.rules import RulesError, RuleSet, load_rules
from intuitivus_flow.config import ConfigurationError, Settings

app = typer.Typer(
    help="Alerting: validate rule files, export them to Prometheus, evaluate detectors.",
    no_args_is_help=True,
)


class ExportFormat(StrEnum):
    prometheus = "prometheus"


@app.callback()
def _alerts() -> None:
    """Alert rules and their export to Prometheus and Alertmanager."""


def _fail(*lines: str) -> typer.Exit:
    for line in lines:
        typer.secho(f"error: {line}", fg=typer.colors.RED, err=True)
    return typer.Exit(2)


def _load(path: Path | None) -> RuleSet:
    try:
        return load_rules(path)
    except RulesError as exc:
        raise _fail(*str(exc).splitlines()) from None


def _pool_capacity_factor() -> float:
    """(pool size + max overflow) / pool size, from the same FLOW_* settings the app uses."""
    try:
        settings = Settings()
    except (ValidationError, ConfigurationError) as exc:
        raise _fail(f"settings: {str(exc).splitlines()[0]}") from None
    size = settings.database_pool_size
    return (size + settings.database_max_overflow) / size


@app.command()
def validate(
    rules: Annotated[Path, typer.Argument(help="Rule file (YAML) to check.")],
) -> None:
    """Check a rule file and print OK or every problem found."""
    loaded = _load(rules)
    typer.echo(
        f"OK: {rules}: {len(loaded.thresholds)} threshold rules, {len(loaded.slos)} SLOs, "
        f"{len(loaded.inhibitions)} inhibitions"
    )


@app.command()
def export(
    out: Annotated[Path, typer.Option("--out", "-o", help="Directory to write the files into.")],
    format_: Annotated[
        ExportFormat, typer.Option("--format", help="Target system.")
    ] = ExportFormat.prometheus,
    rules: Annotated[
        Path | None, typer.Option("--rules", help="Rule file (default: the packaged rules).")
    ] = None,
    webhook_url: Annotated[
        str,
        typer.Option(help="Alertmanager webhook for both receivers (a placeholder by default)."),
    ] = PLACEHOLDER_WEBHOOK,
    page_webhook_url: Annotated[
        str | None, typer.Option(help="Webhook of the `page` receiver (critical alerts).")
    ] = None,
    ticket_webhook_url: Annotated[
        str | None, typer.Option(help="Webhook of the `ticket` receiver (warning and info).")
    ] = None,
    runbook_base_url: Annotated[
        str | None,
        typer.Option(envvar="FLOW_RUNBOOK_BASE_URL", help="Make runbook links absolute."),
    ] = None,
) -> None:
    """Write recording and alerting rules, an Alertmanager config and promtool tests to OUT."""
    loaded = _load(rules)
    options = ExportOptions(
        page_webhook_url=page_webhook_url or f"{webhook_url.rstrip('/')}/page",
        ticket_webhook_url=ticket_webhook_url or f"{webhook_url.rstrip('/')}/ticket",
        runbook_base_url=runbook_base_url,
        db_pool_capacity_factor=_pool_capacity_factor(),
    )
    try:
        written = export_prometheus(loaded, out, options=options)
    except ExportError as exc:
        raise _fail(str(exc)) from None
    except OSError as exc:
        raise _fail(f"cannot write to {out}: {exc.strerror or exc}") from None
    for path in written:
        typer.echo(f"wrote {path}")
    typer.echo(f"check with: promtool test rules {out / 'tests' / 'alerting_rules_test.yml'}")
