from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, status

from intuitivus_flow.events import schemas
from intuitivus_flow.events import service as events
from intuitivus_flow.events.models import Event
from intuitivus_flow.identity.http import CurrentPrincipal
from intuitivus_flow.identity.requirements import requires
from intuitivus_flow.identity.scopes import Scope
from intuitivus_flow.kit.http.deps import Context, DbSession, Paging
from intuitivus_flow.kit.pagination import Page

router = APIRouter(prefix="/api/events", tags=["events"])


@router.post(
    "",
    dependencies=[requires(Scope.events_write)],
    response_model=schemas.BatchAccepted,
    status_code=status.HTTP_202_ACCEPTED,
    summary="Send client-side events",
)
async def ingest(
    body: schemas.EventBatch, session: DbSession, principal: CurrentPrincipal, context: Context
) -> schemas.BatchAccepted:
    """Store a batch of product events from a client. The whole batch is validated first;
    if any event is invalid, none is stored and every problem is listed."""
    accepted = await events.ingest_client_batch(
        session,
        principal,
        events=body.events,
        max_batch=context.settings.events_max_batch,
        max_properties_bytes=context.settings.events_max_properties_bytes,
    )
    return schemas.BatchAccepted(accepted=accepted)


@router.get(
    "",
    dependencies=[requires(Scope.events_read)],
    response_model=schemas.EventPage,
    summary="List events",
)
async def list_events(
    session: DbSession,
    principal: CurrentPrincipal,
    paging: Paging,
    name: Annotated[str | None, Query(max_length=80)] = None,
    since: Annotated[datetime | None, Query()] = None,
) -> Page[Event]:
    """This workspace's events, newest first, optionally by name and start time."""
    return await events.list_events(
        session, principal, name=name, since=since, limit=paging.limit, offset=paging.offset
    )
