"""``alerts`` sub-commands: evaluate a detector on a labelled corpus in the NAB layout."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from intuitivus_flow.predictive.corpus import CorpusError, open_corpus
from intuitivus_flow.predictive.detectors import UnknownDetectorError, available, get_detector
from intuitivus_flow.predictive.detectors.prophet_backend import ProphetMissingError
from intuitivus_flow.predictive.evaluation import EvaluationReport, SummaryRow, evaluate_corpus
from intuitivus_flow.predictive.scoring import DEFAULT_MERGE_GAP, DEFAULT_THRESHOLD

app = typer.Typer(
    help="Predictive alerting: evaluate anomaly detectors on labelled metric corpora.",
    no_args_is_help=True,
)


# Without a callback Typer would run the single command as the app itself; the lead mounts
# this as `intuitivus-flow alerts`, so `evaluate` must stay an explicit sub-command.
@app.callback()
def _alerts() -> None:
    """Predictive alerting commands."""


def _fail(message: str) -> typer.Exit:
    Console(stderr=True).print(
        f"[red]error:[/red] {escape(message)}", highlight=False, soft_wrap=True
    )
    return typer.Exit(code=2)


@app.command()
def evaluate(
    dataset: Annotated[
        Path, typer.Argument(help="Corpus root: data/<category>/<name>.csv + windows.json")
    ],
    detector: Annotated[str, typer.Option("--detector", "-d", help="Detector name")] = "default",
    out: Annotated[
        Path, typer.Option("--out", "-o", help="Where to write <category>/<name>.csv results")
    ] = Path("alerts-results"),
    threshold: Annotated[
        float, typer.Option(help="Score at or above which a row is a detection")
    ] = DEFAULT_THRESHOLD,
    merge_gap: Annotated[
        int, typer.Option(help="Detections at most this many rows apart form one alert")
    ] = DEFAULT_MERGE_GAP,
) -> None:
    """Run DETECTOR causally over every file of DATASET, write scores to OUT and print metrics."""
    try:
        chosen = get_detector(detector)
        corpus = open_corpus(dataset)
        total = corpus.total_points()
    except UnknownDetectorError as exc:
        raise _fail(str(exc)) from None
    except CorpusError as exc:
        raise _fail(str(exc)) from None
    # Wide enough for the metrics table even when stdout is not a terminal (CI logs, pipes).
    console = Console(width=max(Console().width, 120))
    progress = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("points"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    )
    try:
        with progress:
            task = progress.add_task(f"{chosen.name}", total=total)
            report = evaluate_corpus(
                dataset,
                chosen,
                out,
                threshold=threshold,
                merge_gap=merge_gap,
                on_file_done=lambda series: progress.advance(task, len(series)),
            )
    except (CorpusError, ProphetMissingError) as exc:
        raise _fail(str(exc)) from None
    except OSError as exc:
        raise _fail(f"cannot write results: {exc}") from None
    console.print(render_report(report))
    console.print(f"results written to {out}", highlight=False)


def render_report(report: EvaluationReport) -> Table:
    table = Table(title=f"detector: {report.detector}")
    table.add_column("category", no_wrap=True)
    for column in ("files", "alerts", "TP", "windows", "found", "P", "R", "F1", "s/10k pts"):
        table.add_column(column, justify="right", no_wrap=True)
    rows = [*report.categories(), report.overall()]
    for index, row in enumerate(rows):
        table.add_row(*_cells(row), end_section=index == len(rows) - 2)
    return table


def _cells(row: SummaryRow) -> list[str]:
    c = row.counts
    return [
        row.name,
        str(row.files),
        str(c.alerts),
        str(c.tp_alerts),
        str(c.windows),
        str(c.found),
        _fmt(c.precision),
        _fmt(c.recall),
        _fmt(c.f1),
        _fmt(row.seconds_per_10k_points, 4),
    ]


def _fmt(value: float, digits: int = 3) -> str:
    return "n/a" if math.isnan(value) else f"{value:.{digits}f}"


@app.command("detectors")
def list_detectors() -> None:
    """List the registered detector names."""
    for name in available():
        typer.echo(name)


if __name__ == "__main__":
    app()
