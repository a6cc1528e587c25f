"""ASGI middleware: request-body size cap, NUL-character refusal, request ids and security
headers."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Mapping, MutableMapping
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

REQUEST_ID_HEADER = b"x-request-id"


class _BodyTooLarge(Exception):
    pass


class BodySizeLimitMiddleware:
    """Answers 413 when a body exceeds the limit, by header or while streaming (chunked).

    `path_limits` replaces the limit on exact paths that take large uploads (data imports),
    so one route's needs never raise the limit of every other route.
    """

    def __init__(
        self, app: ASGIApp, *, max_bytes: int, path_limits: Mapping[str, int] | None = None
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.path_limits = dict(path_limits or {})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        max_bytes = self.path_limits.get(scope.get("path", ""), self.max_bytes)
        declared = _header(scope, b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > max_bytes):
            await self._reject(send, max_bytes)
            return
        received = 0
        too_large = rejected = False

        async def limited_receive() -> Message:
            nonlocal received, too_large
            message = await receive()
            received += len(message.get("body", b""))
            if received > max_bytes:
                too_large = True
                raise _BodyTooLarge
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal rejected
            # Frameworks may turn the read error into their own 400; answer 413 instead.
            if too_large:
                if message["type"] == "http.response.start" and not rejected:
                    rejected = True
                    await self._reject(send, max_bytes)
                return
            await send(message)

        try:
            await self.app(scope, limited_receive, guarded_send)
        except _BodyTooLarge:
            if not rejected:
                await self._reject(send, max_bytes)

    async def _reject(self, send: Send, max_bytes: int) -> None:
        detail = f"Request bodies are limited to {max_bytes} bytes."
        # The rest of the body is not read: the connection cannot be reused.
        close = [(b"connection", b"close")]
        await _problem(send, 413, "/problems/payload-too-large", "Payload too large", detail, close)


# A NUL can reach a string only as the JSON escape \u0000 (a raw control character is invalid
# JSON) preceded by an even number of backslashes, or as %00 in a form or query string.
_JSON_NUL = re.compile(rb"(?<!\\)(?:\\\\)*\\u0000")
_PERCENT_NUL = re.compile(rb"%00")
_TEXT_BODIES = {b"application/json": _JSON_NUL, b"application/x-www-form-urlencoded": _PERCENT_NUL}


class RejectNulMiddleware:
    """Answers 422 to text input holding a NUL character (U+0000).

    PostgreSQL's text and JSON types cannot store it (the insert fails with "invalid byte
    sequence"), SQLite can: refusing it at the edge gives one clear answer on both engines
    instead of a 500 on one of them. JSON and url-encoded bodies and query strings are checked;
    multipart bodies are uploads, where zero bytes are ordinary data. Size limits run first
    (outer middleware), so the body held here for the check is bounded.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if _PERCENT_NUL.search(scope.get("query_string", b"")):
            await _problem(send, 422, "/problems/invalid-input", "Invalid input", _NUL_DETAIL)
            return
        content_type = (_header(scope, b"content-type") or "").split(";")[0].strip().lower()
        pattern = _TEXT_BODIES.get(content_type.encode())
        if pattern is None:
            await self.app(scope, receive, send)
            return
        messages, body = await _read_body(receive)
        if pattern.search(body):
            await _problem(send, 422, "/problems/invalid-input", "Invalid input", _NUL_DETAIL)
            return
        await self.app(scope, _replay(messages, receive), send)


_NUL_DETAIL = "Text may not contain the NUL character (U+0000)."


async def _read_body(receive: Receive) -> tuple[list[Message], bytes]:
    messages: list[Message] = []
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request" or not message.get("more_body", False):
            break
    return messages, b"".join(message.get("body", b"") for message in messages)


def _replay(messages: list[Message], receive: Receive) -> Receive:
    pending = list(messages)

    async def replayed() -> Message:
        # The buffered body first, then the real channel (a disconnect, for instance).
        return pending.pop(0) if pending else await receive()

    return replayed


async def _problem(
    send: Send,
    status: int,
    type_: str,
    title: str,
    detail: str,
    extra_headers: list[tuple[bytes, bytes]] | None = None,
) -> None:
    """A problem+json answer sent before the application saw the request."""
    body = json.dumps({"type": type_, "title": title, "status": status, "detail": detail}).encode()
    headers = [
        (b"content-type", b"application/problem+json"),
        (b"content-length", str(len(body)).encode()),
        *(extra_headers or []),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class RequestContextMiddleware:
    """Gives every request an id (kept from the caller when sane) and hardening headers."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = _header(scope, REQUEST_ID_HEADER)
        request_id = incoming if incoming and _is_safe_id(incoming) else uuid.uuid4().hex
        state: MutableMapping[str, Any] = scope.setdefault("state", {})
        state["request_id"] = request_id

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers.append((REQUEST_ID_HEADER, request_id.encode()))
                headers.extend(_SECURITY_HEADERS)
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)


_SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
]


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            return str(value.decode("latin-1"))
    return None


def _is_safe_id(value: str) -> bool:
    return 0 < len(value) <= 128 and all(c.isalnum() or c in "-_." for c in value)
