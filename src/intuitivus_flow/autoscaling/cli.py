"""`intuitivus-flow autoscale simulate TRACE`: replay a load trace through the HPA algorithm."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from intuitivus_flow.autoscaling import manifest
from intuitivus_flow.autoscaling.report import LEGEND
from intuitivus_flow.autoscaling.service import compare
from intuitivus_flow.autoscaling.simulation import SimulationParameters
from intuitivus_flow.autoscaling.trace import TraceError, load_trace

app = typer.Typer(help="Autoscaling: simulate the HPA on load traces.", no_args_is_help=True)


@app.command("simulate")
def simulate_command(
    trace: Annotated[Path, typer.Argument(help="CSV (time,rps) or JSON load trace.")],
    startup_seconds: Annotated[
        float,
        typer.Option(help="Seconds from a scale decision to the new pod ready (serve to /ready)."),
    ] = 10.0,
    hpa: Annotated[
        Path,
        typer.Option(
            help="HPA manifest giving bounds, target and behavior (default: the repository's)."
        ),
    ] = manifest.WEB_HPA,
    scrape_seconds: Annotated[
        int, typer.Option(help="Prometheus scrape interval (the ServiceMonitor's).")
    ] = manifest.SCRAPE_SECONDS,
    rate_window_seconds: Annotated[
        int, typer.Option(help="Window of the adapter rule's irate().")
    ] = 60,
) -> None:
    """Time to scale decision and to ready capacity per rising stage, reactive vs predictive."""
    try:
        loaded = load_trace(trace)
        params = SimulationParameters.from_manifest(
            hpa,
            startup_seconds=startup_seconds,
            scrape_seconds=scrape_seconds,
            rate_window_seconds=rate_window_seconds,
        )
    except (TraceError, manifest.ManifestError, OSError) as exc:
        typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
        raise typer.Exit(2) from exc
    comparison = compare(loaded, params)
    typer.echo(comparison.table())
    peaks = ", ".join(f"{mode} {count}" for mode, count in comparison.peak_replicas.items())
    typer.echo(f"peak replicas: {peaks}")
    typer.echo(LEGEND)
