"""The SQL of export and import, over each domain's own `WorkspaceRepository`.

Every statement starts from the domain repository's `scoped()`, so the workspace filter is
the same one the domain's API uses; inserts are stamped with the repository's workspace.
Reads select plain columns (no ORM objects, no eager loads), so a page costs its rows only.
The unscoped statements are named for what they are: `InstanceValues` (values unique across
the instance) and `AbandonedImports` (a sweep over every workspace); the import job's lease is
the queue's own (`JobQueueRepository.extend_lease`). Upload chunks have no workspace column;
`UploadChunkRepository` scopes them through their run's.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    RowMapping,
    Select,
    delete,
    exists,
    func,
    insert,
    select,
    tuple_,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession

from intuitivus_flow.dataport.models import FINISHED, ImportRun, ImportStatus, ImportUploadChunk
from intuitivus_flow.dataport.registry import EntitySpec
from intuitivus_flow.jobs.models import Job, JobStatus
from intuitivus_flow.kit.cache import TOUCHED_KEY
from intuitivus_flow.kit.repository import WorkspaceQueries, WorkspaceRepository

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
            rows = (await self.repository.execute(statement)).mappings().all()
            if rows:
                yield rows
            if len(rows) < size:
                return
            key = [rows[-1][name] for name in self.spec.order_by]

    async def count(self) -> int:
        statement = self.repository.scoped().with_only_columns(func.count())
        return int(await self.repository.scalar(statement) or 0)

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
            found.update((await self.repository.execute(statement)).scalars().all())
        return found

    async def insert(self, rows: Sequence[Mapping[str, Any]]) -> None:
        if not rows:
            return
        workspace_id = self.repository.workspace_id
        values = [{**row, "workspace_id": workspace_id} for row in rows]
        await self.session.execute(insert(self.spec.model), values)
        self._touch()

    async def put_singleton(self, row: Mapping[str, Any]) -> None:
        """The workspace's one row of a singleton entity: the exported columns of an existing
        row are replaced (the others, such as a widget key, stay); otherwise it is inserted."""
        model = self.spec.model
        existing = await self.repository.scalar(
            self.repository.scoped().with_only_columns(model.id).limit(1)
        )
        if existing is None:
            await self.insert([row])
            return
        changes = {name: row[name] for name in self.spec.fields if name != "id" and name in row}
        await self.repository.execute(
            update(model)
            .where(model.id == existing)
            .values(**changes)
            .execution_options(synchronize_session=False)
        )
        self._touch()

    def _touch(self) -> None:
        # Bulk statements skip the ORM flush that normally marks the workspace as changed (the
        # dashboard cache is keyed on it); mark it here.
        self.session.info.setdefault(TOUCHED_KEY, set()).add(self.repository.workspace_id)


class InstanceValues:
    """Unscoped on purpose: which values of an instance-unique column (a WhatsApp number's
    `phone_number_id`, which routes webhooks to one workspace) any workspace already holds.
    It answers values only, which connecting a number already reveals (409)."""

    def __init__(self, session: AsyncSession, spec: EntitySpec) -> None:
        self.session = session
        self.spec = spec

    async def taken(self, name: str, values: Iterable[Any]) -> set[Any]:
        column = self.spec.column(name)
        wanted = list(values)
        found: set[Any] = set()
        for start in range(0, len(wanted), LOOKUP_CHUNK):
            statement = select(column).where(column.in_(wanted[start : start + LOOKUP_CHUNK]))
            found.update((await self.session.scalars(statement)).all())
        return found


class ImportRunRepository(WorkspaceRepository[ImportRun]):
    model = ImportRun
    not_found_message = "Import not found"

    def newest_first(self) -> Select[ImportRun]:
        return self.scoped().order_by(ImportRun.created_at.desc(), ImportRun.id.desc())

    async def report(self, run_id: uuid.UUID, **values: Any) -> None:
        """Set columns of one run with a statement (no loaded object to go stale)."""
        await self.execute(
            update(ImportRun)
            .where(ImportRun.id == run_id)
            .values(**values)
            .execution_options(synchronize_session=False)
        )


class UploadChunkRepository(WorkspaceQueries):
    """The chunks of one workspace's import uploads (dataport/imports/uploads.py).

    A chunk has no workspace column of its own, so every read and delete is scoped through the
    run it belongs to; `add` writes to a run the caller has just added to this workspace.
    Statements select or write one chunk's bytes at a time: a chunk is never an ORM object
    (the session would keep it) and an upload is never one result set.
    """

    def _of_run(self, run_id: uuid.UUID) -> ColumnElement[bool]:
        # The base restricts the run to this workspace wherever the condition is used.
        return ImportUploadChunk.run_id.in_(select(ImportRun.id).where(ImportRun.id == run_id))

    async def add(self, run_id: uuid.UUID, seq: int, data: bytes) -> None:
        await self.execute(insert(ImportUploadChunk).values(run_id=run_id, seq=seq, data=data))

    async def numbers(self, run_id: uuid.UUID) -> list[int]:
        """The run's chunk numbers, in order (no data)."""
        statement = (
            select(ImportUploadChunk.seq)
            .where(self._of_run(run_id))
            .order_by(ImportUploadChunk.seq)
        )
        return list((await self.execute(statement)).scalars().all())

    async def data(self, run_id: uuid.UUID, seq: int) -> bytes | None:
        statement = select(ImportUploadChunk.data).where(
            self._of_run(run_id), ImportUploadChunk.seq == seq
        )
        return await self.scalar(statement)

    async def delete(self, run_id: uuid.UUID) -> None:
        await self.execute(
            delete(ImportUploadChunk)
            .where(self._of_run(run_id))
            .execution_options(synchronize_session=False)
        )


class AbandonedImports:
    """Unscoped on purpose (a sweep over every workspace): queued imports whose job will never
    run again (given up, cancelled or gone) keep their upload only as dead weight. Their runs
    are marked failed and their chunks deleted; a run whose job is queued or running is live."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def settle(self, *, older_than: datetime, now: datetime, message: str) -> int:
        live_job = exists().where(
            Job.id == ImportRun.job_id,
            Job.status.in_([JobStatus.queued, JobStatus.running]),
        )
        abandoned = select(ImportRun.id).where(ImportRun.created_at < older_than, ~live_job)
        await self.session.execute(
            update(ImportRun)
            .where(
                ImportRun.id.in_(abandoned),
                ImportRun.status.not_in([status.value for status in FINISHED]),
            )
            .values(status=ImportStatus.failed, message=message, finished_at=now)
            .execution_options(synchronize_session=False)
        )
        deleted = await self.session.execute(
            delete(ImportUploadChunk)
            .where(ImportUploadChunk.run_id.in_(abandoned))
            .execution_options(synchronize_session=False)
        )
        return int(getattr(deleted, "rowcount", 0) or 0)
