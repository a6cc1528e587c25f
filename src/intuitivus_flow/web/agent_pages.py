"""Agents in the web UI: the list with the workspace's LLM keys, and one agent's page where
prompts are run (on the job queue) and their results read.

Actions follow post/redirect/get; failures re-render the page with the message next to the
form that caused it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from markupsafe import Markup
from sqlalchemy.ext.asyncio import AsyncSession

from intuitivus_flow.agents import service as agents
from intuitivus_flow.agents import tasks
from intuitivus_flow.agents.models import Agent, AgentStatus, TaskStatus
from intuitivus_flow.agents.schemas import AgentCreate, AgentStatusChange, AgentUpdate, TaskCreate
from intuitivus_flow.kit.bar_chart import Bar, render_bars
from intuitivus_flow.kit.errors import FlowError, NotFound
from intuitivus_flow.kit.http.deps import DbSession
from intuitivus_flow.kit.models import utcnow
from intuitivus_flow.llm import service as llm
from intuitivus_flow.llm.providers import ProviderKind
from intuitivus_flow.llm.schemas import ProviderKeyCreate, ProviderKeyUpdate
from intuitivus_flow.web import csrf
from intuitivus_flow.web.app_context import Context
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
# The agent page's statistics periods: query value -> (label, days for tasks.agent_stats).
PERIODS = {"24h": ("Last 24 hours", 1), "7d": ("Last 7 days", 7), "30d": ("Last 30 days", 30)}
DEFAULT_PERIOD = "7d"
LIST_STATS_DAYS = 7
PROVIDERS = [kind for kind in ProviderKind if kind is not ProviderKind.offline]
PROVIDER_NAMES = {
    ProviderKind.openai: "OpenAI",
    ProviderKind.anthropic: "Anthropic",
    ProviderKind.google: "Google",
    ProviderKind.openai_compatible: "OpenAI-compatible",
}


@dataclass(frozen=True, slots=True)
class Choice:
    value: str
    label: str


def agent_provider_choices(*, has_keys: bool) -> list[Choice]:
    """The agent form's providers, "any key by priority" first and the default: an agent bound
    to "offline" (the old default) kept its canned replies after the workspace added a key."""
    any_key = "Workspace keys in priority order"
    if not has_keys:
        any_key += " (offline replies until a key is added)"
    return [
        Choice("", any_key),
        *(Choice(kind.value, f"{PROVIDER_NAMES[kind]} keys only") for kind in PROVIDERS),
        Choice(ProviderKind.offline.value, "Offline (canned replies, never a model)"),
    ]


NOTICES = {
    "created": "The agent was created.",
    "edited": "The agent's settings were saved.",
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
        await llm.add_key(
            session, viewer.principal, data=data, box=context.secrets, outbound=context.outbound
        )

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


@router.post("/agents/{agent_id}/edit", dependencies=csrf_checked)
async def edit_agent(
    request: Request, agent_id: str, session: DbSession, viewer: CurrentViewer
) -> Response:
    """Everything about the agent in one form: its settings, then its status (an invalid
    status change undoes the settings too: the page shows the form as it was sent)."""
    values = await read_fields(request, (*AGENT_FIELDS, "status"))

    async def save() -> None:
        target = parse_id(agent_id, "Agent")
        changes = validate(AgentUpdate, _agent_changes(values), values)
        status = validate(AgentStatusChange, {"status": values["status"]}, values)
        await agents.update(session, viewer.principal, target, changes=changes)
        await agents.change_status(session, viewer.principal, target, status=status.status)

    try:
        await form_action(session, viewer, values, save)
    except FormInvalid as invalid:
        state = PageState.failed("edit", invalid.state)
        return await _render_agent(request, session, viewer, agent_id, state)
    return redirect(f"/agents/{agent_id}?done=edited")


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
    # One grouped query for every agent of the workspace, the same one the API serves.
    _, rows = await tasks.agent_stats(session, principal, days=LIST_STATS_DAYS)
    stats = {row[0]: AgentFigures.of(row) for row in rows}
    return render(
        request,
        "agents.html",
        {
            "viewer": viewer,
            "view": state,
            "agents": listing.items,
            "keys": keys,
            "usage": usage,
            "stats": stats,
            "stats_days": LIST_STATS_DAYS,
            "providers": PROVIDERS,
            "agent_providers": agent_provider_choices(has_keys=any(key.active for key in keys)),
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
    keys = await llm.list_keys(session, viewer.principal)
    period = _period(request)
    figures, by_status = await _agent_figures(session, viewer, parsed, days=PERIODS[period][1])
    return render(
        request,
        "agent.html",
        {
            "viewer": viewer,
            "view": state,
            "agent": agent,
            "tasks": recent.items,
            "transitions": transitions,
            "periods": PERIODS,
            "period": period,
            "figures": figures,
            "by_status": by_status,
            "status_chart": _status_chart(PERIODS[period][0], by_status),
            "agent_providers": agent_provider_choices(has_keys=any(key.active for key in keys)),
            "statuses": [
                Choice(status.value, status.value.capitalize())
                for status in (AgentStatus(agent.status), *transitions)
            ],
            "edit_values": _current_values(agent),
        },
        status_code=state.status_code,
    )


@dataclass(frozen=True, slots=True)
class AgentFigures:
    """One agent's row of tasks.agent_stats, named for the templates."""

    tasks: int = 0
    succeeded: int = 0
    tokens: int = 0
    cost_micros: int = 0
    mean_latency_ms: float | None = None

    @classmethod
    def of(cls, row: tuple[uuid.UUID, int, int, int, int, float | None]) -> AgentFigures:
        _, total, succeeded, tokens, cost, latency = row
        return cls(total, succeeded, tokens, cost, latency)

    @property
    def success_rate(self) -> float:
        return tasks.success_rate(self.tasks, self.succeeded)


