"""The copy from the application database to the analytics store: incremental, idempotent,
exactly once (docs/analytics.md).

Each source (`product`: the `events` table; `collect`: the collection API's
`analytics_events`) keeps a watermark in the store: the newest `received_at` copied. A run
reads rows in (received_at, id) order from the watermark minus `OVERLAP` (a transaction that
committed late with an earlier `received_at` is still caught), skips every (workspace, message
id) the store already holds for that time range, appends the rest, then moves the watermark.
A run that dies between the append and the watermark is repeated without duplicates for the
same reason. Product events land twice: in their workspace with the member as the person, and
in the platform's own space (`PLATFORM_WORKSPACE_ID`) with the workspace as the person, for
the operators' onboarding and feature analyses.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow as pa

from intuitivus_flow.analytics.models import CollectedEvent
from intuitivus_flow.analytics.repository import CopySource, Cursor
from intuitivus_flow.analytics.store import EVENT_COLUMNS, AnalyticsStore
from intuitivus_flow.events.models import Event
from intuitivus_flow.kit.db import SessionFactory

PLATFORM_WORKSPACE_ID = uuid.UUID(int=0)
OVERLAP = timedelta(minutes=5)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
SOURCES = ("product", "collect")


@dataclass
class CopyReport:
    copied: dict[str, int] = field(default_factory=lambda: dict.fromkeys(SOURCES, 0))
    skipped: dict[str, int] = field(default_factory=lambda: dict.fromkeys(SOURCES, 0))
    watermarks: dict[str, str | None] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"copied": self.copied, "skipped": self.skipped, "watermarks": self.watermarks}


async def copy_to_store(
    sessions: SessionFactory,
    store: AnalyticsStore,
    *,
    batch_size: int,
    since: datetime | None = None,
    progress: Callable[[str, int], None] | None = None,
) -> CopyReport:
    """Copy what the store lacks; `since` (a backfill) starts there instead of the watermark."""
    report = CopyReport()
    for source in SOURCES:
        mark = await asyncio.to_thread(store.watermark, source)
        start = since if since is not None else (mark - OVERLAP if mark else EPOCH)
        cursor: Cursor = (start, None)
        newest = mark
        while True:
            async with sessions() as session:
                reader = CopySource(session)
                rows: Sequence[Event | CollectedEvent] = (
                    await reader.product_events(cursor, batch_size)
                    if source == "product"
                    else await reader.collected_events(cursor, batch_size)
                )
            if not rows:
                break
            copied, skipped = await asyncio.to_thread(_append, store, source, rows)
            report.copied[source] += copied
            report.skipped[source] += skipped
            if progress is not None:
                progress(source, report.copied[source])
            last = rows[-1]
            cursor = (last.received_at, last.id)
            newest = last.received_at if newest is None else max(newest, last.received_at)
            if len(rows) < batch_size:
                break
        if newest is not None and newest != mark:
            await asyncio.to_thread(store.set_watermark, source, newest)
        report.watermarks[source] = newest.isoformat() if newest else None
    return report


def _append(
    store: AnalyticsStore, source: str, rows: Sequence[Event | CollectedEvent]
) -> tuple[int, int]:
    present = store.copied_ids(rows[0].received_at, rows[-1].received_at)
    records: list[tuple[Any, ...]] = []
    aliases: dict[uuid.UUID, dict[str, str]] = {}
    for row in rows:
        for record in _records(source, row):
            if (record[0], record[5]) not in present:
                records.append(record)
        if isinstance(row, CollectedEvent) and row.type == "identify" and row.anonymous_id:
            aliases.setdefault(row.workspace_id, {})[row.anonymous_id] = row.person_id
    if records:
        store.insert_events(_table(records))
    for workspace_id, merged in aliases.items():
        store.add_aliases(workspace_id, merged)
    produced = sum(2 if source == "product" else 1 for _ in rows)
    return len(records), produced - len(records)


def _records(source: str, row: Event | CollectedEvent) -> list[tuple[Any, ...]]:
    properties = json.dumps(row.properties or {}, separators=(",", ":"), default=str)
    if isinstance(row, Event):
        person = str(row.user_id) if row.user_id else f"workspace:{row.workspace_id}"
        return [
            (
                str(row.workspace_id),
                person,
                row.name,
                row.occurred_at,
                properties,
                str(row.id),
                "product",
                row.received_at,
            ),
            (
                str(PLATFORM_WORKSPACE_ID),
                str(row.workspace_id),
                row.name,
                row.occurred_at,
                properties,
                f"{row.workspace_id}:{row.id}",
                "product",
                row.received_at,
            ),
        ]
    name = row.event if row.type == "track" else f"${row.type}"
    return [
        (
            str(row.workspace_id),
            row.person_id,
            name,
            row.timestamp,
            properties,
            row.message_id,
            source,
            row.received_at,
        )
    ]


def _table(records: list[tuple[Any, ...]]) -> pa.Table:
    columns = list(zip(*records, strict=True))
    types = {
        "timestamp": pa.timestamp("us", tz="UTC"),
        "received_at": pa.timestamp("us", tz="UTC"),
    }
    return pa.table(
        {
            name: pa.array(list(values), types.get(name, pa.string()))
            for name, values in zip(EVENT_COLUMNS, columns, strict=True)
        }
    )
