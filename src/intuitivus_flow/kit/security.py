"""Password hashing, signed tokens and high-entropy secrets.

Passwords use argon2id (slow on purpose). Refresh tokens and API keys are 256-bit random values,
so a fast SHA-256 digest is enough to store them: there is nothing to brute-force.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

import jwt
from anyio import to_thread
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from intuitivus_flow.kit.errors import Unauthorized
from intuitivus_flow.kit.models import utcnow

JWT_ALGORITHM = "HS256"
JWT_ISSUER = "intuitivus-flow"


class _Hashing:
    """The argon2id hasher in use and a hash to verify unknown accounts against.

    Verifying against the dummy hash keeps unknown-email logins as slow as wrong-password ones.
    """

    def __init__(self, hasher: PasswordHasher) -> None:
        self.hasher = hasher
        self.dummy_hash = hasher.hash("not-a-real-password")


_hashing = _Hashing(PasswordHasher())  # argon2id with the library's current recommended costs


@contextmanager
def password_hasher_in_use(hasher: PasswordHasher) -> Iterator[None]:
    """Hash and verify with `hasher` inside the block.

    The test suite signs up thousands of accounts; at 64 MiB and ~0.2-1.7 s of CPU each, the
    recommended costs were most of its run time. It swaps in a cheap argon2id profile here, and
    the tests about hashing itself keep the real one. Servers never call this.
    """
    global _hashing
    previous, _hashing = _hashing, _Hashing(hasher)
    try:
        yield
    finally:
        _hashing = previous


# argon2 takes about half a second of CPU and 64 MiB by design. It runs in a worker thread
# (argon2's C code releases the GIL) so that a sign-in never stalls every other request on the
# event loop, and at most one hash per core runs at once so a burst of sign-ins queues instead of
# taking a thread pool's worth of memory.
_HASHING_SLOTS = threading.BoundedSemaphore(os.cpu_count() or 1)


async def hash_password(password: str) -> str:
    return await to_thread.run_sync(_hash_password, password)


async def verify_password(password_hash: str | None, password: str) -> bool:
    return await to_thread.run_sync(_verify_password, password_hash, password)


def _hash_password(password: str) -> str:
    with _HASHING_SLOTS:
        return _hashing.hasher.hash(password)


def _verify_password(password_hash: str | None, password: str) -> bool:
    with _HASHING_SLOTS:
        return _check_password(password_hash, password)


def _check_password(password_hash: str | None, password: str) -> bool:
    try:
        return _hashing.hasher.verify(password_hash or _hashing.dummy_hash, password) and bool(
            password_hash
        )
    except (VerificationError, InvalidHashError):
        return False


def password_needs_rehash(password_hash: str) -> bool:
    return _hashing.hasher.check_needs_rehash(password_hash)


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def new_secret(nbytes: int = 32) -> str:
    return secrets.token_urlsafe(nbytes)


def sign(key: str, message: str) -> str:
    return hmac.new(key.encode(), message.encode(), hashlib.sha256).hexdigest()


def constant_time_equal(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


class TokenType(StrEnum):
    access = "access"
    refresh = "refresh"
    web = "web"


@dataclass(frozen=True, slots=True)
class TokenClaims:
    type: TokenType
    user_id: uuid.UUID
    workspace_id: uuid.UUID
    session_id: uuid.UUID
    token_id: uuid.UUID
    expires_at: datetime


class TokenCodec:
    """Issues and checks the JWTs; the `typ` claim keeps each kind to its own use."""

    def __init__(self, key: str) -> None:
        self._key = key

    def encode(
        self,
        kind: TokenType,
        *,
        user_id: uuid.UUID,
        workspace_id: uuid.UUID,
        session_id: uuid.UUID,
        lifetime: timedelta,
        token_id: uuid.UUID | None = None,
    ) -> tuple[str, TokenClaims]:
        now = utcnow()
        claims = TokenClaims(
            type=kind,
            user_id=user_id,
            workspace_id=workspace_id,
            session_id=session_id,
            token_id=token_id or uuid.uuid4(),
            expires_at=now + lifetime,
        )
        payload: dict[str, Any] = {
            "iss": JWT_ISSUER,
            "typ": kind.value,
            "sub": str(user_id),
            "wid": str(workspace_id),
            "sid": str(session_id),
            "jti": str(claims.token_id),
            "iat": now,
            "exp": claims.expires_at,
        }
        return jwt.encode(payload, self._key, algorithm=JWT_ALGORITHM), claims

    def decode(self, token: str, expected: TokenType) -> TokenClaims:
        try:
            payload = jwt.decode(
                token,
                self._key,
                algorithms=[JWT_ALGORITHM],
                issuer=JWT_ISSUER,
                options={"require": ["exp", "iat", "sub", "typ", "jti"]},
            )
            kind = TokenType(payload["typ"])
            claims = TokenClaims(
                type=kind,
                user_id=uuid.UUID(payload["sub"]),
                workspace_id=uuid.UUID(payload["wid"]),
                session_id=uuid.UUID(payload["sid"]),
                token_id=uuid.UUID(payload["jti"]),
                expires_at=datetime.fromtimestamp(payload["exp"], tz=utcnow().tzinfo),
            )
        except jwt.ExpiredSignatureError as exc:
            raise Unauthorized("Token expired") from exc
        except (jwt.PyJWTError, KeyError, ValueError, TypeError) as exc:
            raise Unauthorized("Invalid token") from exc
        if kind is not expected:
            raise Unauthorized(f"A {kind.value} token cannot be used here")
        return claims
