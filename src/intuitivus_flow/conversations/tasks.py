"""Worker side of conversations: the agent's reply (`conversation.reply`) and the delivery of
outbound messages through their channel (`conversation.deliver`).

Both are at-least-once jobs made idempotent: a reply is keyed on the inbound message it
answers (`reply:<message id>`), and a delivery does nothing once its message left `pending`.
The one window left is a worker dying after the Graph API accepted a message and before the
job committed: the retry sends it again (the Cloud API takes no idempotency key).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from intuitivus_flow.agents.models import Agent
from intuitivus_flow.billing.exceptions import PlanLimitReached
from intuitivus_flow.conversations import handover, service
from intuitivus_flow.conversations.channels.whatsapp import WhatsAppClient, WhatsAppError
from intuitivus_flow.conversations.models import (
    Author,
    Conversation,
    ConversationState,
    Direction,
    Message,
    MessageKind,
    MessageStatus,
)
from intuitivus_flow.conversations.repository import (
    ConversationRepository,
    MessageRepository,
    WhatsAppNumberRepository,
)
from intuitivus_flow.events import catalog
from intuitivus_flow.events import service as events
from intuitivus_flow.identity.principal import Principal
from intuitivus_flow.identity.scopes import Scope
from intuitivus_flow.jobs.context import JobContext
from intuitivus_flow.jobs.models import Job
from intuitivus_flow.jobs.registry import TaskList
from intuitivus_flow.jobs.worker import PermanentJobError
from intuitivus_flow.kit.crypto import SecretBox
from intuitivus_flow.kit.models import utcnow
from intuitivus_flow.kit.outbound import OutboundPolicy
from intuitivus_flow.llm import service as llm
from intuitivus_flow.llm.fallback import NoProviderAvailable
from intuitivus_flow.llm.providers import ChatMessage, ChatRequest, ProviderKind
from intuitivus_flow.observability.metrics import get_metrics

HISTORY_MESSAGES = 30


@dataclass(frozen=True, slots=True)
class ChannelRuntime:
    box: SecretBox
    graph_url: str
    graph_version: str
    client: httpx.AsyncClient | None = None
    # Where the agents' LLM providers may be reached (FLOW_OUTBOUND_ALLOW); public only if unset.
    outbound: OutboundPolicy = field(default_factory=OutboundPolicy)

    @classmethod
    def of(cls, job: JobContext) -> ChannelRuntime:
        """The worker's secret box, Graph API address and outbound rule."""
        settings = job.settings
        return cls(
            job.secrets,
            settings.whatsapp_graph_url,
            settings.whatsapp_graph_version,
            outbound=job.outbound,
        )


TASKS = TaskList("conversations")


@TASKS.task(service.REPLY_JOB)
async def _reply(job: JobContext) -> dict[str, str]:
    return await reply(job.session, job.job, runtime=ChannelRuntime.of(job))


@TASKS.task(service.DELIVER_JOB)
async def _deliver(job: JobContext) -> dict[str, str]:
    return await deliver(job.session, job.job, runtime=ChannelRuntime.of(job))


