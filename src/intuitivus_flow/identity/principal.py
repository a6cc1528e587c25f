"""Who is acting: the typed subject every service receives after authentication."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
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
    # Work no user or key started (a job answering a contact, the operator's CLI): the system
    # acts, still only inside `workspace_id` and only with the scopes it was given.
    is_system: bool = False

    @classmethod
    def system(
        cls, workspace_id: uuid.UUID, *, scopes: Iterable[Scope], role: Role = Role.member
    ) -> Principal:
        """The system acting for one workspace, with no more than `scopes` (name each one the
        work needs); records it writes name no user."""
        return cls(workspace_id=workspace_id, role=role, scopes=frozenset(scopes), is_system=True)

    @property
    def is_user(self) -> bool:
        return self.user_id is not None

    @property
    def actor(self) -> str:
        """Who acts, for audit records: `system`, `user:<id>` or `api_key:<id>`."""
        if self.is_system:
            return "system"
        if self.api_key_id is not None:
            return f"api_key:{self.api_key_id}"
        return f"user:{self.user_id}"

    def require_scope(self, scope: Scope) -> None:
        if scope not in self.scopes:
            raise Forbidden(f"This credential lacks the '{scope.value}' scope")

    def require_role(self, minimum: Role) -> None:
        if self.role.rank < minimum.rank:
            raise Forbidden(f"This action needs the {minimum.value} role or higher")
