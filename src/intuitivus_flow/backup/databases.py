"""The two engines' backup and restore mechanics.

PostgreSQL: `pg_dump -Fc` under a snapshot exported by the transaction that also reads the
manifest's counts and checksums, so both describe the same instant; `pg_restore -j N` into a
scratch database, which replaces the target by renaming only once it checked out.
SQLite: the sqlite3 online backup API (consistent while the app writes; it restarts its copy
when a writer changes pages it had copied), then an atomic rename over the target file.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import sqlite3
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import URL, make_url, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from intuitivus_flow.backup.exceptions import BackupError, ToolMissing
from intuitivus_flow.backup.snapshot import DatabaseSnapshot, postgres_snapshot, sqlite_snapshot

DEBIAN_POSTGRES = Path("/usr/lib/postgresql")
MAINTENANCE_DATABASE = "postgres"


def engine_of(database_url: str) -> str:
    backend = make_url(database_url).get_backend_name()
    return "sqlite" if backend == "sqlite" else "postgresql"


def find_tool(name: str, bin_dir: Path | None) -> str:
    """A PostgreSQL client program: the configured directory, the PATH, then Debian's newest."""
    if bin_dir is not None:
        candidate = bin_dir / name
        if candidate.is_file():
            return str(candidate)
        raise ToolMissing(f"{name} not found in FLOW_BACKUP_PG_BIN_DIR={bin_dir}")
    found = shutil.which(name)
    if found:
        return found
    versions = sorted(DEBIAN_POSTGRES.glob("*/bin/" + name), key=lambda p: int(p.parts[-3]))
    if versions:
        return str(versions[-1])
    raise ToolMissing(
        f"{name} not found: install the PostgreSQL client or set FLOW_BACKUP_PG_BIN_DIR"
    )


@dataclass(frozen=True, slots=True)
class PostgresServer:
    """The server of the configured database, addressed with libpq's programs and asyncpg."""

    url: URL
    bin_dir: Path | None = None

    @classmethod
    def from_url(cls, database_url: str, bin_dir: Path | None = None) -> PostgresServer:
        return cls(make_url(database_url), bin_dir)

    @property
    def database(self) -> str:
        return str(self.url.database)

    def engine(self, database: str) -> AsyncEngine:
        # No pool: each use is one connection, and a pooled one would keep DROP DATABASE waiting.
        return create_async_engine(
            self.url.set(database=database), poolclass=NullPool, hide_parameters=True
        )

    def _libpq_args(self, database: str) -> list[str]:
        args = []
        host = self.url.host or self.url.query.get("host")
        if host:
            args += ["-h", str(host)]
        if self.url.port:
            args += ["-p", str(self.url.port)]
        if self.url.username:
            args += ["-U", self.url.username]
        return [*args, "-d", database]

    def _environment(self) -> dict[str, str]:
        env = dict(os.environ)
        if self.url.password:
            env["PGPASSWORD"] = str(self.url.password)
        return env

    async def _run(self, program: str, *args: str) -> None:
        process = await asyncio.create_subprocess_exec(
            find_tool(program, self.bin_dir),
            *args,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
            env=self._environment(),
        )
        _, stderr = await process.communicate()
        if process.returncode != 0:
            lines = [line for line in stderr.decode(errors="replace").splitlines() if line.strip()]
            reason = lines[0] if lines else f"exit status {process.returncode}"
            raise BackupError(f"{program} failed: {reason}")

    async def dump(self, destination: Path) -> DatabaseSnapshot:
        """`pg_dump -Fc` of the database and the manifest's reading of the same snapshot."""
        engine = self.engine(self.database)
        try:
            async with engine.connect() as connection:
                connection = await connection.execution_options(isolation_level="REPEATABLE READ")
                async with connection.begin():
                    exported = await connection.execute(text("SELECT pg_export_snapshot()"))
                    snapshot_id = str(exported.scalar_one())
                    dumping = asyncio.create_task(
                        self._run(
                            "pg_dump",
                            "--format=custom",
                            f"--snapshot={snapshot_id}",
                            f"--file={destination}",
                            *self._libpq_args(self.database),
                        )
                    )
                    try:
                        reading = await postgres_snapshot(connection)
                    finally:
                        await dumping  # the exported snapshot lives as long as this transaction
            return reading
        finally:
            await engine.dispose()

    async def restore(self, payload: Path, database: str, *, jobs: int) -> None:
        await self._run(
            "pg_restore",
            f"--jobs={jobs}",
            "--no-owner",
            "--no-privileges",
            "--exit-on-error",
            *self._libpq_args(database),
            str(payload),
        )

    async def snapshot(self, database: str) -> DatabaseSnapshot:
        engine = self.engine(database)
        try:
            async with engine.connect() as connection, connection.begin():
                return await postgres_snapshot(connection)
        finally:
            await engine.dispose()

    async def has_data(self, database: str) -> bool:
        if not await self.exists(database):
            return False
        engine = self.engine(database)
        try:
            async with engine.connect() as connection:
                return await _postgres_has_rows(connection)
        finally:
            await engine.dispose()

    @contextlib.asynccontextmanager
    async def _admin(self) -> AsyncIterator[AsyncConnection]:
        engine = self.engine(MAINTENANCE_DATABASE)
        try:
            async with engine.connect() as connection:
                yield await connection.execution_options(isolation_level="AUTOCOMMIT")
        finally:
            await engine.dispose()

    def _quote(self, name: str) -> str:
        return '"' + name.replace('"', '""') + '"'

    async def exists(self, database: str) -> bool:
        async with self._admin() as admin:
            query = text("SELECT 1 FROM pg_database WHERE datname = :name")
            return (await admin.execute(query, {"name": database})).first() is not None

    async def create_database(self, database: str) -> None:
        async with self._admin() as admin:
            await admin.execute(text(f"CREATE DATABASE {self._quote(database)}"))

    async def drop_database(self, database: str) -> None:
        async with self._admin() as admin:
            await admin.execute(
                text(f"DROP DATABASE IF EXISTS {self._quote(database)} WITH (FORCE)")
            )

    async def swap_in(self, scratch: str, target: str, retired: str) -> None:
        """Put `scratch` in `target`'s place; the old target is dropped once the swap is done.

        Sessions still on the target are ended first (a database in use cannot be renamed):
        the caller only gets here with an empty target or with --force."""
        async with self._admin() as admin:
            if await self.exists(target):
                await admin.execute(
                    text(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE datname = :name AND pid <> pg_backend_pid()"
                    ),
                    {"name": target},
                )
                await admin.execute(
                    text(f"ALTER DATABASE {self._quote(target)} RENAME TO {self._quote(retired)}")
                )
            await admin.execute(
                text(f"ALTER DATABASE {self._quote(scratch)} RENAME TO {self._quote(target)}")
            )
        await self.drop_database(retired)


