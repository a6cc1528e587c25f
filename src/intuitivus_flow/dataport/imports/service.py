"""Import in two passes over the archive: validate everything, then write everything.

Validation reports every bad row (file, line, field) and writes nothing. Writing gives each
row a new id and rewrites references through the old -> new map, parents first, inside the
caller's transaction, so an import lands completely or not at all. A reference may also name
a row the workspace already has (importing conversations for existing contacts); ids of any
other workspace are simply unknown, like everywhere else. Loose references (no foreign key,
see registry.py) are never refused: the row they named may have been deleted before the export.

Progress is reported through an awaited callback, so a caller may write it somewhere (the
queued import writes it on its run row through a session of its own).

Rows arrive in batches parsed off the event loop (archive.py); what is done here per row
(bookkeeping of ids, keys and references, rewriting ids) is light and stays on the loop,
between awaits, like the queries and inserts.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping
from contextlib import aclosing
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from intuitivus_flow.billing import service as billing
from intuitivus_flow.dataport.imports.archive import Archive, ParsedRow, Problems
from intuitivus_flow.dataport.registry import BY_NAME, ENTITIES, REFERENCED, EntitySpec
from intuitivus_flow.dataport.repository import InstanceValues, PortableRows

WRITE_BATCH = 1000
# (phase "validate" or "write", entity, rows done so far for it). Writing reports 0 for each
# entity before its first insert.
ImportProgress = Callable[[str, str, int], Awaitable[None]]
# Per entity, per instance-unique column: the file's values taken elsewhere (rows skipped).
Taken = Mapping[str, Mapping[str, set[Any]]]
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
    skipped: dict[str, int] = field(default_factory=dict)
    taken: dict[str, dict[str, set[Any]]] = field(default_factory=dict)
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
        unique_sets = (*spec.unique, *((name,) for name in spec.instance_unique))
        keys: dict[tuple[str, ...], dict[tuple[Any, ...], int]] = {u: {} for u in unique_sets}
        found = valid = 0
        async with aclosing(self.archive.batches(spec)) as batches:
            async for batch in batches:
                for row in batch:
                    found += 1
                    valid += self._row(spec, file, row, pending, keys)
                    if spec.singleton and found == 2:
                        message = f"a workspace has one {spec.name} row; this file has more"
                        self.problems.add(file, row.line, None, message)
                if self.progress:
                    await self.progress("validate", spec.name, found)
        if self.progress and not found:
            await self.progress("validate", spec.name, 0)
        declared = self.archive.declared_count(spec)
        if declared is not None and declared != found:
            self.problems.add(file, None, None, f"the manifest says {declared} rows, found {found}")
        await self._resolve_references(file, pending)
        await self._check_workspace_unique(spec, file, keys)
        skipped = await self._find_taken(spec, keys)
        # Rows that would be created; `found` minus the skipped whenever the import can go on.
        self.counts[spec.name] = valid - skipped
        if skipped:
            self.skipped[spec.name] = skipped

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
            if value is not None and value not in self.file_ids[target] and name not in spec.loose:
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
        for target, found in pending.items():
            # A reference to a row further down the same file (a branch's later step) was
            # pending when its line was read; the whole file is known now.
            references = [item for item in found if item[2] not in self.file_ids[target]]
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
        for columns in spec.unique:
            seen = keys[columns]
            if len(columns) != 1 or not seen:
                continue
            (name,) = columns
            taken = await rows.existing_values(name, (key[0] for key in seen))
            for key, line in seen.items():
                if key[0] in taken:
                    message = f"the workspace already has {spec.name} with this {name}"
                    self.problems.add(file, line, name, message)

    async def _find_taken(
        self, spec: EntitySpec, keys: dict[tuple[str, ...], dict[tuple[Any, ...], int]]
    ) -> int:
        """Remember the file's instance-unique values some workspace already holds (this one
        included); those rows are skipped. How many rows that is."""
        skipped: set[int] = set()
        for name in spec.instance_unique:
            seen = keys[(name,)]
            if not seen:
                continue
            taken = await InstanceValues(self.session, spec).taken(name, (k[0] for k in seen))
            self.taken.setdefault(spec.name, {})[name] = taken
            skipped.update(line for key, line in seen.items() if key[0] in taken)
        return len(skipped)

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
    taken: Taken | None = None,
    progress: ImportProgress | None = None,
) -> None:
    """Insert every row of a validated archive under new ids, parents first; rows whose
    instance-unique value is `taken` (as validation found) are left out."""
    new_ids: dict[str, dict[uuid.UUID, uuid.UUID]] = defaultdict(dict)
    for spec in _present(archive):
        if progress:
            await progress("write", spec.name, 0)
        rows = PortableRows(session, spec, workspace_id)
        skip = (taken or {}).get(spec.name, {})
        batch: list[dict[str, Any]] = []
        written = 0
        async with aclosing(_new_rows(archive, spec, skip, new_ids)) as new_rows:
            async for row in new_rows:
                batch.append(row)
                if spec.singleton:
                    await rows.put_singleton(batch.pop())
                    written += 1
                elif len(batch) == WRITE_BATCH:
                    await rows.insert(batch)
                    written += len(batch)
                    batch = []
                    if progress:
                        await progress("write", spec.name, written)
        await rows.insert(batch)
        if progress:
            await progress("write", spec.name, written + len(batch))


async def _new_rows(
    archive: Archive,
    spec: EntitySpec,
    skip: Mapping[str, set[Any]],
    new_ids: dict[str, dict[uuid.UUID, uuid.UUID]],
) -> AsyncGenerator[dict[str, Any], None]:
    """The file's rows as they will be inserted: new ids, references rewritten, rows whose
    instance-unique value is taken left out."""
    async with aclosing(archive.batches(spec)) as parsed:
        async for batch in parsed:
            for row in batch:
                if row.problems:  # validated in this same transaction: only a changed file
                    raise RuntimeError(f"{archive.file_name(spec)} changed after validation")
                if any(row.values.get(name) in values for name, values in skip.items()):
                    continue
                yield _rewrite(spec, row.values, new_ids)


def _rewrite(
    spec: EntitySpec, values: dict[str, Any], new_ids: dict[str, dict[uuid.UUID, uuid.UUID]]
) -> dict[str, Any]:
    row = dict(values)
    old_id = row.pop("id", None)
    row["id"] = uuid.uuid4()
    if old_id is not None and spec.name in REFERENCED:
        # A row named before its own line (see below) already has its new id.
        row["id"] = new_ids[spec.name].setdefault(old_id, row["id"])
    for name, target in spec.references.items():
        value = row.get(name)
        if value is not None and target == spec.name:
            # A row of the same file, maybe further down: its new id is chosen here (the
            # foreign key is checked at commit, when every row is in).
            row[name] = new_ids[target].setdefault(value, uuid.uuid4())
        elif value is not None:
            # Not in the file: validation found it among the workspace's own rows (or it is a
            # loose reference to a row deleted before the export); keep it.
            row[name] = new_ids[target].get(value, value)
    for name, ids in spec.ids_in_json.items():
        if isinstance(row.get(name), dict):
            row[name] = _rewrite_json_ids(row[name], ids.key, new_ids[ids.target])
    if spec.on_import:
        spec.on_import(row)
    return row


def _rewrite_json_ids(
    document: dict[str, Any], key: str, new_ids: dict[uuid.UUID, uuid.UUID]
) -> dict[str, Any]:
    old = [uuid.UUID(str(value)) for value in document.get(key) or []]
    return {**document, key: [str(new_ids.get(value, value)) for value in old]}
