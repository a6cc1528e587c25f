"""Sign-up, sign-in, token rotation, sign-out and password changes.

Access tokens are short-lived JWTs. Every sign-in opens an `AuthSession` (the refresh-token
family); each refresh token is single-use, and presenting a used one revokes the whole family,
because only a thief or a replay can hold a token that was already rotated away.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from intuitivus_flow.auth.models import AuthSession, RefreshToken, SessionKind
from intuitivus_flow.auth.policy import AuthPolicy
from intuitivus_flow.auth.repository import AuthSessionRepository, RefreshTokenRepository
from intuitivus_flow.billing import service as billing
from intuitivus_flow.billing.licences import service as licences
from intuitivus_flow.billing.plans import Limit
from intuitivus_flow.events import catalog
from intuitivus_flow.events import service as events
from intuitivus_flow.identity.principal import Principal
from intuitivus_flow.identity.roles import Role
from intuitivus_flow.identity.scopes import ROLE_SCOPES
from intuitivus_flow.kit.cache import Cache, cached
from intuitivus_flow.kit.db import LazyUnitOfWork
from intuitivus_flow.kit.errors import Conflict, Forbidden, InvalidInput, NotFound, Unauthorized
from intuitivus_flow.kit.models import utcnow
from intuitivus_flow.kit.security import (
    TokenClaims,
    TokenType,
    digest,
    hash_password,
    password_needs_rehash,
    verify_password,
)
from intuitivus_flow.users import service as members
from intuitivus_flow.users.models import User
from intuitivus_flow.users.repository import (
    AccountRepository,
    InvitationTokenRepository,
    MemberRepository,
    normalize_email,
)
from intuitivus_flow.workspaces.models import Workspace
from intuitivus_flow.workspaces.repository import WorkspaceRepository

INVALID_CREDENTIALS = "Invalid email or password"
# A TTL only bounds memory and writes outside the ORM: any write to the workspace recomputes.
ME_CACHE_SECONDS = 60


class RefreshTokenReused(Unauthorized):
    type = "refresh-token-reused"
    title = "Refresh token reused"
    keeps_work = True  # the family revocation must be committed although the request fails


@dataclass(frozen=True, slots=True)
class IssuedTokens:
    access_token: str
    refresh_token: str
    expires_in: int


async def register(
    session: AsyncSession,
    *,
    email: str,
    password: str,
    name: str,
    workspace_name: str,
    client: str,
    policy: AuthPolicy,
    licence_key: str | None = None,
) -> User:
    """Create a workspace with its owner, under the per-address sign-up throttle; with
    `FLOW_SIGNUP_REQUIRES_LICENCE`, only with a valid unused licence key (consumed here).

    Every attempt counts, failed ones too (a wrong licence key, a taken email), and it is
    counted before any work, so parallel sign-ups cannot all slip under the limit.
    Signing in is the caller's next step: the API opens a token session, the web a cookie one.
    """
    await policy.signups_per_client.acquire(client, "Too many sign-ups from this address")
    user = await create_workspace_with_owner(
        session, email=email, password=password, name=name, workspace_name=workspace_name
    )
    await licences.consume_for_signup(
        session,
        key=licence_key,
        workspace_id=user.workspace_id,
        user_id=user.id,
        required=policy.signup_requires_licence,
    )
    return user


async def create_workspace_with_owner(
    session: AsyncSession, *, email: str, password: str, name: str, workspace_name: str
) -> User:
    if await AccountRepository(session).email_taken(email):
        raise Conflict("An account with this email already exists", field="email")
    workspace = Workspace(name=workspace_name.strip())
    session.add(workspace)
    await session.flush()
    owner = await _add_member(
        session, workspace.id, email=email, password=password, name=name, role=Role.owner
    )
    await events.record(
        session,
        workspace_id=workspace.id,
        name=catalog.WORKSPACE_CREATED,
        user_id=owner.id,
        properties={"workspace_name": workspace.name},
    )
    await events.record(
        session,
        workspace_id=workspace.id,
        name=catalog.USER_SIGNED_UP,
        user_id=owner.id,
        properties={"role": Role.owner.value},
    )
    return owner


async def authenticate_password(
    session: AsyncSession, *, email: str, password: str, client: str, policy: AuthPolicy
) -> User:
    """Check credentials under the per-client and per-account failure throttles.

    The attempt is counted before the (slow, argon2) verification, so guesses sent in
    parallel are all counted; a correct password then gives the attempt back.
    """
    account_key = normalize_email(email)
    await policy.failed_logins_per_client.acquire(client, "Too many failed sign-ins from here")
    await policy.failed_logins_per_account.acquire(account_key, "Too many failed sign-ins")
    user = await AccountRepository(session).by_email(email)
    if not await verify_password(user.password_hash if user else None, password) or user is None:
        raise Unauthorized(INVALID_CREDENTIALS)
    await _forget_sign_in_attempt(policy, client=client, account_key=account_key)
    if not user.active:
        raise Forbidden("This account has been deactivated")
    if password_needs_rehash(user.password_hash):
        user.password_hash = await hash_password(password)
    user.last_login_at = utcnow()
    await events.record(
        session, workspace_id=user.workspace_id, user_id=user.id, name=catalog.USER_LOGGED_IN
    )
    return user


async def _forget_sign_in_attempt(policy: AuthPolicy, *, client: str, account_key: str) -> None:
    # The right password: the account's earlier failures no longer matter, and the address
    # keeps its budget (an office behind one address signs in all day).
    await policy.failed_logins_per_client.release(client)
    await policy.failed_logins_per_account.reset(account_key)


async def login(
    session: AsyncSession, *, email: str, password: str, client: str, policy: AuthPolicy
) -> IssuedTokens:
    user = await authenticate_password(
        session, email=email, password=password, client=client, policy=policy
    )
    return await open_api_session(session, user, policy=policy)


async def open_api_session(
    session: AsyncSession, user: User, *, policy: AuthPolicy
) -> IssuedTokens:
    auth_session = await _open_session(session, user, SessionKind.api, policy)
    return await _issue_tokens(session, auth_session, policy)


async def open_web_session(session: AsyncSession, user: User, *, policy: AuthPolicy) -> str:
    auth_session = await _open_session(session, user, SessionKind.web, policy)
    token, _ = policy.codec.encode(
        TokenType.web,
        user_id=user.id,
        workspace_id=user.workspace_id,
        session_id=auth_session.id,
        lifetime=policy.web_lifetime,
    )
    return token


async def refresh(session: AsyncSession, *, refresh_token: str, policy: AuthPolicy) -> IssuedTokens:
    claims = policy.codec.decode(refresh_token, TokenType.refresh)
    stored = await RefreshTokenRepository(session).by_hash(digest(refresh_token))
    if stored is None or stored.session_id != claims.session_id:
        raise Unauthorized("Unknown refresh token")
    auth_session, _user = await _live_session(session, claims.session_id)
    now = utcnow()
    if stored.expires_at <= now:
        raise Unauthorized("Refresh token expired")
    if not await RefreshTokenRepository(session).claim(stored.id, now):
        auth_session.revoked_at, auth_session.revoked_reason = now, "refresh_reuse"
        await events.record(
            session,
            workspace_id=auth_session.workspace_id,
            user_id=auth_session.user_id,
            name=catalog.SESSION_REUSE_DETECTED,
            properties={"session_id": str(auth_session.id)},
        )
        raise RefreshTokenReused("This refresh token was already used; the session is revoked")
    auth_session.last_used_at = now
    return await _issue_tokens(session, auth_session, policy)


async def logout(session: AsyncSession, principal: Principal) -> None:
    if principal.session_id is None:
        raise InvalidInput("API keys are revoked, not logged out")
    auth_session = await AuthSessionRepository(session).get_or_raise(principal.session_id)
    if auth_session.revoked_at is None:
        auth_session.revoked_at, auth_session.revoked_reason = utcnow(), "logout"
    await events.record(
        session,
        workspace_id=principal.workspace_id,
        user_id=principal.user_id,
        name=catalog.USER_LOGGED_OUT,
    )


async def change_password(
    session: AsyncSession,
    principal: Principal,
    *,
    current_password: str,
    new_password: str,
    policy: AuthPolicy,
) -> None:
    """Replace the password and sign out every other session of this user.

    Wrong current passwords are throttled per user like sign-ins per account: a stolen
    session must not become a way to guess the password.
    """
    user = await _acting_user(session, principal)
    throttle = policy.failed_password_changes_per_user
    await throttle.acquire(str(user.id), "Too many wrong current passwords")
    if not await verify_password(user.password_hash, current_password):
        raise InvalidInput("The current password is wrong", field="current_password")
    await throttle.reset(str(user.id))
    if current_password == new_password:
        raise InvalidInput(
            "The new password must differ from the current one", field="new_password"
        )
    now = utcnow()
    user.password_hash, user.password_changed_at = await hash_password(new_password), now
    await AuthSessionRepository(session).revoke_for_user(
        user.id, reason="password_changed", now=now, keep=principal.session_id
    )
    await events.record(
        session,
        workspace_id=principal.workspace_id,
        user_id=user.id,
        name=catalog.USER_PASSWORD_CHANGED,
    )


async def accept_invitation(session: AsyncSession, *, token: str, password: str, name: str) -> User:
    """Create the invited member; signing in is the caller's next step (as for `register`)."""
    invitation = await InvitationTokenRepository(session).by_token_hash(digest(token))
    now = utcnow()
    if invitation is None or invitation.revoked_at is not None or invitation.expires_at <= now:
        raise NotFound("This invitation does not exist or has expired")
    if invitation.accepted_at is not None:
        raise Conflict("This invitation was already accepted")
    if await AccountRepository(session).email_taken(invitation.email):
        raise Conflict("An account with this email already exists")
    await billing.check_room(
        session, invitation.workspace_id, Limit.members, count=members.count_active_members
    )
    invitation.accepted_at = now
    user = await _add_member(
        session,
        invitation.workspace_id,
        email=invitation.email,
        password=password,
        name=name,
        role=invitation.role,
    )
    await events.record(
        session,
        workspace_id=user.workspace_id,
        user_id=user.id,
        name=catalog.MEMBER_JOINED,
        properties={"invitation_id": str(invitation.id), "role": user.role},
    )
    return user


