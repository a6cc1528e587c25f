from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from intuitivus_flow.kit.models import Base, IdMixin, JSONType, TimestampMixin, str_enum, utcnow


class ImportStatus(StrEnum):
    queued = "queued"  # waiting for a worker (again, after an interrupted attempt)
    validating = "validating"
    importing = "importing"
    succeeded = "succeeded"
    failed = "failed"


FINISHED = frozenset({ImportStatus.succeeded, ImportStatus.failed})


class ImportRun(IdMixin, TimestampMixin, Base):
    """One import queued from the web or the API, and what became of it.

    The rows themselves are written in the job's one transaction; this row is how the status
    page follows it. While the job runs, its status and `progress` are updated through a
    session of their own (visible at once, whatever happens to the import's transaction); the
    outcome (`succeeded` with the counts, or `failed` with the bad rows) is written in the
    import's transaction, so "succeeded" commits exactly when the rows do.
    """

    __tablename__ = "import_runs"
    __table_args__ = (
        Index("ix_import_runs_workspace_id_created_at", "workspace_id", "created_at"),
    )

    workspace_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    created_by_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
    job_id: Mapped[uuid.UUID | None] = mapped_column(default=None)
    file_name: Mapped[str] = mapped_column(String(255), default="")
    size_bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    status: Mapped[ImportStatus] = mapped_column(
        str_enum(ImportStatus), default=ImportStatus.queued
    )
    # {"phase": "validate" | "write", "entities": [{"entity", "total", "validated", "written"}]}
    # (a list: PostgreSQL's JSONB does not keep the order of an object's keys).
    progress: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created: Mapped[dict[str, Any]] = mapped_column(default=dict)  # rows per entity
    skipped: Mapped[dict[str, Any]] = mapped_column(default=dict)  # rows per entity
    # The first problems ({file, line, field, message}) when the file did not validate.
    errors: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
    errors_total: Mapped[int] = mapped_column(Integer, default=0)
    message: Mapped[str | None] = mapped_column(Text, default=None)
    started_at: Mapped[datetime | None] = mapped_column(default=None)
    finished_at: Mapped[datetime | None] = mapped_column(default=None)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class ImportUploadChunk(Base):
    """One piece of a queued import's upload (up to `uploads.CHUNK_BYTES`), in `seq` order.

    The upload lives in the database, not on a disk, because the web process that receives it
    and the worker that imports it may share nothing else (dataport/imports/uploads.py). No
    workspace column: a chunk belongs to its run, and every query reaches it through the run's
    workspace.
    """

    __tablename__ = "import_upload_chunks"

    run_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("import_runs.id", ondelete="CASCADE"), primary_key=True
    )
    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    data: Mapped[bytes] = mapped_column(LargeBinary)
