"""Who sends a request: a bearer access token or an API key, through the principal cache."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from intuitivus_flow.apikeys import service as api_keys
from intuitivus_flow.auth import service as auth
from intuitivus_flow.auth.policy import AuthPolicy
from intuitivus_flow.auth.principal_cache import PrincipalCache
from intuitivus_flow.identity.principal import Principal
from intuitivus_flow.kit.db import LazyUnitOfWork
from intuitivus_flow.kit.errors import Unauthorized
from intuitivus_flow.kit.security import TokenClaims, TokenType, digest


async def principal_for_credential(
    work: LazyUnitOfWork, credential: str, *, policy: AuthPolicy, cache: PrincipalCache
) -> Principal:
    """The principal of an access token or API key; the database is read only when the cache
    has no current answer (the request's session is then constructed; else it needs none)."""
    if api_keys.looks_like_api_key(credential):
        return await _key_principal(work, credential, cache)
    claims = cache.tokens.claims(credential, _access_decoder(policy))

    async def load() -> tuple[Principal, datetime]:
        return await auth.session_principal(work.session, claims)

    principal = await cache.principal(
        f"session:{claims.session_id}", load, workspace_id=claims.workspace_id, info=work.info
    )
    if principal.user_id != claims.user_id:
        raise Unauthorized("Invalid token")
    return principal


def _access_decoder(policy: AuthPolicy) -> Callable[[str], TokenClaims]:
    def decode(token: str) -> TokenClaims:
        return policy.codec.decode(token, TokenType.access)

    return decode


async def _key_principal(work: LazyUnitOfWork, secret: str, cache: PrincipalCache) -> Principal:
    async def load() -> tuple[Principal, datetime]:
        checked = await api_keys.check_key(work.session, secret)
        return checked.principal, checked.reusable_until

    # Keyed by the whole secret's digest: a wrong secret with a known prefix never hits.
    return await cache.principal(f"key:{digest(secret)}", load, info=work.info)
