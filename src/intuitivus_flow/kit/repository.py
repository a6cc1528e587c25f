"""Query helpers every repository stands on.

Tenant isolation lives here. `WorkspaceRepository` runs every statement it executes with the
tenant's criteria attached to each workspace-owned table the statement reads or changes (in
joins, subqueries and aliases too), through SQLAlchemy's `with_loader_criteria`. Domain
repositories therefore never write `workspace_id == ...` themselves, and they execute only
through the base (`execute`, `scalar`, `first`, `all`, `count`, `stream`, `paginate`), never
through `self.session`; tests/kit/test_repository.py checks both over every repository module.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Sequence
from functools import cache, lru_cache
from typing import Any, ClassVar, Generic, Protocol, TypeVar, TypeVarTuple, overload

from sqlalchemy import Executable, Result, Select, Table, func, inspect, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, with_loader_criteria
from sqlalchemy.sql.dml import Insert
from sqlalchemy.sql.elements import ClauseElement
from sqlalchemy.sql.selectable import TypedReturnsRows
from sqlalchemy.sql.util import find_tables

from intuitivus_flow.kit.errors import NotFound
from intuitivus_flow.kit.models import Base

# Re-exported: services and the HTTP paging dependency import them from here.
from intuitivus_flow.kit.pagination import MAX_PAGE_SIZE as MAX_PAGE_SIZE
from intuitivus_flow.kit.pagination import Page as Page

STREAM_BATCH = 500


class HasId(Protocol):
    id: Mapped[uuid.UUID]


class HasWorkspace(HasId, Protocol):
    workspace_id: Mapped[uuid.UUID]


M = TypeVar("M", bound=HasId)
W = TypeVar("W", bound=HasWorkspace)
E = TypeVar("E", bound=Executable)
T = TypeVar("T")
Ts = TypeVarTuple("Ts")


class StatementRunner:
    """Runs statements through `restrict`, the one place a tenant's criteria are added."""

    session: AsyncSession

    def restrict(self, statement: E) -> E:
        """The statement as this object may run it; workspace-scoped runners narrow it to
        their tenant."""
        return statement

    @overload
    async def execute(self, statement: TypedReturnsRows[*Ts]) -> Result[*Ts]: ...

    @overload
    async def execute(self, statement: Executable) -> Result[*tuple[Any, ...]]: ...

    async def execute(self, statement: Executable) -> Result[*tuple[Any, ...]]:
        return await self.session.execute(self.restrict(statement))

    @overload
    async def scalar(self, statement: TypedReturnsRows[T]) -> T | None: ...

    @overload
    async def scalar(self, statement: Executable) -> Any: ...

    async def scalar(self, statement: Executable) -> Any:
        return await self.session.scalar(self.restrict(statement))


