from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, status

from intuitivus_flow.agents import crews, schemas, tasks
from intuitivus_flow.agents import service as agents
from intuitivus_flow.agents.models import Agent, AgentStatus, AgentTask
from intuitivus_flow.billing.exceptions import PlanLimitReached
from intuitivus_flow.identity.http import CurrentPrincipal
from intuitivus_flow.identity.requirements import requires
from intuitivus_flow.identity.scopes import Scope
from intuitivus_flow.kit.errors import Conflict
from intuitivus_flow.kit.http.deps import DbSession, Paging
from intuitivus_flow.kit.http.openapi import route_errors
from intuitivus_flow.kit.pagination import Page

router = APIRouter(prefix="/api/agents", tags=["agents"])


@router.post(
    "",
    openapi_extra=route_errors(PlanLimitReached),
    dependencies=[requires(Scope.agents_write)],
    response_model=schemas.AgentRead,
    status_code=status.HTTP_201_CREATED,
    summary="Create an agent",
)
async def create_agent(
    body: schemas.AgentCreate, session: DbSession, principal: CurrentPrincipal
) -> Agent:
    """A new agent, active at once."""
    return await agents.create(session, principal, data=body)


@router.get(
    "",
    dependencies=[requires(Scope.agents_read)],
    response_model=schemas.AgentPage,
    summary="List agents",
)
async def list_agents(
    session: DbSession,
    principal: CurrentPrincipal,
    paging: Paging,
    status_filter: Annotated[AgentStatus | None, Query(alias="status")] = None,
) -> Page[Agent]:
    """The workspace's agents, oldest first, optionally by status."""
    return await agents.list_agents(
        session, principal, status=status_filter, limit=paging.limit, offset=paging.offset
    )


@router.get(
    "/stats",
    dependencies=[requires(Scope.agents_read)],
    response_model=schemas.AgentStats,
    summary="Agent statistics",
)
async def agent_stats(
    session: DbSession,
    principal: CurrentPrincipal,
    days: Annotated[int, Query(ge=1, le=366)] = 30,
) -> schemas.AgentStats:
    """Per agent over the last `days`: tasks, success rate, tokens, cost, mean latency."""
    since, rows = await tasks.agent_stats(session, principal, days=days)
    return schemas.AgentStats(
        since=since,
        agents=[
            schemas.AgentStatsRow(
                agent_id=agent_id,
                tasks=total,
                succeeded=ok,
                success_rate=tasks.success_rate(total, ok),
                tokens=tokens,
                cost_micros=cost,
                mean_latency_ms=latency,
            )
            for agent_id, total, ok, tokens, cost, latency in rows
        ],
    )


@router.post(
    "/crews",
    dependencies=[requires(Scope.agents_write)],
    response_model=schemas.CrewRunRead,
    status_code=status.HTTP_202_ACCEPTED,
    summary="Start a multi-agent run",
)
async def start_crew(
    body: schemas.CrewStart, session: DbSession, principal: CurrentPrincipal
) -> schemas.CrewRunRead:
    """Agents work in order on each other's output (sequential), or hand the work to each
    other with `@delegate <name>: <instructions>` lines (delegation). Poll the run."""
    run = await crews.start(
        session,
        principal,
        agent_ids=body.agent_ids,
        mode=body.mode,
        input=body.input,
        max_steps=body.max_steps,
    )
    return schemas.CrewRunRead.model_validate(run)


@router.get(
    "/crews",
    dependencies=[requires(Scope.agents_read)],
    response_model=schemas.CrewRunPage,
    summary="List multi-agent runs",
)
async def list_crews(
    session: DbSession, principal: CurrentPrincipal, paging: Paging
) -> schemas.CrewRunPage:
    """The workspace's runs, newest first, with their step count, tokens and cost so far."""
    page = await crews.list_runs(session, principal, limit=paging.limit, offset=paging.offset)
    return schemas.CrewRunPage(
        items=[_summary(item) for item in page.items],
        total=page.total,
        limit=page.limit,
        offset=page.offset,
    )


def _summary(item: crews.RunListing) -> schemas.CrewRunSummary:
    run = schemas.CrewRunFields.model_validate(item.run)
    return schemas.CrewRunSummary(
        **run.model_dump(),
        step_count=item.totals.steps,
        tokens=item.totals.tokens,
        cost_micros=item.totals.cost_micros,
    )


