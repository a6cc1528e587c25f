"""API keys: `ifk_<prefix>_<secret>`. The prefix finds the row; the secret is only kept hashed.

A key acts for the member who created it, never beyond them: on every request it gets that
member's *current* role (capped at admin: owner-only actions stay with people) and the key's
own scopes narrowed to that role's. When the member is deactivated, deleted or moved out of the
workspace, the key stops working. Keys created with a key belong to the same member.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from intuitivus_flow.apikeys.models import ApiKey
from intuitivus_flow.apikeys.repository import ApiKeyLookupRepository, ApiKeyRepository
from intuitivus_flow.events import catalog
from intuitivus_flow.events import service as events
from intuitivus_flow.identity.principal import Principal
from intuitivus_flow.identity.roles import Role
from intuitivus_flow.identity.scopes import ROLE_SCOPES, Scope
from intuitivus_flow.kit.errors import Forbidden, Unauthorized
from intuitivus_flow.kit.models import utcnow
from intuitivus_flow.kit.repository import Page
from intuitivus_flow.kit.security import constant_time_equal, digest, new_secret
from intuitivus_flow.users.models import User

KEY_MARKER = "ifk"
# Writing last_used_at on every call would turn reads into writes; a minute is precise enough.
LAST_USED_RESOLUTION = timedelta(minutes=1)
# The highest role a key can act with, even for an owner: owner-only actions stay with people.
MAX_KEY_ROLE = Role.admin


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
            created_by_id=principal.user_id or principal.key_creator_id,
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
    return (await check_key(session, secret)).principal


@dataclass(frozen=True, slots=True)
class CheckedKey:
    principal: Principal
    # Until when this check may be reused: the key's expiry, and the next `last_used_at` write.
    reusable_until: datetime


async def check_key(session: AsyncSession, secret: str) -> CheckedKey:
    api_key, creator = await _find_key(session, secret)
    now = utcnow()
    if api_key.revoked_at is not None:
        raise Unauthorized("API key revoked")
    if api_key.expires_at is not None and api_key.expires_at <= now:
        raise Unauthorized("API key expired")
    creator = _require_live_creator(api_key, creator)
    if api_key.last_used_at is None or now - api_key.last_used_at >= LAST_USED_RESOLUTION:
        api_key.last_used_at = now
    role = _key_role(creator.role)
    principal = Principal(
        workspace_id=api_key.workspace_id,
        role=role,
        scopes=_key_scopes(api_key, role),
        api_key_id=api_key.id,
        key_creator_id=creator.id,
    )
    reusable_until = api_key.last_used_at + LAST_USED_RESOLUTION
    if api_key.expires_at is not None:
        reusable_until = min(reusable_until, api_key.expires_at)
    return CheckedKey(principal, reusable_until)


async def _find_key(session: AsyncSession, secret: str) -> tuple[ApiKey, User | None]:
    parts = secret.split("_", 2)
    if len(parts) != 3 or parts[0] != KEY_MARKER or len(parts[1]) != 12:
        raise Unauthorized("Malformed API key")
    found = await ApiKeyLookupRepository(session).by_prefix_with_creator(parts[1])
    if found is None or not constant_time_equal(found[0].key_hash, digest(secret)):
        raise Unauthorized("Invalid API key")
    return found


def _require_live_creator(api_key: ApiKey, creator: User | None) -> User:
    """A key is only as alive as the member it acts for."""
    if creator is None or not creator.active or creator.workspace_id != api_key.workspace_id:
        raise Unauthorized("The member who created this API key is no longer active")
    return creator


def _key_role(creator_role: Role) -> Role:
    return creator_role if creator_role.rank <= MAX_KEY_ROLE.rank else MAX_KEY_ROLE


def _key_scopes(api_key: ApiKey, role: Role) -> frozenset[Scope]:
    """The key's chosen scopes that its creator's current role still grants: a demoted
    creator's key loses the admin scopes it was made with. Scopes dropped from the product
    since the key was made are ignored rather than failing every request."""
    known = {scope.value for scope in Scope}
    chosen = frozenset(Scope(value) for value in api_key.scope_list if value in known)
    return chosen & ROLE_SCOPES[role]


def _require_key_manager(principal: Principal) -> None:
    principal.require_scope(Scope.api_keys_write)
    principal.require_role(Role.admin)
