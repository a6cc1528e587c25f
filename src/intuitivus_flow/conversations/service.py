"""Conversations: the inbox and its human actions, channel settings, inbound messages, and
the one outbound path every message (agent, human, campaign) goes through.

Outbound messages are written as rows first and delivered by a job (`conversation.deliver`),
so a send survives a crash, retries with backoff, and is never repeated once it succeeded.
"""

from __future__ import annotations

import secrets
import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from intuitivus_flow.agents.models import Agent, AgentStatus
from intuitivus_flow.agents.repository import AgentRepository
from intuitivus_flow.billing import service as billing
from intuitivus_flow.billing.exceptions import PlanLimitReached
from intuitivus_flow.contacts.models import Contact, OptIn
from intuitivus_flow.contacts.repository import ContactRepository
from intuitivus_flow.conversations import handover, numbers
from intuitivus_flow.conversations.models import (
    STATUS_RANK,
    Author,
    Channel,
    Conversation,
    ConversationSettings,
    ConversationState,
    Direction,
    Message,
    MessageKind,
    MessageStatus,
    WhatsAppNumber,
)
from intuitivus_flow.conversations.repository import (
    ConversationReadRepository,
    ConversationRepository,
    ConversationSettingsRepository,
    InboxCounts,
    InboxFilter,
    MessageRepository,
    WhatsAppNumberRepository,
    WhatsAppRoutingRepository,
)
from intuitivus_flow.conversations.schemas import SettingsUpdate, WhatsAppNumberCreate
from intuitivus_flow.events import catalog
from intuitivus_flow.events import service as events
from intuitivus_flow.identity.principal import Principal
from intuitivus_flow.identity.roles import Role
from intuitivus_flow.identity.scopes import Scope
from intuitivus_flow.jobs import service as jobs
from intuitivus_flow.kit.crypto import SecretBox, mask
from intuitivus_flow.kit.errors import Conflict, InvalidInput
from intuitivus_flow.kit.models import utcnow
from intuitivus_flow.kit.repository import Page
from intuitivus_flow.kit.security import digest
from intuitivus_flow.users.repository import MemberRepository

REPLY_JOB = "conversation.reply"
DELIVER_JOB = "conversation.deliver"
PREVIEW_LENGTH = 200

# --- the inbox -------------------------------------------------------------------------------


async def list_inbox(
    session: AsyncSession,
    principal: Principal,
    *,
    state: ConversationState | None,
    limit: int,
    offset: int,
    view: InboxFilter | None = None,
) -> Page[Conversation]:
    """Conversations (with their contact and last message), most recent activity first.

    `view` narrows further for the person asking: unread by them, assigned to them, needing
    attention, or one channel (`InboxFilter`)."""
    principal.require_scope(Scope.conversations_read)
    repository = ConversationRepository(session, principal.workspace_id)
    statement = repository.inbox(state=state.value if state else None)
    if view is not None:
        statement = repository.narrow(statement, view, member_id=principal.user_id)
    return await repository.paginate(statement, limit=limit, offset=offset)


async def inbox_counts(session: AsyncSession, principal: Principal) -> InboxCounts:
    """The inbox's figures for the person asking, in one query: open, escalated, unread by
    them, assigned to them, needing attention, and not closed by channel."""
    principal.require_scope(Scope.conversations_read)
    repository = ConversationRepository(session, principal.workspace_id)
    return await repository.counts(member_id=principal.user_id)


async def unread_ids(
    session: AsyncSession, principal: Principal, conversations: list[Conversation]
) -> set[uuid.UUID]:
    """Which of these conversations the person asking has not read since the contact wrote."""
    principal.require_scope(Scope.conversations_read)
    if principal.user_id is None:
        return set()
    reads = await ConversationReadRepository(session, principal.workspace_id).read_times(
        principal.user_id, [conversation.id for conversation in conversations]
    )
    return {
        conversation.id
        for conversation in conversations
        if conversation.last_inbound_at is not None
        and (conversation.id not in reads or reads[conversation.id] < conversation.last_inbound_at)
    }


