"""FastAPI dependencies shared by every router: context, unit of work, caller identity."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Query, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.ext.asyncio import AsyncSession

from intuitivus_flow.apikeys import service as api_keys
from intuitivus_flow.auth import service as auth
from intuitivus_flow.identity.principal import Principal
from intuitivus_flow.kit.context import AppContext
from intuitivus_flow.kit.db import unit_of_work
from intuitivus_flow.kit.errors import Unauthorized
from intuitivus_flow.kit.repository import MAX_PAGE_SIZE
from intuitivus_flow.kit.security import TokenType
from intuitivus_flow.observability.logging import bind_request_identity

MAX_CREDENTIAL_LENGTH = 4096


def get_context(request: Request) -> AppContext:
    context: AppContext = request.app.state.context
    return context


Context = Annotated[AppContext, Depends(get_context)]


async def get_session(context: Context) -> AsyncIterator[AsyncSession]:
    """The request is the unit of work: commit when the handler returns, roll back if it raises."""
    async with unit_of_work(context.sessions) as session:
        yield session


# scope="function": the commit happens before the response is sent, so a failed commit is
# reported to the client instead of being lost after a 200.
DbSession = Annotated[AsyncSession, Depends(get_session, scope="function")]

_bearer = HTTPBearer(auto_error=False, description="Access token or API key")
_api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="API key")


async def get_principal(
    session: DbSession,
    context: Context,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    api_key: Annotated[str | None, Depends(_api_key_header)],
) -> Principal:
    credential = api_key or (bearer.credentials if bearer else None)
    if not credential:
        raise Unauthorized("Send a bearer access token or an API key")
    if len(credential) > MAX_CREDENTIAL_LENGTH:
        raise Unauthorized("Invalid credential")
    if api_keys.looks_like_api_key(credential):
        principal = await api_keys.principal_from_key(session, credential)
    else:
        principal = await auth.principal_from_token(
            session, credential, kind=TokenType.access, policy=context.auth
        )
    bind_request_identity(principal)
    return principal


CurrentPrincipal = Annotated[Principal, Depends(get_principal)]


def client_address(request: Request, context: Context) -> str:
    """The caller's address, from X-Forwarded-For only when we sit behind a trusted proxy."""
    if context.settings.trust_forwarded_for:
        forwarded = request.headers.get("x-forwarded-for", "")
        first = forwarded.split(",", 1)[0].strip()
        if first:
            return first[:64]
    return request.client.host if request.client else "unknown"


ClientAddress = Annotated[str, Depends(client_address)]


class Pagination:
    def __init__(
        self,
        limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = 50,
        offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
    ) -> None:
        self.limit = limit
        self.offset = offset


Paging = Annotated[Pagination, Depends()]