async def reply(session: AsyncSession, job: Job, *, runtime: ChannelRuntime) -> dict[str, str]:
    """The agent answers an inbound message using the conversation history."""
    workspace_id = _workspace(job)
    messages = MessageRepository(session, workspace_id)
    inbound = await _message(messages, job)
    conversation = await ConversationRepository(session, workspace_id).get_or_raise(
        inbound.conversation_id
    )
    if conversation.state != ConversationState.open.value:
        return {"skipped": conversation.state}  # a human took over (or it was closed)
    if await messages.newer_inbound_exists(inbound):
        return {"skipped": "superseded"}  # its job answers this one too, with the history
    key = f"reply:{inbound.id}"
    if await messages.by_idempotency_key(key) is not None:
        return {"skipped": "answered"}
    agent = await service.responding_agent(session, conversation)
    if agent is None:  # waits for a person, marked so the inbox says why
        await _agent_failed(session, conversation, inbound, "No active agent answers here")
        return {"skipped": "no active agent"}
    try:  # before paying for a completion that could not be sent
        await service.check_message_quota(session, workspace_id)
    except PlanLimitReached as refused:
        return _not_answered(inbound, refused)
    history = await messages.history(conversation.id, limit=HISTORY_MESSAGES)
    try:
        completion, cost = await llm.complete(
            session,
            _worker_principal(workspace_id),
            request=_request(agent, history),
            box=runtime.box,
            outbound=runtime.outbound,
            provider=ProviderKind(agent.provider) if agent.provider else None,
        )
    except NoProviderAvailable as failure:
        if job.attempts < job.max_attempts:
            raise  # retried with backoff: a provider may answer by then
        outcome = _no_completion(inbound, failure)
        await _agent_failed(session, conversation, inbound, str(inbound.error))
        return outcome
    read = handover.read_agent_reply(completion.result.text)
    if read.handover:
        await _agent_unsure(session, conversation, inbound, read.reason)
        return {"handed_over": read.reason}
    try:
        answer = await service.queue_outbound(
            session,
            conversation,
            author=Author.agent,
            text=read.text,
            idempotency_key=key,
        )
    except PlanLimitReached as refused:  # parallel sends took the last messages meanwhile
        return _not_answered(inbound, refused)
    if conversation.attention_reason is not None and conversation.state == "open":
        service.clear_attention(conversation)  # the agent answers again
    get_metrics().agent_replies_total.labels(outcome="succeeded").inc()
    await events.record(
        session,
        workspace_id=workspace_id,
        user_id=None,
        name=catalog.CONVERSATION_AGENT_REPLIED,
        properties={
            "conversation_id": str(conversation.id),
            "agent_id": str(agent.id),
            "tokens": completion.result.total_tokens,
            "cost_micros": cost,
            "actor": _worker_principal(workspace_id).actor,
        },
    )
    return {"message_id": str(answer.id)}


def _not_answered(inbound: Message, refused: PlanLimitReached) -> dict[str, str]:
    """The quota is used up: the job ends here (a retry could not help before next month or
    an upgrade), and the inbox shows why the contact got no answer."""
    service.note_reply_refused(inbound, refused)
    get_metrics().agent_replies_total.labels(outcome="message_quota").inc()
    return {"skipped": "message quota"}


async def _agent_failed(
    session: AsyncSession, conversation: Conversation, inbound: Message, reason: str
) -> None:
    """The agent could not answer: the conversation is marked with why (the inbox shows it)
    and, when the workspace says so (`escalate_on_agent_failure`, on by default), a person
    takes over and the contact is told, instead of silence."""
    settings = await service.ensure_settings(session, conversation.workspace_id)
    await service.hand_over(
        session,
        conversation,
        cause="agent_failed",
        reason=reason,
        language=handover.language_of(inbound.text),
        escalate=settings.escalate_on_agent_failure,
        answering=inbound,
    )


async def _agent_unsure(
    session: AsyncSession, conversation: Conversation, inbound: Message, reason: str
) -> None:
    """The agent said it is not confident (the marker): a person takes over when the
    workspace lets conversations be handed over (`hand_over_on_request`)."""
    settings = await service.ensure_settings(session, conversation.workspace_id)
    get_metrics().agent_replies_total.labels(outcome="handed_over").inc()
    await service.hand_over(
        session,
        conversation,
        cause="agent_unsure",
        reason=f"The agent was not confident: {reason}",
        language=handover.language_of(inbound.text),
        escalate=settings.hand_over_on_request,
        answering=inbound,
    )


def _no_completion(inbound: Message, failure: NoProviderAvailable) -> dict[str, str]:
    """Every provider failed, on the job's last attempt: the inbox shows why the contact got
    no answer on their message, instead of a silence only the job table explains."""
    inbound.error = f"The agent could not reply: {failure.detail}"[:2000]
    get_metrics().agent_replies_total.labels(outcome="llm_unavailable").inc()
    return {"skipped": "no LLM provider answered"}


