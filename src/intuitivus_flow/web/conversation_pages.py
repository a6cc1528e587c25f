"""The inbox and the contacts page, over the same services as the API.

The inbox is three panes: the conversation list (filters with counts: open, escalated, unread,
mine, needing attention, by channel), the open conversation as chat bubbles with delivery
status, and the contact's details with assignment. Every action is a plain form and every
pane a server-rendered fragment: without JavaScript the page works with a refresh link; with
it (`static/inbox.js`) the panes are swapped in when `/inbox/events` (server-sent events) says
a conversation changed, and keyboard shortcuts move and act.

Actions follow post/redirect/get; a failure re-renders the page with the message, undoing
what the failed action wrote.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response, StreamingResponse
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.background import BackgroundTask

from intuitivus_flow.agents import service as agents
from intuitivus_flow.contacts import service as contacts
from intuitivus_flow.contacts.schemas import ContactCreate
from intuitivus_flow.conversations import live
from intuitivus_flow.conversations import service as conversations
from intuitivus_flow.conversations.models import Channel, ConversationState
from intuitivus_flow.conversations.repository import InboxFilter, InboxView
from intuitivus_flow.conversations.schemas import HumanReply, MemberAssignment
from intuitivus_flow.identity.scopes import Scope
from intuitivus_flow.kit.errors import FlowError, NotFound
from intuitivus_flow.kit.http.deps import DbSession
from intuitivus_flow.web import csrf
from intuitivus_flow.web.app_context import Context
from intuitivus_flow.web.auth import CurrentViewer, Viewer
from intuitivus_flow.web.forms import (
    FormInvalid,
    FormState,
    discard_failed_work,
    parse_id,
    read_fields,
    state_from_error,
    validate,
)
from intuitivus_flow.web.templating import redirect, render

router = APIRouter(include_in_schema=False)
csrf_checked = [Depends(csrf.require_csrf)]

LISTING_LIMIT = 100
STREAM_HEADERS = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
# Sent by inbox.js when it asks for a pane; an address opened by hand gets the whole page.
PANE_HEADER = "x-inbox-pane"
CHANNEL_LABELS = {Channel.whatsapp: "WhatsApp", Channel.webchat: "Web chat"}
# Documented on the page (and used by inbox.js); single keys, so they can be turned off.
SHORTCUTS = (
    ("j", "Next conversation"),
    ("k", "Previous conversation"),
    ("r", "Write a reply"),
    ("e", "Take over (escalate), or hand back to the agent"),
    ("c", "Close the conversation"),
    ("a", "Assign the conversation to me"),
    ("/", "Go to the filters"),
    ("?", "Show these shortcuts"),
)
NOTICES = {
    "replied": "Your reply was queued; it is sent through the conversation's channel.",
    "assigned": "The conversation's assignee was changed.",
    "escalated": "You took over: the agent no longer replies here.",
    "handed_back": "The agent answers again from the next message.",
    "closed": "The conversation was closed.",
    "contact_created": "The contact was created.",
    "contact_deleted": "The contact was deleted.",
}
ACTIONS = {
    "escalate": (conversations.escalate, "escalated"),
    "hand-back": (conversations.hand_back, "handed_back"),
    "close": (conversations.close, "closed"),
}


async def _recover(session: AsyncSession, viewer: Viewer, error: FlowError) -> None:
    await discard_failed_work(session, error)
    await session.refresh(viewer.user)
    await session.refresh(viewer.workspace)


# --- inbox ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class InboxChoice:
    """The list's filter as the URL says it: a state, a per-member view, or everything."""

    name: str
    label: str
    state: ConversationState | None = None
    view: InboxView | None = None


