"""The one way domain code records product events (see docs/events.md)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from intuitivus_flow.events.catalog import EVENT_NAME_PATTERN, RESERVED_NAMESPACES, SERVER_EVENTS
from intuitivus_flow.events.models import Event
from intuitivus_flow.events.repository import EventRepository
from intuitivus_flow.events.schemas import ClientEvent
from intuitivus_flow.identity.principal import Principal
from intuitivus_flow.identity.scopes import Scope
from intuitivus_flow.kit.errors import InvalidInput
from intuitivus_flow.kit.models import utcnow
from intuitivus_flow.kit.repository import Page

# Client clocks drift; anything further off than this is clamped to the server's receipt time.
MAX_CLIENT_CLOCK_SKEW = timedelta(days=7)


async def record(
    session: AsyncSession,
    *,
    workspace_id: uuid.UUID,
    name: str,
    user_id: uuid.UUID | None = None,
    properties: dict[str, Any] | None = None,
) -> Event:
    """Record a server-side event inside the caller's transaction."""
    if name not in SERVER_EVENTS:
        raise ValueError(f"unknown server event {name!r}: add it to events/catalog.py")
    event = Event(name=name, user_id=user_id, source="server", properties=properties or {})
    return await EventRepository(session, workspace_id).add(event)


async def ingest_client_batch(
    session: AsyncSession,
    principal: Principal,
    *,
    events: Sequence[ClientEvent],
    max_batch: int,
    max_properties_bytes: int,
) -> int:
    """Validate a whole client batch first, then store it all (or nothing)."""
    principal.require_scope(Scope.events_write)
    _validate_client_batch(events, max_batch=max_batch, max_properties_bytes=max_properties_bytes)
    received = utcnow()
    rows = [
        Event(
            user_id=principal.user_id,
            name=item.name,
            source="client",
            occurred_at=_trusted_time(item.occurred_at, received),
            received_at=received,
            properties=item.properties,
        )
        for item in events
    ]
    await EventRepository(session, principal.workspace_id).add_many(rows)
    return len(rows)


async def list_events(
    session: AsyncSession,
    principal: Principal,
    *,
    name: str | None,
    since: datetime | None,
    limit: int,
    offset: int,
) -> Page[Event]:
    principal.require_scope(Scope.events_read)
    if since is not None and since.tzinfo is None:
        since = since.replace(tzinfo=UTC)  # a bare time in a query string means UTC
    repository = EventRepository(session, principal.workspace_id)
    return await repository.paginate(
        repository.recent(name=name, since=since), limit=limit, offset=offset
    )


def _validate_client_batch(
    events: Sequence[ClientEvent], *, max_batch: int, max_properties_bytes: int
) -> None:
    if len(events) > max_batch:
        raise InvalidInput(f"At most {max_batch} events per batch", field="events")
    problems = []
    for index, item in enumerate(events):
        problem = _client_event_problem(item, max_properties_bytes)
        if problem:
            problems.append({"loc": ["body", "events", index, problem[0]], "msg": problem[1]})
    if problems:
        raise InvalidInput("Some events are invalid; none were stored", errors=problems)


def _client_event_problem(item: ClientEvent, max_properties_bytes: int) -> tuple[str, str] | None:
    if not EVENT_NAME_PATTERN.match(item.name):
        return "name", "must look like 'object.action' in lower snake case"
    if item.name.split(".", 1)[0] in RESERVED_NAMESPACES:
        return "name", "this namespace is reserved for events the server records"
    if item.occurred_at is not None and item.occurred_at.tzinfo is None:
        return "occurred_at", "must include a UTC offset"
    size = len(json.dumps(item.properties, separators=(",", ":"), default=str))
    if size > max_properties_bytes:
        return "properties", f"must be at most {max_properties_bytes} bytes as JSON"
    return None


def _trusted_time(claimed: datetime | None, received: datetime) -> datetime:
    if claimed is None or abs(claimed - received) > MAX_CLIENT_CLOCK_SKEW:
        return received
    return claimed
