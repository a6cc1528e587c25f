"""Who may read `/metrics` and drive `/api/ops`: a shared bearer token and/or allowed networks.

Prometheus cannot sign in, so the scrape endpoint has its own guard: `FLOW_METRICS_TOKEN`
(sent as `Authorization: Bearer <token>`) and `FLOW_METRICS_ALLOWED_NETWORKS` (CIDRs). When
both are set, both must pass. The ops endpoints (`/api/ops`) also accept the instance's
operators (auth/operators.py) with the `operations:read` scope to read and, as owners, with
`operations:write` to change them.
"""

from __future__ import annotations

import hmac
from ipaddress import ip_address
from typing import Annotated, Protocol

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.ext.asyncio import AsyncSession

from intuitivus_flow.config import Settings
from intuitivus_flow.identity.http import principal_from_credentials
from intuitivus_flow.identity.principal import Principal
from intuitivus_flow.identity.roles import Role
from intuitivus_flow.identity.scopes import Scope
from intuitivus_flow.kit.errors import Forbidden, Unauthorized
from intuitivus_flow.kit.http.deps import ClientAddress, Context, Work

_bearer = HTTPBearer(auto_error=False, description="Metrics token, access token or API key")
_api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="API key")


class OperatorCheck(Protocol):
    """403 unless the principal is an operator of this instance with `scope` and `role`. auth
    answers it (`auth.operators.require_operator`, wired by the app on
    `app.state.require_operator`): observability sits below auth, which records metrics."""

    async def __call__(
        self,
        session: AsyncSession,
        principal: Principal,
        settings: Settings,
        *,
        scope: Scope,
        role: Role = ...,
    ) -> None: ...


Bearer = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
ApiKey = Annotated[str | None, Depends(_api_key_header)]


def address_allowed(settings: Settings, address: str) -> bool:
    if not settings.metrics_allowed_networks:
        return True
    try:
        parsed = ip_address(address)
    except ValueError:
        return False  # "unknown" or a hostname: we cannot place it in a network
    return any(parsed in network for network in settings.metrics_allowed_networks)


def token_matches(settings: Settings, bearer: HTTPAuthorizationCredentials | None) -> bool:
    if settings.metrics_token is None or bearer is None:
        return False
    expected = settings.metrics_token.get_secret_value().encode()
    return hmac.compare_digest(bearer.credentials.encode(), expected)


def require_metrics_access(context: Context, address: ClientAddress, bearer: Bearer) -> None:
    """403 outside the allowed networks, then 401 without the right token."""
    settings = context.settings
    if not address_allowed(settings, address):
        raise Forbidden("This address may not read metrics")
    if settings.metrics_token is not None and not token_matches(settings, bearer):
        raise Unauthorized("Send the metrics token as a bearer token")


async def _require_ops_access(
    request: Request,
    work: Work,
    context: Context,
    address: ClientAddress,
    bearer: Bearer,
    api_key: str | None,
    *,
    scope: Scope,
    role: Role,
) -> None:
    """The metrics token (from an allowed network), or an operator with `scope` and `role`."""
    if token_matches(context.settings, bearer):
        if not address_allowed(context.settings, address):
            raise Forbidden("This address may not use the metrics token")
        return
    principal = await principal_from_credentials(request, work, bearer, api_key)
    require_operator: OperatorCheck = request.app.state.require_operator
    await require_operator(work.session, principal, context.settings, scope=scope, role=role)


async def require_ops_reader(
    request: Request,
    work: Work,
    context: Context,
    address: ClientAddress,
    bearer: Bearer,
    api_key: ApiKey,
) -> None:
    await _require_ops_access(
        request,
        work,
        context,
        address,
        bearer,
        api_key,
        scope=Scope.operations_read,
        role=Role.admin,
    )


async def require_ops_writer(
    request: Request,
    work: Work,
    context: Context,
    address: ClientAddress,
    bearer: Bearer,
    api_key: ApiKey,
) -> None:
    """Faults hit every tenant: an owner of an operator workspace (keys act as admins at most,
    so only people), or the metrics token."""
    await _require_ops_access(
        request,
        work,
        context,
        address,
        bearer,
        api_key,
        scope=Scope.operations_write,
        role=Role.owner,
    )


MetricsAccess = Depends(require_metrics_access)
OpsReadAccess = Depends(require_ops_reader)
OpsWriteAccess = Depends(require_ops_writer)
