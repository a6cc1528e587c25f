"""Forgotten passwords: a single-use, expiring link by e-mail, then a new password.

The link carries a 256-bit random secret; only its SHA-256 digest is stored, so a copy of the
database opens no account. Asking for a link answers the same whether or not the address has
an account, and in the same time: the answer waits only for the throttles (per address and
per client); looking the address up, recording the link and sending it happen after the
response. A newer link ends the older ones; using one ends them all. Using it is one
conditional UPDATE, so two submissions of the same link cannot both set a password. The new
password follows sign-up's rules, and every session of the user (web and API, refresh tokens
included) is revoked, as a password change does.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlencode

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession

from intuitivus_flow.auth.models import PasswordResetToken
from intuitivus_flow.auth.policy import AuthPolicy
from intuitivus_flow.auth.repository import AuthSessionRepository, PasswordResetTokenRepository
from intuitivus_flow.events import catalog
from intuitivus_flow.events import service as events
from intuitivus_flow.kit.db import SessionFactory, unit_of_work
from intuitivus_flow.kit.errors import FlowError, NotFound
from intuitivus_flow.kit.mail import Mail, MailError, MailSender
from intuitivus_flow.kit.models import utcnow
from intuitivus_flow.kit.security import digest, hash_password, new_secret
from intuitivus_flow.users.models import User
from intuitivus_flow.users.repository import AccountRepository, normalize_email

logger = logging.getLogger(__name__)

RESET_PATH = "/reset-password"
MAX_TOKEN_LENGTH = 256
MAIL_NOT_CONFIGURED = (
    "password reset requested but e-mail is not configured: set FLOW_SMTP_HOST (and "
    "FLOW_SMTP_PORT, FLOW_SMTP_FROM...) so the link can be sent, or set a password with "
    "`intuitivus-flow users reset-password EMAIL`"
)


class ResetLinkInvalid(FlowError):
    """The link cannot set a password: unknown, garbled, used, replaced or expired."""

    status_code = 400
    type = "reset-link-invalid"
    title = "Reset link not valid"


@dataclass(frozen=True, slots=True)
class ResetRequest:
    """An accepted request for a link: what the caller hands to `send_link` after answering."""

    email: str


@dataclass(frozen=True, slots=True)
class ResetLink:
    """A link recorded for a user, and the e-mail that carries it."""

    mail: Mail
    user_id: uuid.UUID


async def request_reset(*, email: str, client: str, policy: AuthPolicy) -> ResetRequest:
    """Count the request against both throttles; the account is looked up in `send_link`.

    Both throttles count every request, known address or not, so a 429 tells nothing. Nothing
    else happens before the answer, so its timing is the same for every address: the lookup,
    the write and the e-mail all happen after it.
    """
    await policy.password_resets_per_client.acquire(
        client, "Too many password-reset requests from here"
    )
    await policy.password_resets_per_account.acquire(
        normalize_email(email), "Too many password-reset requests for this address"
    )
    return ResetRequest(email=email)


async def send_link(
    request: ResetRequest,
    *,
    sessions: SessionFactory,
    policy: AuthPolicy,
    public_url: str,
    sender: MailSender | None,
) -> None:
    """Record a link for the account of the address, if there is an active one, and mail it.

    Runs after the response (its own transaction), so a failure here is logged, never shown.
    """
    try:
        async with unit_of_work(sessions) as session:
            link = await issue_link(session, request, policy=policy, public_url=public_url)
    except SQLAlchemyError:
        logger.exception("password-reset link could not be recorded")
        return
    if link is not None:
        await deliver(link, sender)


async def issue_link(
    session: AsyncSession, request: ResetRequest, *, policy: AuthPolicy, public_url: str
) -> ResetLink | None:
    """A new link for the active account of the address (older ones end); None without one."""
    user = await AccountRepository(session).by_email(request.email)
    if user is None or not user.active:
        return None
    secret = new_secret()
    await _issue(session, user, digest(secret), policy.password_reset_lifetime)
    lifetime = policy.password_reset_lifetime
    mail = reset_mail(user, link=reset_link(public_url, secret), lifetime=lifetime)
    return ResetLink(mail=mail, user_id=user.id)


async def _issue(
    session: AsyncSession, user: User, token_hash: str, lifetime: timedelta
) -> PasswordResetToken:
    tokens = PasswordResetTokenRepository(session)
    await tokens.lock_user(user.id)
    now = utcnow()
    await tokens.revoke_for_user(user.id, now=now)
    return await tokens.add(
        PasswordResetToken(user_id=user.id, token_hash=token_hash, expires_at=now + lifetime)
    )


def reset_link(public_url: str, secret: str) -> str:
    # In the query, not the path: the access log records paths, never query strings.
    return f"{public_url.rstrip('/')}{RESET_PATH}?{urlencode({'token': secret})}"


def reset_mail(user: User, *, link: str, lifetime: timedelta) -> Mail:
    minutes = int(lifetime.total_seconds() // 60)
    greeting = f"Hello {user.name}," if user.name else "Hello,"
    return Mail(
        to=user.email,
        subject="Reset your Intuitivus Flow password",
        text=(
            f"{greeting}\n\n"
            "Someone (we hope you) asked to reset the password of your Intuitivus Flow account.\n"
            "Choose a new password here:\n\n"
            f"    {link}\n\n"
            f"The link works once, for {minutes} minutes. Setting the new password signs out "
            "every other session of your account.\n\n"
            "If you did not ask for this, ignore this e-mail: your password stays as it is.\n"
        ),
    )


async def deliver(link: ResetLink, sender: MailSender | None) -> None:
    """Send the link. Logs name the user, never the link."""
    if sender is None:
        logger.warning(MAIL_NOT_CONFIGURED, extra={"user_id": str(link.user_id)})
        return
    try:
        await sender.send(link.mail)
    except MailError as exc:
        logger.warning(
            "password-reset e-mail not accepted by the mail server: %s",
            exc,
            extra={"user_id": str(link.user_id)},
        )


async def check_link(session: AsyncSession, *, token: str) -> User:
    """The user a live link resets, or `ResetLinkInvalid` saying why it is not live."""
    _, user = await _live_link(session, token)
    return user


async def reset_password(
    session: AsyncSession, *, token: str, new_password: str, policy: AuthPolicy
) -> User:
    """Set the password through a live link, once; every session of the user is revoked."""
    stored, user = await _live_link(session, token)
    password_hash = await hash_password(new_password)
    now = utcnow()
    tokens = PasswordResetTokenRepository(session)
    if not await tokens.claim(stored.id, now):
        raise ResetLinkInvalid("This reset link was already used. Ask for a new one if needed.")
    await tokens.revoke_for_user(user.id, now=now)
    user.password_hash, user.password_changed_at = password_hash, now
    await AuthSessionRepository(session).revoke_for_user(user.id, reason="password_reset", now=now)
    # Whoever holds the mailbox has proven it: earlier wrong guesses no longer lock them out.
    await policy.failed_logins_per_account.reset(user.email_normalized)
    await events.record(
        session,
        workspace_id=user.workspace_id,
        user_id=user.id,
        name=catalog.USER_PASSWORD_CHANGED,
        properties={"via": "reset_link"},
    )
    return user


async def _live_link(session: AsyncSession, token: str) -> tuple[PasswordResetToken, User]:
    if not token or len(token) > MAX_TOKEN_LENGTH:
        raise ResetLinkInvalid("This reset link is not valid. Ask for a new one.")
    found = await PasswordResetTokenRepository(session).with_user(digest(token))
    if found is None:
        raise ResetLinkInvalid("This reset link is not valid. Ask for a new one.")
    stored, user = found
    if stored.used_at is not None:
        raise ResetLinkInvalid("This reset link was already used. Ask for a new one if needed.")
    if stored.revoked_at is not None:
        raise ResetLinkInvalid(
            "A newer reset link was sent, or the password was already reset: use the newest "
            "e-mail, or ask for a new link."
        )
    if stored.expires_at <= utcnow():
        raise ResetLinkInvalid("This reset link has expired. Ask for a new one.")
    if not user.active:
        raise ResetLinkInvalid("This account has been deactivated.")
    return stored, user


async def set_password_from_shell(session: AsyncSession, *, email: str, new_password: str) -> User:
    """The operator's way when e-mail cannot reach the person (`users reset-password`): the
    same effects as a reset link, without one."""
    user = await AccountRepository(session).by_email(email)
    if user is None:
        raise NotFound(f"No account uses {email.strip()[:320]}")
    now = utcnow()
    await PasswordResetTokenRepository(session).revoke_for_user(user.id, now=now)
    user.password_hash, user.password_changed_at = await hash_password(new_password), now
    await AuthSessionRepository(session).revoke_for_user(user.id, reason="password_reset", now=now)
    await events.record(
        session,
        workspace_id=user.workspace_id,
        user_id=user.id,
        name=catalog.USER_PASSWORD_CHANGED,
        properties={"via": "shell"},
    )
    return user
