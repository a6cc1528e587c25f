"""Who may read and change instance-wide operations data (metric history, alerts, silences).

The operations tables describe the whole instance, not one workspace, so workspace roles do
not map onto them cleanly; the rule is: owners and admins of the operator workspaces
(`FLOW_OPERATOR_WORKSPACES`; any workspace outside production when it is empty) may read and
act, and a monitoring system may read with the `FLOW_METRICS_TOKEN` bearer token that already
guards `/metrics`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from intuitivus_flow.auth.principal import Principal
from intuitivus_flow.config import Settings
from intuitivus_flow.kit.errors import Forbidden
from intuitivus_flow.kit.http.deps import (
    ClientAddress,
    Context,
    CurrentPrincipal,
    DbSession,
    get_principal,
)
from intuitivus_flow.observability.access import address_allowed, token_matches
from intuitivus_flow.users.models import Role

_bearer = HTTPBearer(auto_error=False, description="Access token, API key or metrics token")


@dataclass(frozen=True, slots=True)
class Operator:
    """An authorised reader: a person/key (`principal`) or the metrics token (`None`)."""

    principal: Principal | None

    @property
    def actor(self) -> str:
        if self.principal is None:
            return "metrics-token"
        if self.principal.user_id is not None:
            return f"user:{self.principal.user_id}"
        return f"api-key:{self.principal.api_key_id}"


def require_operator_role(principal: Principal, settings: Settings) -> None:
    """Instance data is for the instance's operators, not every customer's admin: owners and
    admins of `FLOW_OPERATOR_WORKSPACES`, or (when it is empty) of any workspace outside
    production."""
    principal.require_role(Role.admin)
    if settings.operator_workspaces:
        if principal.workspace_id not in settings.operator_workspaces:
            raise Forbidden("Operations data is for the operators of this instance")
    elif settings.is_production:
        raise Forbidden("Set FLOW_OPERATOR_WORKSPACES to let people read operations data")


async def operator_reader(
    session: DbSession,
    context: Context,
    address: ClientAddress,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Operator:
    # The same token rules as /metrics (observability/access.py): right token, allowed network.
    if token_matches(context.settings, bearer):
        if not address_allowed(context.settings, address):
            raise Forbidden("This address may not use the metrics token")
        return Operator(principal=None)
    principal = await get_principal(session, context, bearer, None)
    require_operator_role(principal, context.settings)
    return Operator(principal=principal)


async def operator_writer(principal: CurrentPrincipal, context: Context) -> Operator:
    """Changes (silences) need a person or key with the admin role; the token only reads."""
    require_operator_role(principal, context.settings)
    return Operator(principal=principal)


OperatorReader = Annotated[Operator, Depends(operator_reader)]
OperatorWriter = Annotated[Operator, Depends(operator_writer)]