async def mark_read(
    session: AsyncSession, principal: Principal, conversation_id: uuid.UUID
) -> Conversation:
    """The person asking has read the conversation up to now (opening it does this)."""
    conversation = await get(session, principal, conversation_id)
    if principal.user_id is not None:
        await ConversationReadRepository(session, principal.workspace_id).mark(
            conversation.id, principal.user_id, utcnow()
        )
    return conversation


async def members(session: AsyncSession, principal: Principal) -> list[tuple[uuid.UUID, str]]:
    """The workspace's active members a conversation can be assigned to, by name."""
    principal.require_scope(Scope.conversations_read)
    repository = MemberRepository(session, principal.workspace_id)
    people = await repository.all(repository.listing())
    return [(user.id, user.name or user.email) for user in people if user.active]


async def assign_member(
    session: AsyncSession,
    principal: Principal,
    conversation_id: uuid.UUID,
    *,
    user_id: uuid.UUID | None,
) -> Conversation:
    """Give the conversation to an active member of the workspace (None: to nobody)."""
    principal.require_scope(Scope.conversations_write)
    conversation = await get(session, principal, conversation_id)
    if user_id is not None:
        member = await MemberRepository(session, principal.workspace_id).get(user_id)
        if member is None or not member.active:
            raise InvalidInput("Choose an active member of this workspace", field="user_id")
    if conversation.assignee_user_id != user_id:
        conversation.assignee_user_id = user_id
        await _record(
            session,
            principal,
            catalog.CONVERSATION_MEMBER_ASSIGNED,
            conversation,
            assignee_id=str(user_id) if user_id else None,
        )
    return conversation


async def get(
    session: AsyncSession, principal: Principal, conversation_id: uuid.UUID
) -> Conversation:
    principal.require_scope(Scope.conversations_read)
    return await ConversationRepository(session, principal.workspace_id).get_or_raise(
        conversation_id
    )


async def list_messages(
    session: AsyncSession,
    principal: Principal,
    conversation_id: uuid.UUID,
    *,
    limit: int,
    offset: int,
) -> Page[Message]:
    """Oldest first."""
    conversation = await get(session, principal, conversation_id)
    repository = MessageRepository(session, principal.workspace_id)
    return await repository.paginate(repository.thread(conversation.id), limit=limit, offset=offset)


async def reply_as_human(
    session: AsyncSession, principal: Principal, conversation_id: uuid.UUID, *, text: str
) -> Message:
    """A person answers through the conversation's channel (delivered in the background)."""
    principal.require_scope(Scope.conversations_write)
    conversation = await _open_for_write(session, principal, conversation_id)
    message = await queue_outbound(
        session, conversation, author=Author.human, text=text, user_id=principal.user_id
    )
    clear_attention(conversation)  # a person answered: what asked for one is dealt with
    if principal.user_id is not None:  # who replies has read what they replied to
        await ConversationReadRepository(session, principal.workspace_id).mark(
            conversation.id, principal.user_id, utcnow()
        )
    await _record(session, principal, catalog.CONVERSATION_HUMAN_REPLIED, conversation)
    return message


async def escalate(
    session: AsyncSession, principal: Principal, conversation_id: uuid.UUID
) -> Conversation:
    """A human takes over: the agent stops answering until the conversation is handed back."""
    principal.require_scope(Scope.conversations_write)
    conversation = await _open_for_write(session, principal, conversation_id)
    if conversation.state == ConversationState.open:
        conversation.state, conversation.escalated_at = ConversationState.escalated, utcnow()
        await _record(session, principal, catalog.CONVERSATION_ESCALATED, conversation)
    return conversation


async def hand_back(
    session: AsyncSession, principal: Principal, conversation_id: uuid.UUID
) -> Conversation:
    """The agent answers again (from the next inbound message on)."""
    principal.require_scope(Scope.conversations_write)
    conversation = await _open_for_write(session, principal, conversation_id)
    if conversation.state == ConversationState.escalated:
        conversation.state = ConversationState.open
        clear_attention(conversation)
        await _record(session, principal, catalog.CONVERSATION_HANDED_BACK, conversation)
    return conversation


