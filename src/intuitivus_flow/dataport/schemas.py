from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, Field


class ExportFormat(StrEnum):
    jsonl = "jsonl"  # a zip: manifest.json and one <entity>.jsonl per entity
    csv = "csv"  # a zip of <entity>.csv, or one entity's CSV with `entity`


class ImportResult(BaseModel):
    dry_run: bool = Field(description="True: validated only, nothing was written.")
    created: dict[str, int] = Field(
        description="Rows created (or that would be created) per entity, parents first."
    )
    total: int
