"""Routes of the collection API (Segment-compatible, write-key authenticated) and of the event
analyses under `/api/analytics/` (docs/analytics.md). The analyses run in the analytics store,
in a worker thread: the request's event loop and the application database stay free."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, TypeVar

from fastapi import APIRouter, Depends, Header, Request, Response, status
from sqlalchemy.ext.asyncio import AsyncSession

from intuitivus_flow.analytics import collection
from intuitivus_flow.analytics import schemas as s
from intuitivus_flow.analytics.funnels import run_funnel
from intuitivus_flow.analytics.journeys import analyze_user_journey, find_bottlenecks
from intuitivus_flow.analytics.paths import run_paths
from intuitivus_flow.analytics.retention import run_lifecycle, run_retention, run_stickiness
from intuitivus_flow.analytics.store import AnalyticsStore, StoreError, open_store
from intuitivus_flow.identity.http import CurrentPrincipal
from intuitivus_flow.identity.requirements import requires
from intuitivus_flow.identity.scopes import Scope
from intuitivus_flow.kit.errors import Forbidden, InvalidInput, NotFound, TooManyRequests
from intuitivus_flow.kit.http import cors
from intuitivus_flow.kit.http.deps import Context, DbSession
from intuitivus_flow.kit.http.openapi import route_errors
from intuitivus_flow.kit.origins import refuse_unannounced
from intuitivus_flow.kit.ratelimit import Throttle

T = TypeVar("T")

# Browsers on a write key's allowed origins may read these responses, refusals included
# (kit/http/cors.py); the instance's own FLOW_CORS_ORIGINS leaves these paths alone (app.py).
collect_router = APIRouter(
    prefix="/api/analytics", tags=["analytics collection"], route_class=cors.PerRequestCorsRoute
)
router = APIRouter(prefix="/api/analytics", tags=["analytics"])
COLLECT_CALLS = ("track", "identify", "batch")
COLLECT_PATHS = tuple(f"{collect_router.prefix}/{call}" for call in COLLECT_CALLS)
PREFLIGHT_METHODS = ("POST",)
PREFLIGHT_HEADERS = ("authorization", "content-type")
PREFLIGHT_MAX_AGE_SECONDS = 600

Authorization = Annotated[
    str | None,
    Header(description="`Basic base64(<write key>:)`, as Segment's libraries send it."),
]
Origin = Annotated[
    str | None,
    Header(
        max_length=300,
        description="Sent by browsers: it must be one of the write key's allowed origins "
        "(else 403).",
    ),
]
_COLLECT_ERRORS = route_errors(
    collection.WriteKeyRequired,
    Forbidden,
    collection.PayloadTooLarge,
    TooManyRequests,
    InvalidInput,
)


async def _collector(
    request: Request,
    session: DbSession,
    context: Context,
    authorization: Authorization = None,
    origin: Origin = None,
) -> collection.Collector:
    # A dependency, so key and origin are judged before the body is read.
    collector = await collection.authenticate(session, authorization, origin)
    if origin is not None:
        cors.allow_origin(request, origin)  # from here on the page may read the answer
    throttle = Throttle(
        context.counters,
        "analytics-collect",
        limit=collection.CALLS_PER_MINUTE,
        window_seconds=60,
    )
    await throttle.acquire(
        str(collector.key_id), f"At most {collection.CALLS_PER_MINUTE} calls a minute per key"
    )
    return collector


Collector = Annotated[collection.Collector, Depends(_collector)]


async def _collect(
    session: AsyncSession,
    collector: collection.Collector,
    messages: list[s.SegmentMessage],
    default_type: str | None,
) -> s.CollectAccepted:
    stored, duplicates = await collection.collect(
        session, collector, messages, default_type=default_type
    )
    return s.CollectAccepted(accepted=stored, duplicates=duplicates)


@collect_router.post(
    "/track",
    response_model=s.CollectAccepted,
    openapi_extra=_COLLECT_ERRORS,
    summary="Record an event (Segment track)",
)
async def track(
    body: s.SegmentMessage, session: DbSession, collector: Collector
) -> s.CollectAccepted:
    """What a person did: `userId` or `anonymousId`, `event`, `properties`, `timestamp`
    (with offset), `messageId` (deduplicated per workspace)."""
    return await _collect(session, collector, [body], "track")


@collect_router.post(
    "/identify",
    response_model=s.CollectAccepted,
    openapi_extra=_COLLECT_ERRORS,
    summary="Tie ids and traits to a person (Segment identify)",
)
async def identify(
    body: s.SegmentMessage, session: DbSession, collector: Collector
) -> s.CollectAccepted:
    """Merge the `anonymousId` into the person named by `userId`; a contact when the id,
    `traits.phone` or `traits.email` matches one."""
    return await _collect(session, collector, [body], "identify")


@collect_router.post(
    "/batch",
    response_model=s.CollectAccepted,
    openapi_extra=_COLLECT_ERRORS,
    summary="Several calls at once (Segment batch)",
)
async def batch(
    body: s.SegmentBatch, session: DbSession, collector: Collector
) -> s.CollectAccepted:
    """Each message carries its `type`; the batch is checked whole and stored whole."""
    return await _collect(session, collector, body.batch, None)


@collect_router.options("/{call}", include_in_schema=False)
async def preflight(
    request: Request,
    call: str,
    session: DbSession,
    origin: Origin = None,
    method: cors.PreflightMethod = None,
    headers: cors.PreflightHeaders = None,
) -> Response:
    """A browser's CORS preflight. It carries no write key, so it is granted to an origin that
    some active key lists (else 403 without permission); the call itself is then held to its
    own key's list. A plain OPTIONS only lists the methods."""
    if call not in COLLECT_CALLS:
        raise NotFound(f"No collection call {call[:50]}")
    if origin is None or method is None:
        return Response(status_code=status.HTTP_204_NO_CONTENT, headers={"Allow": "POST, OPTIONS"})
    if not await collection.origin_has_a_key(session, origin):
        raise Forbidden(
            f"No write key of this instance lists {origin[:200]} among its allowed origins"
        )
    refuse_unannounced(
        method,
        headers,
        methods=PREFLIGHT_METHODS,
        allowed=PREFLIGHT_HEADERS,
        what="The collection API",
    )
    return cors.granted_preflight(
        request,
        origin,
        methods=PREFLIGHT_METHODS,
        headers=PREFLIGHT_HEADERS,
        max_age_seconds=PREFLIGHT_MAX_AGE_SECONDS,
    )


