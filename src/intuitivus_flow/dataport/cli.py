"""`intuitivus-flow data export|import`: whole workspaces from the shell, with progress bars.

The shell has the database, so it acts as an owner of the workspace it names. Large imports
belong here rather than in the browser: no upload limit of a proxy, a progress bar per
entity, and the same validation and all-or-nothing transaction as the API (the web page queues
its imports on the job system instead; see dataport/tasks.py).
"""

from __future__ import annotations

import asyncio
import json
import os
import uuid
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from sqlalchemy.exc import DBAPIError, OperationalError

from intuitivus_flow.config import ConfigurationError, Settings, get_settings
from intuitivus_flow.dataport import service as dataport
from intuitivus_flow.dataport.exceptions import ImportRejected
from intuitivus_flow.dataport.schemas import ExportFormat, ImportResult
from intuitivus_flow.kit.db import create_engine, create_session_factory, unit_of_work
from intuitivus_flow.kit.errors import FlowError

app = typer.Typer(help="Export and import a workspace's data.", no_args_is_help=True)
T = TypeVar("T")
WorkspaceOption = Annotated[
    uuid.UUID, typer.Option("--workspace-id", help="The workspace to export or import into.")
]


def _fail(message: str) -> typer.Exit:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    return typer.Exit(2)


def _rejection_line(error: ImportRejected) -> str:
    first = error.errors[0]
    where = ":".join(str(part) for part in (first["file"], first["line"]) if part is not None)
    field = f" {first['field']}:" if first["field"] else ""
    place = f"{where}{field} " if where or field else ""
    return f"{error.detail} First: {place}{first['message']}"


def _run(work: Callable[[Settings], Coroutine[Any, Any, T]]) -> T:
    """Run one command; every expected failure becomes one line on stderr and exit code 2."""
    try:
        return asyncio.run(work(get_settings()))
    except ImportRejected as exc:
        raise _fail(_rejection_line(exc)) from None
    except FlowError as exc:
        raise _fail(exc.detail) from None
    except ConfigurationError as exc:
        raise _fail(str(exc)) from None
    except (OperationalError, DBAPIError) as exc:
        reason = str(getattr(exc, "orig", None) or exc).splitlines()[0]
        raise _fail(f"database unavailable: {reason}") from None
    except OSError as exc:
        raise _fail(f"{exc.strerror or exc}: {exc.filename or ''}".rstrip(": ")) from None


class _Bars:
    """One progress row per entity and phase, on stderr (stdout keeps the summary)."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.tasks: dict[str, Any] = {}

    def update(self, label: str, rows: int) -> None:
        if label not in self.tasks:
            self.tasks[label] = self.progress.add_task(label, total=None)
        self.progress.update(self.tasks[label], completed=rows)

    def export_row(self, entity: str, rows: int) -> None:
        self.update(f"export {entity}", rows)

    async def import_row(self, phase: str, entity: str, rows: int) -> None:
        self.update(f"{phase} {entity}", rows)


def _progress() -> Progress:
    return Progress(
        SpinnerColumn(),
        TextColumn("{task.description:<28}"),
        TextColumn("{task.completed:>10,.0f} rows"),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=False,
    )


@app.command("export")
def export_command(
    workspace_id: WorkspaceOption,
    out: Annotated[Path, typer.Option("--out", help="File to write (a .zip, or one file).")],
    export_format: Annotated[
        ExportFormat, typer.Option("--format", help="jsonl (zip) or csv (zip of CSVs).")
    ] = ExportFormat.jsonl,
    entity: Annotated[
        str | None, typer.Option(help="Only this entity, as a bare .csv or .jsonl file.")
    ] = None,
) -> None:
    """Write the workspace's data to FILE, streamed page by page."""

    async def work(settings: Settings) -> dict[str, int]:
        engine = create_engine(settings)
        partial = out.with_name(f".{out.name}.partial")
        try:
            sessions = create_session_factory(engine)
            async with unit_of_work(sessions) as session:
                principal = await dataport.operator_principal(session, workspace_id)
                plan = await dataport.plan_export(
                    session, principal, export_format=export_format, entity=entity
                )
            counts: dict[str, int] = {}
            with _progress() as progress, partial.open("wb") as target:
                bars = _Bars(progress)

                def seen(name: str, rows: int) -> None:
                    counts[name] = rows
                    bars.export_row(name, rows)

                async for chunk in dataport.stream_export(
                    sessions, plan, page_rows=settings.export_page_rows, progress=seen
                ):
                    target.write(chunk)
            # Only a complete export takes the name: a failure never leaves half a file there.
            os.replace(partial, out)
            return counts
        finally:
            partial.unlink(missing_ok=True)
            await engine.dispose()

    counts = _run(work)
    typer.echo(f"exported {sum(counts.values())} rows to {out}")


@app.command("import")
def import_command(
    file: Annotated[Path, typer.Argument(help="A zip made by the export.", exists=False)],
    workspace_id: WorkspaceOption,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Validate and count only; write nothing.")
    ] = False,
    report: Annotated[
        Path | None, typer.Option(help="Write every problem found to this JSON file.")
    ] = None,
) -> None:
    """Validate FILE completely, then add all its rows to the workspace (or none)."""

    async def work(settings: Settings) -> ImportResult:
        engine = create_engine(settings)
        try:
            with file.open("rb") as upload, _progress() as progress:
                async with unit_of_work(create_session_factory(engine)) as session:
                    principal = await dataport.operator_principal(session, workspace_id)
                    return await dataport.import_archive(
                        session,
                        principal,
                        upload=upload,
                        limits=dataport.limits_from(settings),
                        dry_run=dry_run,
                        progress=_Bars(progress).import_row,
                    )
        except ImportRejected as exc:
            if report is not None:
                report.write_text(json.dumps({"total": exc.total, "errors": exc.errors}, indent=1))
            raise
        finally:
            await engine.dispose()

    result = _run(work)
    verb = "would create" if result.dry_run else "created"
    details = ", ".join(f"{name} {count}" for name, count in result.created.items())
    typer.echo(f"{verb} {result.total} rows ({details})")
    if result.skipped:
        left_out = ", ".join(f"{name} {count}" for name, count in result.skipped.items())
        typer.echo(f"left out {left_out} (already connected to a workspace of this instance)")