async def close(
    session: AsyncSession, principal: Principal, conversation_id: uuid.UUID
) -> Conversation:
    """Closed for good; the contact's next message starts a new conversation."""
    principal.require_scope(Scope.conversations_write)
    conversation = await get(session, principal, conversation_id)
    if conversation.state != ConversationState.closed:
        conversation.state, conversation.closed_at = ConversationState.closed, utcnow()
        await _record(session, principal, catalog.CONVERSATION_CLOSED, conversation)
    return conversation


async def assign_agent(
    session: AsyncSession,
    principal: Principal,
    conversation_id: uuid.UUID,
    *,
    agent_id: uuid.UUID | None,
) -> Conversation:
    principal.require_scope(Scope.conversations_write)
    conversation = await get(session, principal, conversation_id)
    if agent_id is not None:
        await AgentRepository(session, principal.workspace_id).get_or_raise(agent_id)
    conversation.agent_id = agent_id
    await _record(
        session,
        principal,
        catalog.CONVERSATION_AGENT_ASSIGNED,
        conversation,
        agent_id=str(agent_id) if agent_id else None,
    )
    return conversation


async def _open_for_write(
    session: AsyncSession, principal: Principal, conversation_id: uuid.UUID
) -> Conversation:
    conversation = await get(session, principal, conversation_id)
    if conversation.state == ConversationState.closed:
        raise Conflict("The conversation is closed")
    return conversation


# --- settings and WhatsApp numbers -----------------------------------------------------------


async def get_settings(session: AsyncSession, principal: Principal) -> ConversationSettings:
    principal.require_scope(Scope.conversations_read)
    return await ensure_settings(session, principal.workspace_id)


async def update_settings(
    session: AsyncSession, principal: Principal, *, changes: SettingsUpdate
) -> ConversationSettings:
    _require_channel_manager(principal)
    settings = await ensure_settings(session, principal.workspace_id)
    fields = changes.model_dump(exclude_unset=True)
    if fields.get("default_agent_id") is not None:
        await AgentRepository(session, principal.workspace_id).get_or_raise(
            fields["default_agent_id"]
        )
    if "default_agent_id" in fields:
        settings.default_agent_id = fields["default_agent_id"]
    for name in ("widget_enabled", "escalate_on_agent_failure", "hand_over_on_request"):
        if fields.get(name) is not None:
            setattr(settings, name, fields[name])
    if changes.widget_allowed_origins is not None:  # normalised by the schema
        settings.widget_allowed_origins = changes.widget_allowed_origins
    await events.record(
        session,
        workspace_id=principal.workspace_id,
        user_id=principal.user_id,
        name=catalog.CONVERSATION_SETTINGS_UPDATED,
        properties={"changed": sorted(fields)},
    )
    return settings


async def ensure_settings(session: AsyncSession, workspace_id: uuid.UUID) -> ConversationSettings:
    """The workspace's settings row, created with a fresh widget key on first use."""
    repository = ConversationSettingsRepository(session, workspace_id)
    found = await repository.current()
    if found is not None:
        return found
    return await repository.add(ConversationSettings(widget_key=secrets.token_urlsafe(24)))


async def add_number(
    session: AsyncSession,
    principal: Principal,
    *,
    data: WhatsAppNumberCreate,
    box: SecretBox,
    graph: numbers.GraphApi,
) -> numbers.ConnectedNumber:
    """Connect a number once Meta confirmed that its access token owns it (422 otherwise):
    only then may the number route webhooks (docs/ARCHITECTURE.md, "Conversations")."""
    _require_channel_manager(principal)
    routing = WhatsAppRoutingRepository(session)
    # Numbers are unique across the instance: a webhook must route to exactly one workspace.
    claimed = await routing.by_phone_number_id(data.phone_number_id)
    if claimed is not None and claimed.active:
        raise Conflict("This WhatsApp number is already connected", field="phone_number_id")
    if data.agent_id is not None:
        await AgentRepository(session, principal.workspace_id).get_or_raise(data.agent_id)
    info = await numbers.confirm_ownership(data, graph)
    if claimed is not None:
        # A claim Meta never confirmed (an imported copy) routed nothing: the business that
        # just proved it owns the number takes it, so an unproven row cannot block it.
        await routing.delete(claimed)
    number = await WhatsAppNumberRepository(session, principal.workspace_id).add(
        WhatsAppNumber(
            phone_number_id=data.phone_number_id,
            display_number=data.display_number.strip() or info.display_phone_number,
            encrypted_access_token=box.encrypt(data.access_token),
            token_hint=mask(data.access_token),
            encrypted_app_secret=box.encrypt(data.app_secret),
            verify_token_digest=digest(data.verify_token),
            agent_id=data.agent_id,
            active=True,
        )
    )
    await _record_number(session, principal, catalog.WHATSAPP_NUMBER_ADDED, number)
    return numbers.ConnectedNumber.of(number, box)


