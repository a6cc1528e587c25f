"""Uploads of queued imports, kept in the application database until the import's outcome.

Why the database: the web process receives the upload and a worker imports it, and in
production they run in separate pods that share no volume, only the database both already
need. The upload also gets the import's transactions for free: it is saved in the request's
transaction (a request that fails leaves nothing behind, with no clean-up hook) and deleted in
the transaction that commits the import's outcome (an attempt that rolls back keeps it for the
retry).

Why chunks: an upload may be 100 MiB (FLOW_IMPORT_MAX_BYTES). It is written and read back one
`CHUNK_BYTES` row per statement, so neither side ever holds more than one chunk of it in
memory. The worker copies it into a temporary file, because zipfile needs a seekable file;
that file stays in memory up to `SPOOL_BYTES` and moves to disk beyond.
"""

from __future__ import annotations

import tempfile
import uuid
from collections.abc import AsyncIterator
from typing import IO

from sqlalchemy.ext.asyncio import AsyncSession

from intuitivus_flow.dataport.exceptions import UploadGone
from intuitivus_flow.dataport.repository import UploadChunkRepository

CHUNK_BYTES = 1_048_576
SPOOL_BYTES = 8 * 1_048_576
GONE = "The uploaded file is no longer available; upload the export again."


class UploadStore:
    """One workspace's import uploads, read and written in the caller's transaction."""

    def __init__(self, session: AsyncSession, workspace_id: uuid.UUID) -> None:
        self.chunks_of = UploadChunkRepository(session, workspace_id)

    async def save(self, run_id: uuid.UUID, source: IO[bytes]) -> None:
        """Copy the whole upload (from its start) into chunk rows of the run."""
        source.seek(0)
        seq = 0
        while data := source.read(CHUNK_BYTES):
            await self.chunks_of.add(run_id, seq, data)
            seq += 1

    async def chunks(self, run_id: uuid.UUID) -> AsyncIterator[bytes]:
        """The upload's chunks in order, one query each. `UploadGone` when there are none (the
        outcome was recorded and committed already, or the run holds no upload)."""
        numbers = await self.chunks_of.numbers(run_id)
        if not numbers:
            raise UploadGone(GONE)
        for seq in numbers:
            data = await self.chunks_of.data(run_id, seq)
            if data is None:  # deleted since the numbers were read
                raise UploadGone(GONE)
            yield data

    async def open(self, run_id: uuid.UUID) -> IO[bytes]:
        """The upload as a seekable file, removed when closed."""
        spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)  # noqa: SIM115 (returned)
        try:
            async for data in self.chunks(run_id):
                spool.write(data)
        except BaseException:
            spool.close()
            raise
        spool.seek(0)
        return spool

    async def remove(self, run_id: uuid.UUID) -> None:
        """Delete the upload in the transaction that records the import's outcome: it goes
        exactly when that commits, and stays for the next attempt if it rolls back."""
        await self.chunks_of.delete(run_id)