FILTERS = {
    choice.name: choice
    for choice in (
        InboxChoice("open", "Open", state=ConversationState.open),
        InboxChoice("escalated", "Escalated", state=ConversationState.escalated),
        InboxChoice("unread", "Unread", view=InboxView.unread),
        InboxChoice("mine", "Mine", view=InboxView.mine),
        InboxChoice("attention", "Needs attention", view=InboxView.attention),
        InboxChoice("closed", "Closed", state=ConversationState.closed),
        InboxChoice("all", "All"),
    )
}
CHANNELS = {channel.value: label for channel, label in CHANNEL_LABELS.items()}


@dataclass(frozen=True, slots=True)
class InboxQuery:
    filter: InboxChoice
    channel: Channel | None

    @classmethod
    def of(cls, request: Request) -> InboxQuery:
        """Unknown values (old links, typos) fall back to the default instead of failing."""
        params = request.query_params
        chosen = FILTERS.get(params.get("filter") or params.get("state") or "", FILTERS["open"])
        channel = params.get("channel", "")
        return cls(chosen, Channel(channel) if channel in CHANNELS else None)

    @property
    def query_string(self) -> str:
        parts = {"filter": self.filter.name}
        if self.channel is not None:
            parts["channel"] = self.channel.value
        return urlencode(parts)


@router.get("/inbox")
async def inbox_page(request: Request, session: DbSession, viewer: CurrentViewer) -> Response:
    return await _render_inbox(request, session, viewer, None)


@router.get("/inbox/events")
async def inbox_events(request: Request, viewer: CurrentViewer, context: Context) -> Response:
    """Server-sent events: which conversations of the viewer's workspace changed, as they
    change (conversations/live.py). The pages ask for what they show through their routes."""
    viewer.principal.require_scope(Scope.conversations_read)
    if "text/event-stream" not in request.headers.get("accept", ""):
        return redirect("/inbox")  # a person who opened the address: the inbox is the page
    hub = context.live
    member = viewer.principal.user_id or viewer.user.id
    streams = hub.subscribe(viewer.principal.workspace_id, member)
    subscription = await streams.__aenter__()  # 429 before any byte when over the cap

    released = False

    async def release() -> None:
        nonlocal released
        if not released:
            released = True
            await streams.__aexit__(None, None, None)

    async def body() -> AsyncIterator[str]:
        try:
            async for chunk in live.stream_events(hub, subscription):
                yield chunk
        finally:  # the browser left (or the stream's lifetime ended): free the slot
            await release()

    # Also after the response: a browser gone before the first byte never starts `body`.
    return StreamingResponse(
        body(),
        media_type="text/event-stream",
        headers=STREAM_HEADERS,
        background=BackgroundTask(release),
    )


@router.get("/inbox/panes/list")
async def inbox_list_pane(request: Request, session: DbSession, viewer: CurrentViewer) -> Response:
    """The conversation list with its counts, for the live page to swap in."""
    if request.headers.get(PANE_HEADER) != "1":
        return redirect(f"/inbox?{InboxQuery.of(request).query_string}")
    selected = request.query_params.get("selected", "")
    chosen = _maybe_id(selected)
    context = await _list_context(request, session, viewer, chosen)
    return render(request, "inbox_list.html", context)


@router.get("/inbox/{conversation_id}")
async def conversation_page(
    request: Request,
    conversation_id: str,
    session: DbSession,
    viewer: CurrentViewer,
    done: str | None = None,
) -> Response:
    target = parse_id(conversation_id, "Conversation")
    await conversations.mark_read(session, viewer.principal, target)
    return await _render_inbox(request, session, viewer, target, notice=done)


@router.get("/inbox/{conversation_id}/panes/thread")
async def conversation_pane(
    request: Request, conversation_id: str, session: DbSession, viewer: CurrentViewer
) -> Response:
    """The open conversation (messages and contact details) for the live page to swap in;
    the person is looking at it, so it is read."""
    target = parse_id(conversation_id, "Conversation")
    if request.headers.get(PANE_HEADER) != "1":
        return redirect(f"/inbox/{target}?{InboxQuery.of(request).query_string}")
    await conversations.mark_read(session, viewer.principal, target)
    context = await _conversation_context(session, viewer, target)
    shared = {"viewer": viewer, "query": InboxQuery.of(request), "channels": CHANNELS}
    return render(request, "inbox_thread.html", {**shared, "form": FormState(), **context})


