"""Backup, verify, restore and drill: the operations behind `intuitivus-flow backup ...` and the
daily job. Nothing here touches the configured database before the backup has been checked
whole: its payload's SHA-256, its manifest, its engine and its schema; a restore lands in a
scratch database (or file) first and replaces the target only once its tables match the
manifest.
"""

from __future__ import annotations

import asyncio
import secrets
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from intuitivus_flow import __version__
from intuitivus_flow.backup import archive
from intuitivus_flow.backup.databases import (
    PostgresServer,
    engine_of,
    sqlite_check_integrity,
    sqlite_has_data,
    sqlite_online_backup,
    sqlite_path,
    sqlite_swap_in,
)
from intuitivus_flow.backup.exceptions import (
    BackupCorrupt,
    BackupError,
    BackupFromNewerSchema,
    BackupNotFound,
    TargetNotEmpty,
    WrongEngine,
)
from intuitivus_flow.backup.invariants import broken_invariants
from intuitivus_flow.backup.manifest import Manifest, compare_tables
from intuitivus_flow.backup.retention import RetentionPolicy
from intuitivus_flow.backup.snapshot import DatabaseSnapshot, sqlite_snapshot
from intuitivus_flow.backup.status import DrillStatus, record_drill
from intuitivus_flow.backup.store import BackupStore, StoredBackup, backup_directory, backup_name
from intuitivus_flow.config import Settings
from intuitivus_flow.kit import migrations

PAYLOAD_NAMES = {"postgresql": "database.pgdump", "sqlite": "database.sqlite3"}


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class CreatedBackup:
    name: str
    manifest: Manifest
    seconds: float
    location: str


@dataclass(frozen=True, slots=True)
class RestoreReport:
    name: str
    manifest: Manifest
    seconds: float


@dataclass(slots=True)
class DrillReport:
    name: str
    engine: str
    backup_created_at: datetime
    restore_seconds: float = 0.0  # the measured RTO
    newest_row_at: datetime | None = None
    finished_at: datetime = field(default_factory=_now)
    rows: int = 0
    tables: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def rpo_seconds(self) -> float | None:
        """Age of the newest restored row: the data a disaster now would lose at most."""
        if self.newest_row_at is None:
            return None
        return max(0.0, (self.finished_at - self.newest_row_at).total_seconds())


# --- helpers ------------------------------------------------------------------------------------


def _scratch_dir(settings: Settings) -> tempfile.TemporaryDirectory[str]:
    # Beside the backups: the same file system, so moving an archive in is a rename.
    directory = backup_directory(settings)
    directory.mkdir(parents=True, exist_ok=True)
    return tempfile.TemporaryDirectory(prefix=".work-", dir=directory)


def unknown_revisions(heads: list[str]) -> list[str]:
    script = ScriptDirectory.from_config(migrations.alembic_config())
    unknown = []
    for revision in heads:
        try:
            if script.get_revision(revision) is None:
                unknown.append(revision)
        except CommandError:
            unknown.append(revision)
    return unknown


def check_restorable(manifest: Manifest, path: Path, engine: str) -> None:
    """Refuse what this version cannot restore, before anything is touched."""
    if manifest.engine != engine:
        raise WrongEngine(
            f"{path.name} is a {manifest.engine} backup and the configured database is "
            f"{engine}; nothing was changed"
        )
    unknown = unknown_revisions(manifest.migration_heads)
    if unknown:
        raise BackupFromNewerSchema(
            f"{path.name} comes from a newer schema (migration {', '.join(unknown)} is unknown "
            f"to version {__version__}); upgrade the application first; nothing was changed"
        )


def resolve(store: BackupStore, reference: str) -> Path:
    """A backup named in the store, or a path to an archive file."""
    path = Path(reference)
    if path.is_file():
        return path
    if path.name != reference or not reference.endswith(archive.SUFFIX):
        raise BackupNotFound(f"no backup file at {reference}")
    return store.fetch(reference)


def newest(store: BackupStore, engine: str | None = None) -> StoredBackup:
    backups = [item for item in store.list() if engine is None or item.engine == engine]
    if not backups:
        raise BackupNotFound(f"no backup in {store.description}")
    return backups[-1]


# --- create / list / verify / prune --------------------------------------------------------------


