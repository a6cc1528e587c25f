from __future__ import annotations

from sqlalchemy import Select

from intuitivus_flow.agents.models import Agent
from intuitivus_flow.kit.repository import WorkspaceRepository


class AgentRepository(WorkspaceRepository[Agent]):
    model = Agent
    not_found_message = "Agent not found"

    def listing(self, *, status: str | None = None) -> Select[Agent]:
        statement = self.scoped().order_by(Agent.created_at, Agent.id)
        return statement.where(Agent.status == status) if status else statement
