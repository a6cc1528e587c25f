"""Crews in the web UI: start a multi-agent run, list recent runs, and follow one run's steps.

A crew is chosen in numbered steps (a select per step), so the order is explicit without any
script: in a sequential crew each step works on the previous step's answer; in a delegation
crew step 1 is the lead and the other steps are the members it may hand work to.

Actions follow post/redirect/get; failures re-render the page with the message next to the
field that caused it. A run's page asks the browser to reload it (`Refresh` header, the
header form of a meta refresh) until the run has finished.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from sqlalchemy.ext.asyncio import AsyncSession

from intuitivus_flow.agents import crews
from intuitivus_flow.agents import service as agents
from intuitivus_flow.agents.models import AgentStatus, CrewMode, CrewRun, CrewStep, TaskStatus
from intuitivus_flow.agents.schemas import CrewStart
from intuitivus_flow.kit.errors import FlowError, InvalidInput
from intuitivus_flow.kit.http.deps import DbSession
from intuitivus_flow.web import csrf
from intuitivus_flow.web.auth import CurrentViewer, Viewer
from intuitivus_flow.web.forms import (
    FormInvalid,
    FormState,
    PageState,
    echo,
    form_action,
    parse_id,
    read_fields,
    validate,
)
from intuitivus_flow.web.templating import redirect, render

router = APIRouter(include_in_schema=False)
csrf_checked = [Depends(csrf.require_csrf)]

# Steps offered by the form; the API takes up to 20 agents for longer crews.
CREW_SLOTS = 6
SLOT_FIELDS = tuple(f"agent_{number}" for number in range(1, CREW_SLOTS + 1))
START_FIELDS = ("mode", "input", "max_steps", *SLOT_FIELDS)
LISTING_LIMIT = 25
MAX_OFFSET = 1_000_000
AGENT_CHOICES = 100
REFRESH_SECONDS = 3
IN_PROGRESS = {TaskStatus.queued.value, TaskStatus.running.value}
NOTICES = {
    "started": "The crew run was queued; its steps appear below as the agents answer.",
}


# --- the list and the start form --------------------------------------------------------------


@router.get("/crews")
async def crews_page(
    request: Request, session: DbSession, viewer: CurrentViewer, offset: str = "0"
) -> Response:
    state = PageState(notice=NOTICES.get(request.query_params.get("done", "")))
    return await _render_list(request, session, viewer, state, offset=_offset(offset))


def _offset(raw: str) -> int:
    # A link parameter: anything odd is the first page rather than an error page.
    return min(int(raw), MAX_OFFSET) if raw.isascii() and raw.isdigit() and len(raw) < 10 else 0


@router.post("/crews", dependencies=csrf_checked)
async def start_run(request: Request, session: DbSession, viewer: CurrentViewer) -> Response:
    values = await read_fields(request, START_FIELDS)

    async def start() -> CrewRun:
        data = _validated(values)
        try:
            return await crews.start(
                session,
                viewer.principal,
                agent_ids=data.agent_ids,
                mode=data.mode,
                input=data.input,
                max_steps=data.max_steps,
            )
        except InvalidInput as error:
            raise _on_its_step(error) from error

    try:
        run = await form_action(session, viewer, values, start)
    except FormInvalid as invalid:
        state = PageState.failed("start", invalid.state)
        return await _render_list(request, session, viewer, state)
    return redirect(f"/crews/{run.id}?done=started")


def _validated(values: dict[str, str]) -> CrewStart:
    """The form as `CrewStart`, every problem at once: the steps' and the schema's."""
    chosen = [values[name].strip() for name in SLOT_FIELDS]
    step_errors = _step_errors(chosen, delegation=values["mode"] == CrewMode.delegation.value)
    data: dict[str, object] = {
        "agent_ids": [raw for raw in chosen if raw and _is_uuid(raw)],
        "mode": values["mode"],
        "input": values["input"],
    }
    if values["max_steps"].strip():
        data["max_steps"] = values["max_steps"].strip()
    try:
        parsed = validate(CrewStart, data, values)
    except FormInvalid as invalid:
        invalid.state.errors.update(step_errors)  # ours say which step, in plain words
        raise
    if step_errors:
        raise FormInvalid(FormState(values=echo(values), errors=step_errors, status_code=422))
    return parsed


def _step_errors(chosen: list[str], *, delegation: bool) -> dict[str, str]:
    """Steps are filled from step 1 on, without gaps, with agents of the list."""
    if not any(chosen):
        return {"agent_ids": "Choose at least one agent, starting with step 1."}
    errors: dict[str, str] = {}
    last_filled = max(index for index, raw in enumerate(chosen) if raw)
    for index, raw in enumerate(chosen[: last_filled + 1]):
        if not raw:
            errors[SLOT_FIELDS[index]] = "Choose an agent here, or move the later steps up."
        elif not _is_uuid(raw):
            errors[SLOT_FIELDS[index]] = "Choose one of the agents."
    if delegation:
        _refuse_repeats(chosen, errors)
    return errors


def _refuse_repeats(chosen: list[str], errors: dict[str, str]) -> None:
    # A lead delegates by name: the same agent twice would be one member under two steps.
    seen: set[str] = set()
    for index, raw in enumerate(chosen):
        if raw and raw in seen:
            errors.setdefault(SLOT_FIELDS[index], "This agent is already in the crew.")
        seen.add(raw)


def _on_its_step(error: InvalidInput) -> InvalidInput:
    """The service names `agent_ids.<index>`; the form shows it next to that step's select.

    Steps have no gaps once validated, so index n is the select of step n + 1.
    """
    field = str(error.extra.get("field", ""))
    index = field.removeprefix("agent_ids.")
    if field.startswith("agent_ids.") and index.isdigit() and int(index) < CREW_SLOTS:
        return InvalidInput(error.detail, field=SLOT_FIELDS[int(index)])
    return error


def _is_uuid(raw: str) -> bool:
    try:
        uuid.UUID(raw)
    except ValueError:
        return False
    return True


async def _render_list(
    request: Request,
    session: AsyncSession,
    viewer: Viewer,
    state: PageState,
    *,
    offset: int = 0,
) -> Response:
    principal = viewer.principal
    runs = await crews.list_runs(session, principal, limit=LISTING_LIMIT, offset=offset)
    active = await agents.list_agents(
        session, principal, status=AgentStatus.active, limit=AGENT_CHOICES, offset=0
    )
    members = {agent_id for item in runs.items for agent_id in crews.crew_order(item.run)}
    context: dict[str, Any] = {
        "viewer": viewer,
        "view": state,
        "runs": runs,
        "names": await crews.agent_names(session, principal, members),
        "order": crews.crew_order,
        "agents": active.items,
        "slots": SLOT_FIELDS,
        "modes": list(CrewMode),
        "usd": usd,
    }
    return render(request, "crews.html", context, status_code=state.status_code)


# --- one run ----------------------------------------------------------------------------------


@router.get("/crews/{run_id}")
async def run_page(
    request: Request, run_id: str, session: DbSession, viewer: CurrentViewer
) -> Response:
    try:
        run, steps = await crews.get_run(session, viewer.principal, parse_id(run_id, "Crew run"))
    except FlowError as error:
        refusal = {"viewer": viewer, "title": "Crew run not found", "message": error.detail}
        return render(request, "error.html", refusal, status_code=error.status_code)
    order = crews.crew_order(run)
    involved = {*order, *(step.agent_id for step in steps if step.agent_id)}
    in_progress = run.status in IN_PROGRESS
    context: dict[str, Any] = {
        "viewer": viewer,
        "notice": NOTICES.get(request.query_params.get("done", "")),
        "run": run,
        "steps": steps,
        "order": order,
        "names": await crews.agent_names(session, viewer.principal, involved),
        "next_agent_id": _next_agent(order, steps) if in_progress else None,
        "in_progress": in_progress,
        "refresh_seconds": REFRESH_SECONDS,
        "tokens": sum(step.tokens for step in steps),
        "cost_micros": sum(step.cost_micros for step in steps),
        "usd": usd,
    }
    # While the worker is busy, the browser reloads the page (no script needed; CSP-friendly).
    headers = {"Refresh": str(REFRESH_SECONDS)} if in_progress else None
    return render(request, "crew_run.html", context, headers=headers)


def _next_agent(order: list[uuid.UUID], steps: Sequence[CrewStep]) -> uuid.UUID | None:
    """Who works next: the agent the last step handed to, or the first of the crew."""
    if not steps:
        return order[0] if order else None
    return steps[-1].handed_to_id


def usd(micros: int) -> str:
    return f"{micros / 1_000_000:.4f} USD"