async def list_numbers(
    session: AsyncSession, principal: Principal, *, box: SecretBox
) -> list[numbers.ConnectedNumber]:
    """The workspace's numbers, each with whether it works (`needs_secret` when its stored
    secrets can no longer be decrypted: its webhooks are refused until they are entered
    again)."""
    principal.require_scope(Scope.conversations_read)
    repository = WhatsAppNumberRepository(session, principal.workspace_id)
    return [
        numbers.ConnectedNumber.of(number, box)
        for number in await repository.all(repository.listing())
    ]


async def remove_number(session: AsyncSession, principal: Principal, number_id: uuid.UUID) -> None:
    _require_channel_manager(principal)
    repository = WhatsAppNumberRepository(session, principal.workspace_id)
    number = await repository.get_or_raise(number_id)
    await _record_number(session, principal, catalog.WHATSAPP_NUMBER_REMOVED, number)
    await repository.delete(number)


def _require_channel_manager(principal: Principal) -> None:
    # Channel credentials and routing decide who answers customers: admins and owners only.
    principal.require_scope(Scope.conversations_write)
    principal.require_role(Role.admin)


# --- inbound ---------------------------------------------------------------------------------


async def continue_or_start(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    *,
    contact: Contact,
    channel: Channel,
    number: WhatsAppNumber | None = None,
    visitor_id: str | None = None,
) -> Conversation:
    """The contact's live conversation on this channel, or a new open one.

    The contact's row is locked first: parallel messages from one contact start exactly one
    conversation (the later ones wait, then find it).
    """
    repository = ConversationRepository(session, workspace_id)
    await repository.lock_contact(contact.id)
    current = await repository.current(
        contact_id=contact.id,
        channel=channel.value,
        whatsapp_number_id=number.id if number else None,
        visitor_id=visitor_id,
    )
    if current is not None:
        return current
    conversation = await repository.add(
        Conversation(
            contact=contact,
            channel=channel.value,
            whatsapp_number_id=number.id if number else None,
            visitor_id=visitor_id,
            agent_id=number.agent_id if number else None,
        )
    )
    await events.record(
        session,
        workspace_id=workspace_id,
        user_id=None,
        name=catalog.CONVERSATION_STARTED,
        properties={"conversation_id": str(conversation.id), "channel": channel.value},
    )
    return conversation


async def receive(session: AsyncSession, conversation: Conversation, *, text: str) -> Message:
    """Store an inbound message and, while the agent is in charge, queue its reply (web chat;
    channels that identify their messages use `receive_once`)."""
    message = await MessageRepository(session, conversation.workspace_id).add(
        _inbound(conversation, text, channel_message_id=None)
    )
    await _accept_inbound(session, conversation, message)
    return message


async def receive_once(
    session: AsyncSession, conversation: Conversation, *, text: str, channel_message_id: str
) -> Message | None:
    """`receive` for a message the channel identifies; None when it is already stored.

    A redelivery, even one racing the first delivery, is skipped by the (workspace, channel
    message id) unique constraint without an error, so the channel gets its 200 and the
    message is stored and answered once.
    """
    message = await MessageRepository(session, conversation.workspace_id).add_unless_delivered(
        _inbound(conversation, text, channel_message_id=channel_message_id)
    )
    if message is not None:
        await _accept_inbound(session, conversation, message)
    return message


def _inbound(conversation: Conversation, text: str, *, channel_message_id: str | None) -> Message:
    return Message(
        conversation_id=conversation.id,
        direction=Direction.inbound,
        author=Author.contact,
        text=text,
        channel_message_id=channel_message_id,
        status=MessageStatus.received,
    )


