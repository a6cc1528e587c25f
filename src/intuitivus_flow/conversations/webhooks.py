"""The WhatsApp Cloud API webhook: verification handshake, signed notifications, routing.

A notification is routed by the receiving number (`metadata.phone_number_id`) to the
workspace that connected it. Its signature is checked with that number's app secret before
anything is written; with several numbers in one body, every one of them must verify.
"""

from __future__ import annotations

import json
import logging
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from intuitivus_flow.contacts import service as contacts
from intuitivus_flow.contacts.schemas import normalize_phone
from intuitivus_flow.conversations import service as conversations
from intuitivus_flow.conversations.channels import whatsapp
from intuitivus_flow.conversations.models import Channel, WhatsAppNumber
from intuitivus_flow.conversations.repository import MessageRepository, WhatsAppRoutingRepository
from intuitivus_flow.kit.crypto import SecretBox, SecretBoxError
from intuitivus_flow.kit.errors import Forbidden, InvalidInput, Unauthorized
from intuitivus_flow.kit.security import digest
from intuitivus_flow.observability.metrics import get_metrics

logger = logging.getLogger(__name__)

# Meta sends a number; anything else is refused, so the echo can never carry markup.
_CHALLENGE = re.compile(r"^[A-Za-z0-9_\-.]{1,128}$")


@dataclass(frozen=True, slots=True)
class WebhookOutcome:
    received: int = 0
    duplicates: int = 0
    statuses: int = 0


async def verify_subscription(
    session: AsyncSession, *, mode: str | None, verify_token: str | None, challenge: str | None
) -> str:
    """The handshake Meta runs when the webhook is configured: echo the challenge when the
    verify token is one a connected number was given."""
    if mode != "subscribe" or not verify_token or not challenge or len(verify_token) > 256:
        raise Forbidden("Verification failed")
    if not _CHALLENGE.match(challenge):
        raise Forbidden("Verification failed")
    if await WhatsAppRoutingRepository(session).by_verify_digest(digest(verify_token)) is None:
        raise Forbidden("Verification failed")
    return challenge


async def receive_notification(
    session: AsyncSession, *, raw_body: bytes, signature: str | None, box: SecretBox
) -> WebhookOutcome:
    """Verify, then store inbound messages (queuing agent replies) and delivery statuses."""
    try:
        body = json.loads(raw_body)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise InvalidInput("The body is not JSON") from None
    notification = whatsapp.parse_notification(body)
    numbers = await _verified_numbers(session, notification, raw_body, signature, box)
    counts: Counter[str] = Counter()
    for message in notification.messages:
        stored = await _store_message(session, numbers[message.phone_number_id], message)
        counts["received" if stored else "duplicates"] += 1
    for status in notification.statuses:
        number = numbers[status.phone_number_id]
        if await conversations.apply_status(
            session,
            number.workspace_id,
            wamid=status.wamid,
            status=status.status,
            error=status.error,
        ):
            counts["statuses"] += 1
    deliveries = get_metrics().webhook_deliveries_total
    deliveries.labels(
        source="whatsapp",
        outcome="duplicate"
        if counts["duplicates"] and not (counts["received"] or counts["statuses"])
        else "processed",
    ).inc()
    return WebhookOutcome(counts["received"], counts["duplicates"], counts["statuses"])


async def _verified_numbers(
    session: AsyncSession,
    notification: whatsapp.Notification,
    raw_body: bytes,
    signature: str | None,
    box: SecretBox,
) -> dict[str, WhatsAppNumber]:
    """The numbers the body is for, once the signature verified for each of them.

    A body for a number we do not know cannot be verified, so it is refused like a bad
    signature. A body naming no number at all (other webhook fields) writes nothing, so there
    is nothing to protect: it is acknowledged, or Meta would retry it for days.
    """
    wanted = sorted(notification.phone_number_ids)
    if not wanted:
        return {}
    found: Sequence[WhatsAppNumber] = await WhatsAppRoutingRepository(session).by_phone_number_ids(
        wanted
    )
    numbers = {number.phone_number_id: number for number in found}
    if set(numbers) != set(wanted):
        raise Unauthorized("Unknown receiving number or invalid signature")
    for number in numbers.values():
        if not whatsapp.verify_signature(raw_body, signature, app_secret(number, box)):
            raise Unauthorized("Unknown receiving number or invalid signature")
    return numbers


def app_secret(number: WhatsAppNumber, box: SecretBox) -> str | None:
    """The number's app secret, or None when it cannot be read: then nothing from Meta can
    be verified for it, so nothing is trusted (never an empty key, which anyone can sign
    with) and the operator is told which number needs its secret entered again."""
    try:
        secret = box.decrypt(number.encrypted_app_secret)
    except SecretBoxError:  # its key was rotated away, or the value was damaged
        secret = ""
    if secret.strip():
        return secret
    logger.warning(
        "whatsapp number %s (workspace %s) has no readable app secret: its webhooks are "
        "refused until the secret is entered again",
        number.phone_number_id,
        number.workspace_id,
    )
    return None


async def _store_message(
    session: AsyncSession, number: WhatsAppNumber, inbound: whatsapp.InboundMessage
) -> bool:
    # Checked before anything is created, so a redelivery touches nothing at all.
    if await MessageRepository(session, number.workspace_id).by_channel_id(inbound.wamid):
        return False
    try:
        phone = normalize_phone("+" + inbound.wa_id)
    except ValueError:
        return False  # not a phone number we can key a contact on; nothing to answer
    contact, _ = await contacts.find_or_create_by_phone(
        session, number.workspace_id, phone=phone, name=inbound.profile_name
    )
    conversation = await conversations.continue_or_start(
        session, number.workspace_id, contact=contact, channel=Channel.whatsapp, number=number
    )
    # Meta delivers in parallel and retries: a copy of this message stored meanwhile by a
    # concurrent request makes this one a duplicate, never a 409.
    stored = await conversations.receive_once(
        session, conversation, text=inbound.text, channel_message_id=inbound.wamid
    )
    return stored is not None
