"""What a credential may do. Users get scopes from their role; API keys carry a chosen subset."""

from __future__ import annotations

from enum import StrEnum

from intuitivus_flow.identity.roles import Role


class Scope(StrEnum):
    workspace_read = "workspace:read"
    workspace_write = "workspace:write"
    members_read = "members:read"
    members_write = "members:write"
    api_keys_write = "api_keys:write"
    events_read = "events:read"
    events_write = "events:write"
    llm_use = "llm:use"
    llm_keys_write = "llm_keys:write"
    agents_read = "agents:read"
    agents_write = "agents:write"
    billing_read = "billing:read"
    billing_write = "billing:write"  # with the admin role: plans, payments, licences
    campaigns_read = "campaigns:read"
    campaigns_write = "campaigns:write"
    contacts_read = "contacts:read"
    contacts_write = "contacts:write"
    conversations_read = "conversations:read"
    conversations_write = "conversations:write"
    # Admins and owners only (never in the member set): a whole workspace leaves or arrives.
    data_export = "data:export"
    data_import = "data:import"
    # Admins and owners of the operator workspaces only (auth/operators.py): instance-wide
    # health, alerts, silences, forecasts and fault injection.
    operations_read = "operations:read"
    operations_write = "operations:write"


_MEMBER_SCOPES = frozenset(
    {
        Scope.workspace_read,
        Scope.members_read,
        Scope.events_read,
        Scope.events_write,
        Scope.llm_use,
        Scope.agents_read,
        Scope.agents_write,
        Scope.billing_read,
        Scope.campaigns_read,
        Scope.campaigns_write,
        Scope.contacts_read,
        Scope.contacts_write,
        Scope.conversations_read,
        Scope.conversations_write,
    }
)
_ADMIN_SCOPES = frozenset(Scope)

ROLE_SCOPES: dict[Role, frozenset[Scope]] = {
    Role.member: _MEMBER_SCOPES,
    Role.admin: _ADMIN_SCOPES,
    Role.owner: _ADMIN_SCOPES,
}
