from __future__ import annotations

import uuid

from fastapi import APIRouter, status

from intuitivus_flow.apikeys import schemas
from intuitivus_flow.apikeys import service as api_keys
from intuitivus_flow.apikeys.models import ApiKey
from intuitivus_flow.identity.http import CurrentPrincipal
from intuitivus_flow.identity.requirements import requires
from intuitivus_flow.identity.scopes import Scope
from intuitivus_flow.kit.http.deps import DbSession, Paging
from intuitivus_flow.kit.pagination import Page

router = APIRouter(prefix="/api/api-keys", tags=["api keys"])


@router.post(
    "",
    dependencies=[requires(Scope.api_keys_write)],
    response_model=schemas.ApiKeyCreated,
    status_code=status.HTTP_201_CREATED,
    summary="Create an API key",
)
async def create_key(
    body: schemas.ApiKeyCreate, session: DbSession, principal: CurrentPrincipal
) -> schemas.ApiKeyCreated:
    """The secret is in the response once and never again; only its hash is stored."""
    issued = await api_keys.create(
        session,
        principal,
        name=body.name,
        scopes=body.scopes,
        expires_in_days=body.expires_in_days,
    )
    return schemas.ApiKeyCreated(
        **schemas.ApiKeyRead.model_validate(issued.api_key).model_dump(), key=issued.secret
    )


@router.get(
    "",
    dependencies=[requires(Scope.api_keys_write)],
    response_model=schemas.ApiKeyPage,
    summary="List API keys",
)
async def list_keys(
    session: DbSession, principal: CurrentPrincipal, paging: Paging
) -> Page[ApiKey]:
    """Keys of this workspace with prefix, scopes and last-used time (never the secret)."""
    return await api_keys.list_keys(session, principal, limit=paging.limit, offset=paging.offset)


@router.delete(
    "/{key_id}",
    dependencies=[requires(Scope.api_keys_write)],
    response_model=schemas.ApiKeyRead,
    summary="Revoke an API key",
)
async def revoke_key(key_id: uuid.UUID, session: DbSession, principal: CurrentPrincipal) -> ApiKey:
    """The key stops working immediately."""
    return await api_keys.revoke(session, principal, key_id)