async def _accept_inbound(
    session: AsyncSession, conversation: Conversation, message: Message
) -> None:
    _touch(conversation, message)
    conversation.last_inbound_at = message.created_at
    await events.record(
        session,
        workspace_id=conversation.workspace_id,
        user_id=None,
        name=catalog.CONVERSATION_MESSAGE_RECEIVED,
        properties={"conversation_id": str(conversation.id), "channel": conversation.channel},
    )
    if conversation.state == ConversationState.open and await _contact_asked_for_person(
        session, conversation, message
    ):
        return  # a person answers this one: no agent reply is queued
    if conversation.state == ConversationState.open:
        await jobs.enqueue(
            session,
            kind=REPLY_JOB,
            payload={"message_id": str(message.id)},
            workspace_id=conversation.workspace_id,
            dedupe_key=f"conversation-reply:{message.id}",
            max_attempts=3,
        )


async def _contact_asked_for_person(
    session: AsyncSession, conversation: Conversation, message: Message
) -> bool:
    """Hand the conversation over when the contact asks for a person and the workspace lets
    contacts do so (`hand_over_on_request`, on by default)."""
    request = handover.asks_for_person(message.text)
    if request is None:
        return False
    settings = await ensure_settings(session, conversation.workspace_id)
    if not settings.hand_over_on_request:
        return False
    await hand_over(
        session,
        conversation,
        cause="contact_asked",
        reason="The contact asked for a person",
        language=request.language,
        escalate=True,
        answering=message,
    )
    return True


async def hand_over(
    session: AsyncSession,
    conversation: Conversation,
    *,
    cause: str,
    reason: str,
    language: handover.Language,
    escalate: bool,
    answering: Message,
) -> None:
    """Mark the conversation for a person with `reason` (shown in the inbox); with `escalate`,
    a person takes over (the agent stops) and the contact is told so, politely, in their
    language. The notice counts as a message; over the plan's quota the conversation is
    still escalated, and the contact's message says the notice was not sent."""
    conversation.attention_reason, conversation.attention_at = reason[:500], utcnow()
    if escalate and conversation.state == ConversationState.open:
        conversation.state, conversation.escalated_at = ConversationState.escalated, utcnow()
        try:
            await queue_outbound(
                session,
                conversation,
                author=Author.agent,
                text=handover.HANDOVER_MESSAGES[language],
                idempotency_key=f"handover:{answering.id}",
            )
        except PlanLimitReached as refused:
            note_reply_refused(answering, refused)
    await events.record(
        session,
        workspace_id=conversation.workspace_id,
        user_id=None,
        name=catalog.CONVERSATION_NEEDS_ATTENTION,
        properties={
            "conversation_id": str(conversation.id),
            "cause": cause,
            "escalated": conversation.state == ConversationState.escalated,
        },
    )


def clear_attention(conversation: Conversation) -> None:
    conversation.attention_reason, conversation.attention_at = None, None


async def apply_status(
    session: AsyncSession, workspace_id: uuid.UUID, *, wamid: str, status: str, error: str | None
) -> bool:
    """A delivery receipt from the channel. Receipts may arrive out of order, so a status
    never moves a message backwards (read stays read); `failed` always applies."""
    received = _known_status(status)
    if received is None:
        return False
    message = await MessageRepository(session, workspace_id).by_channel_id(wamid)
    if message is None or message.status == MessageStatus.failed:
        return False
    if received == MessageStatus.failed:
        message.status, message.error = received, (error or "failed")[:2000]
    elif STATUS_RANK.get(received, -1) > STATUS_RANK.get(message.status, 99):
        message.status = received
    else:
        return False
    message.status_updated_at = utcnow()
    return True


def _known_status(status: str) -> MessageStatus | None:
    """The channel may send statuses this product does not track (e.g. `deleted`); those are
    ignored rather than written into the typed column, where they would fail the statement."""
    try:
        return MessageStatus(status)
    except ValueError:
        return None