class Repository(StatementRunner, Generic[M]):
    """Plain data access for tables that belong to no workspace (or to the auth layer)."""

    model: ClassVar[type[Any]]
    not_found_message: ClassVar[str] = "Resource not found"

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    def scoped(self) -> Select[M]:
        return select(self.model)

    async def get(self, id: uuid.UUID) -> M | None:
        return await self.first(self.scoped().where(self.model.id == id))

    async def get_or_raise(self, id: uuid.UUID) -> M:
        found = await self.get(id)
        if found is None:
            raise NotFound(self.not_found_message)
        return found

    async def first(self, statement: Select[M]) -> M | None:
        result = await self.execute(statement.limit(1))
        return result.scalars().first()

    async def all(self, statement: Select[M]) -> Sequence[M]:
        result = await self.execute(statement)
        return result.scalars().all()

    async def count(self, statement: Select[Any] | None = None) -> int:
        """Rows the statement (by default `scoped()`) would return, ignoring its order."""
        source = self.scoped() if statement is None else statement
        counted = select(func.count()).select_from(source.order_by(None).subquery())
        return int(await self.scalar(counted) or 0)

    async def paginate(self, statement: Select[M], *, limit: int, offset: int) -> Page[M]:
        limit = max(1, min(limit, MAX_PAGE_SIZE))
        offset = max(0, offset)
        total = await self.count(statement)
        items = await self.all(statement.limit(limit).offset(offset))
        return Page(items=items, total=total, limit=limit, offset=offset)

    async def stream(
        self, statement: Select[M] | None = None, *, batch_size: int = STREAM_BATCH
    ) -> AsyncIterator[M]:
        """The statement's rows one by one, fetched `batch_size` at a time over a server-side
        cursor (PostgreSQL) so memory stays flat however many rows match."""
        source = self.scoped() if statement is None else statement
        runnable = self.restrict(source).execution_options(yield_per=batch_size)
        result = await self.session.stream_scalars(runnable)
        try:
            async for row in result:
                yield row
        finally:
            await result.close()

    async def get_for_update(self, id: uuid.UUID) -> M | None:
        """The row by id, locked until this transaction ends (see `first_for_update`)."""
        return await self.first_for_update(self.scoped().where(self.model.id == id))

    async def first_for_update(self, statement: Select[M], *, key_share: bool = False) -> M | None:
        """The first row, locked until this transaction ends (SELECT ... FOR UPDATE).

        `key_share` takes FOR NO KEY UPDATE on PostgreSQL, which leaves inserts of rows that
        reference this one free to proceed. SQLite has no row locks: the transaction takes the
        database's write lock instead (`hold_write_lock`).
        """
        await hold_write_lock(self.session)
        return await self.first(statement.with_for_update(key_share=key_share))

    async def add(self, instance: M) -> M:
        self.session.add(instance)
        await self.session.flush()
        return instance

    async def delete(self, instance: M) -> None:
        await self.session.delete(instance)
        await self.session.flush()

    async def add_unless_taken(self, instance: M, *, unique: Sequence[str]) -> M | None:
        """Insert `instance` unless a row with the same `unique` columns exists; that row's
        lookup is the caller's (None here).

        Race-free get-or-create: `INSERT ... ON CONFLICT DO NOTHING` on the unique constraint
        over `unique`. On PostgreSQL an insert racing a concurrent transaction's waits for it
        and does nothing once it committed; on SQLite the single writer orders them. No
        savepoint, which SQLite would commit on its own (docs/ARCHITECTURE.md, "SQLite and
        savepoints"), and no IntegrityError, which would answer a valid request with 409.
        """
        statement = (
            dialect_insert(self.session, self.model)
            .values(column_values(instance))
            .on_conflict_do_nothing(index_elements=list(unique))
            .returning(self.model.id)
        )
        inserted: uuid.UUID | None = (await self.session.execute(statement)).scalar()
        return None if inserted is None else await self.get(inserted)


class WorkspaceRepository(Repository[W]):
    """Data access for rows that belong to one workspace: every query is filtered by it."""

    def __init__(self, session: AsyncSession, workspace_id: uuid.UUID) -> None:
        super().__init__(session)
        self.workspace_id = workspace_id

    def scoped(self) -> Select[W]:
        return select(self.model).where(self.model.workspace_id == self.workspace_id)

    def restrict(self, statement: E) -> E:
        return restrict_to_workspace(statement, self.workspace_id)

    async def add(self, instance: W) -> W:
        # Rows are stamped with the repository's workspace, whatever the caller set.
        instance.workspace_id = self.workspace_id  # type: ignore[assignment]
        return await super().add(instance)

    async def add_unless_taken(self, instance: W, *, unique: Sequence[str]) -> W | None:
        instance.workspace_id = self.workspace_id  # type: ignore[assignment]
        return await super().add_unless_taken(instance, unique=unique)

    async def add_many(self, instances: Sequence[W]) -> None:
        for instance in instances:
            instance.workspace_id = self.workspace_id  # type: ignore[assignment]
        self.session.add_all(instances)
        await self.session.flush()