@router.get(
    "/crews/{run_id}",
    dependencies=[requires(Scope.agents_read)],
    response_model=schemas.CrewRunRead,
    summary="A multi-agent run",
)
async def get_crew(
    run_id: uuid.UUID, session: DbSession, principal: CurrentPrincipal
) -> schemas.CrewRunRead:
    """The run with every step: who worked on what, what it produced, and what it cost."""
    run, steps = await crews.get_run(session, principal, run_id)
    read = schemas.CrewRunRead.model_validate(run)
    read.steps = [schemas.CrewStepRead.model_validate(step) for step in steps]
    return read


@router.get(
    "/tasks/{task_id}",
    dependencies=[requires(Scope.agents_read)],
    response_model=schemas.TaskRead,
    summary="One task",
)
async def get_task(
    task_id: uuid.UUID, session: DbSession, principal: CurrentPrincipal
) -> AgentTask:
    """Status, result, tokens, cost and latency of a task."""
    return await tasks.get_task(session, principal, task_id)


@router.post(
    "/tasks/{task_id}/cancel",
    openapi_extra=route_errors(Conflict),
    dependencies=[requires(Scope.agents_write)],
    response_model=schemas.TaskRead,
    summary="Cancel a task",
)
async def cancel_task(
    task_id: uuid.UUID, session: DbSession, principal: CurrentPrincipal
) -> AgentTask:
    """Cancel a task that has not started yet (409 once it runs)."""
    return await tasks.cancel(session, principal, task_id)


@router.get(
    "/{agent_id}",
    dependencies=[requires(Scope.agents_read)],
    response_model=schemas.AgentRead,
    summary="One agent",
)
async def get_agent(agent_id: uuid.UUID, session: DbSession, principal: CurrentPrincipal) -> Agent:
    """An agent of this workspace; other workspaces' ids answer 404."""
    return await agents.get(session, principal, agent_id)


@router.patch(
    "/{agent_id}",
    dependencies=[requires(Scope.agents_write)],
    response_model=schemas.AgentRead,
    summary="Change an agent",
)
async def update_agent(
    agent_id: uuid.UUID,
    body: schemas.AgentUpdate,
    session: DbSession,
    principal: CurrentPrincipal,
) -> Agent:
    """Change any of name, role, prompt, provider, model, temperature, token limit."""
    return await agents.update(session, principal, agent_id, changes=body)


@router.delete(
    "/{agent_id}",
    dependencies=[requires(Scope.agents_write)],
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete an agent",
)
async def delete_agent(
    agent_id: uuid.UUID, session: DbSession, principal: CurrentPrincipal
) -> None:
    """Delete for good (archive it instead to keep it out of the way)."""
    await agents.delete(session, principal, agent_id)


@router.post(
    "/{agent_id}/clone",
    openapi_extra=route_errors(PlanLimitReached),
    dependencies=[requires(Scope.agents_write)],
    response_model=schemas.AgentRead,
    status_code=status.HTTP_201_CREATED,
    summary="Clone an agent",
)
async def clone_agent(
    agent_id: uuid.UUID,
    body: schemas.AgentClone,
    session: DbSession,
    principal: CurrentPrincipal,
) -> Agent:
    """A paused copy with the same configuration."""
    return await agents.clone(session, principal, agent_id, name=body.name)


@router.put(
    "/{agent_id}/status",
    dependencies=[requires(Scope.agents_write)],
    response_model=schemas.AgentRead,
    summary="Change status",
)
async def change_status(
    agent_id: uuid.UUID,
    body: schemas.AgentStatusChange,
    session: DbSession,
    principal: CurrentPrincipal,
) -> Agent:
    """active ⇄ paused, either → archived, archived → paused."""
    return await agents.change_status(session, principal, agent_id, status=body.status)


@router.post(
    "/{agent_id}/tasks",
    dependencies=[requires(Scope.agents_write)],
    response_model=schemas.TaskRead,
    status_code=status.HTTP_202_ACCEPTED,
    summary="Run a prompt",
)
async def submit_task(
    agent_id: uuid.UUID,
    body: schemas.TaskCreate,
    session: DbSession,
    principal: CurrentPrincipal,
) -> AgentTask:
    """Queue a prompt for the agent; poll the task for the answer."""
    return await tasks.submit(session, principal, agent_id, prompt=body.prompt)


@router.get(
    "/{agent_id}/tasks",
    dependencies=[requires(Scope.agents_read)],
    response_model=schemas.TaskPage,
    summary="An agent's tasks",
)
async def list_tasks(
    agent_id: uuid.UUID, session: DbSession, principal: CurrentPrincipal, paging: Paging
) -> Page[AgentTask]:
    """Newest first."""
    return await tasks.list_tasks(
        session, principal, agent_id, limit=paging.limit, offset=paging.offset
    )
