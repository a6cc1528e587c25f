"""A member's role in their workspace; ranks order them for "this role or higher" checks."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    owner = "owner"
    admin = "admin"
    member = "member"

    @property
    def rank(self) -> int:
        return {Role.member: 0, Role.admin: 1, Role.owner: 2}[self]
