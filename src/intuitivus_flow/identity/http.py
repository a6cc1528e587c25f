"""The request's principal as a FastAPI dependency, for every domain's routes.

Who holds a credential is the auth layer's business (sessions, tokens, API keys), but every
domain's routes need the answer, and auth itself uses domains below it (users, workspaces, API
keys, billing). So the dependency lives in this leaf and asks an `Authenticator` port, which
the app's composition root wires to auth's implementation (`auth.deps.request_authenticator`)
on `app.state.authenticate`.
"""

from __future__ import annotations

from typing import Annotated, Protocol

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.ext.asyncio import AsyncSession

from intuitivus_flow.identity.principal import Principal
from intuitivus_flow.kit.errors import Unauthorized
from intuitivus_flow.kit.http.deps import DbSession

MAX_CREDENTIAL_LENGTH = 4096


class Authenticator(Protocol):
    """Who a bearer access token or API key belongs to; raises Unauthorized if no one."""

    async def __call__(self, session: AsyncSession, credential: str) -> Principal: ...


_bearer = HTTPBearer(auto_error=False, description="Access token or API key")
_api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="API key")
Bearer = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
ApiKeyHeader = Annotated[str | None, Depends(_api_key_header)]


async def principal_from_credentials(
    request: Request,
    session: AsyncSession,
    bearer: HTTPAuthorizationCredentials | None,
    api_key: str | None,
) -> Principal:
    """For guards that accept other credentials too (the metrics token) before a principal."""
    credential = api_key or (bearer.credentials if bearer else None)
    if not credential:
        raise Unauthorized("Send a bearer access token or an API key")
    if len(credential) > MAX_CREDENTIAL_LENGTH:
        raise Unauthorized("Invalid credential")
    authenticate: Authenticator = request.app.state.authenticate
    return await authenticate(session, credential)


async def get_principal(
    request: Request, session: DbSession, bearer: Bearer, api_key: ApiKeyHeader
) -> Principal:
    return await principal_from_credentials(request, session, bearer, api_key)


CurrentPrincipal = Annotated[Principal, Depends(get_principal)]
