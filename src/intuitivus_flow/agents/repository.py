from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Select, func, select

from intuitivus_flow.agents.models import Agent, AgentTask, CrewRun, CrewStep, TaskStatus
from intuitivus_flow.kit.repository import WorkspaceRepository


class AgentRepository(WorkspaceRepository[Agent]):
    model = Agent
    not_found_message = "Agent not found"

    def listing(self, *, status: str | None = None) -> Select[Agent]:
        statement = self.scoped().order_by(Agent.created_at, Agent.id)
        return statement.where(Agent.status == status) if status else statement


class AgentTaskRepository(WorkspaceRepository[AgentTask]):
    model = AgentTask
    not_found_message = "Task not found"

    def for_agent(self, agent_id: uuid.UUID) -> Select[AgentTask]:
        return (
            self.scoped()
            .where(AgentTask.agent_id == agent_id)
            .order_by(AgentTask.created_at.desc(), AgentTask.id)
        )

    async def stats(
        self, since: datetime
    ) -> list[tuple[uuid.UUID, int, int, int, int, float | None]]:
        """Per agent: tasks, succeeded, tokens, cost (micro-USD), mean latency (ms)."""
        succeeded = AgentTask.status == TaskStatus.succeeded.value
        statement = (
            select(
                AgentTask.agent_id,
                func.count(),
                func.count().filter(succeeded),
                func.coalesce(func.sum(AgentTask.prompt_tokens + AgentTask.completion_tokens), 0),
                func.coalesce(func.sum(AgentTask.cost_micros), 0),
                func.avg(AgentTask.latency_ms).filter(succeeded),
            )
            .where(AgentTask.workspace_id == self.workspace_id, AgentTask.created_at >= since)
            .group_by(AgentTask.agent_id)
        )
        rows = (await self.session.execute(statement)).all()
        return [
            (
                agent_id,
                int(total),
                int(ok),
                int(tokens),
                int(cost),
                float(latency) if latency is not None else None,
            )
            for agent_id, total, ok, tokens, cost, latency in rows
        ]


class CrewRunRepository(WorkspaceRepository[CrewRun]):
    model = CrewRun
    not_found_message = "Crew run not found"


class CrewStepRepository(WorkspaceRepository[CrewStep]):
    model = CrewStep

    def of_run(self, run_id: uuid.UUID) -> Select[CrewStep]:
        return self.scoped().where(CrewStep.run_id == run_id).order_by(CrewStep.position)

    async def at(self, run_id: uuid.UUID, position: int) -> CrewStep | None:
        return await self.first(self.of_run(run_id).where(CrewStep.position == position))