async def responding_agent(session: AsyncSession, conversation: Conversation) -> Agent | None:
    """Who answers: the conversation's agent, else the workspace default, else the oldest
    active agent; paused or archived agents are passed over."""
    agents = AgentRepository(session, conversation.workspace_id)
    settings = await ConversationSettingsRepository(session, conversation.workspace_id).current()
    for agent_id in (conversation.agent_id, settings.default_agent_id if settings else None):
        agent = await agents.get(agent_id) if agent_id else None
        if agent is not None and agent.status == AgentStatus.active:
            return agent
    return await agents.first(agents.listing(status=AgentStatus.active))


# --- outbound --------------------------------------------------------------------------------


async def queue_outbound(
    session: AsyncSession,
    conversation: Conversation,
    *,
    author: Author,
    text: str,
    kind: MessageKind = MessageKind.text,
    payload: dict[str, Any] | None = None,
    user_id: uuid.UUID | None = None,
    idempotency_key: str | None = None,
) -> Message:
    """The one way out: count the message against the plan's monthly quota, store it and
    have it delivered through its channel. Over the quota it raises `PlanLimitReached`
    (402 `/problems/plan-limit`) before anything is written.

    Web chat needs no delivery (the visitor polls), so its messages are sent at once;
    WhatsApp messages wait for the `conversation.deliver` job.
    """
    await use_message_quota(session, conversation.workspace_id)
    return await _store_outbound(
        session,
        conversation,
        author=author,
        text=text,
        kind=kind,
        payload=payload,
        user_id=user_id,
        idempotency_key=idempotency_key,
    )


async def _store_outbound(
    session: AsyncSession,
    conversation: Conversation,
    *,
    author: Author,
    text: str,
    kind: MessageKind = MessageKind.text,
    payload: dict[str, Any] | None = None,
    user_id: uuid.UUID | None = None,
    idempotency_key: str | None = None,
) -> Message:
    whatsapp = conversation.channel == Channel.whatsapp
    message = await MessageRepository(session, conversation.workspace_id).add(
        Message(
            conversation_id=conversation.id,
            direction=Direction.outbound,
            author=author.value,
            author_user_id=user_id,
            kind=kind.value,
            text=text,
            payload=payload or {},
            idempotency_key=idempotency_key,
            status=MessageStatus.pending if whatsapp else MessageStatus.sent,
        )
    )
    _touch(conversation, message)
    if whatsapp:
        await jobs.enqueue(
            session,
            kind=DELIVER_JOB,
            payload={"message_id": str(message.id)},
            workspace_id=conversation.workspace_id,
            dedupe_key=f"conversation-deliver:{message.id}",
            max_attempts=5,
        )
    return message


async def use_message_quota(session: AsyncSession, workspace_id: uuid.UUID) -> None:
    """Billing hook: every outbound message counts against the plan's monthly quota before it
    is stored, or raises `PlanLimitReached` (402) and counts nothing. Every channel counts,
    web chat included: an agent's reply there costs the same completion and is a message the
    workspace sent. Inbound messages are never counted nor blocked."""
    await billing.use_message_quota(session, workspace_id)


async def check_message_quota(session: AsyncSession, workspace_id: uuid.UUID) -> None:
    """An early look (`PlanLimitReached` when no message is left) before costly work for a
    message, such as the agent's completion; the send itself still counts the message."""
    await billing.check_message_quota(session, workspace_id)


def note_reply_refused(inbound: Message, refused: PlanLimitReached) -> None:
    """The agent's reply to `inbound` was not sent because of the quota: say so on the
    contact's message, where the inbox shows it (web-chat visitors never see `error`)."""
    inbound.error = f"The agent's reply was not sent. {refused.detail}"


async def send_whatsapp_template(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    *,
    contact_id: uuid.UUID,
    template: str,
    language: str,
    components: list[dict[str, Any]],
    idempotency_key: str,
) -> Message:
    """For campaign automation (worker side): send an approved WhatsApp template.

    Idempotent on `idempotency_key` (e.g. `campaign:<step id>:<contact id>`): calling it again
    returns the first message and sends nothing, so a contact never gets a step twice.
    Refuses (InvalidInput, 422) contacts without phone or who opted out, and workspaces with
    no WhatsApp number; over the monthly quota, `PlanLimitReached` (402). A refused send
    writes nothing. The message is delivered by a job after the caller's commit.
    """
    return await _send_to_contact(
        session,
        workspace_id,
        contact_id=contact_id,
        idempotency_key=idempotency_key,
        text=f"[template {template}]",
        kind=MessageKind.template,
        payload={"name": template, "language": language, "components": components},
    )


