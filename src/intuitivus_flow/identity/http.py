"""The request's principal as a FastAPI dependency, for every domain's routes.

Who holds a credential is the auth layer's business (sessions, tokens, API keys), but every
domain's routes need the answer, and auth itself uses domains below it (users, workspaces, API
keys, billing). So the dependency lives in this leaf and asks an `Authenticator` port, which
the app's composition root wires to auth's implementation (`auth.deps.request_authenticator`)
on `app.state.authenticate`.

It is one dependency, not a chain: FastAPI walks a route's whole dependency tree on every
request, once per place a dependency is named, even when its value is cached, so each
sub-dependency (the bearer scheme, the API-key header, the context) was paid several times per
request (issue 12; docs/ARCHITECTURE.md, "Performance"). It reads both headers itself and is
itself the security scheme the OpenAPI document lists, with the API-key header beside it.
"""

from __future__ import annotations

from typing import Annotated, Protocol

from fastapi import Depends, Request
from fastapi.openapi.models import HTTPBearer as HTTPBearerModel
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials
from fastapi.security.base import SecurityBase
from fastapi.security.utils import get_authorization_scheme_param

from intuitivus_flow.identity.principal import Principal
from intuitivus_flow.kit.db import LazyUnitOfWork
from intuitivus_flow.kit.errors import Unauthorized
from intuitivus_flow.kit.http.deps import Work

MAX_CREDENTIAL_LENGTH = 4096
API_KEY_HEADER = "X-API-Key"


class Authenticator(Protocol):
    """Who a bearer access token or API key belongs to; raises Unauthorized if no one. It
    uses the request's session only when its cache has no current answer."""

    async def __call__(self, work: LazyUnitOfWork, credential: str) -> Principal: ...


async def principal_from_credentials(
    request: Request,
    work: LazyUnitOfWork,
    bearer: HTTPAuthorizationCredentials | None,
    api_key: str | None,
) -> Principal:
    """For guards that accept other credentials too (the metrics token) before a principal."""
    credential = api_key or (bearer.credentials if bearer else None)
    return await _authenticate(request, work, credential)


async def _authenticate(
    request: Request, work: LazyUnitOfWork, credential: str | None
) -> Principal:
    if not credential:
        raise Unauthorized("Send a bearer access token or an API key")
    if len(credential) > MAX_CREDENTIAL_LENGTH:
        raise Unauthorized("Invalid credential")
    authenticate: Authenticator = request.app.state.authenticate
    return await authenticate(work, credential)


def request_credential(request: Request) -> str | None:
    """The API key header, else the bearer token of `Authorization` (as FastAPI's
    `APIKeyHeader` and `HTTPBearer` read them: another scheme or an empty value is none)."""
    headers = request.headers
    api_key = headers.get(API_KEY_HEADER)
    if api_key:
        return api_key
    scheme, token = get_authorization_scheme_param(headers.get("authorization"))
    return token if scheme.lower() == "bearer" and token else None


class PrincipalDependency(SecurityBase):
    """`CurrentPrincipal`: the credential's principal, or 401. The OpenAPI document lists it
    as the `HTTPBearer` scheme and, through `also_accepts` (kit/http/openapi.py), the
    `X-API-Key` header."""

    def __init__(self) -> None:
        self.model = HTTPBearerModel(description="Access token or API key")
        self.scheme_name = "HTTPBearer"
        self.also_accepts = (
            APIKeyHeader(name=API_KEY_HEADER, auto_error=False, description="API key"),
        )

    async def __call__(self, request: Request, work: Work) -> Principal:
        return await _authenticate(request, work, request_credential(request))


get_principal = PrincipalDependency()
CurrentPrincipal = Annotated[Principal, Depends(get_principal)]
