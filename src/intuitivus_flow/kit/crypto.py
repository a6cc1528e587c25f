"""Authenticated encryption of secrets at rest (LLM provider keys, webhook secrets).

Fernet is AES-128-CBC + HMAC-SHA256 with a timestamp: authenticated, versioned and boring, which
is what a secret store wants. `MultiFernet` gives key rotation: the first key encrypts, every key
decrypts, and `rotate` re-encrypts a value under the first key.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

_DERIVATION_INFO = b"intuitivus-flow/secret-box/v1"


class SecretBoxError(ValueError):
    """A value cannot be decrypted with any configured key (wrong key or tampered data)."""


def derive_key(secret: str) -> str:
    """A Fernet key derived from the application secret, for installs with no explicit key."""
    raw = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_DERIVATION_INFO).derive(
        secret.encode()
    )
    return base64.urlsafe_b64encode(raw).decode()


def generate_key() -> str:
    return Fernet.generate_key().decode()


class SecretBox:
    """Encrypts with the first key; decrypts with any. Keys are Fernet keys (urlsafe base64)."""

    def __init__(self, keys: Sequence[str]) -> None:
        if not keys:
            raise ValueError("SecretBox needs at least one key")
        try:
            self._fernet = MultiFernet([Fernet(key.encode()) for key in keys])
        except (ValueError, TypeError) as exc:
            raise ValueError("encryption keys must be 32-byte urlsafe base64 Fernet keys") from exc

    def encrypt(self, plaintext: str) -> str:
        return self._fernet.encrypt(plaintext.encode()).decode()

    def decrypt(self, token: str) -> str:
        try:
            return self._fernet.decrypt(token.encode()).decode()
        except InvalidToken as exc:
            raise SecretBoxError("cannot decrypt: unknown key or tampered value") from exc

    def rotate(self, token: str) -> str:
        """The same secret, re-encrypted under the current (first) key."""
        try:
            return self._fernet.rotate(token.encode()).decode()
        except InvalidToken as exc:
            raise SecretBoxError("cannot rotate: unknown key or tampered value") from exc


def mask(secret: str, visible: int = 4) -> str:
    """What the API shows of a stored secret: its last characters only."""
    if len(secret) <= visible * 2:
        return "…" * 3
    return "…" + secret[-visible:]
