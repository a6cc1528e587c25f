from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from intuitivus_flow.kit.models import Base, IdMixin, str_enum, utcnow

# Every queue the product uses; one worker (embedded or `intuitivus-flow worker`) takes them all
# unless told otherwise (`--queues campaigns` for a dedicated campaigns worker).
QUEUES = ("default", "campaigns")


class JobStatus(StrEnum):
    queued = "queued"
    running = "running"
    succeeded = "succeeded"
    failed = "failed"  # out of attempts
    cancelled = "cancelled"


class Job(IdMixin, Base):
    """A unit of background work, stored in the application database.

    Living beside the business tables means a job is enqueued in the same transaction as the
    write that asks for it: it exists exactly when that write committed.
    """

    __tablename__ = "jobs"
    __table_args__ = (
        Index("ix_jobs_queue_status_run_at", "queue", "status", "run_at"),
        Index("ix_jobs_workspace_id_kind", "workspace_id", "kind"),
        # The retention prune's batches (jobs/retention.py).
        Index("ix_jobs_status_finished_at", "status", "finished_at"),
    )

    workspace_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("workspaces.id", ondelete="CASCADE"), default=None
    )
    queue: Mapped[str] = mapped_column(String(40), default="default")
    kind: Mapped[str] = mapped_column(String(80))
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # Enqueuing twice with one key gives one job (e.g. "campaign-step:<step>:<contact>").
    dedupe_key: Mapped[str | None] = mapped_column(String(200), unique=True, default=None)
    status: Mapped[JobStatus] = mapped_column(str_enum(JobStatus), default=JobStatus.queued)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    max_attempts: Mapped[int] = mapped_column(Integer, default=5)
    run_at: Mapped[datetime] = mapped_column(default=utcnow)
    locked_by: Mapped[str | None] = mapped_column(String(80), default=None)
    locked_until: Mapped[datetime | None] = mapped_column(default=None)
    last_error: Mapped[str | None] = mapped_column(Text, default=None)
    result: Mapped[dict[str, Any] | None] = mapped_column(default=None)
    trace_context: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(default=None)
    finished_at: Mapped[datetime | None] = mapped_column(default=None)
