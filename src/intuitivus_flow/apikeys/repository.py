from __future__ import annotations

from sqlalchemy import Select, select

from intuitivus_flow.apikeys.models import ApiKey
from intuitivus_flow.kit.repository import Repository, WorkspaceRepository


class ApiKeyRepository(WorkspaceRepository[ApiKey]):
    model = ApiKey
    not_found_message = "API key not found"

    def listing(self) -> Select[ApiKey]:
        return self.scoped().order_by(ApiKey.created_at.desc(), ApiKey.id)


class ApiKeyLookupRepository(Repository[ApiKey]):
    """Finds a key by its public prefix during authentication, before the workspace is known."""

    model = ApiKey

    async def by_prefix(self, prefix: str) -> ApiKey | None:
        return await self.first(select(ApiKey).where(ApiKey.prefix == prefix))
