"""The manifest every backup carries: what it holds and how to check it was restored whole."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict

FORMAT_VERSION = 1
Engine = Literal["postgresql", "sqlite"]


class TableStats(BaseModel):
    model_config = ConfigDict(frozen=True)

    rows: int
    # Order-independent digest of the table's rows as the engine renders them (the same engine
    # renders a restored row identically, so equal digests mean equal contents).
    checksum: str


class Manifest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    format_version: int = FORMAT_VERSION
    app_version: str
    engine: Engine
    migration_heads: list[str]
    created_at: datetime
    newest_row_at: datetime | None
    payload_name: str
    payload_sha256: str
    payload_bytes: int
    tables: dict[str, TableStats]

    @property
    def total_rows(self) -> int:
        return sum(table.rows for table in self.tables.values())


def compare_tables(expected: dict[str, TableStats], found: dict[str, TableStats]) -> list[str]:
    """Each difference between the manifest's tables and a restored database's, as a line."""
    problems = []
    for name in sorted(expected.keys() | found.keys()):
        want, got = expected.get(name), found.get(name)
        if got is None:
            problems.append(f"table {name} missing after restore")
        elif want is None:
            problems.append(f"table {name} not in the backup's manifest")
        elif want.rows != got.rows:
            problems.append(f"table {name}: {got.rows} rows, manifest says {want.rows}")
        elif want.checksum != got.checksum:
            problems.append(f"table {name}: contents differ from the manifest's checksum")
    return problems
