"""WhatsApp numbers: proof of ownership before a number routes anything, and what state each
connected number is in.

A `phone_number_id` routes Meta's webhooks to exactly one workspace, so storing one decides who
receives that number's customers. Typing it in proves nothing (it is not a secret): before a
number is stored as active, the access token given with it must be able to read it at the Graph
API (`GET /{phone_number_id}`), which Meta answers only for the business that owns the number.
A number that was never confirmed that way (an imported copy, which arrives without its
credentials) is not active: no webhook is routed to it and nothing is sent through it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from intuitivus_flow.config import Settings
from intuitivus_flow.conversations.channels.whatsapp import (
    NumberInfo,
    WhatsAppClient,
    WhatsAppError,
)
from intuitivus_flow.conversations.models import NumberStatus, WhatsAppNumber
from intuitivus_flow.conversations.schemas import WhatsAppNumberCreate
from intuitivus_flow.kit.crypto import SecretBox, SecretBoxError
from intuitivus_flow.kit.errors import InvalidInput


@dataclass(frozen=True, slots=True)
class GraphApi:
    """Where the WhatsApp Cloud (Graph) API is: `FLOW_WHATSAPP_GRAPH_URL` and its version."""

    url: str
    version: str

    @classmethod
    def of(cls, settings: Settings) -> GraphApi:
        return cls(settings.whatsapp_graph_url, settings.whatsapp_graph_version)

    def client(self, phone_number_id: str, access_token: str) -> WhatsAppClient:
        return WhatsAppClient(self.url, self.version, phone_number_id, access_token)


@dataclass(frozen=True, slots=True)
class ConnectedNumber:
    """A number as its workspace sees it: no credential, and whether it can work."""

    id: uuid.UUID
    phone_number_id: str
    display_number: str
    token_hint: str
    agent_id: uuid.UUID | None
    active: bool
    created_at: datetime
    status: NumberStatus

    @classmethod
    def of(cls, number: WhatsAppNumber, box: SecretBox) -> ConnectedNumber:
        return cls(
            id=number.id,
            phone_number_id=number.phone_number_id,
            display_number=number.display_number,
            token_hint=number.token_hint,
            agent_id=number.agent_id,
            active=number.active,
            created_at=number.created_at,
            status=status_of(number, box),
        )


def status_of(number: WhatsAppNumber, box: SecretBox) -> NumberStatus:
    if not all(
        _readable(ciphertext, box)
        for ciphertext in (number.encrypted_access_token, number.encrypted_app_secret)
    ):
        return NumberStatus.needs_secret
    return NumberStatus.active if number.active else NumberStatus.pending_verification


def _readable(ciphertext: str, box: SecretBox) -> bool:
    try:
        return bool(box.decrypt(ciphertext).strip())
    except SecretBoxError:
        return False


async def confirm_ownership(data: WhatsAppNumberCreate, graph: GraphApi) -> NumberInfo:
    """Meta's word that `data.access_token` can read `data.phone_number_id`, or a 422 that
    says why the number cannot be connected (nothing is stored then)."""
    try:
        return await graph.client(data.phone_number_id, data.access_token).read_number()
    except WhatsAppError as error:
        if error.retryable:
            raise InvalidInput(
                "Meta could not be reached to confirm that this access token owns the number "
                f"({error}). Nothing was saved: try again in a moment.",
                field="phone_number_id",
            ) from error
        raise InvalidInput(
            "Meta did not confirm that this access token can use this phone number ID "
            f"({error}). Check the ID shown under the number in WhatsApp Manager and that the "
            "token belongs to the business that owns it.",
            field="phone_number_id",
        ) from error