async def principal_from_token(
    session: AsyncSession, token: str, *, kind: TokenType, policy: AuthPolicy
) -> Principal:
    """Who holds this access (or web) token, checked against the live session and user."""
    principal, _ = await session_principal(session, policy.codec.decode(token, kind))
    return principal


async def session_principal(
    session: AsyncSession, claims: TokenClaims
) -> tuple[Principal, datetime]:
    """The principal of a token's session, checked against the live session and user, and
    when that session ends (a cached principal must not outlive it)."""
    auth_session, user = await _live_session(session, claims.session_id)
    if user.id != claims.user_id:
        raise Unauthorized("Invalid token")
    role = user.role
    principal = Principal(
        workspace_id=user.workspace_id,
        role=role,
        scopes=ROLE_SCOPES[role],
        user_id=user.id,
        session_id=auth_session.id,
    )
    return principal, auth_session.expires_at


async def account_summary(
    work: LazyUnitOfWork, principal: Principal, *, cache: Cache
) -> dict[str, Any]:
    """The acting user's id, email and name (None for an API key) and the workspace's id and
    name: read on every `/api/auth/me`, so cached per workspace data version (renaming either
    is a write to the workspace, which makes the next read recompute)."""

    async def compute() -> dict[str, Any]:
        session = work.session  # constructed only on a miss
        user = await get_acting_user(session, principal)
        workspace = await WorkspaceRepository(session, principal.workspace_id).current()
        return {
            "id": str(user.id) if user else None,
            "email": user.email if user else None,
            "name": user.name if user else None,
            "workspace": {"id": str(workspace.id), "name": workspace.name},
        }

    subject = principal.user_id or principal.api_key_id
    summary, _ = await cached(
        cache,
        principal.workspace_id,
        f"me:{subject}",
        compute,
        ttl_seconds=ME_CACHE_SECONDS,
        info=work.info,  # the version authentication read along (one round trip)
    )
    return dict(summary)


