"""`intuitivus-flow backup ...`: create, list, verify, restore, prune and drill from the shell.

Every expected failure (a damaged backup, a non-empty target, an unreachable database or
bucket) is one line on stderr and exit code 2; a drill that finds a problem exits with 1.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from datetime import timedelta
from typing import Annotated, Any, TypeVar

import typer
from sqlalchemy.exc import DBAPIError, OperationalError

from intuitivus_flow.backup import service
from intuitivus_flow.backup.store import BackupStore, store_for
from intuitivus_flow.config import ConfigurationError, Settings, get_settings
from intuitivus_flow.kit.errors import FlowError

app = typer.Typer(
    help="Backups of the database, restore, and the restore drill.", no_args_is_help=True
)
T = TypeVar("T")
Reference = Annotated[
    str, typer.Argument(help="A backup's name (from `backup list`) or the path of a backup file.")
]


def _fail(message: str) -> typer.Exit:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    return typer.Exit(2)


def _run(work: Callable[[Settings, BackupStore], Coroutine[Any, Any, T]]) -> T:
    try:
        settings = get_settings()
        return asyncio.run(work(settings, store_for(settings)))
    except FlowError as exc:
        raise _fail(exc.detail) from None
    except ConfigurationError as exc:
        raise _fail(str(exc)) from None
    except (OperationalError, DBAPIError) as exc:
        reason = str(getattr(exc, "orig", None) or exc).splitlines()[0]
        raise _fail(f"database unavailable: {reason}") from None
    except OSError as exc:
        raise _fail(f"backup storage: {exc}") from None


def _duration(seconds: float) -> str:
    if seconds < 10:
        return f"{seconds:.2f} s"
    return f"{seconds:.1f} s" if seconds < 120 else str(timedelta(seconds=round(seconds)))


@app.command("create")
def create() -> None:
    """Back up the configured database, then apply the retention policy."""

    async def work(settings: Settings, store: BackupStore) -> None:
        created = await service.create_backup(settings, store)
        manifest = created.manifest
        typer.echo(
            f"{created.name}: {manifest.total_rows} rows in {len(manifest.tables)} tables, "
            f"{manifest.payload_bytes} bytes, in {_duration(created.seconds)} "
            f"-> {created.location}"
        )
        for name in await asyncio.to_thread(service.prune, store, service.policy_of(settings)):
            typer.echo(f"removed {name} (retention)")

    _run(work)


@app.command("list")
def list_backups() -> None:
    """List the backups, oldest first."""

    async def work(settings: Settings, store: BackupStore) -> None:
        backups = await asyncio.to_thread(store.list)
        if not backups:
            typer.echo(f"no backups in {store.description}")
        for item in backups:
            typer.echo(
                f"{item.name}  {item.created_at:%Y-%m-%d %H:%M:%S}Z  {item.engine:<10}  "
                f"{item.size:>12} bytes"
            )

    _run(work)


@app.command("verify")
def verify(reference: Reference) -> None:
    """Check a backup whole: archive, manifest, payload checksum, schema known to this version."""

    async def work(settings: Settings, store: BackupStore) -> None:
        manifest = await service.verify_backup(store, reference)
        typer.echo(
            f"ok: {manifest.engine} backup of {manifest.created_at:%Y-%m-%d %H:%M:%S}Z, "
            f"{manifest.total_rows} rows in {len(manifest.tables)} tables, migration "
            f"{','.join(manifest.migration_heads) or 'none'}, sha256 {manifest.payload_sha256}"
        )

    _run(work)


@app.command("restore")
def restore(
    reference: Reference,
    force: Annotated[
        bool, typer.Option("--force", help="Replace a database that already holds data.")
    ] = False,
) -> None:
    """Restore a backup into the configured database (stop the app first).

    The backup is checked and restored into a scratch database first; the configured one is
    replaced only when the copy matches the manifest."""

    async def work(settings: Settings, store: BackupStore) -> None:
        report = await service.restore_backup(settings, store, reference, force=force)
        typer.echo(
            f"restored {report.name}: {report.manifest.total_rows} rows in "
            f"{_duration(report.seconds)}"
        )

    _run(work)


@app.command("prune")
def prune() -> None:
    """Delete the backups the retention policy no longer keeps."""

    async def work(settings: Settings, store: BackupStore) -> None:
        removed = await asyncio.to_thread(service.prune, store, service.policy_of(settings))
        typer.echo("\n".join(f"removed {name}" for name in removed) or "nothing to remove")

    _run(work)


def print_drill(report: service.DrillReport) -> None:
    rpo = report.rpo_seconds
    typer.echo(f"drill of {report.name} ({report.engine})")
    typer.echo(f"  restored {report.rows} rows in {report.tables} tables")
    typer.echo(f"  RTO (restore duration): {_duration(report.restore_seconds)}")
    typer.echo(
        "  RPO (age of the newest restored row): "
        + ("no rows with a time" if rpo is None else _duration(rpo))
    )
    for problem in report.problems:
        typer.secho(f"  FAILED: {problem}", fg=typer.colors.RED, err=True)
    if report.ok:
        typer.secho("  passed", fg=typer.colors.GREEN)


@app.command("drill")
def drill(
    reference: Annotated[
        str | None, typer.Argument(help="Backup to drill (default: the newest).")
    ] = None,
) -> None:
    """Restore a backup into a scratch database, check it and print RTO and RPO."""

    async def work(settings: Settings, store: BackupStore) -> service.DrillReport:
        return await service.drill_and_record(settings, store, reference)

    report = _run(work)
    print_drill(report)
    if not report.ok:
        typer.secho(
            f"error: restore drill FAILED ({len(report.problems)} problems)",
            fg=typer.colors.RED,
            err=True,
        )
        raise typer.Exit(1)