async def deliver(session: AsyncSession, job: Job, *, runtime: ChannelRuntime) -> dict[str, str]:
    """Send a pending WhatsApp message through the Graph API and keep its wamid."""
    workspace_id = _workspace(job)
    message = await _message(MessageRepository(session, workspace_id), job)
    if message.status != MessageStatus.pending:
        return {"status": message.status}
    conversation = await ConversationRepository(session, workspace_id).get_or_raise(
        message.conversation_id
    )
    client = await _client(session, conversation, runtime)
    if client is None or not conversation.contact.phone:
        return _failed(message, "no active WhatsApp number or no contact phone")
    try:
        wamid = await _send(client, conversation.contact.phone, message)
    except WhatsAppError as error:
        if error.retryable and job.attempts < job.max_attempts:
            raise  # the job retries with backoff; the message stays pending
        return _failed(message, str(error))
    message.channel_message_id, message.status = wamid, MessageStatus.sent
    message.status_updated_at = utcnow()
    return {"status": message.status, "wamid": wamid}


async def _client(
    session: AsyncSession, conversation: Conversation, runtime: ChannelRuntime
) -> WhatsAppClient | None:
    if conversation.whatsapp_number_id is None:
        return None
    number = await WhatsAppNumberRepository(session, conversation.workspace_id).get(
        conversation.whatsapp_number_id
    )
    if number is None or not number.active:
        return None
    return WhatsAppClient(
        base_url=runtime.graph_url,
        version=runtime.graph_version,
        phone_number_id=number.phone_number_id,
        access_token=runtime.box.decrypt(number.encrypted_access_token),
        client=runtime.client,
    )


async def _send(client: WhatsAppClient, phone: str, message: Message) -> str:
    if message.kind == MessageKind.template.value:
        payload = message.payload
        return await client.send_template(
            phone,
            name=str(payload["name"]),
            language=str(payload["language"]),
            components=list(payload.get("components") or []),
        )
    return await client.send_text(phone, message.text)


def _failed(message: Message, error: str) -> dict[str, str]:
    message.status, message.error = MessageStatus.failed, error[:2000]
    message.status_updated_at = utcnow()
    return {"status": message.status}


def _request(agent: Agent, history: Sequence[Message]) -> ChatRequest:
    # The hand-over instruction comes last, so the agent's own prompt cannot bury it.
    parts = (agent.role, agent.system_prompt, handover.AGENT_INSTRUCTION)
    return ChatRequest(
        model=agent.model or "",
        messages=chat_messages(history),
        system="\n\n".join(part for part in parts if part),
        temperature=agent.temperature,
        max_tokens=agent.max_tokens,
    )


def chat_messages(history: Sequence[Message]) -> list[ChatMessage]:
    """The thread as chat turns: the contact is the user, agents and people the assistant.

    Consecutive turns of one side are merged and the thread starts with the user, because
    some vendors (Anthropic) refuse anything else.
    """
    turns: list[ChatMessage] = []
    for message in history:
        role = "user" if message.direction == Direction.inbound.value else "assistant"
        if not turns and role == "assistant":
            continue
        if turns and turns[-1].role == role:
            turns[-1] = ChatMessage(role, f"{turns[-1].content}\n{message.text}")
        else:
            turns.append(ChatMessage(role, message.text))
    return turns


async def _message(repository: MessageRepository, job: Job) -> Message:
    message = await repository.get(uuid.UUID(str(job.payload["message_id"])))
    if message is None:
        raise PermanentJobError("the message no longer exists")
    return message


def _workspace(job: Job) -> uuid.UUID:
    if job.workspace_id is None:
        raise PermanentJobError("conversation job without a workspace")
    return job.workspace_id


def _worker_principal(workspace_id: uuid.UUID) -> Principal:
    # No one asked for this answer: the system gives it for the workspace, with only what
    # answering needs.
    return Principal.system(workspace_id, scopes={Scope.llm_use})
