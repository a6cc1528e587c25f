"""Import in two passes over the archive: validate everything, then write everything.

Validation reports every bad row (file, line, field) and writes nothing. Writing gives each
row a new id and rewrites references through the old -> new map, parents first, inside the
caller's transaction, so an import lands completely or not at all. A reference may also name
a row the workspace already has (importing conversations for existing contacts); ids of any
other workspace are simply unknown, like everywhere else.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from intuitivus_flow.billing import service as billing
from intuitivus_flow.dataport.archive import Archive, ParsedRow, Problems
from intuitivus_flow.dataport.registry import BY_NAME, ENTITIES, REFERENCED, EntitySpec
from intuitivus_flow.dataport.repository import PortableRows

WRITE_BATCH = 1000
# (phase "validate" or "write", entity, rows done so far for it).
ImportProgress = Callable[[str, str, int], None]
# A reference still to check against the workspace: (line, field, id).
PendingReference = tuple[int, str, uuid.UUID]


def _present(archive: Archive) -> list[EntitySpec]:
    return [spec for spec in ENTITIES if spec.name in archive.members]


@dataclass(slots=True)
class Validation:
    session: AsyncSession
    archive: Archive
    workspace_id: uuid.UUID
    progress: ImportProgress | None = None
    problems: Problems = field(init=False)
    counts: dict[str, int] = field(default_factory=dict)
    # Ids each referenced entity's file declares (their rows get new ids on writing).
    file_ids: dict[str, set[uuid.UUID]] = field(default_factory=lambda: defaultdict(set))

    def __post_init__(self) -> None:
        self.problems = Problems(cap=self.archive.limits.max_errors)

    async def run(self) -> dict[str, int]:
        for spec in _present(self.archive):
            await self._entity(spec)
        await self._check_plan_limit()
        self.problems.raise_if_any()
        return self.counts

    async def _entity(self, spec: EntitySpec) -> None:
        file = self.archive.file_name(spec)
        pending: dict[str, list[PendingReference]] = defaultdict(list)
        keys: dict[tuple[str, ...], dict[tuple[Any, ...], int]] = {u: {} for u in spec.unique}
        found = valid = 0
        for row in self.archive.rows(spec):
            found += 1
            valid += self._row(spec, file, row, pending, keys)
            if self.progress and found % WRITE_BATCH == 0:
                self.progress("validate", spec.name, found)
        # Rows that would be created; equal to `found` whenever the import can go ahead.
        self.counts[spec.name] = valid
        if self.progress:
            self.progress("validate", spec.name, found)
        declared = self.archive.declared_count(spec)
        if declared is not None and declared != found:
            self.problems.add(file, None, None, f"the manifest says {declared} rows, found {found}")
        await self._resolve_references(file, pending)
        await self._check_workspace_unique(spec, file, keys)

    def _row(
        self,
        spec: EntitySpec,
        file: str,
        row: ParsedRow,
        pending: dict[str, list[PendingReference]],
        keys: dict[tuple[str, ...], dict[tuple[Any, ...], int]],
    ) -> bool:
        """Check one row against the file so far; True when the row itself is valid (its
        references to the workspace are checked once the whole file is read)."""
        for name, message in row.problems:
            self.problems.add(file, row.line, name, message)
        if row.problems:
            return False
        values = row.values
        problems_before = self.problems.total
        row_id = values.get("id")
        if row_id is not None and spec.name in REFERENCED:
            ids = self.file_ids[spec.name]
            if row_id in ids:
                self.problems.add(file, row.line, "id", "this id appears more than once")
            ids.add(row_id)
        for name, target in spec.references.items():
            value = values.get(name)
            if value is not None and value not in self.file_ids[target]:
                pending[target].append((row.line, name, value))
        for columns, seen in keys.items():
            key = tuple(values.get(name) for name in columns)
            if any(part is None for part in key):
                continue
            if key in seen:
                label = ", ".join(columns)
                self.problems.add(file, row.line, columns[-1], f"same {label} as line {seen[key]}")
            else:
                seen[key] = row.line
        return self.problems.total == problems_before

    async def _resolve_references(
        self, file: str, pending: dict[str, list[PendingReference]]
    ) -> None:
        for target, references in pending.items():
            rows = PortableRows(self.session, BY_NAME[target], self.workspace_id)
            existing = await rows.existing_ids({value for _, _, value in references})
            for line, name, value in references:
                if value not in existing:
                    message = f"no {target} row with id {value} in the import or the workspace"
                    self.problems.add(file, line, name, message)

    async def _check_workspace_unique(
        self, spec: EntitySpec, file: str, keys: dict[tuple[str, ...], dict[tuple[Any, ...], int]]
    ) -> None:
        # Only sets without references: a referenced parent is new, so it cannot collide.
        rows = PortableRows(self.session, spec, self.workspace_id)
        for columns, seen in keys.items():
            if len(columns) != 1 or not seen:
                continue
            (name,) = columns
            taken = await rows.existing_values(name, (key[0] for key in seen))
            for key, line in seen.items():
                if key[0] in taken:
                    message = f"the workspace already has {spec.name} with this {name}"
                    self.problems.add(file, line, name, message)

    async def _check_plan_limit(self) -> None:
        adding = self.counts.get("agents", 0)
        if not adding:
            return
        plan = await billing.current_plan(self.session, self.workspace_id)
        existing = await PortableRows(self.session, BY_NAME["agents"], self.workspace_id).count()
        if existing + adding > plan.max_agents:
            self.problems.add(
                self.archive.file_name(BY_NAME["agents"]),
                None,
                None,
                f"the {plan.name} plan allows {plan.max_agents} agents; the workspace has "
                f"{existing} and the import adds {adding}",
            )


async def write(
    session: AsyncSession,
    archive: Archive,
    workspace_id: uuid.UUID,
    *,
    progress: ImportProgress | None = None,
) -> None:
    """Insert every row of a validated archive under new ids, parents first."""
    new_ids: dict[str, dict[uuid.UUID, uuid.UUID]] = defaultdict(dict)
    for spec in _present(archive):
        rows = PortableRows(session, spec, workspace_id)
        batch: list[dict[str, Any]] = []
        written = 0
        for row in archive.rows(spec):
            if row.problems:  # validated in this same transaction: only a changed file gets here
                raise RuntimeError(f"{archive.file_name(spec)} changed after validation")
            batch.append(_rewrite(spec, row.values, new_ids))
            if len(batch) == WRITE_BATCH:
                await rows.insert(batch)
                written += len(batch)
                batch = []
                if progress:
                    progress("write", spec.name, written)
        await rows.insert(batch)
        if progress:
            progress("write", spec.name, written + len(batch))


def _rewrite(
    spec: EntitySpec, values: dict[str, Any], new_ids: dict[str, dict[uuid.UUID, uuid.UUID]]
) -> dict[str, Any]:
    row = dict(values)
    old_id = row.pop("id", None)
    row["id"] = uuid.uuid4()
    if old_id is not None and spec.name in REFERENCED:
        new_ids[spec.name][old_id] = row["id"]
    for name, target in spec.references.items():
        value = row.get(name)
        if value is not None:
            # Not in the file: validation found it among the workspace's own rows; keep it.
            row[name] = new_ids[target].get(value, value)
    if spec.on_import:
        spec.on_import(row)
    return row
