"""The Channels page for owners and admins: who answers conversations, the WhatsApp Cloud API
numbers (with what to configure at Meta) and the web-chat widget (its allowed origins and the
snippet to paste into a site). The widget's script itself is served here too, `/widget/v1.js`.

Channel credentials decide who answers customers, so members get a 403 page, as the service
would refuse them. Secrets typed into the number form (access token, app secret, verify token)
are never put back into a re-rendered form and never shown: a number only says its token is set.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from sqlalchemy.ext.asyncio import AsyncSession

from intuitivus_flow.agents import service as agents
from intuitivus_flow.context import AppContext
from intuitivus_flow.conversations import service as conversations
from intuitivus_flow.conversations.numbers import GraphApi
from intuitivus_flow.conversations.schemas import SettingsUpdate, WhatsAppNumberCreate
from intuitivus_flow.kit.http.deps import DbSession
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
from intuitivus_flow.web.templating import STATIC_DIR, redirect, render

router = APIRouter(include_in_schema=False)
csrf_checked = [Depends(csrf.require_csrf)]

SETTINGS_FIELDS = ("default_agent_id", "widget_enabled", "widget_allowed_origins")
SECRET_FIELDS = ("access_token", "app_secret", "verify_token")
NUMBER_FIELDS = ("phone_number_id", "display_number", "agent_id", *SECRET_FIELDS)
AGENT_CHOICES = 100
WEBHOOK_PATH = "/api/channels/whatsapp/webhook"
WEBCHAT_PATH = "/api/webchat/{widget_key}/messages"
WIDGET_SCRIPT = STATIC_DIR / "widget" / "v1.js"
WIDGET_SCRIPT_PATH = "/widget/v1.js"
# The snippet pasted into sites names this URL for good, so it cannot carry a fingerprint:
# a day's cache, then a quick revalidation (304 by ETag) while the old copy is still used.
# "v1" is the script's contract with the page (its data- attributes); fixes ship within it.
WIDGET_CACHE_CONTROL = "public, max-age=86400, stale-while-revalidate=604800"
NOTICES = {
    "settings": "The conversation settings were saved.",
    "number_added": "The WhatsApp number was connected. Meta confirmed that its access token "
    "owns it; its secrets are stored encrypted.",
    "number_removed": "The WhatsApp number was removed; its webhooks are no longer accepted.",
}


def _refusal(request: Request, viewer: Viewer) -> Response | None:
    if viewer.is_admin:
        return None
    message = "Channel settings are available to workspace owners and admins."
    context = {"viewer": viewer, "title": "Not allowed", "message": message}
    return render(request, "error.html", context, status_code=403)


@router.get("/channels")
async def channels_page(
    request: Request, session: DbSession, viewer: CurrentViewer, context: Context
) -> Response:
    if refusal := _refusal(request, viewer):
        return refusal
    state = PageState(notice=NOTICES.get(request.query_params.get("done", "")))
    return await _render(request, session, viewer, context, state)


@router.post("/channels/settings", dependencies=csrf_checked)
async def update_settings(
    request: Request, session: DbSession, viewer: CurrentViewer, context: Context
) -> Response:
    if refusal := _refusal(request, viewer):
        return refusal
    values = await read_fields(request, SETTINGS_FIELDS)

    async def save() -> None:
        data = validate(SettingsUpdate, _settings_data(values), values)
        await conversations.update_settings(session, viewer.principal, changes=data)

    try:
        await form_action(session, viewer, values, save)
    except FormInvalid as invalid:
        state = PageState.failed("settings", invalid.state)
        return await _render(request, session, viewer, context, state)
    return redirect("/channels?done=settings")


@router.post("/channels/numbers", dependencies=csrf_checked)
async def add_number(
    request: Request, session: DbSession, viewer: CurrentViewer, context: Context
) -> Response:
    if refusal := _refusal(request, viewer):
        return refusal
    values = await read_fields(request, NUMBER_FIELDS)

    async def connect() -> None:
        data = validate(WhatsAppNumberCreate, _number_data(values), values)
        await conversations.add_number(
            session,
            viewer.principal,
            data=data,
            box=context.secrets,
            graph=GraphApi.of(context.settings),
        )

    try:
        await form_action(session, viewer, values, connect, secret=SECRET_FIELDS)
    except FormInvalid as invalid:
        state = PageState.failed("number", invalid.state)
        return await _render(request, session, viewer, context, state)
    return redirect("/channels?done=number_added")


@router.post("/channels/numbers/{number_id}/remove", dependencies=csrf_checked)
async def remove_number(
    request: Request, number_id: str, session: DbSession, viewer: CurrentViewer, context: Context
) -> Response:
    if refusal := _refusal(request, viewer):
        return refusal

    async def remove() -> None:
        number = parse_id(number_id, "WhatsApp number")
        await conversations.remove_number(session, viewer.principal, number)

    try:
        await form_action(session, viewer, {}, remove)
    except FormInvalid as invalid:
        state = PageState.alerting(invalid.state)
        return await _render(request, session, viewer, context, state)
    return redirect("/channels?done=number_removed")


@router.get(WIDGET_SCRIPT_PATH)
async def widget_script(request: Request) -> Response:
    """The embeddable web-chat script: public, cacheable, loadable from any site's page."""
    body, etag = _widget_script()
    headers = {
        "Cache-Control": WIDGET_CACHE_CONTROL,
        "ETag": etag,
        # Other sites' pages load it; the app's own resources stay same-origin by default.
        "Cross-Origin-Resource-Policy": "cross-origin",
    }
    if etag in request.headers.get("if-none-match", ""):
        return Response(status_code=304, headers=headers)
    return Response(body, media_type="text/javascript; charset=utf-8", headers=headers)


