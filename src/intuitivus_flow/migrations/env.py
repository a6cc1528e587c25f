"""Alembic environment: async engine, batch mode on SQLite so ALTERs work there too."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.engine import Connection

from intuitivus_flow.config import Settings
from intuitivus_flow.kit.db import create_engine
from intuitivus_flow.kit.migrations import is_modelled
from intuitivus_flow.metrics_history.partitions import include_object as is_not_partition
from intuitivus_flow.models import Base

config = context.config
target_metadata = Base.metadata


def include_object(
    object_: object, name: str | None, type_: str, reflected: bool, compare_to: object | None
) -> bool:
    arguments = (object_, name, type_, reflected, compare_to)
    return is_not_partition(*arguments) and is_modelled(*arguments)


def _configure_and_run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        # The metrics table's monthly partitions and the optional trigram index exist only in
        # the database (see the hooks).
        include_object=include_object,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_online() -> None:
    settings: Settings = config.attributes.get("settings") or Settings()
    engine = create_engine(settings)
    async with engine.connect() as async_connection:
        await async_connection.run_sync(_configure_and_run)
        await async_connection.commit()
    await engine.dispose()


if context.is_offline_mode():
    raise SystemExit("Offline SQL generation is not supported; run against a database.")
if config.attributes.get("connection") is not None:
    # kit.migrations hands in a connection from the running event loop.
    _configure_and_run(config.attributes["connection"])
else:  # the `alembic` command line
    asyncio.run(_run_online())
