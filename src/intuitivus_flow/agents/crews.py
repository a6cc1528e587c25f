"""Multi-agent runs ("crews"): agents hand work to each other, one recorded step at a time.

Sequential crews pass each agent's output to the next agent in order. Delegation crews start
with the first agent (the coordinator); any agent may hand the work on by writing a line
`@delegate <agent name>: <instructions>`, naming another crew member. A run stops when an agent
answers without delegating, or after `max_steps`.

Each step is its own job (dedupe key `crew:<run>:<position>`), so a run survives restarts and a
step that already has its output is never run twice.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from intuitivus_flow.agents.models import (
    Agent,
    AgentStatus,
    CrewMode,
    CrewRun,
    CrewStep,
    TaskStatus,
)
from intuitivus_flow.agents.repository import (
    AgentRepository,
    CrewRunRepository,
    CrewStepRepository,
    StepTotals,
)
from intuitivus_flow.agents.tasks import agent_request, worker_principal
from intuitivus_flow.events import catalog
from intuitivus_flow.events import service as events
from intuitivus_flow.identity.principal import Principal
from intuitivus_flow.identity.scopes import Scope
from intuitivus_flow.jobs import service as jobs
from intuitivus_flow.jobs.context import JobContext
from intuitivus_flow.jobs.models import Job
from intuitivus_flow.jobs.registry import TaskList
from intuitivus_flow.jobs.worker import PermanentJobError
from intuitivus_flow.kit.crypto import SecretBox
from intuitivus_flow.kit.errors import InvalidInput
from intuitivus_flow.kit.models import utcnow
from intuitivus_flow.kit.outbound import OutboundPolicy
from intuitivus_flow.kit.repository import Page
from intuitivus_flow.llm import service as llm
from intuitivus_flow.llm.fallback import NoProviderAvailable
from intuitivus_flow.llm.providers import ProviderKind

RUN_STEP = "crew.step"
DELEGATION = re.compile(r"@delegate\s+(?P<name>[^:\n]{1,120}):\s*(?P<task>.+)", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Handover:
    agent_id: uuid.UUID
    input: str


@dataclass(frozen=True, slots=True)
class RunListing:
    """A run with what its recorded steps add up to (the run row keeps no totals)."""

    run: CrewRun
    totals: StepTotals


async def start(
    session: AsyncSession,
    principal: Principal,
    *,
    agent_ids: Sequence[uuid.UUID],
    mode: CrewMode,
    input: str,
    max_steps: int,
) -> CrewRun:
    principal.require_scope(Scope.agents_write)
    await _require_active_agents(session, principal.workspace_id, agent_ids)
    run = await CrewRunRepository(session, principal.workspace_id).add(
        CrewRun(
            mode=mode.value,
            agent_ids={"order": [str(a) for a in agent_ids]},
            input=input,
            max_steps=max_steps,
            created_by_id=principal.user_id,
        )
    )
    await _enqueue_step(session, run, position=0, handover=Handover(agent_ids[0], input))
    await events.record(
        session,
        workspace_id=principal.workspace_id,
        user_id=principal.user_id,
        name=catalog.CREW_RUN_STARTED,
        properties={"run_id": str(run.id), "mode": mode.value, "agents": len(agent_ids)},
    )
    return run


async def get_run(
    session: AsyncSession, principal: Principal, run_id: uuid.UUID
) -> tuple[CrewRun, Sequence[CrewStep]]:
    principal.require_scope(Scope.agents_read)
    run = await CrewRunRepository(session, principal.workspace_id).get_or_raise(run_id)
    steps_repo = CrewStepRepository(session, principal.workspace_id)
    return run, await steps_repo.all(steps_repo.of_run(run.id))


async def list_runs(
    session: AsyncSession, principal: Principal, *, limit: int, offset: int
) -> Page[RunListing]:
    """The workspace's runs, newest first, each with its step count, tokens and cost."""
    principal.require_scope(Scope.agents_read)
    runs = CrewRunRepository(session, principal.workspace_id)
    page = await runs.paginate(runs.newest_first(), limit=limit, offset=offset)
    totals = await CrewStepRepository(session, principal.workspace_id).totals(
        [run.id for run in page.items]
    )
    return Page(
        items=[RunListing(run, totals.get(run.id, StepTotals())) for run in page.items],
        total=page.total,
        limit=page.limit,
        offset=page.offset,
    )


def crew_order(run: CrewRun) -> list[uuid.UUID]:
    """The crew's agents as chosen: in order (sequential), the coordinator first (delegation)."""
    return [uuid.UUID(agent_id) for agent_id in run.agent_ids["order"]]


async def agent_names(
    session: AsyncSession, principal: Principal, agent_ids: Iterable[uuid.UUID]
) -> dict[uuid.UUID, str]:
    """Names of the workspace's agents among `agent_ids`; deleted ones are simply missing."""
    principal.require_scope(Scope.agents_read)
    wanted = sorted(set(agent_ids))
    if not wanted:
        return {}
    repository = AgentRepository(session, principal.workspace_id)
    return {agent.id: agent.name for agent in await repository.all(repository.with_ids(wanted))}


TASKS = TaskList("crews")