def _period(request: Request) -> str:
    """The chosen period; anything unknown (typo, old link) shows the default instead of failing."""
    chosen = request.query_params.get("period", DEFAULT_PERIOD)
    return chosen if chosen in PERIODS else DEFAULT_PERIOD


async def _agent_figures(
    session: AsyncSession, viewer: Viewer, agent_id: uuid.UUID, *, days: int
) -> tuple[AgentFigures, dict[str, int]]:
    """The agent's figures from the API's statistics, and its tasks by status in that window."""
    since, rows = await tasks.agent_stats(session, viewer.principal, days=days, agent_id=agent_id)
    figures = AgentFigures.of(rows[0]) if rows else AgentFigures()
    by_status = await tasks.agent_status_counts(session, viewer.principal, agent_id, since=since)
    return figures, by_status


def _status_chart(period_label: str, by_status: dict[str, int]) -> Markup:
    bars = [
        Bar(status.value.capitalize(), by_status[status.value], str(by_status[status.value]))
        for status in TaskStatus
        if by_status.get(status.value)
    ]
    return render_bars(f"Tasks by status, {period_label.lower()}", bars)


async def _action_failed(
    request: Request, session: AsyncSession, viewer: Viewer, agent_id: str, failed: FormInvalid
) -> Response:
    """A failed button on the agent's page (no fields of its own): the message in the banner."""
    state = PageState.alerting(failed.state)
    return await _render_agent(request, session, viewer, agent_id, state)


def _agent_data(values: dict[str, str]) -> dict[str, Any]:
    data: dict[str, Any] = {name: value for name, value in values.items() if value != ""}
    return data


def _agent_changes(values: dict[str, str]) -> dict[str, Any]:
    """The edit form as an update: every field is sent, so an emptied optional field means
    "none" (any provider, the key's default model, no role) rather than "unchanged"."""
    data: dict[str, Any] = {name: values[name] for name in AGENT_FIELDS}
    data["provider"] = values["provider"] or None
    data["model"] = values["model"].strip() or None
    for number in ("temperature", "max_tokens"):
        if values[number] == "":
            data.pop(number)  # left empty: unchanged (they have no "none")
    return data


def _current_values(agent: Agent) -> dict[str, str]:
    return {
        "name": agent.name,
        "role": agent.role,
        "system_prompt": agent.system_prompt,
        "provider": agent.provider or "",
        "model": agent.model or "",
        "temperature": f"{agent.temperature:g}",
        "max_tokens": str(agent.max_tokens),
        "status": str(agent.status),
    }


def _key_data(values: dict[str, str]) -> dict[str, Any]:
    return {name: value for name, value in values.items() if value != ""}
