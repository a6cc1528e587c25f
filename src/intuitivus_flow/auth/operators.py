"""The instance's operators: who may read and act on instance-wide operations data (metric
history, alerts, silences, forecasts) and drive fault injection.

Operations tables describe every tenant at once, so a workspace role is not enough on its own.
Operators are the owners and admins of the operator workspaces: `FLOW_OPERATOR_WORKSPACES` when
set, else the first workspace created on the instance (the installer's), in every environment;
never "any workspace". Like every other route, an API key also needs the matching scope
(`operations:read` to read, `operations:write` to change), within its creator's current role.
"""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from intuitivus_flow.config import Settings
from intuitivus_flow.identity.principal import Principal
from intuitivus_flow.identity.roles import Role
from intuitivus_flow.identity.scopes import Scope
from intuitivus_flow.kit.errors import Forbidden
from intuitivus_flow.workspaces.repository import FirstWorkspaceRepository


async def operator_workspace_ids(session: AsyncSession, settings: Settings) -> frozenset[uuid.UUID]:
    if settings.operator_workspaces:
        return frozenset(settings.operator_workspaces)
    first = await FirstWorkspaceRepository(session).first_created_id()
    return frozenset() if first is None else frozenset({first})


async def require_operator(
    session: AsyncSession,
    principal: Principal,
    settings: Settings,
    *,
    scope: Scope,
    role: Role = Role.admin,
) -> None:
    """403 unless `principal` has `role` (or higher) and `scope` in an operator workspace."""
    principal.require_role(role)
    principal.require_scope(scope)
    if principal.workspace_id not in await operator_workspace_ids(session, settings):
        raise Forbidden(
            "Operations data is for the operators of this instance (FLOW_OPERATOR_WORKSPACES, "
            "by default the first workspace created)"
        )