async def _render_inbox(
    request: Request,
    session: AsyncSession,
    viewer: Viewer,
    conversation_id: uuid.UUID | None,
    *,
    notice: str | None = None,
    form: FormState | None = None,
    alert: str | None = None,
    status_code: int = 200,
) -> Response:
    context = await _list_context(request, session, viewer, conversation_id)
    if conversation_id is not None:
        context.update(await _conversation_context(session, viewer, conversation_id))
    context.update(
        {
            "notice": NOTICES.get(notice or ""),
            "alert": alert,
            "form": form or FormState(),
            "shortcuts": SHORTCUTS,
        }
    )
    template = "conversation.html" if conversation_id is not None else "inbox.html"
    return render(request, template, context, status_code=status_code)


async def _list_context(
    request: Request, session: AsyncSession, viewer: Viewer, selected: uuid.UUID | None
) -> dict[str, Any]:
    query = InboxQuery.of(request)
    page = await conversations.list_inbox(
        session,
        viewer.principal,
        state=query.filter.state,
        view=InboxFilter(query.filter.view, query.channel),
        limit=LISTING_LIMIT,
        offset=0,
    )
    items = list(page.items)
    return {
        "viewer": viewer,
        "page": page,
        "query": query,
        "filters": FILTERS.values(),
        "channels": CHANNELS,
        "counts": await conversations.inbox_counts(session, viewer.principal),
        "unread": await conversations.unread_ids(session, viewer.principal, items),
        "selected": selected,
    }


async def _conversation_context(
    session: AsyncSession, viewer: Viewer, conversation_id: uuid.UUID
) -> dict[str, Any]:
    conversation = await conversations.get(session, viewer.principal, conversation_id)
    messages = await conversations.list_messages(
        session, viewer.principal, conversation_id, limit=LISTING_LIMIT, offset=0
    )
    members = await conversations.members(session, viewer.principal)
    names = dict(members)
    return {
        "conversation": conversation,
        "messages": messages,
        "members": members,
        "assignee": names.get(conversation.assignee_user_id)
        if conversation.assignee_user_id
        else None,
        "agent_name": await _agent_name(session, viewer, conversation.agent_id),
    }


async def _agent_name(session: AsyncSession, viewer: Viewer, agent_id: uuid.UUID | None) -> str:
    if agent_id is None:
        return "Workspace default"
    try:
        return (await agents.get(session, viewer.principal, agent_id)).name
    except FlowError:
        return "Workspace default"


