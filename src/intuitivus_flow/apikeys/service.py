"""API keys: `ifk_<prefix>_<secret>`. The prefix finds the row; the secret is only kept hashed."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from intuitivus_flow.apikeys.models import ApiKey
from intuitivus_flow.apikeys.repository import ApiKeyLookupRepository, ApiKeyRepository
from intuitivus_flow.auth.principal import Principal
from intuitivus_flow.auth.scopes import Scope
from intuitivus_flow.events import catalog
from intuitivus_flow.events import service as events
from intuitivus_flow.kit.errors import Forbidden, Unauthorized
from intuitivus_flow.kit.models import utcnow
from intuitivus_flow.kit.repository import Page
from intuitivus_flow.kit.security import constant_time_equal, digest, new_secret
from intuitivus_flow.users.models import Role

KEY_MARKER = "ifk"
# Writing last_used_at on every call would turn reads into writes; a minute is precise enough.
LAST_USED_RESOLUTION = timedelta(minutes=1)


@dataclass(frozen=True, slots=True)
class IssuedKey:
    api_key: ApiKey
    secret: str


def looks_like_api_key(credential: str) -> bool:
    return credential.startswith(KEY_MARKER + "_")


async def create(
    session: AsyncSession,
    principal: Principal,
    *,
    name: str,
    scopes: Iterable[Scope],
    expires_in_days: int | None,
) -> IssuedKey:
    _require_key_manager(principal)
    wanted = set(scopes)
    if not wanted <= principal.scopes:
        raise Forbidden("An API key cannot have scopes its creator lacks")
    prefix = secrets.token_hex(6)
    secret = f"{KEY_MARKER}_{prefix}_{new_secret()}"
    now = utcnow()
    api_key = await ApiKeyRepository(session, principal.workspace_id).add(
        ApiKey(
            name=name.strip(),
            prefix=prefix,
            key_hash=digest(secret),
            scopes={"scopes": sorted(scope.value for scope in wanted)},
            created_by_id=principal.user_id,
            expires_at=now + timedelta(days=expires_in_days) if expires_in_days else None,
        )
    )
    await events.record(
        session,
        workspace_id=principal.workspace_id,
        user_id=principal.user_id,
        name=catalog.API_KEY_CREATED,
        properties={"api_key_id": str(api_key.id), "scopes": api_key.scope_list},
    )
    return IssuedKey(api_key, secret)


async def list_keys(
    session: AsyncSession, principal: Principal, *, limit: int, offset: int
) -> Page[ApiKey]:
    _require_key_manager(principal)
    repository = ApiKeyRepository(session, principal.workspace_id)
    return await repository.paginate(repository.listing(), limit=limit, offset=offset)


async def revoke(session: AsyncSession, principal: Principal, key_id: uuid.UUID) -> ApiKey:
    _require_key_manager(principal)
    api_key = await ApiKeyRepository(session, principal.workspace_id).get_or_raise(key_id)
    if api_key.revoked_at is None:
        api_key.revoked_at = utcnow()
        await events.record(
            session,
            workspace_id=principal.workspace_id,
            user_id=principal.user_id,
            name=catalog.API_KEY_REVOKED,
            properties={"api_key_id": str(api_key.id)},
        )
    return api_key


async def principal_from_key(session: AsyncSession, secret: str) -> Principal:
    api_key = await _find_key(session, secret)
    now = utcnow()
    if api_key.revoked_at is not None:
        raise Unauthorized("API key revoked")
    if api_key.expires_at is not None and api_key.expires_at <= now:
        raise Unauthorized("API key expired")
    if api_key.last_used_at is None or now - api_key.last_used_at >= LAST_USED_RESOLUTION:
        api_key.last_used_at = now
    return Principal(
        workspace_id=api_key.workspace_id,
        # Only admins create keys; the key's scopes are what narrows it, and owner-only actions
        # stay with people.
        role=Role.admin,
        scopes=frozenset(Scope(value) for value in api_key.scope_list),
        api_key_id=api_key.id,
    )


async def _find_key(session: AsyncSession, secret: str) -> ApiKey:
    parts = secret.split("_", 2)
    if len(parts) != 3 or parts[0] != KEY_MARKER or len(parts[1]) != 12:
        raise Unauthorized("Malformed API key")
    api_key = await ApiKeyLookupRepository(session).by_prefix(parts[1])
    if api_key is None or not constant_time_equal(api_key.key_hash, digest(secret)):
        raise Unauthorized("Invalid API key")
    return api_key


def _require_key_manager(principal: Principal) -> None:
    principal.require_scope(Scope.api_keys_write)
    principal.require_role(Role.admin)
