"""Streamed exports: rows are read in keyset pages and written out as each page arrives.

Memory stays flat whatever the workspace size: at most one page of rows and the compressor's
window are held at once. The zip is written to a sink that is drained after every page, so
the archive goes out while later pages are still being read (zip entries use data
descriptors, which is what lets a zip be written without seeking back). The manifest comes
last, with the counts actually written.
"""

from __future__ import annotations

import io
import json
import uuid
import zipfile
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import RowMapping
from sqlalchemy.ext.asyncio import AsyncSession

from intuitivus_flow.dataport import codec
from intuitivus_flow.dataport.registry import FORMAT_VERSION, EntitySpec
from intuitivus_flow.dataport.repository import PortableRows
from intuitivus_flow.dataport.schemas import ExportFormat
from intuitivus_flow.kit.db import SessionFactory
from intuitivus_flow.kit.models import utcnow

MANIFEST = "manifest.json"
# Called after every page: (entity, rows written so far for it).
Progress = Callable[[str, int], None]


@dataclass(frozen=True, slots=True)
class ExportPlan:
    """What one export holds; made (and authorised) inside the request's unit of work."""

    workspace_id: uuid.UUID
    format: ExportFormat
    entities: tuple[EntitySpec, ...]
    single: bool  # one entity as a bare file (CSV or JSON Lines), not a zip
    started_at: datetime

    @property
    def filename(self) -> str:
        stamp = self.started_at.strftime("%Y%m%dT%H%M%SZ")
        if self.single:
            return f"{self.entities[0].name}-{stamp}.{self.format.value}"
        return f"workspace-{self.workspace_id}-{stamp}-{self.format.value}.zip"

    @property
    def media_type(self) -> str:
        if not self.single:
            return "application/zip"
        return "text/csv" if self.format is ExportFormat.csv else "application/x-ndjson"


class _Sink(io.RawIOBase):
    """An unseekable file the zip writer appends to; `drain` hands over what it wrote."""

    def __init__(self) -> None:
        super().__init__()
        self._chunks: list[bytes] = []
        self._position = 0

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        chunk = bytes(data)
        self._chunks.append(chunk)
        self._position += len(chunk)
        return len(chunk)

    def tell(self) -> int:
        return self._position

    def drain(self) -> bytes:
        data = b"".join(self._chunks)
        self._chunks.clear()
        return data


def _encode(plan: ExportPlan, spec: EntitySpec, rows: Sequence[RowMapping]) -> bytes:
    if plan.format is ExportFormat.csv:
        return codec.csv_lines(spec, rows)
    return b"".join(codec.jsonl_line(spec, row) for row in rows)


async def _snapshot(session: AsyncSession) -> None:
    """Read every page from one snapshot, so references between files stay consistent even
    while the workspace keeps changing during a long export."""
    if session.get_bind().dialect.name == "postgresql":
        await session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
    else:
        # pysqlite opens no transaction for reads; an explicit one pins a WAL snapshot.
        await (await session.connection()).exec_driver_sql("BEGIN")


async def stream(
    sessions: SessionFactory,
    plan: ExportPlan,
    *,
    page_rows: int,
    progress: Progress | None = None,
) -> AsyncIterator[bytes]:
    """The export's bytes, page by page, from its own read-only session (the request's unit
    of work has committed and closed before the response body is sent)."""
    async with sessions() as session:
        await _snapshot(session)
        try:
            body = _single if plan.single else _archive
            async for chunk in body(session, plan, page_rows, progress):
                yield chunk
        finally:
            await session.rollback()


async def _single(
    session: AsyncSession, plan: ExportPlan, page_rows: int, progress: Progress | None
) -> AsyncIterator[bytes]:
    spec = plan.entities[0]
    if plan.format is ExportFormat.csv:
        yield codec.csv_header(spec)
    written = 0
    async for page in PortableRows(session, spec, plan.workspace_id).pages(page_rows):
        written += len(page)
        if progress:
            progress(spec.name, written)
        yield _encode(plan, spec, page)


def _entry(name: str, when: datetime) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=when.timetuple()[:6])
    info.compress_type = zipfile.ZIP_DEFLATED
    return info


def manifest(plan: ExportPlan, counts: dict[str, int]) -> dict[str, Any]:
    return {
        "format": "intuitivus-flow-workspace",
        "format_version": FORMAT_VERSION,
        "file_format": plan.format.value,
        "exported_at": plan.started_at.isoformat(),
        "workspace_id": str(plan.workspace_id),
        "entities": counts,
    }


async def _archive(
    session: AsyncSession, plan: ExportPlan, page_rows: int, progress: Progress | None
) -> AsyncIterator[bytes]:
    sink = _Sink()
    counts: dict[str, int] = {}
    with zipfile.ZipFile(sink, "w") as archive:
        for spec in plan.entities:
            counts[spec.name] = 0
            name = f"{spec.name}.{plan.format.value}"
            # force_zip64: the size is unknown when the entry starts and may pass 4 GiB.
            with archive.open(_entry(name, plan.started_at), "w", force_zip64=True) as entry:
                if plan.format is ExportFormat.csv:
                    entry.write(codec.csv_header(spec))
                async for page in PortableRows(session, spec, plan.workspace_id).pages(page_rows):
                    entry.write(_encode(plan, spec, page))
                    counts[spec.name] += len(page)
                    if progress:
                        progress(spec.name, counts[spec.name])
                    yield sink.drain()
        archive.writestr(_entry(MANIFEST, plan.started_at), json.dumps(manifest(plan, counts)))
    yield sink.drain()


def new_plan(
    workspace_id: uuid.UUID, export_format: ExportFormat, entities: tuple[EntitySpec, ...]
) -> ExportPlan:
    """The whole workspace as a zip, or (`entities` of one) that entity as a bare file."""
    return ExportPlan(
        workspace_id=workspace_id,
        format=export_format,
        entities=entities,
        single=len(entities) == 1,
        started_at=utcnow(),
    )