@TASKS.task(RUN_STEP)
async def run_step(job: JobContext) -> dict[str, str]:
    return await execute_step(job.session, job.job, box=job.secrets, outbound=job.outbound)


async def execute_step(
    session: AsyncSession, job: Job, *, box: SecretBox, outbound: OutboundPolicy
) -> dict[str, str]:
    if job.workspace_id is None:
        raise PermanentJobError("crew step without a workspace")
    workspace_id = job.workspace_id
    run = await CrewRunRepository(session, workspace_id).get(uuid.UUID(job.payload["run_id"]))
    if run is None:
        raise PermanentJobError("the crew run no longer exists")
    position = int(job.payload["position"])
    steps = CrewStepRepository(session, workspace_id)
    if run.status in {TaskStatus.succeeded, TaskStatus.failed} or await steps.at(run.id, position):
        return {"status": run.status}  # already done: at-least-once delivery, run once
    agent = await AgentRepository(session, workspace_id).get(uuid.UUID(job.payload["agent_id"]))
    if agent is None or agent.status != AgentStatus.active:
        _finish(run, failed="an agent of the crew was paused, archived or deleted")
        return {"status": run.status}
    run.status = TaskStatus.running
    step = await _run_agent(
        session, run, agent, position, job.payload["input"], box=box, outbound=outbound
    )
    if step is None:
        return {"status": run.status}
    handover = await _next_handover(session, run, step, agent)
    if handover is None:
        _finish(run, output=step.output or "")
        await events.record(
            session,
            workspace_id=workspace_id,
            name=catalog.CREW_RUN_FINISHED,
            properties={
                "run_id": str(run.id),
                "steps": position + 1,
                "actor": worker_principal(workspace_id).actor,
            },
        )
    else:
        step.handed_to_id = handover.agent_id
        await _enqueue_step(session, run, position=position + 1, handover=handover)
    return {"status": run.status}


async def _run_agent(
    session: AsyncSession,
    run: CrewRun,
    agent: Agent,
    position: int,
    text: str,
    *,
    box: SecretBox,
    outbound: OutboundPolicy,
) -> CrewStep | None:
    try:
        completion, cost = await llm.complete(
            session,
            worker_principal(run.workspace_id),
            request=agent_request(agent, text),
            box=box,
            outbound=outbound,
            provider=ProviderKind(agent.provider) if agent.provider else None,
        )
    except NoProviderAvailable as failure:
        _finish(run, failed=failure.detail)
        return None
    result = completion.result
    return await CrewStepRepository(session, run.workspace_id).add(
        CrewStep(
            run_id=run.id,
            position=position,
            agent_id=agent.id,
            input=text,
            output=result.text,
            provider=completion.candidate.label,
            tokens=result.total_tokens,
            cost_micros=cost,
            latency_ms=round(result.latency_ms),
        )
    )


async def _next_handover(
    session: AsyncSession, run: CrewRun, step: CrewStep, agent: Agent
) -> Handover | None:
    order = crew_order(run)
    if step.position + 1 >= run.max_steps:
        return None
    if run.mode == CrewMode.sequential:
        following = step.position + 1
        return Handover(order[following], step.output or "") if following < len(order) else None
    return await _delegation(session, run.workspace_id, order, step.output or "", agent)


async def _delegation(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    order: list[uuid.UUID],
    output: str,
    current: Agent,
) -> Handover | None:
    match = DELEGATION.search(output)
    if match is None:
        return None
    repository = AgentRepository(session, workspace_id)
    members = await repository.all(repository.with_ids(order))
    wanted = match["name"].strip().casefold()
    for member in members:
        if member.name.casefold() == wanted and member.id != current.id:
            return Handover(member.id, match["task"].strip())
    return None  # not a crew member (or itself): the answer stands as the result


async def _enqueue_step(
    session: AsyncSession, run: CrewRun, *, position: int, handover: Handover
) -> None:
    await jobs.enqueue(
        session,
        kind=RUN_STEP,
        payload={
            "run_id": str(run.id),
            "position": position,
            "agent_id": str(handover.agent_id),
            "input": handover.input,
        },
        workspace_id=run.workspace_id,
        dedupe_key=f"crew:{run.id}:{position}",
        max_attempts=3,
    )


async def _require_active_agents(
    session: AsyncSession, workspace_id: uuid.UUID, agent_ids: Sequence[uuid.UUID]
) -> None:
    repository = AgentRepository(session, workspace_id)
    found = {a.id: a for a in await repository.all(repository.with_ids(agent_ids))}
    for index, agent_id in enumerate(agent_ids):
        agent = found.get(agent_id)
        if agent is None:
            raise InvalidInput("Unknown agent in the crew", field=f"agent_ids.{index}")
        if agent.status != AgentStatus.active:
            raise InvalidInput(f"{agent.name} is {agent.status}", field=f"agent_ids.{index}")


def _finish(run: CrewRun, *, output: str | None = None, failed: str | None = None) -> None:
    run.finished_at = utcnow()
    if failed is not None:
        run.status, run.error = TaskStatus.failed, failed[:2000]
    else:
        run.status, run.output = TaskStatus.succeeded, output
