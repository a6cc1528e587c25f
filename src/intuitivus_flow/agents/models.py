from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from intuitivus_flow.kit.models import Base, IdMixin, TimestampMixin, str_enum, utcnow


class AgentStatus(StrEnum):
    active = "active"
    paused = "paused"
    archived = "archived"


class Agent(IdMixin, TimestampMixin, Base):
    """An AI agent: a persona (role + system prompt) bound to a provider and model."""

    __tablename__ = "agents"
    __table_args__ = (Index("ix_agents_workspace_id_status", "workspace_id", "status"),)

    workspace_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(120))
    role: Mapped[str] = mapped_column(String(200), default="")
    system_prompt: Mapped[str] = mapped_column(Text, default="")
    # None: any of the workspace's providers, in their priority order.
    provider: Mapped[str | None] = mapped_column(String(32), default=None)
    model: Mapped[str | None] = mapped_column(String(120), default=None)
    temperature: Mapped[float] = mapped_column(Float, default=0.7)
    max_tokens: Mapped[int] = mapped_column(Integer, default=1024)
    status: Mapped[AgentStatus] = mapped_column(str_enum(AgentStatus), default=AgentStatus.active)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class TaskStatus(StrEnum):
    queued = "queued"
    running = "running"
    succeeded = "succeeded"
    failed = "failed"
    cancelled = "cancelled"


class AgentTask(IdMixin, TimestampMixin, Base):
    """A prompt run through an agent in the background, with what it cost."""

    __tablename__ = "agent_tasks"
    __table_args__ = (
        Index("ix_agent_tasks_workspace_id_created_at", "workspace_id", "created_at"),
        Index("ix_agent_tasks_agent_id_created_at", "agent_id", "created_at"),
    )

    workspace_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    agent_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("agents.id", ondelete="CASCADE"))
    created_by_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
    job_id: Mapped[uuid.UUID | None] = mapped_column(default=None)
    prompt: Mapped[str] = mapped_column(Text)
    status: Mapped[TaskStatus] = mapped_column(str_enum(TaskStatus), default=TaskStatus.queued)
    result_text: Mapped[str | None] = mapped_column(Text, default=None)
    error: Mapped[str | None] = mapped_column(Text, default=None)
    provider: Mapped[str | None] = mapped_column(String(160), default=None)
    model: Mapped[str | None] = mapped_column(String(120), default=None)
    prompt_tokens: Mapped[int] = mapped_column(Integer, default=0)
    completion_tokens: Mapped[int] = mapped_column(Integer, default=0)
    cost_micros: Mapped[int] = mapped_column(Integer, default=0)
    latency_ms: Mapped[int | None] = mapped_column(Integer, default=None)
    started_at: Mapped[datetime | None] = mapped_column(default=None)
    finished_at: Mapped[datetime | None] = mapped_column(default=None)


class CrewMode(StrEnum):
    sequential = "sequential"  # each agent works on the previous one's output, in order
    delegation = "delegation"  # the current agent may hand the work to another crew member


class CrewRun(IdMixin, TimestampMixin, Base):
    """Several agents working on one input; every hand-over is a recorded `CrewStep`."""

    __tablename__ = "crew_runs"
    __table_args__ = (Index("ix_crew_runs_workspace_id_created_at", "workspace_id", "created_at"),)

    workspace_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    created_by_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
    mode: Mapped[CrewMode] = mapped_column(str_enum(CrewMode))
    agent_ids: Mapped[dict[str, Any]] = mapped_column()  # {"order": [uuid, ...]}
    input: Mapped[str] = mapped_column(Text)
    max_steps: Mapped[int] = mapped_column(Integer, default=8)
    status: Mapped[TaskStatus] = mapped_column(str_enum(TaskStatus), default=TaskStatus.queued)
    output: Mapped[str | None] = mapped_column(Text, default=None)
    error: Mapped[str | None] = mapped_column(Text, default=None)
    finished_at: Mapped[datetime | None] = mapped_column(default=None)


class CrewStep(IdMixin, TimestampMixin, Base):
    __tablename__ = "crew_steps"
    __table_args__ = (UniqueConstraint("run_id", "position", name="uq_crew_steps_run_id_position"),)

    workspace_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    run_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("crew_runs.id", ondelete="CASCADE"), index=True
    )
    position: Mapped[int] = mapped_column(Integer)
    agent_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("agents.id", ondelete="SET NULL"), default=None
    )
    input: Mapped[str] = mapped_column(Text)
    output: Mapped[str | None] = mapped_column(Text, default=None)
    handed_to_id: Mapped[uuid.UUID | None] = mapped_column(default=None)
    provider: Mapped[str | None] = mapped_column(String(160), default=None)
    tokens: Mapped[int] = mapped_column(Integer, default=0)
    cost_micros: Mapped[int] = mapped_column(Integer, default=0)
    latency_ms: Mapped[int | None] = mapped_column(Integer, default=None)
