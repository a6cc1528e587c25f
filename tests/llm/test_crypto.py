from __future__ import annotations

import pytest

from intuitivus_flow.kit.crypto import SecretBox, SecretBoxError, derive_key, generate_key, mask


def test_round_trip_and_ciphertext_hides_the_secret() -> None:
    box = SecretBox([generate_key()])
    token = box.encrypt("sk-live-123456")
    assert "sk-live" not in token
    assert box.decrypt(token) == "sk-live-123456"


def test_rotation_keeps_old_values_readable_and_moves_them_to_the_new_key() -> None:
    old, new = generate_key(), generate_key()
    stored = SecretBox([old]).encrypt("provider-key")
    rotating = SecretBox([new, old])
    assert rotating.decrypt(stored) == "provider-key"
    rotated = rotating.rotate(stored)
    assert SecretBox([new]).decrypt(rotated) == "provider-key"
    with pytest.raises(SecretBoxError):
        SecretBox([new]).decrypt(stored)


def test_tampering_is_detected() -> None:
    box = SecretBox([generate_key()])
    token = box.encrypt("x")
    tampered = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    with pytest.raises(SecretBoxError):
        box.decrypt(tampered)


def test_derived_key_is_stable_and_valid() -> None:
    assert derive_key("app-secret") == derive_key("app-secret")
    assert (
        SecretBox([derive_key("app-secret")]).decrypt(
            SecretBox([derive_key("app-secret")]).encrypt("v")
        )
        == "v"
    )


def test_bad_keys_are_refused() -> None:
    with pytest.raises(ValueError, match="Fernet"):
        SecretBox(["not-a-key"])
    with pytest.raises(ValueError, match="at least one"):
        SecretBox([])


def test_mask_shows_only_the_tail() -> None:
    assert mask("sk-abcdefghijkl") == "…ijkl"
    assert mask("short") == "………"
