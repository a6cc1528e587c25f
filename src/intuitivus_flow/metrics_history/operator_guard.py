"""Who may read and change instance-wide operations data (metric history, alerts, silences).

The operators of the instance (auth/operators.py: owners and admins of
`FLOW_OPERATOR_WORKSPACES`, else of the first workspace created) read with `operations:read`
and act with `operations:write`; a monitoring system may read with the `FLOW_METRICS_TOKEN`
bearer token that already guards `/metrics`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from intuitivus_flow.auth.operators import require_operator
from intuitivus_flow.identity.http import CurrentPrincipal, principal_from_credentials
from intuitivus_flow.identity.principal import Principal
from intuitivus_flow.identity.scopes import Scope
from intuitivus_flow.kit.errors import Forbidden
from intuitivus_flow.kit.http.deps import ClientAddress, Context, DbSession, Work
from intuitivus_flow.observability.metrics_guard import address_allowed, token_matches

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


async def operator_reader(
    request: Request,
    work: Work,
    context: Context,
    address: ClientAddress,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Operator:
    # The same token rules as /metrics (observability/metrics_guard.py): right token, allowed
    # network.
    if token_matches(context.settings, bearer):
        if not address_allowed(context.settings, address):
            raise Forbidden("This address may not use the metrics token")
        return Operator(principal=None)
    principal = await principal_from_credentials(request, work, bearer, None)
    await require_operator(work.session, principal, context.settings, scope=Scope.operations_read)
    return Operator(principal=principal)


async def operator_writer(
    session: DbSession, principal: CurrentPrincipal, context: Context
) -> Operator:
    """Changes (silences) need an operator with `operations:write`; the token only reads."""
    await require_operator(session, principal, context.settings, scope=Scope.operations_write)
    return Operator(principal=principal)


OperatorReader = Annotated[Operator, Depends(operator_reader)]
OperatorWriter = Annotated[Operator, Depends(operator_writer)]
