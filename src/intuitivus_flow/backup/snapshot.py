"""What a database holds, read the same way at backup time and after a restore: per-table row
counts and checksums, the Alembic revision, the newest row's time (the drill's RPO)."""

from __future__ import annotations

import hashlib
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from intuitivus_flow.backup.manifest import TableStats

VERSION_TABLE = "alembic_version"
# Columns whose newest value tells how recent the data is (every domain table has one).
TIME_COLUMNS = ("created_at", "updated_at")


@dataclass(frozen=True, slots=True)
class DatabaseSnapshot:
    tables: dict[str, TableStats]
    migration_heads: list[str]
    newest_row_at: datetime | None

    @property
    def has_data(self) -> bool:
        return any(stats.rows for name, stats in self.tables.items() if name != VERSION_TABLE)


def _utc(value: Any) -> datetime | None:
    if value is None:
        return None
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _newest(values: list[datetime | None]) -> datetime | None:
    present = [value for value in values if value is not None]
    return max(present) if present else None


# --- PostgreSQL --------------------------------------------------------------------------------

_PG_TABLES = """
SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p') AND NOT c.relispartition
ORDER BY c.relname
"""
_PG_TIME_COLUMNS = """
SELECT table_name, column_name FROM information_schema.columns
WHERE table_schema = current_schema() AND column_name IN ('created_at', 'updated_at')
  AND data_type LIKE 'timestamp%'
"""


async def postgres_snapshot(connection: AsyncConnection) -> DatabaseSnapshot:
    """Read inside the caller's transaction (the one whose snapshot pg_dump shares).

    The row text depends on the session's time zone, so it is pinned to UTC."""
    await connection.execute(text("SET LOCAL TimeZone = 'UTC'"))
    quote = connection.dialect.identifier_preparer.quote
    names = list((await connection.execute(text(_PG_TABLES))).scalars())
    tables = {}
    for name in names:
        query = (
            "SELECT count(*), coalesce(md5(string_agg(md5(t::text), '' "  # noqa: S608  # nosec B608
            f"ORDER BY md5(t::text))), '') FROM {quote(name)} AS t"
        )
        row = (await connection.execute(text(query))).one()
        tables[name] = TableStats(rows=int(row[0]), checksum=str(row[1]))
    newest = []
    for table, column in (await connection.execute(text(_PG_TIME_COLUMNS))).all():
        if table in tables:
            latest = text(f"SELECT max({quote(column)}) FROM {quote(table)}")  # noqa: S608  # nosec B608
            newest.append(_utc((await connection.execute(latest)).scalar()))
    heads: list[str] = []
    if VERSION_TABLE in tables:
        versions = text(f"SELECT version_num FROM {VERSION_TABLE} ORDER BY 1")  # noqa: S608  # nosec B608
        heads = [str(value) for value in (await connection.execute(versions)).scalars()]
    return DatabaseSnapshot(tables, heads, _newest(newest))


# --- SQLite ------------------------------------------------------------------------------------


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _sqlite_table_stats(db: sqlite3.Connection, name: str) -> TableStats:
    # Rows come in no guaranteed order: sorting their digests makes the checksum independent
    # of the physical order a restore produces.
    digests = sorted(
        hashlib.sha256(repr(row).encode()).digest()
        for row in db.execute(f"SELECT * FROM {_quote(name)}")  # noqa: S608  # nosec B608
    )
    checksum = hashlib.sha256(b"".join(digests)).hexdigest() if digests else ""
    return TableStats(rows=len(digests), checksum=checksum)


def sqlite_snapshot(path: Path) -> DatabaseSnapshot:
    """Read a SQLite file (a backup copy or a restored file) that nobody else writes."""
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        names = [
            str(row[0])
            for row in db.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' "
                "AND name NOT LIKE 'sqlite_%' ORDER BY name"
            )
        ]
        tables = {name: _sqlite_table_stats(db, name) for name in names}
        newest = []
        for name in names:
            columns = {str(row[1]) for row in db.execute(f"PRAGMA table_info({_quote(name)})")}
            for column in TIME_COLUMNS:
                if column in columns:
                    query = f"SELECT max({_quote(column)}) FROM {_quote(name)}"  # noqa: S608  # nosec B608
                    newest.append(_utc(db.execute(query).fetchone()[0]))
        heads: list[str] = []
        if VERSION_TABLE in tables:
            query = f"SELECT version_num FROM {VERSION_TABLE} ORDER BY 1"  # noqa: S608  # nosec B608
            heads = [str(row[0]) for row in db.execute(query)]
        return DatabaseSnapshot(tables, heads, _newest(newest))
    finally:
        db.close()
