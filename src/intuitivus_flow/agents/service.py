"""Agents: create, read, update, delete, clone and status (active, paused, archived)."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from intuitivus_flow.agents.models import Agent, AgentStatus
from intuitivus_flow.agents.repository import AgentRepository
from intuitivus_flow.agents.schemas import AgentCreate, AgentUpdate
from intuitivus_flow.billing import service as billing
from intuitivus_flow.billing.plans import Limit
from intuitivus_flow.events import catalog
from intuitivus_flow.events import service as events
from intuitivus_flow.identity.principal import Principal
from intuitivus_flow.identity.scopes import Scope
from intuitivus_flow.kit.errors import InvalidInput
from intuitivus_flow.kit.repository import Page

# Archived agents are kept for their history but can only come back through "paused".
ALLOWED_TRANSITIONS = {
    AgentStatus.active: {AgentStatus.paused, AgentStatus.archived},
    AgentStatus.paused: {AgentStatus.active, AgentStatus.archived},
    AgentStatus.archived: {AgentStatus.paused},
}


async def create(session: AsyncSession, principal: Principal, *, data: AgentCreate) -> Agent:
    principal.require_scope(Scope.agents_write)
    await billing.check_room(session, principal.workspace_id, Limit.agents, count=count_agents)
    agent = await AgentRepository(session, principal.workspace_id).add(
        Agent(**data.model_dump(mode="json"))
    )
    await _record(session, principal, catalog.AGENT_CREATED, agent)
    return agent


async def list_agents(
    session: AsyncSession,
    principal: Principal,
    *,
    status: AgentStatus | None,
    limit: int,
    offset: int,
) -> Page[Agent]:
    principal.require_scope(Scope.agents_read)
    repository = AgentRepository(session, principal.workspace_id)
    return await repository.paginate(
        repository.listing(status=status.value if status else None), limit=limit, offset=offset
    )


async def get(session: AsyncSession, principal: Principal, agent_id: uuid.UUID) -> Agent:
    principal.require_scope(Scope.agents_read)
    return await AgentRepository(session, principal.workspace_id).get_or_raise(agent_id)


async def update(
    session: AsyncSession, principal: Principal, agent_id: uuid.UUID, *, changes: AgentUpdate
) -> Agent:
    principal.require_scope(Scope.agents_write)
    agent = await AgentRepository(session, principal.workspace_id).get_or_raise(agent_id)
    fields = changes.model_dump(mode="json", exclude_unset=True)
    for name, value in fields.items():
        if value is None and name not in {"provider", "model"}:
            raise InvalidInput(f"{name} cannot be null", field=name)
        setattr(agent, name, value)
    await _record(session, principal, catalog.AGENT_UPDATED, agent, changed=sorted(fields))
    return agent


async def delete(session: AsyncSession, principal: Principal, agent_id: uuid.UUID) -> None:
    principal.require_scope(Scope.agents_write)
    repository = AgentRepository(session, principal.workspace_id)
    agent = await repository.get_or_raise(agent_id)
    await _record(session, principal, catalog.AGENT_DELETED, agent)
    await repository.delete(agent)


async def clone(
    session: AsyncSession, principal: Principal, agent_id: uuid.UUID, *, name: str | None
) -> Agent:
    principal.require_scope(Scope.agents_write)
    await billing.check_room(session, principal.workspace_id, Limit.agents, count=count_agents)
    repository = AgentRepository(session, principal.workspace_id)
    source = await repository.get_or_raise(agent_id)
    copy = await repository.add(
        Agent(
            name=(name or f"{source.name} (copy)")[:120],
            role=source.role,
            system_prompt=source.system_prompt,
            provider=source.provider,
            model=source.model,
            temperature=source.temperature,
            max_tokens=source.max_tokens,
            status=AgentStatus.paused,  # a copy starts paused, so it never surprises anyone
        )
    )
    await _record(session, principal, catalog.AGENT_CLONED, copy, source_id=str(source.id))
    return copy


async def change_status(
    session: AsyncSession, principal: Principal, agent_id: uuid.UUID, *, status: AgentStatus
) -> Agent:
    principal.require_scope(Scope.agents_write)
    agent = await AgentRepository(session, principal.workspace_id).get_or_raise(agent_id)
    current = AgentStatus(agent.status)
    if status is current:
        return agent
    if status not in ALLOWED_TRANSITIONS[current]:
        raise InvalidInput(f"An {current.value} agent cannot become {status.value}", field="status")
    agent.status = status
    await _record(
        session,
        principal,
        catalog.AGENT_STATUS_CHANGED,
        agent,
        **{"from": current.value, "to": status.value},
    )
    return agent


async def _record(
    session: AsyncSession, principal: Principal, name: str, agent: Agent, **extra: object
) -> None:
    await events.record(
        session,
        workspace_id=principal.workspace_id,
        user_id=principal.user_id,
        name=name,
        properties={"agent_id": str(agent.id), **extra},
    )


async def count_agents(session: AsyncSession, workspace_id: uuid.UUID) -> int:
    """The workspace's agents, as billing's agent limit counts them."""
    return await AgentRepository(session, workspace_id).count()
