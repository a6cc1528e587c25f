from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, Field

from intuitivus_flow.dataport.models import ImportStatus


class ExportFormat(StrEnum):
    jsonl = "jsonl"  # a zip: manifest.json and one <entity>.jsonl per entity
    csv = "csv"  # a zip of <entity>.csv, or one entity's CSV with `entity`


class ImportResult(BaseModel):
    dry_run: bool = Field(description="True: validated only, nothing was written.")
    created: dict[str, int] = Field(
        description="Rows created (or that would be created) per entity, parents first."
    )
    skipped: dict[str, int] = Field(
        default_factory=dict,
        description="Rows left out on purpose per entity: WhatsApp numbers already connected "
        "to a workspace of this instance.",
    )
    total: int


class ImportProblem(BaseModel):
    file: str | None
    line: int | None
    field: str | None
    message: str


class EntityProgress(BaseModel):
    entity: str
    total: int | None = Field(description="Rows in the file (the manifest's count until read).")
    validated: int
    written: int


class ImportRunRead(BaseModel):
    """A queued import: where it is, how far it got, and what came of it."""

    id: uuid.UUID
    status: ImportStatus
    file_name: str
    size_bytes: int
    attempts: int = Field(description="Attempts started so far (a retry starts over).")
    max_attempts: int
    rows_total: int | None = Field(description="Rows in the archive, once known.")
    rows_done: int = Field(description="Rows validated, then rows written, so far.")
    entities: list[EntityProgress]
    created: dict[str, int] = Field(description="Rows created per entity, once succeeded.")
    skipped: dict[str, int]
    total_created: int
    errors: list[ImportProblem] = Field(description="Bad rows (the first 1000) when failed.")
    errors_total: int
    message: str | None = Field(description="Why it failed, or why it is waiting again.")
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
