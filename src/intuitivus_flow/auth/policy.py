"""Token lifetimes, signing and throttles, built once from settings and handed to the services."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import timedelta

from intuitivus_flow.config import Settings
from intuitivus_flow.kit.ratelimit import CounterStore, Throttle
from intuitivus_flow.kit.security import TokenCodec


@dataclass(frozen=True, slots=True)
class AuthPolicy:
    codec: TokenCodec
    access_lifetime: timedelta
    refresh_lifetime: timedelta
    web_lifetime: timedelta
    invitation_lifetime: timedelta
    failed_logins_per_account: Throttle
    failed_logins_per_client: Throttle
    failed_password_changes_per_user: Throttle
    signups_per_client: Throttle
    password_reset_lifetime: timedelta
    password_resets_per_account: Throttle
    password_resets_per_client: Throttle
    # Signs the web forms' CSRF tokens (web/csrf.py); derived, so it is never the JWT key.
    csrf_key: bytes
    # FLOW_SIGNUP_REQUIRES_LICENCE: sign-up consumes a licence bought on a payment platform.
    signup_requires_licence: bool = False

    @classmethod
    def from_settings(cls, settings: Settings, store: CounterStore) -> AuthPolicy:
        window = settings.login_failure_window_seconds
        secret = settings.resolved_secret_key()
        return cls(
            codec=TokenCodec(secret),
            access_lifetime=timedelta(minutes=settings.access_token_minutes),
            refresh_lifetime=timedelta(days=settings.refresh_token_days),
            web_lifetime=timedelta(hours=settings.web_session_hours),
            invitation_lifetime=timedelta(days=settings.invitation_days),
            failed_logins_per_account=Throttle(
                store,
                "login-account",
                limit=settings.login_max_failures_per_account,
                window_seconds=window,
            ),
            failed_logins_per_client=Throttle(
                store,
                "login-client",
                limit=settings.login_max_failures_per_client,
                window_seconds=window,
            ),
            failed_password_changes_per_user=Throttle(
                store,
                "password-change-user",
                limit=settings.login_max_failures_per_account,
                window_seconds=window,
            ),
            signups_per_client=Throttle(
                store, "signup-client", limit=settings.register_max_per_client, window_seconds=3600
            ),
            password_reset_lifetime=timedelta(minutes=settings.password_reset_minutes),
            password_resets_per_account=Throttle(
                store,
                "password-reset-account",
                limit=settings.password_reset_max_per_account,
                window_seconds=3600,
            ),
            password_resets_per_client=Throttle(
                store,
                "password-reset-client",
                limit=settings.password_reset_max_per_client,
                window_seconds=3600,
            ),
            csrf_key=_derive_key(secret, purpose="web-csrf"),
            signup_requires_licence=settings.signup_requires_licence,
        )


def _derive_key(secret: str, *, purpose: str) -> bytes:
    return hmac.new(secret.encode(), f"intuitivus-flow:{purpose}".encode(), hashlib.sha256).digest()
