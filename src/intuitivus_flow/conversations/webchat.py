"""The public web-chat API: a page's widget posts visitor messages and polls for replies.

No user token: the workspace is named by its public widget key, the visitor by an id the
widget generates and keeps. Both are public, so posting is rate-limited per visitor and per
client address (a visitor id is free to invent), and messages are size-limited.

Browsers are held to the widget's allowed origins (`admit`): a page of another site gets a
403 and no CORS permission, so it can neither post nor read. A request without `Origin` comes
from no browser page (a server, curl); the key is public, so the origin list was never what
kept those out: the rate limits are.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from intuitivus_flow.contacts import service as contacts
from intuitivus_flow.conversations import service as conversations
from intuitivus_flow.conversations.models import (
    Channel,
    Conversation,
    ConversationSettings,
    ConversationState,
    Message,
)
from intuitivus_flow.conversations.repository import (
    ConversationRepository,
    ConversationSettingsRepository,
    MessageRepository,
    WidgetKeyRepository,
)
from intuitivus_flow.kit.errors import Forbidden, NotFound, TooManyRequests
from intuitivus_flow.kit.origins import OriginList, refuse_unannounced
from intuitivus_flow.kit.ratelimit import CounterStore, Throttle

POLL_LIMIT = 100
# A shared office or mobile carrier puts many visitors behind one address.
ADDRESS_FACTOR = 10
# The widget polls every few seconds while a reply may come; this leaves room for a few tabs.
POLLS_PER_MESSAGE = 6
# What the widget sends: JSON bodies (so a preflight) to the messages resource.
ALLOWED_METHODS = ("GET", "POST")
ALLOWED_HEADERS = ("content-type",)


@dataclass(frozen=True, slots=True)
class WebchatLimits:
    per_visitor: Throttle
    per_address: Throttle
    polls_per_visitor: Throttle
    polls_per_address: Throttle

    @classmethod
    def build(cls, store: CounterStore, *, per_minute: int) -> WebchatLimits:
        polls = per_minute * POLLS_PER_MESSAGE
        return cls(
            per_visitor=Throttle(store, "webchat:visitor", limit=per_minute, window_seconds=60),
            per_address=Throttle(
                store, "webchat:address", limit=per_minute * ADDRESS_FACTOR, window_seconds=60
            ),
            polls_per_visitor=Throttle(store, "webchat:poll", limit=polls, window_seconds=60),
            polls_per_address=Throttle(
                store, "webchat:poll-address", limit=polls * ADDRESS_FACTOR, window_seconds=60
            ),
        )

    async def hit(self, *, widget_key: str, visitor: str, address: str) -> None:
        await _hit(
            ((self.per_visitor, f"{widget_key}:{visitor}"), (self.per_address, address)),
            "Too many messages; wait a moment",
        )

    async def hit_poll(self, *, widget_key: str, visitor: str, address: str) -> None:
        await _hit(
            (
                (self.polls_per_visitor, f"{widget_key}:{visitor}"),
                (self.polls_per_address, address),
            ),
            "Checking for replies too often; wait a moment",
        )


async def _hit(throttles: Sequence[tuple[Throttle, str]], message: str) -> None:
    for throttle, subject in throttles:
        state = await throttle.hit(subject)
        if state.count > throttle.limit:
            raise TooManyRequests(message, retry_after=state.retry_after)


@dataclass(frozen=True, slots=True)
class Thread:
    state: ConversationState | None
    messages: Sequence[Message]


async def admit(
    session: AsyncSession, *, widget_key: str, origin: str | None
) -> ConversationSettings:
    """The enabled widget named by `widget_key`, when a page of `origin` may use it (404 for
    an unknown or disabled widget, 403 for an origin it does not list)."""
    settings = await _widget(session, widget_key)
    if origin is not None and not OriginList(settings.widget_allowed_origins).allows(origin):
        raise Forbidden(
            f"Pages of {origin[:200]} may not use this chat widget: its owner can add the "
            "origin to the widget's allowed origins on the Channels page"
        )
    return settings


async def admit_preflight(
    session: AsyncSession,
    *,
    widget_key: str,
    origin: str,
    method: str,
    headers: str | None,
) -> ConversationSettings:
    """A browser's CORS preflight: the origin as in `admit`, then the method and the request
    headers it announces (403 for any the widget never sends)."""
    settings = await admit(session, widget_key=widget_key, origin=origin)
    refuse_unannounced(
        method, headers, methods=ALLOWED_METHODS, allowed=ALLOWED_HEADERS, what="The web chat"
    )
    return settings


async def post_message(
    session: AsyncSession,
    *,
    widget: ConversationSettings,
    visitor: str,
    text: str,
    name: str,
    address: str,
    limits: WebchatLimits,
) -> Message:
    """Store the visitor's message in their live conversation (started on first message);
    the agent's reply arrives through polling. `widget` comes from `admit`."""
    await limits.hit(widget_key=widget.widget_key, visitor=visitor, address=address)
    workspace_id = widget.workspace_id
    previous = await _visitors_conversation(session, workspace_id, visitor)
    contact = (
        previous.contact
        if previous is not None
        else await contacts.create_visitor(
            session,
            workspace_id,
            name=name.strip() or f"Web visitor {visitor[:6]}",
            visitor_id=visitor,
        )
    )
    conversation = await conversations.continue_or_start(
        session, workspace_id, contact=contact, channel=Channel.webchat, visitor_id=visitor
    )
    return await conversations.receive(session, conversation, text=text)


async def _visitors_conversation(
    session: AsyncSession, workspace_id: uuid.UUID, visitor: str
) -> Conversation | None:
    """The visitor's latest conversation. A new visitor's first messages can arrive together
    (a double submit, two tabs): the workspace's settings row is then locked and the lookup
    repeated, so the first creates the visitor and the others find it."""
    repository = ConversationRepository(session, workspace_id)
    previous = await repository.latest_for_visitor(visitor)
    if previous is None:
        await ConversationSettingsRepository(session, workspace_id).lock()
        previous = await repository.latest_for_visitor(visitor)
    return previous


async def poll(
    session: AsyncSession,
    *,
    widget: ConversationSettings,
    visitor: str,
    after: uuid.UUID | None,
    address: str,
    limits: WebchatLimits,
) -> Thread:
    """The visitor's latest conversation: messages after the `after` message (all without).
    `widget` comes from `admit`."""
    await limits.hit_poll(widget_key=widget.widget_key, visitor=visitor, address=address)
    workspace_id = widget.workspace_id
    conversation = await ConversationRepository(session, workspace_id).latest_for_visitor(visitor)
    if conversation is None:
        return Thread(state=None, messages=[])
    repository = MessageRepository(session, workspace_id)
    cursor = await repository.get(after) if after else None
    if cursor is not None and cursor.conversation_id != conversation.id:
        cursor = None  # a cursor from elsewhere (or an older conversation): start over
    messages = await repository.after([conversation.id], cursor, limit=POLL_LIMIT)
    return Thread(state=ConversationState(conversation.state), messages=messages)


async def _widget(session: AsyncSession, widget_key: str) -> ConversationSettings:
    settings = await WidgetKeyRepository(session).by_widget_key(widget_key)
    if settings is None or not settings.widget_enabled:
        raise NotFound("Unknown web-chat widget")
    return settings
