"""KPI goals: one workspace's (the API and pages), and every workspace's (the watcher job)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select

from intuitivus_flow.analytics.goals_models import KpiGoal
from intuitivus_flow.kit.repository import Repository, WorkspaceRepository


class GoalRepository(WorkspaceRepository[KpiGoal]):
    model = KpiGoal

    async def listing(self) -> Sequence[KpiGoal]:
        return await self.all(self.scoped().order_by(KpiGoal.created_at, KpiGoal.id))


class WatchedGoalRepository(Repository[KpiGoal]):
    """Every workspace's goals, for the system job that watches them."""

    model = KpiGoal

    async def every_goal(self) -> Sequence[KpiGoal]:
        return await self.all(select(KpiGoal).order_by(KpiGoal.workspace_id, KpiGoal.id))
