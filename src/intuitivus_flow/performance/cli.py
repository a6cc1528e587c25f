"""`intuitivus-flow perf analyze`: the ranked report from the command line.

The command builds the app in its own process (the composition root hands `create_app` and
a way to sign an operator in, both above this layer), so the database, Redis and the pages
are the instance's own. Request metrics live in the serving processes: the command reads them
from the workers' metric files (`serve --workers N`), or from `--metrics-url` (a running
server's `/metrics`, with `FLOW_METRICS_TOKEN`); without either it says so.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable, Iterable
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
from prometheus_client import CollectorRegistry
from prometheus_client.metrics_core import Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.parser import text_string_to_metric_families
from pydantic import ValidationError
from rich.console import Console

from intuitivus_flow.alerts.rules import parse_duration
from intuitivus_flow.config import ConfigurationError, Settings, get_settings
from intuitivus_flow.observability.metrics import collect_registry
from intuitivus_flow.performance.analyze import Analysis, Instance, analyze
from intuitivus_flow.performance.findings import Area, AreaReport
from intuitivus_flow.performance.report import Format, print_analysis, render

MULTIPROC_DIRNAME = "prometheus-multiproc"  # serving.py's directory under FLOW_DATA_DIR
SCRAPE_TIMEOUT_SECONDS = 5.0
# The app's pages, signed in as an operator when one exists: (app) -> client or None.
PageOpener = Callable[[Any], contextlib.AbstractAsyncContextManager[httpx.AsyncClient | None]]


class MetricsUnavailable(Exception):
    pass


def scrape(url: str, token: str | None) -> list[Metric]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        response = httpx.get(url, headers=headers, timeout=SCRAPE_TIMEOUT_SECONDS)
    except httpx.HTTPError as exc:
        raise MetricsUnavailable(f"cannot read {url}: {type(exc).__name__}") from exc
    if response.status_code != 200:
        raise MetricsUnavailable(f"{url} answered {response.status_code}")
    return list(text_string_to_metric_families(response.text))


def worker_metrics(data_dir: Path) -> Callable[[], Iterable[Metric]] | None:
    """The serving workers' metrics, when `serve --workers N` keeps its files here."""
    directory = data_dir / MULTIPROC_DIRNAME
    if not directory.is_dir() or not any(directory.glob("*.db")):
        return None

    def collect() -> Iterable[Metric]:
        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=str(directory))  # type: ignore[no-untyped-call]
        return registry.collect()

    return collect


def build_cli(create_app: Callable[[Settings], Any], open_pages: PageOpener) -> typer.Typer:
    cli = typer.Typer(help="Performance: find the bottlenecks of this instance.")

    @cli.callback()
    def perf() -> None:
        """Performance analysis (issue 18); `perf analyze` ranks the bottlenecks."""

    @cli.command("analyze")
    def analyze_command(
        window: Annotated[
            str, typer.Option(help="How far back to look (Prometheus syntax: 15m, 1h, 1d).")
        ] = "1h",
        fmt: Annotated[
            Format, typer.Option("--format", help="table (terminal), md, html or json.")
        ] = Format.table,
        output: Annotated[
            Path | None, typer.Option(help="Write the report to this file instead of stdout.")
        ] = None,
        metrics_url: Annotated[
            str | None,
            typer.Option(help="A running server's /metrics to read request metrics from."),
        ] = None,
        pages: Annotated[
            bool, typer.Option(help="Fetch the app's pages (web area), signed in as an operator.")
        ] = True,
    ) -> None:
        """Ranked bottlenecks with evidence and recommendations: endpoints, database, cache,
        jobs, process and web pages."""
        try:
            span = parse_duration(window)
            if span <= timedelta(0):
                raise ValueError("the window must be longer than zero")
            settings = get_settings()
        except ValidationError as exc:  # one line per setting, never the whole pydantic dump
            problem = exc.errors()[0]
            where = ".".join(str(part) for part in problem["loc"]) or "settings"
            typer.secho(f"error: FLOW_{where.upper()}: {problem['msg']}", fg="red", err=True)
            raise typer.Exit(2) from None
        except (ValueError, ConfigurationError) as exc:
            typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
            raise typer.Exit(2) from None
        started = time.perf_counter()
        try:
            analysis = asyncio.run(
                _run(settings, create_app, open_pages, span, metrics_url, pages=pages)
            )
        except MetricsUnavailable as exc:
            typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
            raise typer.Exit(2) from None
        _emit(analysis, fmt, output)
        typer.secho(f"analysed in {time.perf_counter() - started:.2f} s", err=True, dim=True)

    return cli


async def _run(
    settings: Settings,
    create_app: Callable[[Settings], Any],
    open_pages: PageOpener,
    window: timedelta,
    metrics_url: str | None,
    *,
    pages: bool,
) -> Analysis:
    app = create_app(settings)
    context = app.state.context
    observability = app.state.observability
    metrics = _metrics_source(settings, metrics_url, observability.metrics.registry)
    workers = settings.data_dir / MULTIPROC_DIRNAME
    progress = Console(stderr=True)
    try:
        async with _pages(open_pages, app, enabled=pages) as client:
            instance = Instance(
                engine=context.engine,
                redis=context.redis,
                metrics=metrics,
                flow_metrics=observability.metrics,
                pages=client,
                signed_in=client is not None and bool(client.cookies),
                in_server=False,
                workers_dir=str(workers) if workers.is_dir() else None,
            )
            return await analyze(instance, window=window, progress=_progress(progress))
    finally:
        await context.close()


@contextlib.asynccontextmanager
async def _pages(
    open_pages: PageOpener, app: Any, *, enabled: bool
) -> AsyncIterator[httpx.AsyncClient | None]:
    if not enabled:
        yield None
        return
    async with open_pages(app) as client:
        yield client


def _metrics_source(
    settings: Settings, metrics_url: str | None, registry: CollectorRegistry
) -> Callable[[], Iterable[Metric]]:
    if metrics_url:
        token = settings.metrics_token.get_secret_value() if settings.metrics_token else None
        scraped = scrape(metrics_url, token)  # once, before the analysis: a bad URL fails fast
        return lambda: scraped
    workers = worker_metrics(settings.data_dir)
    if workers is not None:
        return workers
    return lambda: collect_registry(registry).collect()


def _progress(console: Console) -> Callable[[Area, AreaReport | None], None]:
    started: dict[Area, float] = {}

    def report(area: Area, done: AreaReport | None) -> None:
        if done is None:
            started[area] = time.perf_counter()
            console.print(f"[dim]analysing {area.value}...[/]")
            return
        seconds = time.perf_counter() - started.get(area, time.perf_counter())
        note = f", {len(done.skipped)} not analysed" if done.skipped else ""
        console.print(
            f"[dim]{area.value}: {len(done.findings)} findings{note} ({seconds:.2f} s)[/]"
        )

    return report


def _emit(analysis: Analysis, fmt: Format, output: Path | None) -> None:
    if output is not None:
        try:
            output.write_text(render(analysis, fmt), encoding="utf-8")
        except OSError as exc:
            typer.secho(f"error: cannot write {output}: {exc.strerror}", fg=typer.colors.RED)
            raise typer.Exit(2) from None
        typer.echo(f"report written to {output}")
        return
    if fmt is Format.table:
        print_analysis(analysis, Console())
    else:
        typer.echo(render(analysis, fmt))
