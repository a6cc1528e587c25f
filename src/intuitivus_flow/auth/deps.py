"""auth's runtime for routes: the policy (token lifetimes, throttles) and the authenticator
behind `identity.http.CurrentPrincipal` (the app wires it; see that module for why)."""

from __future__ import annotations

from typing import Annotated, Protocol

from fastapi import Depends, Request

from intuitivus_flow.auth.authenticate import principal_for_credential
from intuitivus_flow.auth.policy import AuthPolicy
from intuitivus_flow.auth.principal_cache import PrincipalCache
from intuitivus_flow.config import Settings
from intuitivus_flow.identity.http import Authenticator
from intuitivus_flow.identity.principal import Principal
from intuitivus_flow.kit.db import LazyUnitOfWork
from intuitivus_flow.observability.logging import bind_request_identity


class AuthRuntime(Protocol):
    """The part of the app context (intuitivus_flow/context.py) authentication reads; a
    protocol, because the context is composed above the domains and auth cannot import it."""

    settings: Settings
    auth: AuthPolicy
    principals: PrincipalCache


async def get_auth_runtime(request: Request) -> AuthRuntime:
    context: AuthRuntime = request.app.state.context
    return context


AuthContext = Annotated[AuthRuntime, Depends(get_auth_runtime)]


async def get_auth_policy(context: AuthContext) -> AuthPolicy:
    return context.auth


Policy = Annotated[AuthPolicy, Depends(get_auth_policy)]


def request_authenticator(context: AuthRuntime) -> Authenticator:
    """auth's answer to `identity.http`'s port, wired by the app on `app.state.authenticate`."""

    async def authenticate(work: LazyUnitOfWork, credential: str) -> Principal:
        principal = await principal_for_credential(
            work, credential, policy=context.auth, cache=context.principals
        )
        bind_request_identity(principal)
        return principal

    return authenticate