async def send_text(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    *,
    contact_id: uuid.UUID,
    text: str,
    idempotency_key: str,
) -> Message:
    """For campaign automation: a WhatsApp text message, idempotent like the template send.

    WhatsApp only delivers free text within 24 hours of the contact's last message (outside
    it, use a template); a refused send ends as a `failed` message with Meta's reason.
    """
    return await _send_to_contact(
        session,
        workspace_id,
        contact_id=contact_id,
        idempotency_key=idempotency_key,
        text=text[:4096],
    )


async def _send_to_contact(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    *,
    contact_id: uuid.UUID,
    idempotency_key: str,
    text: str,
    kind: MessageKind = MessageKind.text,
    payload: dict[str, Any] | None = None,
) -> Message:
    """A campaign's WhatsApp send, once per idempotency key. The contact and the number are
    checked, and the message counted against the quota, before anything is written: a
    refused send leaves no conversation behind in the inbox."""
    existing = await MessageRepository(session, workspace_id).by_idempotency_key(idempotency_key)
    if existing is not None:
        return existing
    contact, number = await _whatsapp_recipient(session, workspace_id, contact_id)
    await use_message_quota(session, workspace_id)
    conversation = await continue_or_start(
        session, workspace_id, contact=contact, channel=Channel.whatsapp, number=number
    )
    message = await _store_outbound(
        session,
        conversation,
        author=Author.agent,
        text=text,
        kind=kind,
        payload=payload,
        idempotency_key=idempotency_key,
    )
    await _record_outbound(session, conversation, message)
    return message


async def _whatsapp_recipient(
    session: AsyncSession, workspace_id: uuid.UUID, contact_id: uuid.UUID
) -> tuple[Contact, WhatsAppNumber]:
    contact = await ContactRepository(session, workspace_id).get_or_raise(contact_id)
    if not contact.phone:
        raise InvalidInput("The contact has no phone number", field="contact_id")
    if contact.opt_in == OptIn.opted_out:
        raise InvalidInput("The contact opted out of messages", field="contact_id")
    return contact, await _sending_number(session, workspace_id, contact)


async def _sending_number(
    session: AsyncSession, workspace_id: uuid.UUID, contact: Contact
) -> WhatsAppNumber:
    """The number the contact last talked to, else the workspace's first active number."""
    numbers = WhatsAppNumberRepository(session, workspace_id)
    last = await ConversationRepository(session, workspace_id).latest_for_contact(
        contact.id, Channel.whatsapp
    )
    if last is not None and last.whatsapp_number_id is not None:
        number = await numbers.get(last.whatsapp_number_id)
        if number is not None and number.active:
            return number
    default = await numbers.default()
    if default is None:
        raise InvalidInput("No WhatsApp number is connected to this workspace")
    return default


def _touch(conversation: Conversation, message: Message) -> None:
    conversation.last_message_at = message.created_at
    conversation.last_message_text = message.text[:PREVIEW_LENGTH]


async def _record_outbound(
    session: AsyncSession, conversation: Conversation, message: Message
) -> None:
    await events.record(
        session,
        workspace_id=conversation.workspace_id,
        user_id=None,
        name=catalog.CONVERSATION_OUTBOUND_QUEUED,
        properties={
            "conversation_id": str(conversation.id),
            "message_id": str(message.id),
            "kind": message.kind,
        },
    )


async def _record(
    session: AsyncSession,
    principal: Principal,
    name: str,
    conversation: Conversation,
    **extra: object,
) -> None:
    await events.record(
        session,
        workspace_id=principal.workspace_id,
        user_id=principal.user_id,
        name=name,
        properties={"conversation_id": str(conversation.id), **extra},
    )


async def _record_number(
    session: AsyncSession, principal: Principal, name: str, number: WhatsAppNumber
) -> None:
    await events.record(
        session,
        workspace_id=principal.workspace_id,
        user_id=principal.user_id,
        name=name,
        properties={"number_id": str(number.id), "phone_number_id": number.phone_number_id},
    )
