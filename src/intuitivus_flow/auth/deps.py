"""The request's principal: the FastAPI dependency every authenticated route takes.

It lives in the auth layer, not in kit, because it needs the auth and API-key services; kit's
`http/deps.py` keeps only what carries no business rule (resources, unit of work, paging).
"""

from __future__ import annotations

from typing import Annotated, Protocol

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from intuitivus_flow.apikeys import service as api_keys
from intuitivus_flow.auth import service as auth
from intuitivus_flow.auth.policy import AuthPolicy
from intuitivus_flow.config import Settings
from intuitivus_flow.identity.principal import Principal
from intuitivus_flow.kit.errors import Unauthorized
from intuitivus_flow.kit.http.deps import DbSession
from intuitivus_flow.kit.security import TokenType
from intuitivus_flow.observability.logging import bind_request_identity

MAX_CREDENTIAL_LENGTH = 4096


class AuthRuntime(Protocol):
    """The part of the app context (intuitivus_flow/context.py) authentication reads; a
    protocol, because the context is composed above the domains and auth cannot import it."""

    settings: Settings
    auth: AuthPolicy


async def get_auth_runtime(request: Request) -> AuthRuntime:
    context: AuthRuntime = request.app.state.context
    return context


AuthContext = Annotated[AuthRuntime, Depends(get_auth_runtime)]


async def get_auth_policy(context: AuthContext) -> AuthPolicy:
    return context.auth


Policy = Annotated[AuthPolicy, Depends(get_auth_policy)]

_bearer = HTTPBearer(auto_error=False, description="Access token or API key")
_api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="API key")


async def get_principal(
    session: DbSession,
    context: AuthContext,
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
