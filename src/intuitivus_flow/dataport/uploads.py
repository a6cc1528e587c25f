"""Uploads of queued imports: one file per import run under `<data dir>/imports`.

The web process writes the file and a worker reads it, so both must see the same data dir (they
do with the embedded worker; separate worker processes need the same volume). The file holds a
workspace's data: it is readable by the service's user only, and removed once the import's
outcome is committed (or at once when the request that stored it fails).
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import uuid
from pathlib import Path
from typing import IO

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession

from intuitivus_flow.config import Settings
from intuitivus_flow.dataport.exceptions import UploadGone

logger = logging.getLogger(__name__)
COPY_CHUNK = 1_048_576


class UploadStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    @classmethod
    def for_settings(cls, settings: Settings) -> UploadStore:
        return cls(settings.data_dir / "imports")

    def path(self, run_id: uuid.UUID) -> Path:
        return self.root / f"{run_id}.zip"

    async def save(self, run_id: uuid.UUID, source: IO[bytes]) -> None:
        """Copy the upload to the store (in a thread: it may be 100 MiB)."""
        await asyncio.to_thread(self._copy, run_id, source)

    def _copy(self, run_id: uuid.UUID, source: IO[bytes]) -> None:
        self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
        partial = self.root / f".{run_id}.partial"
        try:
            descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(descriptor, "wb") as target:
                source.seek(0)
                shutil.copyfileobj(source, target, COPY_CHUNK)
            # Only a complete copy takes the name the worker opens.
            os.replace(partial, self.path(run_id))
        finally:
            partial.unlink(missing_ok=True)

    def open(self, run_id: uuid.UUID) -> IO[bytes]:
        try:
            return self.path(run_id).open("rb")
        except FileNotFoundError:
            raise UploadGone(
                "The uploaded file is no longer available; upload the export again."
            ) from None

    def remove(self, run_id: uuid.UUID) -> None:
        try:
            self.path(run_id).unlink(missing_ok=True)
        except OSError:  # a leftover file is only disk space; never fail the outcome for it
            logger.warning("could not remove the upload of import %s", run_id, exc_info=True)

    def remove_after_commit(self, session: AsyncSession, run_id: uuid.UUID) -> None:
        """Remove the file once `session` commits (the import's outcome is then recorded); a
        transaction that rolls back keeps it for the job's next attempt."""
        self._on(session, "after_commit", run_id)

    def remove_after_rollback(self, session: AsyncSession, run_id: uuid.UUID) -> None:
        """Remove the file if `session` rolls back: no run row, no job will ever read it."""
        self._on(session, "after_rollback", run_id)

    def _on(self, session: AsyncSession, name: str, run_id: uuid.UUID) -> None:
        event.listen(session.sync_session, name, lambda _: self.remove(run_id), once=True)
