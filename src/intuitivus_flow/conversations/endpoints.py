from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Path, Query, Request, Response, status
from fastapi.responses import PlainTextResponse

from intuitivus_flow.billing.exceptions import PlanLimitReached
from intuitivus_flow.conversations import schemas, webchat, webhooks
from intuitivus_flow.conversations import service as conversations
from intuitivus_flow.conversations.models import (
    Channel,
    Conversation,
    ConversationSettings,
    ConversationState,
    Message,
)
from intuitivus_flow.conversations.numbers import ConnectedNumber, GraphApi
from intuitivus_flow.conversations.repository import InboxFilter, InboxView
from intuitivus_flow.identity.http import CurrentPrincipal
from intuitivus_flow.identity.requirements import requires
from intuitivus_flow.identity.scopes import Scope
from intuitivus_flow.kit.errors import (
    Conflict,
    Forbidden,
    NotFound,
    TooManyRequests,
    Unauthorized,
)
from intuitivus_flow.kit.http import cors
from intuitivus_flow.kit.http.deps import ClientAddress, Context, DbSession, Paging
from intuitivus_flow.kit.http.openapi import route_errors
from intuitivus_flow.kit.pagination import Page
from intuitivus_flow.kit.resources import Resources

router = APIRouter(prefix="/api/conversations", tags=["conversations"])
channels_router = APIRouter(prefix="/api/channels/whatsapp", tags=["channels"])
# Browsers on the widget's allowed origins may read these responses (kit/http/cors.py).
webchat_router = APIRouter(
    prefix="/api/webchat", tags=["web chat"], route_class=cors.PerRequestCorsRoute
)
ALLOW = "GET, POST, OPTIONS"
# Chromium caps a cached preflight at 2 hours. An origin removed meanwhile is still refused:
# the actual request is judged again and gets no permission.
PREFLIGHT_MAX_AGE_SECONDS = 7200


# --- inbox -----------------------------------------------------------------------------------


@router.get(
    "",
    dependencies=[requires(Scope.conversations_read)],
    response_model=schemas.InboxPage,
    summary="Inbox",
)
async def inbox(
    session: DbSession,
    principal: CurrentPrincipal,
    paging: Paging,
    state: ConversationState | None = None,
    view: Annotated[
        InboxView | None,
        Query(description="unread (by you), mine (assigned to you), attention (needs a person)"),
    ] = None,
    channel: Channel | None = None,
) -> Page[Conversation]:
    """Conversations by state with their contact and last message, latest activity first."""
    return await conversations.list_inbox(
        session,
        principal,
        state=state,
        limit=paging.limit,
        offset=paging.offset,
        view=InboxFilter(view, channel),
    )


@router.get(
    "/settings",
    dependencies=[requires(Scope.conversations_read)],
    response_model=schemas.SettingsRead,
    summary="Conversation settings",
)
async def get_settings(session: DbSession, principal: CurrentPrincipal) -> ConversationSettings:
    """The default agent and the public web-chat widget key."""
    return await conversations.get_settings(session, principal)


@router.patch(
    "/settings",
    openapi_extra=route_errors(NotFound),  # a default agent of another workspace
    dependencies=[requires(Scope.conversations_write)],
    response_model=schemas.SettingsRead,
    summary="Change settings",
)
async def update_settings(
    body: schemas.SettingsUpdate, session: DbSession, principal: CurrentPrincipal
) -> ConversationSettings:
    """Admins: the default agent, and whether the web-chat widget accepts messages."""
    return await conversations.update_settings(session, principal, changes=body)


@router.get(
    "/{conversation_id}",
    dependencies=[requires(Scope.conversations_read)],
    response_model=schemas.InboxItem,
    summary="One conversation",
)
async def get_conversation(
    conversation_id: uuid.UUID, session: DbSession, principal: CurrentPrincipal
) -> Conversation:
    """A conversation of this workspace; other workspaces' ids answer 404."""
    return await conversations.get(session, principal, conversation_id)


@router.get(
    "/{conversation_id}/messages",
    dependencies=[requires(Scope.conversations_read)],
    response_model=schemas.MessagePage,
    summary="Messages",
)
async def list_messages(
    conversation_id: uuid.UUID, session: DbSession, principal: CurrentPrincipal, paging: Paging
) -> Page[Message]:
    """Oldest first, with delivery status."""
    return await conversations.list_messages(
        session, principal, conversation_id, limit=paging.limit, offset=paging.offset
    )


@router.post(
    "/{conversation_id}/messages",
    openapi_extra=route_errors(Conflict, PlanLimitReached),
    dependencies=[requires(Scope.conversations_read, Scope.conversations_write)],
    response_model=schemas.MessageRead,
    status_code=status.HTTP_202_ACCEPTED,
    summary="Reply as a person",
)
async def reply(
    conversation_id: uuid.UUID,
    body: schemas.HumanReply,
    session: DbSession,
    principal: CurrentPrincipal,
) -> Message:
    """Sent through the conversation's channel in the background (status `pending` → `sent`)."""
    return await conversations.reply_as_human(session, principal, conversation_id, text=body.text)


