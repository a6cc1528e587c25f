from __future__ import annotations

from sqlalchemy import Select, select

from intuitivus_flow.apikeys.models import ApiKey
from intuitivus_flow.kit.repository import Repository, WorkspaceRepository
from intuitivus_flow.users.models import User


class ApiKeyRepository(WorkspaceRepository[ApiKey]):
    model = ApiKey
    not_found_message = "API key not found"

    def listing(self) -> Select[ApiKey]:
        return self.scoped().order_by(ApiKey.created_at.desc(), ApiKey.id)


class ApiKeyLookupRepository(Repository[ApiKey]):
    """Finds a key by its public prefix during authentication, before the workspace is known."""

    model = ApiKey

    async def by_prefix_with_creator(self, prefix: str) -> tuple[ApiKey, User | None] | None:
        """The key and the person it acts for (None once that user is deleted), in one query:
        every request made with a key needs both."""
        statement = (
            select(ApiKey, User)
            .outerjoin(User, User.id == ApiKey.created_by_id)
            .where(ApiKey.prefix == prefix)
        )
        row = (await self.session.execute(statement)).first()
        return (row[0], row[1]) if row else None
