"""Agents in the web UI: the list with the workspace's LLM keys, and one agent's page where
prompts are run (on the job queue) and their results read.

Actions follow post/redirect/get; failures re-render the page with the message next to the
form that caused it.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from sqlalchemy.ext.asyncio import AsyncSession

from intuitivus_flow.agents import service as agents
from intuitivus_flow.agents import tasks
from intuitivus_flow.agents.models import Agent, AgentStatus
from intuitivus_flow.agents.schemas import AgentCreate, AgentStatusChange, TaskCreate
from intuitivus_flow.kit.errors import FlowError, NotFound
from intuitivus_flow.kit.http.deps import Context, DbSession
from intuitivus_flow.kit.models import utcnow
from intuitivus_flow.llm import service as llm
from intuitivus_flow.llm.providers import ProviderKind
from intuitivus_flow.llm.schemas import ProviderKeyCreate, ProviderKeyUpdate
from intuitivus_flow.web import csrf
from intuitivus_flow.web.auth import CurrentViewer, Viewer
from intuitivus_flow.web.forms import (
    FormInvalid,
    PageState,
    form_action,
    parse_id,
    read_fields,
    validate,
)
from intuitivus_flow.web.templating import redirect, render

router = APIRouter(include_in_schema=False)
csrf_checked = [Depends(csrf.require_csrf)]

AGENT_FIELDS = ("name", "role", "system_prompt", "provider", "model", "temperature", "max_tokens")
KEY_FIELDS = (
    "provider",
    "label",
    "api_key",
    "base_url",
    "default_model",
    "priority",
    "monthly_token_limit",
)
PROVIDERS = [kind for kind in ProviderKind if kind is not ProviderKind.offline]
NOTICES = {
    "created": "The agent was created.",
    "status": "The agent's status was changed.",
    "task": "The prompt was queued; its answer appears below when the worker has run it.",
    "cloned": "A paused copy of the agent was created.",
    "deleted": "The agent was deleted.",
    "key_added": "The provider key was stored (encrypted).",
    "key_changed": "The provider key was updated.",
    "key_removed": "The provider key was removed.",
}


# --- the list ------------------------------------------------------------------------------


@router.get("/agents")
async def agents_page(request: Request, session: DbSession, viewer: CurrentViewer) -> Response:
    state = PageState(notice=NOTICES.get(request.query_params.get("done", "")))
    return await _render_list(request, session, viewer, state)


@router.post("/agents", dependencies=csrf_checked)
async def create_agent(request: Request, session: DbSession, viewer: CurrentViewer) -> Response:
    values = await read_fields(request, AGENT_FIELDS)

    async def create() -> Agent:
        data = validate(AgentCreate, _agent_data(values), values)
        return await agents.create(session, viewer.principal, data=data)

    try:
        agent = await form_action(session, viewer, values, create)
    except FormInvalid as invalid:
        state = PageState.failed("agent", invalid.state)
        return await _render_list(request, session, viewer, state)
    return redirect(f"/agents/{agent.id}?done=created")


@router.post("/agents/keys", dependencies=csrf_checked)
async def add_key(
    request: Request, session: DbSession, viewer: CurrentViewer, context: Context
) -> Response:
    values = await read_fields(request, KEY_FIELDS)

    async def add() -> None:
        data = validate(ProviderKeyCreate, _key_data(values), values)
        await llm.add_key(session, viewer.principal, data=data, box=context.secrets)

    try:
        # The API key is a secret: never echoed back into the re-rendered form.
        await form_action(session, viewer, values, add, secret=("api_key",))
    except FormInvalid as invalid:
        state = PageState.failed("key", invalid.state)
        return await _render_list(request, session, viewer, state)
    return redirect("/agents?done=key_added")


@router.post("/agents/keys/{key_id}/{action}", dependencies=csrf_checked)
async def change_key(
    request: Request,
    key_id: str,
    action: str,
    session: DbSession,
    viewer: CurrentViewer,
    context: Context,
) -> Response:
    async def change() -> None:
        parsed = parse_id(key_id, "Provider key")
        if action == "remove":
            await llm.remove_key(session, viewer.principal, parsed)
        elif action in {"pause", "resume"}:
            await llm.update_key(
                session,
                viewer.principal,
                parsed,
                changes=ProviderKeyUpdate(active=action == "resume"),
                box=context.secrets,
            )
        else:
            raise NotFound("Unknown action")

    try:
        await form_action(session, viewer, {}, change)
    except FormInvalid as invalid:
        state = PageState.alerting(invalid.state)
        return await _render_list(request, session, viewer, state)
    return redirect("/agents?done=" + ("key_removed" if action == "remove" else "key_changed"))


# --- one agent -------------------------------------------------------------------------------


@router.get("/agents/{agent_id}")
async def agent_page(
    request: Request, agent_id: str, session: DbSession, viewer: CurrentViewer
) -> Response:
    state = PageState(notice=NOTICES.get(request.query_params.get("done", "")))
    return await _render_agent(request, session, viewer, agent_id, state)


@router.post("/agents/{agent_id}/tasks", dependencies=csrf_checked)
async def run_prompt(
    request: Request, agent_id: str, session: DbSession, viewer: CurrentViewer
) -> Response:
    values = await read_fields(request, ("prompt",))

    async def submit() -> None:
        data = validate(TaskCreate, dict(values), values)
        await tasks.submit(
            session, viewer.principal, parse_id(agent_id, "Agent"), prompt=data.prompt
        )

    try:
        await form_action(session, viewer, values, submit)
    except FormInvalid as invalid:
        state = PageState.failed("task", invalid.state)
        return await _render_agent(request, session, viewer, agent_id, state)
    return redirect(f"/agents/{agent_id}?done=task")


@router.post("/agents/{agent_id}/status", dependencies=csrf_checked)
async def change_status(
    request: Request, agent_id: str, session: DbSession, viewer: CurrentViewer
) -> Response:
    values = await read_fields(request, ("status",))

    async def change() -> None:
        data = validate(AgentStatusChange, dict(values), values)
        await agents.change_status(
            session, viewer.principal, parse_id(agent_id, "Agent"), status=data.status
        )

    try:
        await form_action(session, viewer, values, change)
    except FormInvalid as invalid:
        return await _action_failed(request, session, viewer, agent_id, invalid)
    return redirect(f"/agents/{agent_id}?done=status")


@router.post("/agents/{agent_id}/clone", dependencies=csrf_checked)
async def clone_agent(
    request: Request, agent_id: str, session: DbSession, viewer: CurrentViewer
) -> Response:
    async def clone() -> Agent:
        return await agents.clone(session, viewer.principal, parse_id(agent_id, "Agent"), name=None)

    try:
        copy = await form_action(session, viewer, {}, clone)
    except FormInvalid as invalid:
        return await _action_failed(request, session, viewer, agent_id, invalid)
    return redirect(f"/agents/{copy.id}?done=cloned")


@router.post("/agents/{agent_id}/delete", dependencies=csrf_checked)
async def delete_agent(
    request: Request, agent_id: str, session: DbSession, viewer: CurrentViewer
) -> Response:
    async def delete() -> None:
        await agents.delete(session, viewer.principal, parse_id(agent_id, "Agent"))

    try:
        await form_action(session, viewer, {}, delete)
    except FormInvalid as invalid:
        return await _action_failed(request, session, viewer, agent_id, invalid)
    return redirect("/agents?done=deleted")


# --- rendering -------------------------------------------------------------------------------


async def _render_list(
    request: Request, session: AsyncSession, viewer: Viewer, state: PageState
) -> Response:
    principal = viewer.principal
    listing = await agents.list_agents(session, principal, status=None, limit=100, offset=0)
    keys = await llm.list_keys(session, principal)
    month = utcnow().replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    usage = await llm.usage_since(session, principal, month)
    return render(
        request,
        "agents.html",
        {
            "viewer": viewer,
            "view": state,
            "agents": listing.items,
            "keys": keys,
            "usage": usage,
            "providers": PROVIDERS,
            "agent_providers": list(ProviderKind),
        },
        status_code=state.status_code,
    )


async def _render_agent(
    request: Request, session: AsyncSession, viewer: Viewer, agent_id: str, state: PageState
) -> Response:
    try:
        parsed = parse_id(agent_id, "Agent")
        agent = await agents.get(session, viewer.principal, parsed)
    except FlowError as error:
        return render(
            request,
            "error.html",
            {"viewer": viewer, "title": "Agent not found", "message": error.detail},
            status_code=error.status_code,
        )
    recent = await tasks.list_tasks(session, viewer.principal, parsed, limit=20, offset=0)
    transitions = sorted(agents.ALLOWED_TRANSITIONS[AgentStatus(agent.status)])
    return render(
        request,
        "agent.html",
        {
            "viewer": viewer,
            "view": state,
            "agent": agent,
            "tasks": recent.items,
            "transitions": transitions,
        },
        status_code=state.status_code,
    )


async def _action_failed(
    request: Request, session: AsyncSession, viewer: Viewer, agent_id: str, failed: FormInvalid
) -> Response:
    """A failed button on the agent's page (no fields of its own): the message in the banner."""
    state = PageState.alerting(failed.state)
    return await _render_agent(request, session, viewer, agent_id, state)


def _agent_data(values: dict[str, str]) -> dict[str, Any]:
    data: dict[str, Any] = {name: value for name, value in values.items() if value != ""}
    return data


def _key_data(values: dict[str, str]) -> dict[str, Any]:
    return {name: value for name, value in values.items() if value != ""}