async def _postgres_has_rows(connection: AsyncConnection) -> bool:
    quote = connection.dialect.identifier_preparer.quote
    tables = await connection.execute(
        text(
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p') "
            "AND NOT c.relispartition AND c.relname <> 'alembic_version'"
        )
    )
    for name in tables.scalars():
        query = f"SELECT EXISTS (SELECT 1 FROM {quote(name)})"  # noqa: S608  # nosec B608
        found = await connection.execute(text(query))
        if found.scalar():
            return True
    return False


# --- SQLite ------------------------------------------------------------------------------------


def sqlite_path(database_url: str) -> Path:
    database = make_url(database_url).database
    if not database or database == ":memory:":
        raise BackupError("an in-memory SQLite database cannot be backed up or restored")
    return Path(database)


def sqlite_online_backup(source: Path, destination: Path) -> None:
    """Copy a live database with the backup API (pages in steps, so writers are not starved)."""
    if not source.is_file():
        raise BackupError(f"no database at {source}")
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True, timeout=30)
    dst = sqlite3.connect(destination)
    try:
        src.backup(dst, pages=1024)
    finally:
        dst.close()
        src.close()


def sqlite_has_data(path: Path) -> bool:
    return path.is_file() and sqlite_snapshot(path).has_data


def sqlite_check_integrity(path: Path) -> None:
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        result = db.execute("PRAGMA integrity_check").fetchone()
    except sqlite3.DatabaseError as exc:
        raise BackupError(f"restored SQLite file unreadable: {exc}") from None
    finally:
        db.close()
    if result is None or result[0] != "ok":
        raise BackupError(f"restored SQLite file failed its integrity check: {result}")


def sqlite_swap_in(scratch: Path, target: Path) -> None:
    """Replace the target file atomically. The old file's WAL and shared-memory files go first:
    SQLite would otherwise replay the old database's WAL onto the restored one."""
    for suffix in ("-wal", "-shm", "-journal"):
        Path(str(target) + suffix).unlink(missing_ok=True)
    target.parent.mkdir(parents=True, exist_ok=True)
    scratch.replace(target)