async def get_acting_user(session: AsyncSession, principal: Principal) -> User | None:
    if principal.user_id is None:
        return None
    return await MemberRepository(session, principal.workspace_id).get(principal.user_id)


async def _acting_user(session: AsyncSession, principal: Principal) -> User:
    user = await get_acting_user(session, principal)
    if user is None:
        raise Forbidden("This action needs a signed-in user, not an API key")
    return user


async def _live_session(session: AsyncSession, session_id: uuid.UUID) -> tuple[AuthSession, User]:
    found = await AuthSessionRepository(session).with_user(session_id)
    if found is None:
        raise Unauthorized("Session not found")
    auth_session, user = found
    if auth_session.revoked_at is not None:
        raise Unauthorized("Session revoked")
    if auth_session.expires_at <= utcnow():
        raise Unauthorized("Session expired")
    if not user.active:
        raise Unauthorized("This account has been deactivated")
    return auth_session, user


async def _open_session(
    session: AsyncSession, user: User, kind: SessionKind, policy: AuthPolicy
) -> AuthSession:
    lifetime = policy.web_lifetime if kind is SessionKind.web else policy.refresh_lifetime
    return await AuthSessionRepository(session).add(
        AuthSession(
            user_id=user.id,
            workspace_id=user.workspace_id,
            kind=kind.value,
            expires_at=utcnow() + lifetime,
        )
    )


async def _issue_tokens(
    session: AsyncSession, auth_session: AuthSession, policy: AuthPolicy
) -> IssuedTokens:
    identity = {
        "user_id": auth_session.user_id,
        "workspace_id": auth_session.workspace_id,
        "session_id": auth_session.id,
    }
    access, _ = policy.codec.encode(TokenType.access, lifetime=policy.access_lifetime, **identity)
    # A refresh token never outlives its session.
    remaining = auth_session.expires_at - utcnow()
    refresh_token, claims = policy.codec.encode(
        TokenType.refresh, lifetime=min(policy.refresh_lifetime, remaining), **identity
    )
    await RefreshTokenRepository(session).add(
        RefreshToken(
            session_id=auth_session.id,
            token_hash=digest(refresh_token),
            expires_at=claims.expires_at,
        )
    )
    return IssuedTokens(access, refresh_token, int(policy.access_lifetime.total_seconds()))


async def _add_member(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    *,
    email: str,
    password: str,
    name: str,
    role: Role,
) -> User:
    user = User(
        email=email.strip(),
        email_normalized=normalize_email(email),
        name=name.strip(),
        password_hash=await hash_password(password),
        role=role,
    )
    return await MemberRepository(session, workspace_id).add(user)
