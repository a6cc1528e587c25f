"""WhatsApp Cloud API: webhook signature, webhook payloads, and the Graph API client.

Wire formats (Meta's Cloud API reference, checked against public documentation and
open-source integrations; the assumptions are in docs/ARCHITECTURE.md, "Conversations"):

- Handshake: `GET ?hub.mode=subscribe&hub.verify_token=...&hub.challenge=...`; answer the
  challenge as plain text with 200.
- Notifications: `POST` with `X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the raw body
  keyed with the app secret>`, body `{"object": "whatsapp_business_account", "entry": [{"id",
  "changes": [{"field": "messages", "value": {"metadata": {"phone_number_id", ...},
  "contacts": [{"profile": {"name"}, "wa_id"}], "messages": [{"from", "id", "timestamp",
  "type", "text": {"body"}}], "statuses": [{"id", "status", "recipient_id", "errors"}]}}]}]}`.
- Sending: `POST {base}/{version}/{phone_number_id}/messages` with `Authorization: Bearer`,
  body `{"messaging_product": "whatsapp", "recipient_type": "individual", "to", "type":
  "text", "text": {"body"}}` or `"type": "template", "template": {"name", "language":
  {"code"}, "components"}`; the answer carries `messages[0].id` (the wamid).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx

SIGNATURE_PREFIX = "sha256="
SEND_TIMEOUT = httpx.Timeout(20.0, connect=5.0)
_MAX_TEXT = 4096  # Cloud API limit for a text message body


def verify_signature(raw_body: bytes, header: str | None, app_secret: str | None) -> bool:
    """Constant-time check of `X-Hub-Signature-256` against the raw request body.

    No secret verifies nothing: anyone can compute an HMAC with an empty key, so a number
    whose secret is missing or unreadable must never look signed.
    """
    if not app_secret or not app_secret.strip():
        return False
    if not header or not header.startswith(SIGNATURE_PREFIX):
        return False
    expected = hmac.new(app_secret.encode(), raw_body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, header[len(SIGNATURE_PREFIX) :].strip().lower())


def sign(raw_body: bytes, app_secret: str) -> str:
    """The header value Meta would send (tests, and the fake Graph server)."""
    if not app_secret:
        raise ValueError("an app secret is required to sign")
    return SIGNATURE_PREFIX + hmac.new(app_secret.encode(), raw_body, hashlib.sha256).hexdigest()


@dataclass(frozen=True, slots=True)
class InboundMessage:
    phone_number_id: str
    wamid: str
    wa_id: str
    profile_name: str
    text: str


@dataclass(frozen=True, slots=True)
class StatusUpdate:
    phone_number_id: str
    wamid: str
    status: str
    error: str | None


@dataclass(slots=True)
class Notification:
    messages: list[InboundMessage] = field(default_factory=list)
    statuses: list[StatusUpdate] = field(default_factory=list)

    @property
    def phone_number_ids(self) -> set[str]:
        return {m.phone_number_id for m in self.messages} | {
            s.phone_number_id for s in self.statuses
        }


def parse_notification(body: Any) -> Notification:
    """The messages and statuses of a webhook body; anything unexpected is skipped, because
    Meta adds fields and types over time and a 4xx would only make it retry."""
    notification = Notification()
    for value in _values(body):
        metadata = value.get("metadata")
        number = str(metadata.get("phone_number_id", "")) if isinstance(metadata, dict) else ""
        if not number:
            continue
        names = _profile_names(value.get("contacts"))
        for raw in _dicts(value.get("messages")):
            sender, wamid = str(raw.get("from", "")), str(raw.get("id", ""))
            if sender and wamid:
                notification.messages.append(
                    InboundMessage(number, wamid[:128], sender, names.get(sender, ""), _text(raw))
                )
        for raw in _dicts(value.get("statuses")):
            if raw.get("id") and raw.get("status"):
                notification.statuses.append(
                    StatusUpdate(
                        number, str(raw["id"])[:128], str(raw["status"]), _error(raw.get("errors"))
                    )
                )
    return notification


def _values(body: Any) -> Iterator[dict[str, Any]]:
    if not isinstance(body, dict) or body.get("object") != "whatsapp_business_account":
        return
    for entry in _dicts(body.get("entry")):
        for change in _dicts(entry.get("changes")):
            if change.get("field") == "messages" and isinstance(change.get("value"), dict):
                yield change["value"]


def _dicts(value: Any) -> list[dict[str, Any]]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def _profile_names(contacts: Any) -> dict[str, str]:
    names: dict[str, str] = {}
    for contact in _dicts(contacts):
        profile = contact.get("profile")
        if isinstance(profile, dict) and contact.get("wa_id"):
            names[str(contact["wa_id"])] = str(profile.get("name", ""))[:200]
    return names


def _text(message: dict[str, Any]) -> str:
    """A readable text for any message type: media and unknown types become a placeholder."""
    kind = str(message.get("type", "unknown"))
    content = message.get(kind)
    if isinstance(content, dict):
        if kind == "text":
            return str(content.get("body", ""))
        if kind == "button":  # a quick-reply button of a template
            return str(content.get("text", ""))
        if kind == "interactive":
            reply = content.get("button_reply") or content.get("list_reply") or {}
            if isinstance(reply, dict) and reply.get("title"):
                return str(reply["title"])
        if content.get("caption"):
            return f"[{kind}] {content['caption']}"
    return f"[{kind} message]"


def _error(errors: Any) -> str | None:
    first = next(iter(_dicts(errors)), None)
    if first is None:
        return None
    return f"{first.get('code', '')} {first.get('title') or first.get('message') or ''}".strip()


class WhatsAppError(Exception):
    """A send failed. `retryable`: a later attempt may work (5xx, 429, network)."""

    def __init__(self, message: str, *, retryable: bool) -> None:
        super().__init__(message)
        self.retryable = retryable


@dataclass(frozen=True, slots=True)
class NumberInfo:
    """What the Graph API says about a business number the token can read."""

    phone_number_id: str
    display_phone_number: str
    verified_name: str


@dataclass
class WhatsAppClient:
    """Sends messages through the Cloud API for one business number."""

    base_url: str
    version: str
    phone_number_id: str
    access_token: str
    client: httpx.AsyncClient | None = None

    async def send_text(self, to: str, text: str) -> str:
        return await self._send(
            to, {"type": "text", "text": {"preview_url": False, "body": text[:_MAX_TEXT]}}
        )

    async def send_template(
        self, to: str, *, name: str, language: str, components: list[dict[str, Any]]
    ) -> str:
        template: dict[str, Any] = {"name": name, "language": {"code": language}}
        if components:
            template["components"] = components
        return await self._send(to, {"type": "template", "template": template})

    async def read_number(self) -> NumberInfo:
        """`GET /{phone_number_id}` with the access token: Meta answers only when the token's
        business owns the number, which is the proof of ownership asked before a number may
        route webhooks (a 4xx here is a definite no, `retryable` a "could not ask")."""
        params = {"fields": "id,display_phone_number,verified_name"}
        response = await self._request("GET", "", params=params)
        return _number_info(response, self.phone_number_id)

    async def _send(self, to: str, content: dict[str, Any]) -> str:
        """POST the message; return its wamid."""
        body = {
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "to": to.removeprefix("+"),  # the API takes the number without the plus
            **content,
        }
        response = await self._request("POST", "/messages", json=body)
        return _wamid(response)

    async def _request(self, method: str, path: str, **options: Any) -> httpx.Response:
        """One call to this number's Graph API object; a refused answer raises `WhatsAppError`
        (retryable for 5xx, 429 and network failures)."""
        url = f"{self.base_url.rstrip('/')}/{self.version}/{self.phone_number_id}{path}"
        headers = {"Authorization": f"Bearer {self.access_token}"}
        try:
            if self.client is not None:
                response = await self.client.request(method, url, headers=headers, **options)
            else:
                async with httpx.AsyncClient(timeout=SEND_TIMEOUT) as client:
                    response = await client.request(method, url, headers=headers, **options)
        except httpx.HTTPError as error:
            raise WhatsAppError(f"network: {type(error).__name__}", retryable=True) from error
        if response.status_code >= 400:
            retryable = response.status_code >= 500 or response.status_code == 429
            raise WhatsAppError(
                f"HTTP {response.status_code}: {_graph_error(response)}", retryable=retryable
            )
        return response


def _wamid(response: httpx.Response) -> str:
    try:
        return str(response.json()["messages"][0]["id"])
    except (ValueError, KeyError, IndexError, TypeError) as error:
        raise WhatsAppError("unexpected answer from the Graph API", retryable=True) from error


def _number_info(response: httpx.Response, phone_number_id: str) -> NumberInfo:
    try:
        body = response.json()
        found = str(body["id"])
    except (ValueError, KeyError, TypeError) as error:
        raise WhatsAppError("unexpected answer from the Graph API", retryable=True) from error
    if found != phone_number_id:  # an answer about another object proves nothing
        raise WhatsAppError(f"the Graph API answered for object {found[:64]}", retryable=False)
    return NumberInfo(
        phone_number_id=found,
        display_phone_number=str(body.get("display_phone_number") or "")[:32],
        verified_name=str(body.get("verified_name") or "")[:200],
    )


def _graph_error(response: httpx.Response) -> str:
    try:
        error = response.json().get("error", {})
        return f"{error.get('code', '')} {error.get('message', '')}".strip()[:500]
    except (ValueError, AttributeError):
        return response.text[:200]