@lru_cache(maxsize=1)
def _widget_script() -> tuple[bytes, str]:
    body = WIDGET_SCRIPT.read_bytes()
    return body, f'"{hashlib.sha256(body).hexdigest()[:20]}"'


def _settings_data(values: dict[str, str]) -> dict[str, object]:
    # Every field is always sent: an empty agent clears the default, an unticked box disables,
    # an empty list of origins admits no site.
    return {
        "default_agent_id": values["default_agent_id"] or None,
        "widget_enabled": values["widget_enabled"] == "on",
        "widget_allowed_origins": values["widget_allowed_origins"].splitlines(),
    }


def widget_snippet(public_url: str, widget_key: str) -> str:
    """What a site pastes before its closing </body> tag."""
    return (
        f'<script src="{public_url}{WIDGET_SCRIPT_PATH}" data-widget-key="{widget_key}" '
        'data-title="Chat with us" async></script>'
    )


def _number_data(values: dict[str, str]) -> dict[str, object]:
    data: dict[str, object] = {name: value for name, value in values.items() if name != "agent_id"}
    if values["agent_id"]:
        data["agent_id"] = values["agent_id"]
    return data


async def _render(
    request: Request,
    session: AsyncSession,
    viewer: Viewer,
    app_context: AppContext,
    state: PageState,
) -> Response:
    principal, settings = viewer.principal, app_context.settings
    current = await conversations.get_settings(session, principal)
    listing = await agents.list_agents(
        session, principal, status=None, limit=AGENT_CHOICES, offset=0
    )
    public_url = settings.public_url.rstrip("/")
    context: dict[str, Any] = {
        "viewer": viewer,
        "view": state,
        "settings": current,
        "numbers": await conversations.list_numbers(session, principal, box=app_context.secrets),
        "agents": listing.items,
        "agent_names": {agent.id: agent.name for agent in listing.items},
        "public_url": public_url,
        "public_url_is_https": public_url.startswith("https://"),
        "webhook_url": public_url + WEBHOOK_PATH,
        "graph_version": settings.whatsapp_graph_version,
        "webchat_url": public_url + WEBCHAT_PATH.format(widget_key=current.widget_key),
        "widget_script_url": public_url + WIDGET_SCRIPT_PATH,
        "widget_snippet": widget_snippet(public_url, current.widget_key),
        "webchat_per_minute": settings.webchat_messages_per_minute,
    }
    return render(request, "channels.html", context, status_code=state.status_code)
