"""Double-submit CSRF protection for the HTML forms.

A random token lives in the `flow_csrf` cookie and is repeated in a hidden `csrf_token` field
of every form. A cross-site page can make the browser send the cookie, but it cannot read it
to put the same value in the form, so a POST whose two copies differ is refused.
"""

from __future__ import annotations

import hmac
import re
import secrets

from fastapi import Request, Response
from starlette.exceptions import HTTPException

from intuitivus_flow.kit.context import AppContext

CSRF_COOKIE = "flow_csrf"
CSRF_FIELD = "csrf_token"
_TOKEN_SHAPE = re.compile(r"^[A-Za-z0-9_-]{32,64}$")
# One year: the token carries no authority by itself, so it may outlive a sign-in session.
_COOKIE_MAX_AGE = 365 * 24 * 3600


class CsrfRejected(Exception):
    """The form's token is missing or does not match the cookie."""


def _cookie_token(request: Request) -> str | None:
    value = request.cookies.get(CSRF_COOKIE, "")
    return value if _TOKEN_SHAPE.match(value) else None


def token_for(request: Request) -> str:
    """The token to embed in this response's forms: the browser's own, or a fresh one."""
    existing: str | None = getattr(request.state, "csrf_token", None) or _cookie_token(request)
    if existing is None:
        existing = secrets.token_urlsafe(32)
        request.state.csrf_token_is_new = True
    request.state.csrf_token = existing
    return existing


def remember(request: Request, response: Response, token: str) -> None:
    """Set the cookie when this response introduced (or rotated) the token."""
    if getattr(request.state, "csrf_token_is_new", False):
        set_cookie(request, response, token)


def rotate(request: Request, response: Response) -> None:
    """A new token at every sign-in/out, so a value planted before sign-in is worth nothing."""
    set_cookie(request, response, secrets.token_urlsafe(32))


def set_cookie(request: Request, response: Response, token: str) -> None:
    context: AppContext = request.app.state.context
    response.set_cookie(
        CSRF_COOKIE,
        token,
        max_age=_COOKIE_MAX_AGE,
        path="/",
        httponly=True,  # the server renders the token into forms; scripts never need it
        secure=context.settings.is_production,
        samesite="lax",
    )


async def require_csrf(request: Request) -> None:
    """Dependency for every POST route of the web shell."""
    cookie = _cookie_token(request)
    try:
        form = await request.form()
    except HTTPException as exc:  # malformed body: refuse it like a forged one
        raise CsrfRejected from exc
    submitted = form.get(CSRF_FIELD)
    if cookie is None or not isinstance(submitted, str):
        raise CsrfRejected
    if not hmac.compare_digest(cookie.encode(), submitted.encode()):
        raise CsrfRejected