async def create_backup(
    settings: Settings, store: BackupStore, *, now: Callable[[], datetime] = _now
) -> CreatedBackup:
    started = time.perf_counter()
    url = settings.resolved_database_url
    engine = engine_of(url)
    created_at = now()
    with _scratch_dir(settings) as work:
        payload = Path(work) / PAYLOAD_NAMES[engine]
        if engine == "postgresql":
            reading = await PostgresServer.from_url(url, settings.backup_pg_bin_dir).dump(payload)
        else:
            await asyncio.to_thread(sqlite_online_backup, sqlite_path(url), payload)
            # Counted from the copy itself: the live file may have changed since.
            reading = await asyncio.to_thread(sqlite_snapshot, payload)
        manifest = Manifest(
            app_version=__version__,
            engine="postgresql" if engine == "postgresql" else "sqlite",
            migration_heads=reading.migration_heads,
            created_at=created_at,
            newest_row_at=reading.newest_row_at,
            payload_name=payload.name,
            payload_sha256=await asyncio.to_thread(archive.file_sha256, payload),
            payload_bytes=payload.stat().st_size,
            tables=reading.tables,
        )
        name = backup_name(engine, created_at)
        packed = Path(work) / name
        await asyncio.to_thread(archive.write_archive, packed, manifest, payload)
        await asyncio.to_thread(store.put, packed, name)
    return CreatedBackup(name, manifest, time.perf_counter() - started, store.description)


async def verify_backup(store: BackupStore, reference: str) -> Manifest:
    path = await asyncio.to_thread(resolve, store, reference)
    try:
        manifest = await asyncio.to_thread(archive.verify, path)
    finally:
        store.release(path)
    unknown = unknown_revisions(manifest.migration_heads)
    if unknown:
        raise BackupFromNewerSchema(
            f"{path.name} is intact but comes from a newer schema (migration "
            f"{', '.join(unknown)} is unknown to version {__version__})"
        )
    return manifest


def prune(store: BackupStore, policy: RetentionPolicy) -> list[str]:
    """Delete the backups the policy no longer keeps; returns their names."""
    expired = policy.expired(store.list())
    for item in expired:
        store.delete(item.name)
    return [item.name for item in expired]


def policy_of(settings: Settings) -> RetentionPolicy:
    return RetentionPolicy(settings.backup_keep_daily, settings.backup_keep_weekly)


# --- restore -----------------------------------------------------------------------------------


async def restore_backup(
    settings: Settings, store: BackupStore, reference: str, *, force: bool = False
) -> RestoreReport:
    url = settings.resolved_database_url
    engine = engine_of(url)
    path = await asyncio.to_thread(resolve, store, reference)
    try:
        manifest = await asyncio.to_thread(archive.read_manifest, path)
        check_restorable(manifest, path, engine)
        started = time.perf_counter()
        with _scratch_dir(settings) as work:
            payload = await asyncio.to_thread(archive.extract_payload, path, manifest, Path(work))
            if engine == "postgresql":
                await _restore_postgres(settings, manifest, payload, force=force)
            else:
                await _restore_sqlite(url, manifest, payload, Path(work), force=force)
    finally:
        store.release(path)
    return RestoreReport(path.name, manifest, time.perf_counter() - started)


def _refuse_non_empty(where: str) -> TargetNotEmpty:
    return TargetNotEmpty(
        f"{where} already holds data; restore replaces all of it: add --force to do that; "
        "nothing was changed"
    )


def _mismatch(manifest: Manifest, found: DatabaseSnapshot) -> list[str]:
    return compare_tables(manifest.tables, found.tables)


async def _restore_postgres(
    settings: Settings, manifest: Manifest, payload: Path, *, force: bool
) -> None:
    server = PostgresServer.from_url(settings.resolved_database_url, settings.backup_pg_bin_dir)
    target = server.database
    if not force and await server.has_data(target):
        raise _refuse_non_empty(f"database {target}")
    scratch = f"{target}_restore_{secrets.token_hex(4)}"
    await server.create_database(scratch)
    try:
        await server.restore(payload, scratch, jobs=settings.backup_restore_jobs)
        problems = _mismatch(manifest, await server.snapshot(scratch))
        if problems:
            raise BackupCorrupt(f"restored copy differs from the manifest: {problems[0]}")
        await server.swap_in(scratch, target, retired=f"{target}_retired_{secrets.token_hex(4)}")
    except BaseException:
        await server.drop_database(scratch)
        raise


