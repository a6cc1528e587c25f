"""Who is acting: the typed subject every service receives after authentication."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from intuitivus_flow.identity.roles import Role
from intuitivus_flow.identity.scopes import Scope
from intuitivus_flow.kit.errors import Forbidden


@dataclass(frozen=True, slots=True)
class Principal:
    workspace_id: uuid.UUID
    role: Role
    scopes: frozenset[Scope]
    user_id: uuid.UUID | None = None
    api_key_id: uuid.UUID | None = None
    session_id: uuid.UUID | None = None
    # An API key acts for the member who created it: their current role bounds the key's, and
    # keys the key creates belong to that member too.
    key_creator_id: uuid.UUID | None = None

    @property
    def is_user(self) -> bool:
        return self.user_id is not None

    def require_scope(self, scope: Scope) -> None:
        if scope not in self.scopes:
            raise Forbidden(f"This credential lacks the '{scope.value}' scope")

    def require_role(self, minimum: Role) -> None:
        if self.role.rank < minimum.rank:
            raise Forbidden(f"This action needs the {minimum.value} role or higher")
