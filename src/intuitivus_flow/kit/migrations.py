"""Alembic driven from code, so the installed package migrates itself (`intuitivus-flow db ...`)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from intuitivus_flow.config import Settings

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"


def alembic_config(settings: Settings | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["settings"] = settings
    return config


# Domains developed side by side may each add a migration branch; Alembic applies every head
# ("heads") and a merge revision joins them later. Revisions are reported as "a,b" (sorted).


def head_revision() -> str | None:
    heads = ScriptDirectory.from_config(alembic_config()).get_heads()
    return ",".join(sorted(heads)) or None


def current_revision(connection: Connection) -> str | None:
    heads = MigrationContext.configure(connection).get_current_heads()
    return ",".join(sorted(heads)) or None


def _run_on_connection(connection: Connection, action: str, revision: str) -> None:
    config = alembic_config()
    config.attributes["connection"] = connection
    getattr(command, action)(config, revision)


# Alembic begins and commits the transaction itself (the connection is handed over outside
# one): a migration's `autocommit_block` (CREATE INDEX CONCURRENTLY) asserts otherwise.


async def upgrade(engine: AsyncEngine, revision: str = "heads") -> None:
    async with engine.connect() as connection:
        await connection.run_sync(_run_on_connection, "upgrade", revision)
        await connection.commit()


async def downgrade(engine: AsyncEngine, revision: str) -> None:
    async with engine.connect() as connection:
        await connection.run_sync(_run_on_connection, "downgrade", revision)
        await connection.commit()


def create_index_online(name: str, table: str, definition: str) -> None:
    """`CREATE INDEX name ON table definition` from a migration; on PostgreSQL CONCURRENTLY, so
    building it on a large table holds no lock against writes. `definition` is what follows
    the table: `(a, b)`, or `USING gin (lower(name) gin_trgm_ops)` (PostgreSQL only).

    The concurrent build runs outside the migration's transaction (Alembic's autocommit
    block): the revisions before it are committed first. A build that failed leaves an
    INVALID index of the same name, which IF NOT EXISTS would keep, so that one goes first."""
    from alembic import op

    if op.get_bind().dialect.name != "postgresql":
        op.execute(f"CREATE INDEX IF NOT EXISTS {name} ON {table} {definition}")
        return
    with op.get_context().autocommit_block():
        invalid = op.get_bind().execute(
            text(
                "SELECT 1 FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
                "WHERE c.relname = :name AND c.relnamespace = current_schema()::regnamespace "
                "AND NOT i.indisvalid"
            ),
            {"name": name},
        )
        if invalid.first() is not None:
            op.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {name}")
        op.execute(f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {name} ON {table} {definition}")


def drop_index_online(name: str) -> None:
    """DROP INDEX from a migration; on PostgreSQL CONCURRENTLY (no lock against writes)."""
    from alembic import op

    if op.get_bind().dialect.name != "postgresql":
        op.execute(f"DROP INDEX IF EXISTS {name}")
        return
    with op.get_context().autocommit_block():
        op.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {name}")


async def is_current(engine: AsyncEngine) -> tuple[bool, str | None, str | None]:
    async with engine.connect() as connection:
        current = await connection.run_sync(current_revision)
    head = head_revision()
    return current == head, current, head


# Indexes a migration creates only where the database can (PostgreSQL with pg_trgm), so no
# model declares them: model comparison (autogenerate, the drift test) leaves them out.
DATABASE_ONLY_INDEXES = frozenset({"ix_contacts_name_email_phone_trgm"})


def is_modelled(
    object_: object, name: str | None, type_: str, reflected: bool, compare_to: object | None
) -> bool:
    """Alembic `include_object` rule: False for a database-only index (see above)."""
    return not (
        type_ == "index" and reflected and compare_to is None and name in DATABASE_ONLY_INDEXES
    )
