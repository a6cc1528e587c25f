from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Annotated

from fastapi import APIRouter, Query, status

from intuitivus_flow.identity.http import CurrentPrincipal
from intuitivus_flow.identity.requirements import requires
from intuitivus_flow.identity.scopes import Scope
from intuitivus_flow.kit.http.deps import Context, DbSession
from intuitivus_flow.kit.http.openapi import route_errors
from intuitivus_flow.kit.models import utcnow
from intuitivus_flow.llm import schemas
from intuitivus_flow.llm import service as llm
from intuitivus_flow.llm.fallback import NoProviderAvailable
from intuitivus_flow.llm.models import ProviderKey

router = APIRouter(prefix="/api/llm", tags=["llm"])


@router.post(
    "/keys",
    dependencies=[requires(Scope.llm_keys_write)],
    response_model=schemas.ProviderKeyRead,
    status_code=status.HTTP_201_CREATED,
    summary="Add a provider key",
)
async def add_key(
    body: schemas.ProviderKeyCreate,
    session: DbSession,
    principal: CurrentPrincipal,
    context: Context,
) -> ProviderKey:
    """Store a workspace's own key for OpenAI, Anthropic, Google or an OpenAI-compatible server.
    The key is encrypted at rest and never returned; only its last characters are shown."""
    return await llm.add_key(
        session, principal, data=body, box=context.secrets, outbound=context.outbound
    )


@router.get(
    "/keys",
    dependencies=[requires(Scope.llm_use)],
    response_model=list[schemas.ProviderKeyRead],
    summary="List provider keys",
)
async def list_keys(session: DbSession, principal: CurrentPrincipal) -> Sequence[ProviderKey]:
    """Keys in the order they are tried (lower priority first)."""
    return await llm.list_keys(session, principal)


@router.patch(
    "/keys/{key_id}",
    dependencies=[requires(Scope.llm_keys_write)],
    response_model=schemas.ProviderKeyRead,
    summary="Change a provider key",
)
async def update_key(
    key_id: uuid.UUID,
    body: schemas.ProviderKeyUpdate,
    session: DbSession,
    principal: CurrentPrincipal,
    context: Context,
) -> ProviderKey:
    """Rename, reprioritise, set limits, pause, or replace the secret."""
    return await llm.update_key(session, principal, key_id, changes=body, box=context.secrets)


@router.delete(
    "/keys/{key_id}",
    dependencies=[requires(Scope.llm_keys_write)],
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Remove a provider key",
)
async def remove_key(key_id: uuid.UUID, session: DbSession, principal: CurrentPrincipal) -> None:
    """The key is deleted; its past usage stays in the statistics."""
    await llm.remove_key(session, principal, key_id)


@router.post(
    "/complete",
    openapi_extra=route_errors(NoProviderAvailable),
    dependencies=[requires(Scope.llm_use)],
    response_model=schemas.CompletionRead,
    summary="Run a completion",
)
async def complete(
    body: schemas.CompletionRequest,
    session: DbSession,
    principal: CurrentPrincipal,
    context: Context,
) -> schemas.CompletionRead:
    """Ask the workspace's providers in priority order, falling back on timeouts, errors,
    exhausted quotas and monthly limits. With no key, the offline provider answers."""
    request = llm.as_request(
        [(turn.role, turn.content) for turn in body.messages],
        system=body.system,
        model=body.model,
        temperature=body.temperature,
        max_tokens=body.max_tokens,
    )
    completion, cost = await llm.complete(
        session, principal, request=request, box=context.secrets, outbound=context.outbound
    )
    result = completion.result
    return schemas.CompletionRead(
        text=result.text,
        provider=completion.candidate.label,
        model=result.model,
        prompt_tokens=result.prompt_tokens,
        completion_tokens=result.completion_tokens,
        cost_micros=cost,
        latency_ms=round(result.latency_ms, 1),
        attempts=[
            schemas.AttemptRead(provider=a.label, outcome=a.outcome) for a in completion.attempts
        ],
    )


@router.get(
    "/usage",
    dependencies=[requires(Scope.llm_use)],
    response_model=schemas.UsageSummary,
    summary="Usage this month",
)
async def usage(
    session: DbSession,
    principal: CurrentPrincipal,
    days: Annotated[int | None, Query(ge=1, le=366, description="Default: this month.")] = None,
) -> schemas.UsageSummary:
    """Calls, tokens and cost by provider and outcome."""
    from datetime import timedelta

    now = utcnow()
    since = (
        now - timedelta(days=days)
        if days
        else now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    )
    rows = await llm.usage_since(session, principal, since)
    return schemas.UsageSummary(
        since=since,
        rows=[
            schemas.UsageRow(provider=p, outcome=o, calls=c, tokens=t, cost_micros=cost)
            for p, o, c, t, cost in rows
        ],
    )