def _maybe_id(raw: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(raw)
    except ValueError:
        return None


@router.post("/inbox/{conversation_id}/reply", dependencies=csrf_checked)
async def reply(
    request: Request, conversation_id: str, session: DbSession, viewer: CurrentViewer
) -> Response:
    target = parse_id(conversation_id, "Conversation")
    values = await read_fields(request, ("text",))
    try:
        wanted = validate(HumanReply, dict(values), values)
        await conversations.reply_as_human(session, viewer.principal, target, text=wanted.text)
    except FormInvalid as invalid:
        return await _render_inbox(
            request, session, viewer, target, form=invalid.state, status_code=422
        )
    except FlowError as error:
        await _recover(session, viewer, error)
        state = state_from_error(error, values)
        return await _render_inbox(
            request,
            session,
            viewer,
            target,
            alert=error.detail,
            form=state,
            status_code=error.status_code,
        )
    return redirect(_back(request, target, "replied"))


@router.post("/inbox/{conversation_id}/assign", dependencies=csrf_checked)
async def assign(
    request: Request, conversation_id: str, session: DbSession, viewer: CurrentViewer
) -> Response:
    target = parse_id(conversation_id, "Conversation")
    values = await read_fields(request, ("user_id",))
    try:
        wanted = validate(MemberAssignment, {"user_id": values["user_id"] or None}, values)
        await conversations.assign_member(session, viewer.principal, target, user_id=wanted.user_id)
    except FormInvalid as invalid:
        alert = next(iter(invalid.state.errors.values()), None) or invalid.state.message
        return await _render_inbox(request, session, viewer, target, alert=alert, status_code=422)
    except FlowError as error:
        await _recover(session, viewer, error)
        return await _render_inbox(
            request, session, viewer, target, alert=error.detail, status_code=error.status_code
        )
    return redirect(_back(request, target, "assigned"))


@router.post("/inbox/{conversation_id}/{action}", dependencies=csrf_checked)
async def conversation_action(
    request: Request, conversation_id: str, action: str, session: DbSession, viewer: CurrentViewer
) -> Response:
    if action not in ACTIONS:
        raise NotFound("Unknown action")
    target = parse_id(conversation_id, "Conversation")
    change, notice = ACTIONS[action]
    try:
        await change(session, viewer.principal, target)
    except FlowError as error:
        await _recover(session, viewer, error)
        return await _render_inbox(
            request, session, viewer, target, alert=error.detail, status_code=error.status_code
        )
    return redirect(_back(request, target, notice))


def _back(request: Request, target: uuid.UUID, notice: str) -> str:
    """Back to the conversation, keeping the list's filter the person was on."""
    query = InboxQuery.of(request)
    return f"/inbox/{target}?{query.query_string}&done={notice}"


# --- contacts --------------------------------------------------------------------------------


@router.get("/contacts")
async def contacts_page(
    request: Request,
    session: DbSession,
    viewer: CurrentViewer,
    tag: str = "",
    done: str | None = None,
) -> Response:
    return await _render_contacts(request, session, viewer, tag=tag, notice=done)


async def _render_contacts(
    request: Request,
    session: AsyncSession,
    viewer: Viewer,
    *,
    tag: str = "",
    notice: str | None = None,
    form: FormState | None = None,
    status_code: int = 200,
) -> Response:
    tags = [part for part in tag.replace(",", " ").split() if part][:10]
    try:
        page = await contacts.list_contacts(
            session, viewer.principal, tags=tags, limit=LISTING_LIMIT, offset=0
        )
    except FlowError:  # an unusable tag filter shows everything rather than an error page
        tags, page = (
            [],
            await contacts.list_contacts(session, viewer.principal, limit=LISTING_LIMIT, offset=0),
        )
    context: dict[str, Any] = {
        "viewer": viewer,
        "page": page,
        "tag": " ".join(tags),
        "notice": NOTICES.get(notice or ""),
        "form": form or FormState(),
    }
    return render(request, "contacts.html", context, status_code=status_code)


@router.post("/contacts", dependencies=csrf_checked)
async def create_contact(request: Request, session: DbSession, viewer: CurrentViewer) -> Response:
    values = await read_fields(request, ("name", "phone", "email", "tags"))
    data: dict[str, object] = {
        "name": values["name"],
        "phone": values["phone"] or None,
        "email": values["email"] or None,
        "tags": values["tags"].replace(",", " ").split(),
    }
    try:
        wanted = validate(ContactCreate, data, values)
        await contacts.create(session, viewer.principal, data=wanted)
    except FormInvalid as invalid:
        return await _render_contacts(request, session, viewer, form=invalid.state, status_code=422)
    except FlowError as error:
        await _recover(session, viewer, error)
        state = state_from_error(error, values)
        return await _render_contacts(
            request, session, viewer, form=state, status_code=error.status_code
        )
    return redirect("/contacts?done=contact_created")


@router.post("/contacts/{contact_id}/delete", dependencies=csrf_checked)
async def delete_contact(contact_id: str, session: DbSession, viewer: CurrentViewer) -> Response:
    await contacts.delete(session, viewer.principal, parse_id(contact_id, "Contact"))
    return redirect("/contacts?done=contact_deleted")
