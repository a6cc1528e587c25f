"""Imports every domain's models so that `Base.metadata` is complete (Alembic, tests)."""

from intuitivus_flow.apikeys.models import ApiKey
from intuitivus_flow.auth.models import AuthSession, RefreshToken
from intuitivus_flow.events.models import Event
from intuitivus_flow.kit.models import Base
from intuitivus_flow.users.models import Invitation, User
from intuitivus_flow.workspaces.models import Workspace

__all__ = [
    "ApiKey",
    "AuthSession",
    "Base",
    "Event",
    "Invitation",
    "RefreshToken",
    "User",
    "Workspace",
]