# --- write keys ---


@router.post(
    "/write-keys",
    dependencies=[requires(Scope.api_keys_write)],
    response_model=s.WriteKeyCreated,
    status_code=status.HTTP_201_CREATED,
    summary="Create a write key for the collection API",
)
async def create_write_key(
    body: s.WriteKeyCreate, session: DbSession, principal: CurrentPrincipal
) -> s.WriteKeyCreated:
    """The key is shown once; only its digest is stored."""
    key, raw = await collection.create_write_key(
        session, principal, name=body.name, allowed_origins=body.allowed_origins
    )
    return s.WriteKeyCreated.model_validate(
        s.WriteKeyRead.model_validate(key).model_dump() | {"key": raw}
    )


@router.get(
    "/write-keys",
    dependencies=[requires(Scope.api_keys_write)],
    response_model=s.WriteKeyList,
    summary="List write keys",
)
async def list_write_keys(session: DbSession, principal: CurrentPrincipal) -> s.WriteKeyList:
    """The workspace's write keys (prefix only), revoked ones included."""
    keys = await collection.list_write_keys(session, principal)
    return s.WriteKeyList(items=[s.WriteKeyRead.model_validate(k) for k in keys])


@router.delete(
    "/write-keys/{key_id}",
    dependencies=[requires(Scope.api_keys_write)],
    response_model=s.WriteKeyRead,
    openapi_extra=route_errors(NotFound),
    summary="Revoke a write key",
)
async def revoke_write_key(
    key_id: uuid.UUID, session: DbSession, principal: CurrentPrincipal
) -> s.WriteKeyRead:
    """Calls with this key are refused (401) from now on."""
    return s.WriteKeyRead.model_validate(
        await collection.revoke_write_key(session, principal, key_id)
    )


# --- analyses ---


