"""Who is looking at a page: the `flow_session` cookie, and where to send strangers.

The cookie holds a web-session JWT (type `web`, so it is useless as an API access token and
vice versa). It is httpOnly, so page scripts cannot read it, and SameSite=Lax, so other sites
cannot post forms with it (the CSRF token is the second line of defence). In production it is
`__Host-flow_session` (see `web/cookies.py`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated
from urllib.parse import urlencode, urlsplit

from fastapi import Depends, Request, Response
from sqlalchemy.ext.asyncio import AsyncSession

from intuitivus_flow.auth import service as auth
from intuitivus_flow.context import AppContext
from intuitivus_flow.identity.principal import Principal
from intuitivus_flow.identity.roles import Role
from intuitivus_flow.kit.errors import Unauthorized
from intuitivus_flow.kit.http.deps import DbSession
from intuitivus_flow.kit.security import TokenType
from intuitivus_flow.observability.logging import bind_request_identity
from intuitivus_flow.users.models import User
from intuitivus_flow.web import cookies, shell
from intuitivus_flow.web.app_context import Context
from intuitivus_flow.workspaces import service as workspaces
from intuitivus_flow.workspaces.models import Workspace

SESSION_COOKIE = "flow_session"
MAX_TOKEN_LENGTH = 4096
MAX_NEXT_LENGTH = 2000
DEFAULT_NEXT = "/"


@dataclass(frozen=True, slots=True)
class Viewer:
    """The signed-in person, as the layout and the pages need them."""

    principal: Principal
    user: User
    workspace: Workspace

    @property
    def is_admin(self) -> bool:
        return self.principal.role.rank >= Role.admin.rank


class SignInRequired(Exception):
    """No valid web session: the handler answers with a redirect to the sign-in page."""

    def __init__(self, next_path: str | None) -> None:
        super().__init__("sign-in required")
        self.next_path = next_path


def safe_next(candidate: str | None) -> str:
    """Only a path on this site: anything that could leave it (an open redirect) becomes '/'."""
    if not candidate or len(candidate) > MAX_NEXT_LENGTH:
        return DEFAULT_NEXT
    # Browsers treat "\" like "/" and drop tabs/newlines, so "/\evil.com" would go off-site.
    if "\\" in candidate or any(ord(char) < 0x20 or ord(char) == 0x7F for char in candidate):
        return DEFAULT_NEXT
    parts = urlsplit(candidate)
    if parts.scheme or parts.netloc or not candidate.startswith("/") or candidate.startswith("//"):
        return DEFAULT_NEXT
    return candidate


def signin_url(next_path: str | None) -> str:
    target = safe_next(next_path)
    if target == DEFAULT_NEXT:
        return "/signin"
    return "/signin?" + urlencode({"next": target})


def set_session_cookie(response: Response, token: str, context: AppContext) -> None:
    max_age = int(context.auth.web_lifetime.total_seconds())
    cookies.set_cookie(response, context.settings, SESSION_COOKIE, token, max_age=max_age)


def clear_session_cookie(response: Response, context: AppContext) -> None:
    cookies.delete_cookie(response, context.settings, SESSION_COOKIE)


def session_token(request: Request, context: AppContext) -> str | None:
    """The web-session JWT the browser sent, unchecked (None when absent or oversized)."""
    token = cookies.read_cookie(request, context.settings, SESSION_COOKIE)
    return token if token and len(token) <= MAX_TOKEN_LENGTH else None


async def open_session(
    session: AsyncSession, user: User, response: Response, context: AppContext
) -> None:
    token = await auth.open_web_session(session, user, policy=context.auth)
    set_session_cookie(response, token, context)


async def principal_from_cookie(
    request: Request, session: AsyncSession, context: AppContext
) -> Principal:
    token = session_token(request, context)
    if token is None:
        raise Unauthorized("Not signed in")
    principal = await auth.principal_from_token(
        session, token, kind=TokenType.web, policy=context.auth
    )
    bind_request_identity(principal)
    return principal


async def _load_viewer(session: AsyncSession, principal: Principal) -> Viewer:
    user = await auth.get_acting_user(session, principal)
    if user is None:  # a web token always names a user; a missing one means it is stale
        raise Unauthorized("Unknown user")
    workspace = await workspaces.get_current(session, principal)
    return Viewer(principal=principal, user=user, workspace=workspace)


def _return_path(request: Request) -> str | None:
    # After sign-in, come back to the page that was asked for. A POST cannot be replayed, so
    # it lands on the overview instead.
    if request.method != "GET":
        return None
    query = request.url.query
    return request.url.path + (f"?{query}" if query else "")


async def require_viewer(request: Request, session: DbSession, context: Context) -> Viewer:
    try:
        principal = await principal_from_cookie(request, session, context)
        viewer = await _load_viewer(session, principal)
    except Unauthorized as exc:
        raise SignInRequired(_return_path(request)) from exc
    # The layout's sidebar counts, read by `render` (which cannot await).
    await shell.load(request, session, principal, context.settings)
    return viewer


async def optional_viewer(request: Request, session: DbSession, context: Context) -> Viewer | None:
    try:
        principal = await principal_from_cookie(request, session, context)
        return await _load_viewer(session, principal)
    except Unauthorized:
        return None


CurrentViewer = Annotated[Viewer, Depends(require_viewer)]
MaybeViewer = Annotated[Viewer | None, Depends(optional_viewer)]