@router.post(
    "/{conversation_id}/escalate",
    openapi_extra=route_errors(Conflict),
    dependencies=[requires(Scope.conversations_read, Scope.conversations_write)],
    response_model=schemas.InboxItem,
    summary="Escalate",
)
async def escalate(
    conversation_id: uuid.UUID, session: DbSession, principal: CurrentPrincipal
) -> Conversation:
    """A person takes over; the agent stops replying."""
    return await conversations.escalate(session, principal, conversation_id)


@router.post(
    "/{conversation_id}/hand-back",
    openapi_extra=route_errors(Conflict),
    dependencies=[requires(Scope.conversations_read, Scope.conversations_write)],
    response_model=schemas.InboxItem,
    summary="Hand back",
)
async def hand_back(
    conversation_id: uuid.UUID, session: DbSession, principal: CurrentPrincipal
) -> Conversation:
    """The agent answers again from the next inbound message."""
    return await conversations.hand_back(session, principal, conversation_id)


@router.post(
    "/{conversation_id}/close",
    openapi_extra=route_errors(Conflict),
    dependencies=[requires(Scope.conversations_read, Scope.conversations_write)],
    response_model=schemas.InboxItem,
    summary="Close",
)
async def close(
    conversation_id: uuid.UUID, session: DbSession, principal: CurrentPrincipal
) -> Conversation:
    """Closed; the contact's next message starts a new conversation."""
    return await conversations.close(session, principal, conversation_id)


@router.put(
    "/{conversation_id}/assignee",
    dependencies=[requires(Scope.conversations_read, Scope.conversations_write)],
    response_model=schemas.InboxItem,
    summary="Assign member",
)
async def assign_member(
    conversation_id: uuid.UUID,
    body: schemas.MemberAssignment,
    session: DbSession,
    principal: CurrentPrincipal,
) -> Conversation:
    """The member who looks after this conversation (null: nobody); 422 for anyone who is
    not an active member of this workspace."""
    return await conversations.assign_member(
        session, principal, conversation_id, user_id=body.user_id
    )


@router.put(
    "/{conversation_id}/agent",
    openapi_extra=route_errors(Conflict),
    dependencies=[requires(Scope.conversations_read, Scope.conversations_write)],
    response_model=schemas.InboxItem,
    summary="Assign agent",
)
async def assign_agent(
    conversation_id: uuid.UUID,
    body: schemas.AgentAssignment,
    session: DbSession,
    principal: CurrentPrincipal,
) -> Conversation:
    """The agent that answers this conversation (null: the workspace default)."""
    return await conversations.assign_agent(
        session, principal, conversation_id, agent_id=body.agent_id
    )


# --- WhatsApp --------------------------------------------------------------------------------


@channels_router.get(
    "/webhook",
    openapi_extra=route_errors(Forbidden),
    response_class=PlainTextResponse,
    summary="Webhook handshake",
)
async def whatsapp_handshake(
    session: DbSession,
    mode: Annotated[str | None, Query(alias="hub.mode", max_length=32)] = None,
    verify_token: Annotated[str | None, Query(alias="hub.verify_token", max_length=512)] = None,
    challenge: Annotated[str | None, Query(alias="hub.challenge", max_length=512)] = None,
) -> str:
    """Meta's subscription check: echoes `hub.challenge` for a known verify token (else 403)."""
    return await webhooks.verify_subscription(
        session, mode=mode, verify_token=verify_token, challenge=challenge
    )


@channels_router.post(
    "/webhook",
    openapi_extra=route_errors(Unauthorized),
    response_model=schemas.WebhookReceipt,
    summary="Webhook",
)
async def whatsapp_webhook(
    request: Request,
    session: DbSession,
    context: Context,
    signature: Annotated[str | None, Header(alias="X-Hub-Signature-256", max_length=200)] = None,
) -> webhooks.WebhookOutcome:
    """Inbound messages and delivery statuses, signed with the app secret (401 otherwise)."""
    return await webhooks.receive_notification(
        session, raw_body=await request.body(), signature=signature, box=context.secrets
    )


@channels_router.post(
    "/numbers",
    openapi_extra=route_errors(Conflict),
    dependencies=[requires(Scope.conversations_write)],
    response_model=schemas.WhatsAppNumberRead,
    status_code=status.HTTP_201_CREATED,
    summary="Connect a number",
)
async def add_number(
    body: schemas.WhatsAppNumberCreate,
    session: DbSession,
    principal: CurrentPrincipal,
    context: Context,
) -> ConnectedNumber:
    """Admins: a Cloud API number with its access token, verify token and app secret
    (stored encrypted or digested, never returned). The number is connected only when the
    Graph API confirms that the access token can read it (422 otherwise), so no workspace can
    claim another business's number."""
    return await conversations.add_number(
        session,
        principal,
        data=body,
        box=context.secrets,
        graph=GraphApi.of(context.settings),
    )