async def _in_store(context: Context, work: Callable[[AnalyticsStore], T]) -> T:
    store = await asyncio.to_thread(open_store, context.settings.resolved_analytics_url)
    return await asyncio.to_thread(work, store)


_ANALYSIS_ERRORS = route_errors(InvalidInput, StoreError)


@router.post(
    "/funnels",
    dependencies=[requires(Scope.events_read)],
    response_model=s.FunnelResult,
    openapi_extra=_ANALYSIS_ERRORS,
    summary="A funnel of persons through ordered steps",
)
async def funnel(
    body: s.FunnelQuery, context: Context, principal: CurrentPrincipal
) -> s.FunnelResult:
    """Per step: persons, conversion from step 1 and from the previous step, drop-off, median
    and mean time to convert; breakdown by a step-1 property (first touch)."""
    return await _in_store(context, lambda st: run_funnel(st, principal.workspace_id, body))


@router.post(
    "/paths",
    dependencies=[requires(Scope.events_read)],
    response_model=s.PathResult,
    openapi_extra=_ANALYSIS_ERRORS,
    summary="Top transitions and paths in sessions",
)
async def paths(body: s.PathQuery, context: Context, principal: CurrentPrincipal) -> s.PathResult:
    """Sessions split after 30 minutes idle; from a start event, toward an end event, or the
    paths of a funnel step's drop-offs."""
    return await _in_store(context, lambda st: run_paths(st, principal.workspace_id, body))


@router.post(
    "/retention",
    dependencies=[requires(Scope.events_read)],
    response_model=s.RetentionResult,
    openapi_extra=_ANALYSIS_ERRORS,
    summary="Retention by cohort",
)
async def retention(
    body: s.RetentionQuery, context: Context, principal: CurrentPrincipal
) -> s.RetentionResult:
    """First-time or recurring cohorts by day, week or month."""
    return await _in_store(context, lambda st: run_retention(st, principal.workspace_id, body))


@router.post(
    "/lifecycle",
    dependencies=[requires(Scope.events_read)],
    response_model=s.LifecycleResult,
    openapi_extra=_ANALYSIS_ERRORS,
    summary="New, returning, resurrecting and dormant persons",
)
async def lifecycle(
    body: s.ActivityQuery, context: Context, principal: CurrentPrincipal
) -> s.LifecycleResult:
    """Per period, the persons doing the event by lifecycle state."""
    return await _in_store(context, lambda st: run_lifecycle(st, principal.workspace_id, body))


@router.post(
    "/stickiness",
    dependencies=[requires(Scope.events_read)],
    response_model=s.StickinessResult,
    openapi_extra=_ANALYSIS_ERRORS,
    summary="On how many days per period persons do an event",
)
async def stickiness(
    body: s.ActivityQuery, context: Context, principal: CurrentPrincipal
) -> s.StickinessResult:
    """The histogram of active days per person and period."""
    return await _in_store(context, lambda st: run_stickiness(st, principal.workspace_id, body))


@router.post(
    "/bottlenecks",
    dependencies=[requires(Scope.events_read)],
    response_model=s.BottleneckReport,
    openapi_extra=_ANALYSIS_ERRORS,
    summary="A funnel's bottlenecks and ranked recommendations",
)
async def bottlenecks(
    body: s.BottleneckQuery, context: Context, principal: CurrentPrincipal
) -> s.BottleneckReport:
    """The funnel now and over the period before it, and the rules that fired, with evidence."""
    now = datetime.now(UTC)
    return await _in_store(
        context, lambda st: find_bottlenecks(st, principal.workspace_id, body, now=now)
    )


@router.get(
    "/persons/{person_id}/journey",
    dependencies=[requires(Scope.events_read)],
    response_model=s.UserJourney,
    openapi_extra=_ANALYSIS_ERRORS,
    summary="One person's journey through the onboarding",
)
async def journey(person_id: str, context: Context, principal: CurrentPrincipal) -> s.UserJourney:
    """Their events in sessions, the furthest onboarding step, where they are stuck."""
    if not 0 < len(person_id) <= 200:
        raise InvalidInput("person_id must be 1 to 200 characters", field="person_id")
    return await _in_store(
        context, lambda st: analyze_user_journey(st, principal.workspace_id, person_id)
    )


__all__ = ["collect_router", "router"]
