"""The Segment-compatible collection API: write keys, and track/identify/batch calls stored in
the application database (the copy job takes them to the analytics store).

Limits (Segment's own): a message at most 32 KB as JSON, a batch at most 500 KB and 2,500
messages; per write key 600 calls a minute. A batch is checked whole first: one bad message
stores nothing and every problem is listed. Timestamps need a UTC offset; historical ones are
kept, future ones clamped to the receipt time. `messageId` deduplicates per workspace.
Identify merges ids into one person: a contact's id when the userId is a contact's id or the
traits' phone/email match a contact, else the userId; the anonymousId then names that person.
"""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from intuitivus_flow.analytics.models import WriteKey
from intuitivus_flow.analytics.repository import (
    CollectedEventRepository,
    ContactMatch,
    IdentityRepository,
    WriteKeyLookup,
    WriteKeyRepository,
)
from intuitivus_flow.analytics.schemas import SegmentMessage
from intuitivus_flow.identity.principal import Principal
from intuitivus_flow.identity.scopes import Scope
from intuitivus_flow.kit.errors import FlowError, Forbidden, InvalidInput, Unauthorized
from intuitivus_flow.kit.models import utcnow
from intuitivus_flow.kit.origins import OriginList
from intuitivus_flow.kit.security import digest, new_secret

MAX_MESSAGE_BYTES = 32 * 1024
MAX_BATCH_BYTES = 500 * 1024
MAX_BATCH_MESSAGES = 2500
CALLS_PER_MINUTE = 600
KEY_PREFIX = "wk_"
TYPES = {"track", "identify", "page", "screen"}
# A key sends up to 600 calls a minute: writing `last_used_at` on each would double the writes.
LAST_USED_RESOLUTION = timedelta(minutes=1)


class PayloadTooLarge(FlowError):
    status_code = 413
    type = "payload-too-large"
    title = "Payload too large"


class WriteKeyRequired(Unauthorized):
    title = "Write key required"

    @property
    def headers(self) -> dict[str, str]:
        return {"WWW-Authenticate": 'Basic realm="analytics"'}


@dataclass(frozen=True)
class Collector:
    """Who a collection call is for: the write key's workspace and allowed origins."""

    workspace_id: uuid.UUID
    key_id: uuid.UUID
    allowed_origins: tuple[str, ...]

    def admits(self, origin: str | None) -> bool:
        """A call without `Origin` comes from a server, not a page: the key alone suffices."""
        return origin is None or OriginList(self.allowed_origins).allows(origin)


# --- write keys ---


async def create_write_key(
    session: AsyncSession, principal: Principal, *, name: str, allowed_origins: Sequence[str]
) -> tuple[WriteKey, str]:
    principal.require_scope(Scope.api_keys_write)
    raw = KEY_PREFIX + new_secret(24)
    key = WriteKey(
        name=name,
        key_digest=digest(raw),
        prefix=raw[:10],
        allowed_origins=list(allowed_origins),  # normalised by the schema (kit/origins.py)
        created_by_id=principal.user_id,
    )
    await WriteKeyRepository(session, principal.workspace_id).add(key)
    return key, raw


async def list_write_keys(session: AsyncSession, principal: Principal) -> Sequence[WriteKey]:
    principal.require_scope(Scope.api_keys_write)
    return await WriteKeyRepository(session, principal.workspace_id).listed()


async def revoke_write_key(
    session: AsyncSession, principal: Principal, key_id: uuid.UUID
) -> WriteKey:
    principal.require_scope(Scope.api_keys_write)
    key = await WriteKeyRepository(session, principal.workspace_id).get_or_raise(key_id)
    if key.revoked_at is None:
        key.revoked_at = utcnow()
    return key


