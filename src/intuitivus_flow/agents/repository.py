from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
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

    def with_ids(self, agent_ids: Sequence[uuid.UUID]) -> Select[Agent]:
        return self.scoped().where(Agent.id.in_(agent_ids))


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
        self, since: datetime, *, agent_id: uuid.UUID | None = None
    ) -> list[tuple[uuid.UUID, int, int, int, int, float | None]]:
        """Per agent (or the one `agent_id`): tasks, succeeded, tokens, cost (micro-USD), mean
        latency (ms)."""
        succeeded = AgentTask.status == TaskStatus.succeeded
        statement = (
            select(
                AgentTask.agent_id,
                func.count(),
                func.count().filter(succeeded),
                func.coalesce(func.sum(AgentTask.prompt_tokens + AgentTask.completion_tokens), 0),
                func.coalesce(func.sum(AgentTask.cost_micros), 0),
                func.avg(AgentTask.latency_ms).filter(succeeded),
            )
            .where(AgentTask.created_at >= since)
            .group_by(AgentTask.agent_id)
        )
        if agent_id is not None:
            statement = statement.where(AgentTask.agent_id == agent_id)
        rows = (await self.execute(statement)).all()
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

    async def status_counts(self, agent_id: uuid.UUID, since: datetime) -> dict[str, int]:
        """One agent's tasks created since `since`, counted by status (absent: none)."""
        statement = (
            select(AgentTask.status, func.count())
            .where(
                AgentTask.agent_id == agent_id,
                AgentTask.created_at >= since,
            )
            .group_by(AgentTask.status)
        )
        rows = (await self.execute(statement)).all()
        return {status: int(count) for status, count in rows}


class CrewRunRepository(WorkspaceRepository[CrewRun]):
    model = CrewRun
    not_found_message = "Crew run not found"

    def newest_first(self) -> Select[CrewRun]:
        return self.scoped().order_by(CrewRun.created_at.desc(), CrewRun.id.desc())


@dataclass(frozen=True, slots=True)
class StepTotals:
    steps: int = 0
    tokens: int = 0
    cost_micros: int = 0


class CrewStepRepository(WorkspaceRepository[CrewStep]):
    model = CrewStep

    def of_run(self, run_id: uuid.UUID) -> Select[CrewStep]:
        return self.scoped().where(CrewStep.run_id == run_id).order_by(CrewStep.position)

    async def at(self, run_id: uuid.UUID, position: int) -> CrewStep | None:
        return await self.first(self.of_run(run_id).where(CrewStep.position == position))

    async def totals(self, run_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, StepTotals]:
        """Per run: recorded steps, tokens and cost (micro-USD), in one grouped query."""
        if not run_ids:
            return {}
        statement = (
            select(
                CrewStep.run_id,
                func.count(),
                func.coalesce(func.sum(CrewStep.tokens), 0),
                func.coalesce(func.sum(CrewStep.cost_micros), 0),
            )
            .where(CrewStep.run_id.in_(run_ids))
            .group_by(CrewStep.run_id)
        )
        rows = (await self.execute(statement)).all()
        return {
            run_id: StepTotals(int(steps), int(tokens), int(cost))
            for run_id, steps, tokens, cost in rows
        }