class WorkspaceQueries(StatementRunner):
    """Statements of one workspace over several tables (the dashboard's figures), restricted
    like a workspace repository's."""

    # Models this class is the only data access for: tables keyed without an id column of their
    # own, which a WorkspaceRepository cannot serve (the tenancy test counts them as scoped).
    owns: ClassVar[tuple[type[Any], ...]] = ()

    def __init__(self, session: AsyncSession, workspace_id: uuid.UUID) -> None:
        self.session = session
        self.workspace_id = workspace_id

    def restrict(self, statement: E) -> E:
        return restrict_to_workspace(statement, self.workspace_id)


def restrict_to_workspace(statement: E, workspace_id: uuid.UUID) -> E:
    """The statement with the workspace's criteria on every workspace-owned table it touches,
    wherever it appears (FROM, JOIN ... ON, subqueries, aliases). Inserts pass unchanged: the
    repository stamps the workspace on what it adds."""
    if isinstance(statement, Insert) or not isinstance(statement, ClauseElement):
        return statement
    owned = workspace_owned_entities(statement)
    if not owned:
        return statement
    restricted: E = statement.options(*(_tenant_criteria(entity, workspace_id) for entity in owned))
    return restricted


@lru_cache(maxsize=4096)
def _tenant_criteria(entity: Any, workspace_id: uuid.UUID) -> Any:
    # Built once per table and workspace: building the option costs about as much as the
    # statement it is attached to, and it is immutable, so statements can share it.
    return with_loader_criteria(entity, entity.workspace_id == workspace_id, include_aliases=True)


async def hold_write_lock(session: AsyncSession) -> None:
    """On SQLite, take the database's write lock now (BEGIN IMMEDIATE) rather than at the
    transaction's first write, so a read-then-write is one step; PostgreSQL locks rows instead
    (FOR UPDATE), so this does nothing there."""
    if session.get_bind().dialect.name != "sqlite":
        return
    connection = await session.connection()
    raw = await connection.get_raw_connection()
    # pysqlite opens a transaction only before its first write, so a transaction already
    # open here has written, and holds the write lock until it ends.
    if not getattr(raw.driver_connection, "in_transaction", False):
        await connection.exec_driver_sql("BEGIN IMMEDIATE")


def workspace_owned_entities(statement: ClauseElement) -> list[Any]:
    """The mapped classes with a `workspace_id` whose tables the statement reads or writes."""
    tables = find_tables(statement, check_columns=True, include_aliases=True, include_crud=True)
    # Columns of ORM attributes carry annotated copies of their table, never identical to
    # the mapper's, so tables are matched by their name.
    names = {table.fullname for table in tables if isinstance(table, Table)}
    owned = (_workspace_owned_class(name) for name in sorted(names))
    return [entity for entity in owned if entity is not None]


@cache
def _workspace_owned_class(table_name: str) -> Any:
    for mapper in Base.registry.mappers:
        table = mapper.local_table
        if isinstance(table, Table) and table.fullname == table_name:
            return mapper.class_ if "workspace_id" in table.c else None
    # An unmapped table gives the criteria nothing to attach to; one holding workspace rows
    # would go unfiltered, so the statement is refused rather than run.
    raise LookupError(f"{table_name} is not mapped: a workspace repository cannot restrict it")


def dialect_insert(session: AsyncSession, model: type[Any]) -> Any:
    """The engine's own INSERT construct, which knows ON CONFLICT (both engines have it)."""
    dialect = session.get_bind().dialect.name
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(model)


def column_values(instance: Any) -> dict[str, Any]:
    """An ORM instance's set attributes by column name; unset ones take the columns' defaults
    when inserted through Core."""
    values = {}
    for attribute in inspect(type(instance)).column_attrs:
        value = getattr(instance, attribute.key)
        if value is not None:
            values[attribute.columns[0].name] = value
    return values