async def authenticate(
    session: AsyncSession, authorization: str | None, origin: str | None
) -> Collector:
    """The write key from `Authorization: Basic base64(key:)`, as Segment's libraries send it."""
    scheme, _, encoded = (authorization or "").partition(" ")
    if scheme.lower() != "basic" or not encoded:
        raise WriteKeyRequired("Send the write key as the HTTP Basic user name")
    try:
        user, _, _ = base64.b64decode(encoded, validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        raise WriteKeyRequired("The Authorization header is not valid Basic credentials") from None
    key = await WriteKeyLookup(session).active_by_digest(digest(user)) if user else None
    if key is None:
        raise WriteKeyRequired("Unknown or revoked write key")
    collector = Collector(key.workspace_id, key.id, tuple(key.allowed_origins))
    if not collector.admits(origin):
        raise Forbidden(
            f"Pages of {(origin or '')[:200]} may not send with this write key: an owner or "
            "admin lists the origin when creating the key on the Settings page"
        )
    now = utcnow()
    if key.last_used_at is None or now - key.last_used_at >= LAST_USED_RESOLUTION:
        key.last_used_at = now
    return collector


async def origin_has_a_key(session: AsyncSession, origin: str) -> bool:
    """Whether any active write key lists `origin`: a preflight carries no key, so this is all
    it can check; the call itself is then held to its own key's list (`authenticate`)."""
    lists = await WriteKeyLookup(session).active_origin_lists()
    return any(OriginList(entries).allows(origin) for entries in lists)


# --- calls ---


@dataclass(frozen=True)
class _Checked:
    message: SegmentMessage
    type: str
    timestamp: datetime
    message_id: str
    user_id: str | None
    anonymous_id: str | None
    event: str
    properties: dict[str, Any]


async def collect(
    session: AsyncSession,
    collector: Collector,
    messages: Sequence[SegmentMessage],
    *,
    default_type: str | None,
) -> tuple[int, int]:
    """Check every message, then store the new ones in one transaction; (stored, duplicates)."""
    received = utcnow()
    checked = _check_all(messages, default_type, received)
    workspace = collector.workspace_id
    taken = await CollectedEventRepository(session, workspace).taken_message_ids(
        [c.message_id for c in checked]
    )
    fresh: dict[str, _Checked] = {}
    for item in checked:
        if item.message_id not in taken and item.message_id not in fresh:
            fresh[item.message_id] = item
    persons = await _resolve_persons(session, workspace, list(fresh.values()))
    rows = [
        {
            "id": uuid.uuid4(),
            "workspace_id": workspace,
            "message_id": item.message_id,
            "type": item.type,
            "event": item.event,
            "person_id": persons[item.message_id],
            "anonymous_id": item.anonymous_id,
            "user_id": item.user_id,
            "timestamp": item.timestamp,
            "received_at": received,
            "properties": item.properties,
        }
        for item in fresh.values()
    ]
    stored = await CollectedEventRepository(session, workspace).insert_new(rows)
    return stored, len(checked) - stored


def _check_all(
    messages: Sequence[SegmentMessage], default_type: str | None, received: datetime
) -> list[_Checked]:
    if len(messages) > MAX_BATCH_MESSAGES:
        raise PayloadTooLarge(f"At most {MAX_BATCH_MESSAGES} messages per batch")
    total = 0
    problems: list[dict[str, Any]] = []
    checked: list[_Checked] = []
    for index, message in enumerate(messages):
        size = len(json.dumps(message.model_dump(mode="json"), separators=(",", ":")))
        total += size
        if size > MAX_MESSAGE_BYTES:
            raise PayloadTooLarge(f"Message {index} is {size} bytes; at most {MAX_MESSAGE_BYTES}")
        result = _check(message, default_type, received)
        if isinstance(result, tuple):
            problems.append({"loc": ["body", "batch", index, result[0]], "msg": result[1]})
        else:
            checked.append(result)
    if total > MAX_BATCH_BYTES:
        raise PayloadTooLarge(f"The batch is {total} bytes; at most {MAX_BATCH_BYTES}")
    if problems:
        raise InvalidInput("Some messages are invalid; none were stored", errors=problems)
    return checked


def _text(value: str | int | None, limit: int = 200) -> str | None:
    if value is None or value == "":
        return None
    text = str(value)
    return text if len(text) <= limit and "\x00" not in text else None


def _check(
    message: SegmentMessage, default_type: str | None, received: datetime
) -> _Checked | tuple[str, str]:
    kind = message.type or default_type
    if kind not in TYPES:
        return "type", "must be track, identify, page or screen"
    user_id, anonymous_id = _text(message.userId), _text(message.anonymousId)
    if user_id is None and anonymous_id is None:
        return "userId", "userId or anonymousId is required (at most 200 characters)"
    event = ""
    if kind == "track":
        event = (message.event or "").strip()
        if not event or len(event) > 200 or any(ord(c) < 32 for c in event):
            return "event", "a track call needs an event name (1 to 200 characters)"
    elif kind in {"page", "screen"}:
        event = "$pageview" if kind == "page" else "$screen"
    else:
        event = "$identify"
    stamp = received
    if message.timestamp is not None:
        try:
            parsed = datetime.fromisoformat(message.timestamp.replace("Z", "+00:00"))
        except ValueError:
            return "timestamp", "must be an ISO 8601 time with a UTC offset"
        if parsed.tzinfo is None:
            return "timestamp", "must include a UTC offset (e.g. 2026-01-31T09:00:00Z)"
        if parsed.astimezone(UTC).year < 1970:
            return "timestamp", "must be 1970 or later"
        stamp = min(parsed.astimezone(UTC), received)  # a clock ahead is clamped
    message_id = _text(message.messageId, 100) or str(uuid.uuid4())
    given = message.traits if kind == "identify" else message.properties
    properties = dict(given or {})
    if kind == "page" and message.name:
        properties.setdefault("name", message.name)
    return _Checked(message, kind, stamp, message_id, user_id, anonymous_id, event, properties)


async def _resolve_persons(
    session: AsyncSession, workspace_id: uuid.UUID, items: list[_Checked]
) -> dict[str, str]:
    identities = IdentityRepository(session, workspace_id)
    known = await identities.persons_of(
        [i for item in items for i in (item.user_id, item.anonymous_id) if i]
    )
    persons: dict[str, str] = {}
    for item in items:
        if item.type == "identify":
            person, contact_id = await _identified_person(session, workspace_id, item, known)
            for distinct in (item.user_id, item.anonymous_id):
                if distinct:
                    await identities.link(distinct, person, contact_id)
                    known[distinct] = person
        else:
            distinct = item.user_id or item.anonymous_id or ""
            person = known.get(distinct) or distinct
            if item.user_id and item.anonymous_id and item.anonymous_id not in known:
                # analytics.js sends both once identified: the anonymous id is this person's
                await identities.link(item.anonymous_id, person, None)
                known[item.anonymous_id] = person
        persons[item.message_id] = person
    return persons


async def _identified_person(
    session: AsyncSession, workspace_id: uuid.UUID, item: _Checked, known: dict[str, str]
) -> tuple[str, uuid.UUID | None]:
    traits = item.properties
    contact_id = None
    if item.user_id:
        try:
            contact_id = uuid.UUID(item.user_id)
        except ValueError:
            contact_id = None
    phone = traits.get("phone") if isinstance(traits.get("phone"), str) else None
    email = traits.get("email") if isinstance(traits.get("email"), str) else None
    contact = await ContactMatch(session, workspace_id).matching(
        contact_id=contact_id,
        phone=phone,
        email=email,  # type: ignore[arg-type]
    )
    if contact is not None:
        return str(contact.id), contact.id
    if item.user_id:
        return known.get(item.user_id) or item.user_id, None
    return known.get(item.anonymous_id or "") or (item.anonymous_id or ""), None
