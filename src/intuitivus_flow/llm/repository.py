from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Select, func, select

from intuitivus_flow.kit.repository import WorkspaceRepository
from intuitivus_flow.llm.models import LlmUsage, ProviderKey


class ProviderKeyRepository(WorkspaceRepository[ProviderKey]):
    model = ProviderKey
    not_found_message = "Provider key not found"

    def by_priority(self, *, active_only: bool = False) -> Select[ProviderKey]:
        statement = self.scoped().order_by(ProviderKey.priority, ProviderKey.created_at)
        return statement.where(ProviderKey.active.is_(True)) if active_only else statement


class UsageRepository(WorkspaceRepository[LlmUsage]):
    model = LlmUsage

    async def month_totals(self, key_id: uuid.UUID, since: datetime) -> tuple[int, int]:
        """Tokens and cost (micro-USD) charged to a key since the start of the month."""
        statement = select(
            func.coalesce(func.sum(LlmUsage.prompt_tokens + LlmUsage.completion_tokens), 0),
            func.coalesce(func.sum(LlmUsage.cost_micros), 0),
        ).where(
            LlmUsage.key_id == key_id,
            LlmUsage.created_at >= since,
        )
        tokens, cost = (await self.execute(statement)).one()
        return int(tokens), int(cost)

    async def summary_since(self, since: datetime) -> list[tuple[str, str, int, int, int]]:
        """(provider, outcome, calls, tokens, cost) for the workspace since a time."""
        statement = (
            select(
                LlmUsage.provider,
                LlmUsage.outcome,
                func.count(),
                func.coalesce(func.sum(LlmUsage.prompt_tokens + LlmUsage.completion_tokens), 0),
                func.coalesce(func.sum(LlmUsage.cost_micros), 0),
            )
            .where(LlmUsage.created_at >= since)
            .group_by(LlmUsage.provider, LlmUsage.outcome)
            .order_by(LlmUsage.provider, LlmUsage.outcome)
        )
        rows = (await self.execute(statement)).all()
        return [(p, o, int(c), int(t), int(cost)) for p, o, c, t, cost in rows]
