"""Running agent tasks: enqueue on the job system, then the worker calls the LLM."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from intuitivus_flow.agents.models import Agent, AgentStatus, AgentTask, TaskStatus
from intuitivus_flow.agents.repository import AgentRepository, AgentTaskRepository
from intuitivus_flow.events import catalog
from intuitivus_flow.events import service as events
from intuitivus_flow.identity.principal import Principal
from intuitivus_flow.identity.scopes import Scope
from intuitivus_flow.jobs import service as jobs
from intuitivus_flow.jobs.context import JobContext
from intuitivus_flow.jobs.models import Job
from intuitivus_flow.jobs.registry import TaskList
from intuitivus_flow.jobs.repository import WorkspaceJobRepository
from intuitivus_flow.jobs.worker import PermanentJobError
from intuitivus_flow.kit.crypto import SecretBox
from intuitivus_flow.kit.errors import Conflict, InvalidInput
from intuitivus_flow.kit.models import utcnow
from intuitivus_flow.kit.outbound import OutboundPolicy
from intuitivus_flow.kit.repository import Page
from intuitivus_flow.llm import service as llm
from intuitivus_flow.llm.fallback import NoProviderAvailable
from intuitivus_flow.llm.providers import ChatMessage, ChatRequest, ProviderKind
from intuitivus_flow.observability.metrics import get_metrics

RUN_TASK = "agent_task.run"


async def submit(
    session: AsyncSession, principal: Principal, agent_id: uuid.UUID, *, prompt: str
) -> AgentTask:
    """Queue a prompt for an active agent; the answer arrives in the background."""
    principal.require_scope(Scope.agents_write)
    agent = await AgentRepository(session, principal.workspace_id).get_or_raise(agent_id)
    if agent.status != AgentStatus.active:
        raise InvalidInput(f"The agent is {agent.status}; activate it to run tasks")
    task = await AgentTaskRepository(session, principal.workspace_id).add(
        AgentTask(agent_id=agent.id, prompt=prompt, created_by_id=principal.user_id)
    )
    job = await jobs.enqueue(
        session,
        kind=RUN_TASK,
        payload={"task_id": str(task.id)},
        workspace_id=principal.workspace_id,
        dedupe_key=f"agent-task:{task.id}",
        max_attempts=3,
    )
    task.job_id = job.id
    await _record(
        session, principal.workspace_id, principal.user_id, catalog.AGENT_TASK_SUBMITTED, task
    )
    return task


async def get_task(session: AsyncSession, principal: Principal, task_id: uuid.UUID) -> AgentTask:
    principal.require_scope(Scope.agents_read)
    return await AgentTaskRepository(session, principal.workspace_id).get_or_raise(task_id)


async def list_tasks(
    session: AsyncSession, principal: Principal, agent_id: uuid.UUID, *, limit: int, offset: int
) -> Page[AgentTask]:
    principal.require_scope(Scope.agents_read)
    await AgentRepository(session, principal.workspace_id).get_or_raise(agent_id)
    repository = AgentTaskRepository(session, principal.workspace_id)
    return await repository.paginate(repository.for_agent(agent_id), limit=limit, offset=offset)


async def cancel(session: AsyncSession, principal: Principal, task_id: uuid.UUID) -> AgentTask:
    """Cancel a task that has not started; a running or finished one answers 409."""
    principal.require_scope(Scope.agents_write)
    task = await AgentTaskRepository(session, principal.workspace_id).get_or_raise(task_id)
    if task.status == TaskStatus.cancelled:
        return task
    now = utcnow()
    jobs_repo = WorkspaceJobRepository(session, principal.workspace_id)
    if task.status != TaskStatus.queued or (
        task.job_id and not await jobs_repo.cancel_if_waiting(task.job_id, now)
    ):
        raise Conflict(f"The task is {task.status} and can no longer be cancelled")
    task.status, task.finished_at = TaskStatus.cancelled, now
    await _record(
        session, principal.workspace_id, principal.user_id, catalog.AGENT_TASK_CANCELLED, task
    )
    return task


async def agent_stats(
    session: AsyncSession, principal: Principal, *, days: int, agent_id: uuid.UUID | None = None
) -> tuple[datetime, list[tuple[uuid.UUID, int, int, int, int, float | None]]]:
    """Per agent of the workspace (or only `agent_id`) over the last `days`."""
    principal.require_scope(Scope.agents_read)
    since = utcnow() - timedelta(days=days)
    repository = AgentTaskRepository(session, principal.workspace_id)
    return since, await repository.stats(since, agent_id=agent_id)


async def agent_status_counts(
    session: AsyncSession, principal: Principal, agent_id: uuid.UUID, *, since: datetime
) -> dict[str, int]:
    """One agent's tasks by status since `since`: pass agent_stats' own `since` so both
    figures cover exactly the same window."""
    principal.require_scope(Scope.agents_read)
    return await AgentTaskRepository(session, principal.workspace_id).status_counts(agent_id, since)


def success_rate(tasks: int, succeeded: int) -> float:
    """Succeeded over all tasks of the period (queued and running ones count as not yet
    succeeded), 0 when there were none."""
    return round(succeeded / tasks, 4) if tasks else 0.0


TASKS = TaskList("agents")


@TASKS.task(RUN_TASK)
async def run_task(job: JobContext) -> dict[str, str]:
    # The worker's secret box and outbound rule (where LLM providers may be reached).
    return await execute(job.session, job.job, box=job.secrets, outbound=job.outbound)


async def execute(
    session: AsyncSession, job: Job, *, box: SecretBox, outbound: OutboundPolicy
) -> dict[str, str]:
    """Worker side. Idempotent: a task that already finished is left as it is."""
    if job.workspace_id is None:
        raise PermanentJobError("agent task job without a workspace")
    tasks = AgentTaskRepository(session, job.workspace_id)
    task = await tasks.get(uuid.UUID(str(job.payload["task_id"])))
    if task is None:
        raise PermanentJobError("the task no longer exists")
    if task.status in {
        TaskStatus.succeeded,
        TaskStatus.cancelled,
        TaskStatus.failed,
    }:
        return {"status": task.status}
    agent = await AgentRepository(session, job.workspace_id).get(task.agent_id)
    if agent is None or agent.status != AgentStatus.active:
        _finish_failed(task, "the agent was paused, archived or deleted before the task ran")
        return {"status": task.status}
    task.status, task.started_at = TaskStatus.running, utcnow()
    try:
        completion, cost = await llm.complete(
            session,
            worker_principal(job.workspace_id),
            request=agent_request(agent, task.prompt),
            box=box,
            outbound=outbound,
            provider=ProviderKind(agent.provider) if agent.provider else None,
        )
    except NoProviderAvailable as failure:
        _finish_failed(task, failure.detail)
    else:
        result = completion.result
        task.status, task.finished_at = TaskStatus.succeeded, utcnow()
        task.result_text, task.provider, task.model = (
            result.text,
            completion.candidate.label,
            result.model,
        )
        task.prompt_tokens, task.completion_tokens = result.prompt_tokens, result.completion_tokens
        task.cost_micros, task.latency_ms = cost, round(result.latency_ms)
    get_metrics().agent_replies_total.labels(outcome=task.status).inc()
    await _record(
        session,
        job.workspace_id,
        None,
        catalog.AGENT_TASK_FINISHED,
        task,
        status=task.status,
        actor=worker_principal(job.workspace_id).actor,
    )
    return {"status": task.status}


def agent_request(agent: Agent, prompt: str) -> ChatRequest:
    return ChatRequest(
        model=agent.model or "",
        messages=[ChatMessage("user", prompt)],
        system="\n\n".join(part for part in (agent.role, agent.system_prompt) if part),
        temperature=agent.temperature,
        max_tokens=agent.max_tokens,
    )


def worker_principal(workspace_id: uuid.UUID) -> Principal:
    # The system runs the task for the workspace that queued it, with only what it needs.
    return Principal.system(workspace_id, scopes={Scope.llm_use})


def _finish_failed(task: AgentTask, error: str) -> None:
    task.status, task.error, task.finished_at = TaskStatus.failed, error[:2000], utcnow()


async def _record(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    user_id: uuid.UUID | None,
    name: str,
    task: AgentTask,
    **extra: object,
) -> None:
    await events.record(
        session,
        workspace_id=workspace_id,
        user_id=user_id,
        name=name,
        properties={"task_id": str(task.id), "agent_id": str(task.agent_id), **extra},
    )
