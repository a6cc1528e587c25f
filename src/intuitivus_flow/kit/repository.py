"""Query helpers every repository stands on.

Tenant isolation lives here: `WorkspaceRepository` adds the workspace filter to every statement
it builds, and domain repositories only ever extend `scoped()`. Nothing else in the code base
selects workspace data, so a request can never see another workspace's rows.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any, ClassVar, Generic, Protocol, TypeVar

from sqlalchemy import Select, func, inspect, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped

from intuitivus_flow.kit.errors import NotFound

# Re-exported: services and the HTTP paging dependency import them from here.
from intuitivus_flow.kit.pagination import MAX_PAGE_SIZE as MAX_PAGE_SIZE
from intuitivus_flow.kit.pagination import Page as Page


class HasId(Protocol):
    id: Mapped[uuid.UUID]


class HasWorkspace(HasId, Protocol):
    workspace_id: Mapped[uuid.UUID]


M = TypeVar("M", bound=HasId)
W = TypeVar("W", bound=HasWorkspace)


class Repository(Generic[M]):
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
        result = await self.session.execute(statement.limit(1))
        return result.scalars().first()

    async def all(self, statement: Select[M]) -> Sequence[M]:
        result = await self.session.execute(statement)
        return result.scalars().all()

    async def paginate(self, statement: Select[M], *, limit: int, offset: int) -> Page[M]:
        limit = max(1, min(limit, MAX_PAGE_SIZE))
        offset = max(0, offset)
        total = await self.session.scalar(
            select(func.count()).select_from(statement.order_by(None).subquery())
        )
        items = await self.all(statement.limit(limit).offset(offset))
        return Page(items=items, total=total or 0, limit=limit, offset=offset)

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
