"""Who may read `/metrics` and drive `/api/ops`: a shared bearer token and/or allowed networks.

Prometheus cannot sign in, so the scrape endpoint has its own guard: `FLOW_METRICS_TOKEN`
(sent as `Authorization: Bearer <token>`) and `FLOW_METRICS_ALLOWED_NETWORKS` (CIDRs). When
both are set, both must pass. The ops endpoints also accept a workspace owner.
"""

from __future__ import annotations

import hmac
from ipaddress import ip_address
from typing import Annotated

from fastapi import Depends
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from intuitivus_flow.config import Settings
from intuitivus_flow.kit.errors import Forbidden, Unauthorized
from intuitivus_flow.kit.http.deps import ClientAddress, Context, DbSession, get_principal
from intuitivus_flow.users.models import Role

_bearer = HTTPBearer(auto_error=False, description="Metrics token, access token or API key")
_api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="API key")
Bearer = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]


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


async def require_ops_access(
    session: DbSession,
    context: Context,
    address: ClientAddress,
    bearer: Bearer,
    api_key: Annotated[str | None, Depends(_api_key_header)],
) -> None:
    """The metrics token (from an allowed network), or a workspace owner."""
    if token_matches(context.settings, bearer):
        if not address_allowed(context.settings, address):
            raise Forbidden("This address may not use the metrics token")
        return
    principal = await get_principal(session, context, bearer, api_key)
    principal.require_role(Role.owner)


MetricsAccess = Depends(require_metrics_access)
OpsAccess = Depends(require_ops_access)
