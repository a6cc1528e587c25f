"""CSRF protection for the HTML forms: a token bound to the browser's session.

Every form carries a hidden `csrf_token` made of a random nonce and an HMAC, under a key
derived from the instance secret, of the nonce and the session it was issued to:

- signed in, the web session (the `AuthSession` id inside the signed session cookie);
- signed out (sign-in, sign-up, invitation forms), a random pre-session id kept in the
  `flow_presession` cookie, renewed at every sign-in and sign-out.

A cross-site page cannot read a token, and it cannot make one either: it has neither the key
nor the victim's session id, and a token taken from its own session is refused in the
victim's, even when it can plant cookies in the victim's browser. In production the cookies
are `__Host-` cookies, so a sibling subdomain cannot plant a pre-session id either.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets

from fastapi import Request, Response
from starlette.exceptions import HTTPException

from intuitivus_flow.context import AppContext
from intuitivus_flow.kit.errors import Unauthorized
from intuitivus_flow.kit.security import TokenType
from intuitivus_flow.web import cookies
from intuitivus_flow.web.auth import session_token

PRESESSION_COOKIE = "flow_presession"
CSRF_FIELD = "csrf_token"
_NONCE_BYTES = 16
_PRESESSION_SHAPE = re.compile(r"^[A-Za-z0-9_-]{32,64}$")
_TOKEN_SHAPE = re.compile(r"^(?P<nonce>[A-Za-z0-9_-]{22})\.(?P<mac>[0-9a-f]{64})$")
# One year: the pre-session id carries no authority by itself, so it may outlive a sign-in.
_COOKIE_MAX_AGE = 365 * 24 * 3600


class CsrfRejected(Exception):
    """The form's token is missing, malformed or was issued to another session."""


def _context(request: Request) -> AppContext:
    context: AppContext = request.app.state.context
    return context


def _mac(context: AppContext, binding: str, nonce: str) -> str:
    message = f"{binding}\n{nonce}".encode()
    return hmac.new(context.auth.csrf_key, message, hashlib.sha256).hexdigest()


def _web_session_binding(request: Request, context: AppContext) -> str | None:
    """The signed-in session, from the signature-checked session cookie (no database read:
    a revoked session is refused later, by the page's own authentication)."""
    token = session_token(request, context)
    if token is None:
        return None
    try:
        claims = context.auth.codec.decode(token, TokenType.web)
    except Unauthorized:
        return None
    return f"session:{claims.session_id}"


def _presession_cookie(request: Request, context: AppContext) -> str | None:
    value = cookies.read_cookie(request, context.settings, PRESESSION_COOKIE) or ""
    return value if _PRESESSION_SHAPE.match(value) else None


def _issuing_binding(request: Request, context: AppContext) -> str:
    """The session a token for this response is bound to; starts a pre-session if needed."""
    signed_in = _web_session_binding(request, context)
    if signed_in is not None:
        return signed_in
    presession = _presession_cookie(request, context)
    if presession is None:
        presession = secrets.token_urlsafe(32)
        request.state.new_presession = presession
    return f"presession:{presession}"


def _checking_binding(request: Request, context: AppContext) -> str | None:
    signed_in = _web_session_binding(request, context)
    if signed_in is not None:
        return signed_in
    presession = _presession_cookie(request, context)
    return f"presession:{presession}" if presession else None


def token_for(request: Request) -> str:
    """The token to embed in this response's forms (one per response, fresh nonce each)."""
    existing: str | None = getattr(request.state, "csrf_token", None)
    if existing is not None:
        return existing
    context = _context(request)
    nonce = secrets.token_urlsafe(_NONCE_BYTES)
    token = f"{nonce}.{_mac(context, _issuing_binding(request, context), nonce)}"
    request.state.csrf_token = token
    return token


def remember(request: Request, response: Response) -> None:
    """Set the pre-session cookie when this response's tokens started a pre-session."""
    presession: str | None = getattr(request.state, "new_presession", None)
    if presession is not None:
        _set_presession(response, _context(request), presession)


def rotate(request: Request, response: Response) -> None:
    """A new pre-session at every sign-in/out: a token issued before is worth nothing after."""
    _set_presession(response, _context(request), secrets.token_urlsafe(32))


def _set_presession(response: Response, context: AppContext, presession: str) -> None:
    cookies.set_cookie(
        response, context.settings, PRESESSION_COOKIE, presession, max_age=_COOKIE_MAX_AGE
    )


def is_valid(request: Request, submitted: str) -> bool:
    """Whether `submitted` was issued to the session this request comes from."""
    context = _context(request)
    shape = _TOKEN_SHAPE.match(submitted)
    binding = _checking_binding(request, context)
    if shape is None or binding is None:
        return False
    expected = _mac(context, binding, shape["nonce"])
    return hmac.compare_digest(expected.encode(), shape["mac"].encode())


async def require_csrf(request: Request) -> None:
    """Dependency for every POST route of the web shell."""
    try:
        form = await request.form()
    except HTTPException as exc:  # malformed body: refuse it like a forged one
        raise CsrfRejected from exc
    submitted = form.get(CSRF_FIELD)
    if not isinstance(submitted, str) or not is_valid(request, submitted):
        raise CsrfRejected
