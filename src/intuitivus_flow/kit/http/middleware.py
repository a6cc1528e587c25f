"""ASGI middleware: request-body size cap, bad input refused (NUL characters, JSON too deep or
with NaN), request ids and security headers."""

from __future__ import annotations

import codecs
import json
import re
import uuid
from collections.abc import Callable, Mapping, MutableMapping
from typing import TYPE_CHECKING, Any

from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from intuitivus_flow.kit import jsontext

if TYPE_CHECKING:
    from python_multipart.multipart import MultipartCallbacks

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
        if declared is None and _has_no_body(scope):
            # Most requests (every GET): nothing to count, so no wrappers around the call.
            await self.app(scope, receive, send)
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
# JSON) preceded by an even number of backslashes, or as %00 (or a raw zero byte) in a form or
# query string.
_JSON_NUL = re.compile(rb"(?<!\\)(?:\\\\)*\\u0000")
_FORM_NUL = re.compile(rb"%00|\x00")
_FORM = "application/x-www-form-urlencoded"
_MULTIPART = "multipart/form-data"
_NUL_DETAIL = "Text may not contain the NUL character (U+0000)."
# Text fields are small (Starlette refuses parts over 1 MiB); what is beyond is not looked at.
_MAX_TEXT_PART = 1_048_576


class _RefusedInput(Exception):
    """Raised into the application's body read: the request is answered here instead."""


class RejectBadInputMiddleware:
    """Answers 422 to input that would otherwise fail deeper down with a 500.

    - The NUL character (U+0000) in text: PostgreSQL's text and JSON types cannot store it
      (SQLite can), so refusing it at the edge gives one answer on both engines. Checked in
      the path (path parameters), the query string, JSON and url-encoded bodies, and the
      text fields, field names and file names of multipart forms; file contents are data,
      where zero bytes are ordinary.
    - JSON bodies (`application/json`, `application/<x>+json`: what FastAPI parses as JSON)
      nested deeper than `jsontext.MAX_DEPTH` (Python's parser recurses per level) or holding
      NaN/Infinity (Python's parser takes them; JSONB and every JSON response refuse them).

    Size limits run first (outer middleware), so the JSON and form bodies held here are
    bounded; multipart bodies (imports are large) are not held but checked while the
    application reads them.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if "\x00" in scope.get("path", "") or _FORM_NUL.search(scope.get("query_string", b"")):
            await _invalid(send, _NUL_DETAIL)
            return
        content_type = _header(scope, b"content-type") or ""
        media_type = content_type.split(";")[0].strip().lower()
        if media_type == _MULTIPART:
            await self._multipart(scope, receive, send, _MultipartTextCheck(content_type))
            return
        body_problem = _body_check(media_type)
        if body_problem is None:
            await self.app(scope, receive, send)
            return
        messages, body = await _read_body(receive)
        if problem := body_problem(body):
            await _invalid(send, problem)
            return
        await self.app(scope, _replay(messages, receive), send)

    async def _multipart(
        self, scope: Scope, receive: Receive, send: Send, check: _MultipartTextCheck
    ) -> None:
        refused = body_read = False

        async def checked_receive() -> Message:
            nonlocal refused, body_read
            message = await receive()
            if message["type"] != "http.request":
                return message
            body_read = not message.get("more_body", False)
            if check.finds_nul(message.get("body", b"")):
                refused = True
                raise _RefusedInput  # the application stops reading: it never gets the value
            return message

        async def guarded_send(message: Message) -> None:
            # The application answers the interrupted read its own way (a 400, a form page):
            # that answer is replaced by the 422 below.
            if not refused:
                await send(message)

        try:
            await self.app(scope, checked_receive, guarded_send)
        except Exception:
            if not refused:
                raise
        if refused:
            if not body_read:  # read the rest, so the connection serves the next request
                await _read_body(receive)
            await _invalid(send, _NUL_DETAIL)


def _body_check(media_type: str) -> Callable[[bytes], str | None] | None:
    kind, _, subtype = media_type.partition("/")
    if kind == "application" and (subtype == "json" or subtype.endswith("+json")):
        return _json_problem
    if media_type == _FORM:
        return _form_problem
    return None


def _json_problem(body: bytes) -> str | None:
    if _JSON_NUL.search(body):
        return _NUL_DETAIL
    return jsontext.shape_problem(body)


def _form_problem(body: bytes) -> str | None:
    return _NUL_DETAIL if _FORM_NUL.search(body) else None


class _MultipartTextCheck:
    """Follows a multipart body through python-multipart (the parser Starlette uses) as it
    passes, and tells when a text field's value, a field name or a file name holds a NUL.

    Values are decoded as Starlette decodes them (the form's charset, else latin-1), so what
    is checked is what the application would get. A body the parser cannot follow is left
    to the application, which refuses it (400).
    """

    def __init__(self, content_type: str) -> None:
        _, options = parse_options_header(content_type)
        try:
            self._charset = codecs.lookup(options.get(b"charset", b"utf-8").decode()).name
        except (LookupError, UnicodeDecodeError):
            self._charset = "latin-1"
        self._found = False
        self._header_value = b""
        self._disposition = b""
        self._text: bytearray | None = None  # the current part's value, when it is text
        boundary = options.get(b"boundary")
        self._parser: MultipartParser | None = None
        if boundary:
            callbacks: MultipartCallbacks = {
                "on_part_begin": self._part_begin,
                "on_header_value": self._header_value_data,
                "on_header_end": self._header_end,
                "on_headers_finished": self._headers_finished,
                "on_part_data": self._part_data,
                "on_part_end": self._part_end,
            }
            self._parser = MultipartParser(boundary, callbacks)

    def finds_nul(self, chunk: bytes) -> bool:
        if self._parser is not None and chunk and not self._found:
            try:
                self._parser.write(chunk)
            except Exception:  # malformed: Starlette reports it when it parses the same bytes
                self._parser = None
        return self._found

    def _decoded(self, data: bytes) -> str:
        try:
            return data.decode(self._charset)
        except UnicodeDecodeError:
            return data.decode("latin-1")

    def _part_begin(self) -> None:
        self._disposition = b""
        self._text = None

    def _header_value_data(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def _header_end(self) -> None:
        # Any header value of a part: Content-Disposition carries the names; the others never
        # have a reason to hold a NUL either.
        if "\x00" in self._decoded(self._header_value):
            self._found = True
        if self._header_value.lstrip().lower().startswith(b"form-data"):
            self._disposition = self._header_value
        self._header_value = b""

    def _headers_finished(self) -> None:
        _, options = parse_options_header(self._disposition)
        self._text = None if b"filename" in options else bytearray()

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        if self._text is not None and len(self._text) <= _MAX_TEXT_PART:
            self._text += data[start:end]

    def _part_end(self) -> None:
        if self._text is not None and "\x00" in self._decoded(bytes(self._text)):
            self._found = True
        self._text = None


async def _invalid(send: Send, detail: str) -> None:
    await _problem(send, 422, "/problems/invalid-input", "Invalid input", detail)


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


def _has_no_body(scope: Scope) -> bool:
    """HTTP/1.x without Content-Length or Transfer-Encoding has no body (RFC 9112, 6.3): the
    server reads none, so there is nothing to limit."""
    if scope.get("http_version") not in ("1.0", "1.1"):
        return False
    return _header(scope, b"transfer-encoding") is None


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            return str(value.decode("latin-1"))
    return None


def _is_safe_id(value: str) -> bool:
    return 0 < len(value) <= 128 and all(c.isalnum() or c in "-_." for c in value)