async def _restore_sqlite(
    url: str, manifest: Manifest, payload: Path, work: Path, *, force: bool
) -> None:
    target = sqlite_path(url)
    if not force and await asyncio.to_thread(sqlite_has_data, target):
        raise _refuse_non_empty(f"database file {target}")
    await asyncio.to_thread(sqlite_check_integrity, payload)
    problems = _mismatch(manifest, await asyncio.to_thread(sqlite_snapshot, payload))
    if problems:
        raise BackupCorrupt(f"restored copy differs from the manifest: {problems[0]}")
    # The scratch copy must sit on the target's file system for the rename to be atomic.
    target.parent.mkdir(parents=True, exist_ok=True)
    staged = target.with_name(f".{target.name}.restore-{secrets.token_hex(4)}")
    try:
        await asyncio.to_thread(payload.replace, staged)
    except OSError:
        import shutil

        await asyncio.to_thread(shutil.copyfile, payload, staged)
    await asyncio.to_thread(sqlite_swap_in, staged, target)


# --- drill -------------------------------------------------------------------------------------


async def run_drill(
    settings: Settings, store: BackupStore, reference: str | None = None
) -> DrillReport:
    """Restore a backup (default: the newest of this engine) into a scratch database, check it
    and measure it; the configured database is only read from, never written."""
    url = settings.resolved_database_url
    engine = engine_of(url)
    if reference is None:
        reference = newest(store, engine).name
    started = time.perf_counter()  # the RTO counts the download too
    path = await asyncio.to_thread(resolve, store, reference)
    try:
        manifest = await asyncio.to_thread(archive.read_manifest, path)
        check_restorable(manifest, path, engine)
        report = DrillReport(path.name, engine, manifest.created_at)
        with _scratch_dir(settings) as work:
            payload = await asyncio.to_thread(archive.extract_payload, path, manifest, Path(work))
            if engine == "postgresql":
                await _drill_postgres(settings, manifest, payload, report, started)
            else:
                await _drill_sqlite(manifest, payload, report, started)
    finally:
        store.release(path)
    report.finished_at = _now()
    return report


async def _check_restored(
    engine: AsyncEngine, manifest: Manifest, found: DatabaseSnapshot, report: DrillReport
) -> None:
    report.newest_row_at = found.newest_row_at
    report.rows = sum(stats.rows for stats in found.tables.values())
    report.tables = len(found.tables)
    report.problems += _mismatch(manifest, found)
    # The migrations check: this version must be able to bring the restored schema to its head.
    try:
        await migrations.upgrade(engine)
        current, revision, head = await migrations.is_current(engine)
        if not current:
            report.problems.append(f"restored schema at {revision}, not at the head {head}")
    except Exception as exc:  # a failed upgrade is the drill's finding, not a crash
        report.problems.append(f"migrating the restored database failed: {exc}")
        return
    async with engine.connect() as connection:
        report.problems += await broken_invariants(connection)


async def _drill_postgres(
    settings: Settings, manifest: Manifest, payload: Path, report: DrillReport, started: float
) -> None:
    server = PostgresServer.from_url(settings.resolved_database_url, settings.backup_pg_bin_dir)
    scratch = f"{server.database}_drill_{secrets.token_hex(4)}"
    await server.create_database(scratch)
    try:
        await server.restore(payload, scratch, jobs=settings.backup_restore_jobs)
        report.restore_seconds = time.perf_counter() - started
        found = await server.snapshot(scratch)
        engine = server.engine(scratch)
        try:
            await _check_restored(engine, manifest, found, report)
        finally:
            await engine.dispose()
    finally:
        await server.drop_database(scratch)


async def _drill_sqlite(
    manifest: Manifest, payload: Path, report: DrillReport, started: float
) -> None:
    await asyncio.to_thread(sqlite_check_integrity, payload)
    report.restore_seconds = time.perf_counter() - started
    found = await asyncio.to_thread(sqlite_snapshot, payload)
    engine = create_async_engine(f"sqlite+aiosqlite:///{payload}", poolclass=NullPool)
    try:
        await _check_restored(engine, manifest, found, report)
    finally:
        await engine.dispose()


async def drill_and_record(
    settings: Settings, store: BackupStore, reference: str | None = None
) -> DrillReport:
    """Run the drill and leave its outcome in the store for the backup alerts; a drill that
    could not even start (no backup, a damaged one) is recorded as failed, then re-raised."""
    try:
        report = await run_drill(settings, store, reference)
    except BackupError as exc:
        failed = DrillStatus(
            backup=reference or "",
            finished_at=_now(),
            ok=False,
            restore_seconds=0.0,
            rpo_seconds=None,
            problems=[exc.detail],
        )
        await asyncio.to_thread(record_drill, store, failed)
        raise
    status = DrillStatus(
        backup=report.name,
        finished_at=report.finished_at,
        ok=report.ok,
        restore_seconds=report.restore_seconds,
        rpo_seconds=report.rpo_seconds,
        problems=report.problems,
    )
    await asyncio.to_thread(record_drill, store, status)
    return report
