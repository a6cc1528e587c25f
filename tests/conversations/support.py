"""Helpers for conversation tests: a connected WhatsApp number, signed webhooks, the worker."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

import httpx

from intuitivus_flow.conversations.channels.whatsapp import sign
from intuitivus_flow.task_registry import worker_for
from tests.conversations.graph_server import ACCESS_TOKEN
from tests.helpers import Account, register

APP_SECRET = "app-secret-1234567890"
VERIFY_TOKEN = "verify-token-abcdef"
WEBHOOK = "/api/channels/whatsapp/webhook"


@dataclass
class Tenant:
    owner: Account
    agent_id: str
    number_id: str
    phone_number_id: str


async def create_agent(client: httpx.AsyncClient, account: Account, **fields: Any) -> str:
    body = {"name": "Ana", "role": "Support", "system_prompt": "Be brief.", **fields}
    response = await client.post("/api/agents", json=body, headers=account.headers)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def connect(
    client: httpx.AsyncClient,
    *,
    workspace: str = "Acme",
    phone_number_id: str | None = None,
    app_secret: str = APP_SECRET,
    verify_token: str | None = None,
    **agent_fields: Any,
) -> Tenant:
    """A workspace with an agent and a connected WhatsApp number."""
    owner = await register(client, workspace=workspace)
    agent_id = await create_agent(client, owner, **agent_fields)
    phone_number_id = phone_number_id or str(uuid.uuid4().int)[:15]
    response = await client.post(
        "/api/channels/whatsapp/numbers",
        json={
            "phone_number_id": phone_number_id,
            "display_number": "+1 555 0100",
            "access_token": ACCESS_TOKEN,
            "verify_token": verify_token or f"{VERIFY_TOKEN}-{phone_number_id}",
            "app_secret": app_secret,
            "agent_id": agent_id,
        },
        headers=owner.headers,
    )
    assert response.status_code == 201, response.text
    return Tenant(owner, agent_id, response.json()["id"], phone_number_id)


def inbound_body(
    phone_number_id: str,
    *,
    text: str = "Hello",
    wamid: str | None = None,
    sender: str = "5511987654321",
    name: str = "Maria",
) -> dict[str, Any]:
    return {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": "102290129340398",
                "changes": [
                    {
                        "field": "messages",
                        "value": {
                            "messaging_product": "whatsapp",
                            "metadata": {
                                "display_phone_number": "15550100",
                                "phone_number_id": phone_number_id,
                            },
                            "contacts": [{"profile": {"name": name}, "wa_id": sender}],
                            "messages": [
                                {
                                    "from": sender,
                                    "id": wamid or f"wamid.IN{uuid.uuid4().hex}",
                                    "timestamp": "1732480000",
                                    "type": "text",
                                    "text": {"body": text},
                                }
                            ],
                        },
                    }
                ],
            }
        ],
    }


def status_body(phone_number_id: str, wamid: str, status: str, **extra: Any) -> dict[str, Any]:
    return {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": "102290129340398",
                "changes": [
                    {
                        "field": "messages",
                        "value": {
                            "messaging_product": "whatsapp",
                            "metadata": {"phone_number_id": phone_number_id},
                            "statuses": [
                                {
                                    "id": wamid,
                                    "status": status,
                                    "timestamp": "1732480001",
                                    "recipient_id": "5511987654321",
                                    **extra,
                                }
                            ],
                        },
                    }
                ],
            }
        ],
    }


async def post_webhook(
    client: httpx.AsyncClient,
    body: dict[str, Any],
    *,
    secret: str = APP_SECRET,
    signature: str | None = None,
) -> httpx.Response:
    raw = json.dumps(body).encode()
    header = signature if signature is not None else sign(raw, secret)
    return await client.post(
        WEBHOOK,
        content=raw,
        headers={"X-Hub-Signature-256": header, "Content-Type": "application/json"},
    )


async def run_jobs(app: Any) -> int:
    return await worker_for(app.state.context, name="test-worker").run_until_idle()


async def inbox(client: httpx.AsyncClient, account: Account, **params: str) -> dict[str, Any]:
    response = await client.get("/api/conversations", params=params, headers=account.headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def thread(
    client: httpx.AsyncClient, account: Account, conversation_id: str
) -> list[dict[str, Any]]:
    response = await client.get(
        f"/api/conversations/{conversation_id}/messages", headers=account.headers
    )
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items
