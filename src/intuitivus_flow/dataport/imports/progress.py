"""A queued import's progress, written on its run row while the import's transaction is open.

The import writes every row in one transaction, which nobody else sees until it commits; the
status page needs to see how far it got meanwhile. So the job reports through a session of its
own, in short transactions of their own, and never touches the run row from the import's
session until the end (on PostgreSQL that would make the two sessions wait for each other).

SQLite has one writer at a time: once the import has inserted its first row, its transaction
holds the database's write lock until it commits, and any other write would wait for it. On
SQLite the reporter therefore writes while validating (which only reads) and once more when
writing starts (status `importing`, before the first insert), then stays quiet until the
outcome, which the import's own transaction records.

Reporting is best effort: a failed progress write is logged and the import goes on.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from intuitivus_flow.dataport.models import ImportStatus
from intuitivus_flow.dataport.repository import ImportRunRepository
from intuitivus_flow.jobs.repository import JobQueueRepository
from intuitivus_flow.kit.db import SessionFactory, unit_of_work
from intuitivus_flow.kit.models import utcnow

logger = logging.getLogger(__name__)

WRITE_INTERVAL_SECONDS = 1.0


@dataclass(frozen=True, slots=True)
class Lease:
    """The job's lease, extended with every progress write."""

    job_id: uuid.UUID
    worker: str
    length: timedelta


@dataclass(slots=True)
class EntityCount:
    total: int | None = None  # rows in the file: the manifest's word until validated
    validated: int = 0
    written: int = 0

    def as_dict(self, entity: str) -> dict[str, Any]:
        return {
            "entity": entity,
            "total": self.total,
            "validated": self.validated,
            "written": self.written,
        }


@dataclass(slots=True)
class RunProgress:
    """An `ImportProgress` callback that keeps the counts and writes them on the run row."""

    sessions: SessionFactory
    workspace_id: uuid.UUID
    run_id: uuid.UUID
    lease: Lease | None = None
    # False on SQLite: no write can happen beside the import's own once it has written.
    writes_beside_import: bool = True
    interval: float = WRITE_INTERVAL_SECONDS
    clock: Callable[[], float] = time.monotonic
    phase: str = "validate"
    entities: dict[str, EntityCount] = field(default_factory=dict)
    _last_write: float = field(default=float("-inf"))

    def snapshot(self) -> dict[str, Any]:
        return {
            "phase": self.phase,
            "entities": [count.as_dict(name) for name, count in self.entities.items()],
        }

    def completed(self) -> dict[str, Any]:
        """Every row read and processed (rows skipped on purpose count as processed)."""
        self.phase = "write"
        for count in self.entities.values():
            count.total = count.written = count.validated
        return self.snapshot()

    async def begin(self, declared: Mapping[str, int | None]) -> None:
        """A new attempt: validation starts from the beginning of the file."""
        self.phase = "validate"
        self.entities = {name: EntityCount(total=rows) for name, rows in declared.items()}
        await self._write(
            status=ImportStatus.validating,
            started_at=utcnow(),
            finished_at=None,
            message=None,
        )

    async def __call__(self, phase: str, entity: str, rows: int) -> None:
        count = self.entities.setdefault(entity, EntityCount())
        starts_writing = phase == "write" and self.phase == "validate"
        if starts_writing:  # validation read every file: the totals are now exact
            self.phase = phase
            for validated in self.entities.values():
                validated.total = validated.validated
        if phase == "validate":
            count.validated = rows
        else:
            count.written = rows
        if starts_writing:
            await self._write(status=ImportStatus.importing)
        elif self._may_write_now():
            await self._write()

    async def interrupted(self, attempt: int, max_attempts: int, reason: str) -> None:
        """The attempt failed and the import's transaction was rolled back: back to queued."""
        await self._write(
            status=ImportStatus.queued,
            message=f"Attempt {attempt} of {max_attempts} was interrupted ({reason}); nothing "
            "of it was kept and the import will run again.",
        )

    def _may_write_now(self) -> bool:
        if self.phase == "write" and not self.writes_beside_import:
            return False
        return self.clock() - self._last_write >= self.interval

    async def _write(self, **values: Any) -> None:
        self._last_write = self.clock()
        try:
            async with unit_of_work(self.sessions) as session:
                runs = ImportRunRepository(session, self.workspace_id)
                await runs.report(self.run_id, progress=self.snapshot(), **values)
                if self.lease is not None:
                    await JobQueueRepository(session).extend_lease(
                        self.lease.job_id,
                        worker=self.lease.worker,
                        until=utcnow() + self.lease.length,
                    )
        except Exception:
            logger.warning("import %s: could not report progress", self.run_id, exc_info=True)