@channels_router.get(
    "/numbers",
    dependencies=[requires(Scope.conversations_read)],
    response_model=list[schemas.WhatsAppNumberRead],
    summary="Connected numbers",
)
async def list_numbers(
    session: DbSession, principal: CurrentPrincipal, context: Context
) -> list[ConnectedNumber]:
    """The workspace's WhatsApp numbers (secrets masked), each with its `status`:
    `needs_secret` when its stored secrets can no longer be decrypted (its webhooks are
    refused with 401 until it is connected again with them)."""
    return await conversations.list_numbers(session, principal, box=context.secrets)


@channels_router.delete(
    "/numbers/{number_id}",
    dependencies=[requires(Scope.conversations_write)],
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Remove a number",
)
async def remove_number(
    number_id: uuid.UUID, session: DbSession, principal: CurrentPrincipal
) -> None:
    """Admins: stop routing this number's webhooks here."""
    await conversations.remove_number(session, principal, number_id)


# --- web chat --------------------------------------------------------------------------------

WidgetKey = Annotated[str, Path(max_length=64)]
OriginHeader = Annotated[
    str | None,
    Header(
        alias="Origin",
        max_length=300,
        description="Sent by browsers: it must be one of the widget's allowed origins (else 403).",
    ),
]


async def _admitted_widget(
    request: Request, session: DbSession, widget_key: WidgetKey, origin: OriginHeader = None
) -> ConversationSettings:
    # A dependency, so the origin is judged before the body: a foreign page learns nothing.
    widget = await webchat.admit(session, widget_key=widget_key, origin=origin)
    if origin is not None:
        cors.allow_origin(request, origin)
    return widget


AdmittedWidget = Annotated[ConversationSettings, Depends(_admitted_widget)]


def _limits(context: Resources) -> webchat.WebchatLimits:
    return webchat.WebchatLimits.build(
        context.counters, per_minute=context.settings.webchat_messages_per_minute
    )


@webchat_router.post(
    "/{widget_key}/messages",
    openapi_extra=route_errors(Forbidden, TooManyRequests),
    response_model=schemas.WebchatMessage,
    status_code=status.HTTP_202_ACCEPTED,
    summary="Visitor message",
)
async def webchat_post(
    widget_key: WidgetKey,
    widget: AdmittedWidget,
    body: schemas.WebchatPost,
    session: DbSession,
    context: Context,
    address: ClientAddress,
) -> Message:
    """Public (widget key + visitor id); a browser's `Origin` must be one of the widget's
    allowed origins (403); rate-limited per visitor and per address (429)."""
    return await webchat.post_message(
        session,
        widget=widget,
        visitor=body.visitor,
        text=body.text,
        name=body.name,
        address=address,
        limits=_limits(context),
    )


@webchat_router.get(
    "/{widget_key}/messages",
    openapi_extra=route_errors(Forbidden, TooManyRequests),
    response_model=schemas.WebchatThread,
    summary="Poll replies",
)
async def webchat_poll(
    widget_key: WidgetKey,
    widget: AdmittedWidget,
    session: DbSession,
    context: Context,
    address: ClientAddress,
    response: Response,
    visitor: Annotated[str, Query(min_length=8, max_length=64, pattern=r"^[A-Za-z0-9_\-]+$")],
    after: uuid.UUID | None = None,
) -> webchat.Thread:
    """The visitor's conversation: messages after the `after` message id (all without it).
    The same origin rule as posting; polls are rate-limited too (429)."""
    response.headers["Cache-Control"] = "no-store"
    return await webchat.poll(
        session,
        widget=widget,
        visitor=visitor,
        after=after,
        address=address,
        limits=_limits(context),
    )


@webchat_router.options(
    "/{widget_key}/messages", status_code=status.HTTP_204_NO_CONTENT, include_in_schema=False
)
async def webchat_preflight(
    request: Request,
    widget_key: WidgetKey,
    session: DbSession,
    origin: OriginHeader = None,
    method: cors.PreflightMethod = None,
    headers: cors.PreflightHeaders = None,
) -> Response:
    """A browser's CORS preflight: 204 with the permission for an allowed origin, else a 403
    (404 for an unknown widget) without any. A plain OPTIONS only lists the methods."""
    if origin is None or method is None:
        await webchat.admit(session, widget_key=widget_key, origin=None)
        return Response(status_code=status.HTTP_204_NO_CONTENT, headers={"Allow": ALLOW})
    await webchat.admit_preflight(
        session, widget_key=widget_key, origin=origin, method=method, headers=headers
    )
    return cors.granted_preflight(
        request,
        origin,
        methods=webchat.ALLOWED_METHODS,
        headers=webchat.ALLOWED_HEADERS,
        max_age_seconds=PREFLIGHT_MAX_AGE_SECONDS,
    )
