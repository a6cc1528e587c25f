"""Meta's webhook as the WhatsApp Cloud API sends it: the envelope of one inbound text message
and its `X-Hub-Signature-256` (HMAC-SHA256 of the exact body bytes with the app secret)."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid

WEBHOOK_PATH = "/api/channels/whatsapp/webhook"


def signature(body: bytes, app_secret: str) -> str:
    return "sha256=" + hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()


def inbound_text(phone_number_id: str, *, sender: str, text: str, name: str = "Load") -> bytes:
    """One text message from `sender` (E.164) to the number, with a fresh message id."""
    wa_id = sender.removeprefix("+")
    envelope = {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": "loadtest",
                "changes": [
                    {
                        "field": "messages",
                        "value": {
                            "messaging_product": "whatsapp",
                            "metadata": {
                                "display_phone_number": "15550100",
                                "phone_number_id": phone_number_id,
                            },
                            "contacts": [{"profile": {"name": name}, "wa_id": wa_id}],
                            "messages": [
                                {
                                    "from": wa_id,
                                    "id": f"wamid.LOAD{uuid.uuid4().hex}",
                                    "timestamp": str(int(time.time())),
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
    return json.dumps(envelope, separators=(",", ":")).encode()


def signed_headers(body: bytes, app_secret: str) -> dict[str, str]:
    return {"Content-Type": "application/json", "X-Hub-Signature-256": signature(body, app_secret)}
