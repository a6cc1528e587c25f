"""The SQL of export and import, over each domain's own `WorkspaceRepository`.

Every statement starts from the domain repository's `scoped()`, so the workspace filter is
the same one the domain's API uses; inserts are stamped with the repository's workspace.
Reads select plain columns (no ORM objects, no eager loads), so a page costs its rows only.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import ColumnElement, RowMapping, func, insert, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from intuitivus_flow.dataport.registry import EntitySpec
from intuitivus_flow.kit.cache import TOUCHED_KEY

# IN lists stay well under SQLite's and asyncpg's parameter limits.
LOOKUP_CHUNK = 500


class PortableRows:
    """One entity of one workspace: pages out, bulk in, and the lookups validation needs."""

    def __init__(self, session: AsyncSession, spec: EntitySpec, workspace_id: uuid.UUID) -> None:
        self.spec = spec
        self.session = session
        self.repository = spec.repository(session, workspace_id)

    def _after(self, key: Sequence[Any]) -> ColumnElement[bool]:
        columns = [self.spec.column(name) for name in self.spec.order_by]
        if len(columns) == 1:
            after: ColumnElement[bool] = columns[0] > key[0]
            return after
        return tuple_(*columns) > tuple_(*key)

    async def pages(self, size: int) -> AsyncIterator[Sequence[RowMapping]]:
        """Keyset pages in `order_by` order: each query starts after the last row seen, so a
        page costs the same at the end of a large table as at its start (no OFFSET)."""
        order = [self.spec.column(name) for name in self.spec.order_by]
        wanted = {*self.spec.fields, *self.spec.order_by}
        base = (
            self.repository.scoped()
            .with_only_columns(*(self.spec.column(name) for name in sorted(wanted)))
            .order_by(*order)
            .limit(size)
        )
        key: Sequence[Any] | None = None
        while True:
            statement = base if key is None else base.where(self._after(key))
            rows = (await self.session.execute(statement)).mappings().all()
            if rows:
                yield rows
            if len(rows) < size:
                return
            key = [rows[-1][name] for name in self.spec.order_by]

    async def count(self) -> int:
        statement = self.repository.scoped().with_only_columns(func.count())
        return int(await self.session.scalar(statement) or 0)

    async def existing_ids(self, ids: Iterable[uuid.UUID]) -> set[uuid.UUID]:
        """Which of `ids` are rows of this entity in the workspace (others' ids never are)."""
        return await self.existing_values("id", ids)

    async def existing_values(self, name: str, values: Iterable[Any]) -> set[Any]:
        """Which of `values` the column `name` already holds in this workspace."""
        column = self.spec.column(name)
        wanted = list(values)
        found: set[Any] = set()
        for start in range(0, len(wanted), LOOKUP_CHUNK):
            statement = (
                self.repository.scoped()
                .with_only_columns(column)
                .where(column.in_(wanted[start : start + LOOKUP_CHUNK]))
            )
            found.update((await self.session.scalars(statement)).all())
        return found

    async def insert(self, rows: Sequence[Mapping[str, Any]]) -> None:
        if not rows:
            return
        workspace_id = self.repository.workspace_id
        values = [{**row, "workspace_id": workspace_id} for row in rows]
        await self.session.execute(insert(self.spec.model), values)
        # Bulk inserts skip the ORM flush that normally marks the workspace as changed (the
        # dashboard cache is keyed on it); mark it here.
        self.session.info.setdefault(TOUCHED_KEY, set()).add(workspace_id)
