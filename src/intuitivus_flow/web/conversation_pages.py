"""The inbox (conversations by state, one conversation with reply/escalate/close) and the
contacts page, over the same services as the API.

Actions follow post/redirect/get; a failure re-renders the page with the message, undoing
what the failed action wrote.
"""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from sqlalchemy.ext.asyncio import AsyncSession

from intuitivus_flow.contacts import service as contacts
from intuitivus_flow.contacts.schemas import ContactCreate
from intuitivus_flow.conversations import service as conversations
from intuitivus_flow.conversations.models import ConversationState
from intuitivus_flow.conversations.schemas import HumanReply
from intuitivus_flow.kit.errors import FlowError, NotFound
from intuitivus_flow.kit.http.deps import DbSession
from intuitivus_flow.web import csrf
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
STATES = list(ConversationState)
NOTICES = {
    "replied": "Your reply was queued; it is sent through the conversation's channel.",
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


# --- inbox -----------------------------------------------------------------------------------


@router.get("/inbox")
async def inbox_page(
    request: Request, session: DbSession, viewer: CurrentViewer, state: str = "open"
) -> Response:
    known = {option.value for option in ConversationState}
    chosen = ConversationState(state) if state in known else ConversationState.open
    page = await conversations.list_inbox(
        session, viewer.principal, state=chosen, limit=LISTING_LIMIT, offset=0
    )
    return render(
        request,
        "inbox.html",
        {"viewer": viewer, "page": page, "state": chosen.value, "states": STATES},
    )


@router.get("/inbox/{conversation_id}")
async def conversation_page(
    request: Request,
    conversation_id: str,
    session: DbSession,
    viewer: CurrentViewer,
    done: str | None = None,
) -> Response:
    return await _render_conversation(
        request, session, viewer, parse_id(conversation_id, "Conversation"), notice=done
    )


async def _render_conversation(
    request: Request,
    session: AsyncSession,
    viewer: Viewer,
    conversation_id: uuid.UUID,
    *,
    notice: str | None = None,
    form: FormState | None = None,
    alert: str | None = None,
    status_code: int = 200,
) -> Response:
    conversation = await conversations.get(session, viewer.principal, conversation_id)
    messages = await conversations.list_messages(
        session, viewer.principal, conversation_id, limit=LISTING_LIMIT, offset=0
    )
    context: dict[str, Any] = {
        "viewer": viewer,
        "conversation": conversation,
        "messages": messages,
        "notice": NOTICES.get(notice or ""),
        "alert": alert,
        "form": form or FormState(),
    }
    return render(request, "conversation.html", context, status_code=status_code)


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
        return await _render_conversation(
            request, session, viewer, target, form=invalid.state, status_code=422
        )
    except FlowError as error:
        await _recover(session, viewer, error)
        state = state_from_error(error, values)
        return await _render_conversation(
            request,
            session,
            viewer,
            target,
            alert=error.detail,
            form=state,
            status_code=error.status_code,
        )
    return redirect(f"/inbox/{target}?done=replied")


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
        return await _render_conversation(
            request, session, viewer, target, alert=error.detail, status_code=error.status_code
        )
    return redirect(f"/inbox/{target}?done={notice}")


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
