"""Workspaces' LLM keys (encrypted, prioritised, budgeted) and completions with fallback."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from intuitivus_flow.events import catalog
from intuitivus_flow.events import service as events
from intuitivus_flow.identity.principal import Principal
from intuitivus_flow.identity.roles import Role
from intuitivus_flow.identity.scopes import Scope
from intuitivus_flow.kit.crypto import SecretBox, mask
from intuitivus_flow.kit.errors import InvalidInput
from intuitivus_flow.kit.models import utcnow
from intuitivus_flow.kit.outbound import OutboundPolicy, RefusedURL
from intuitivus_flow.kit.repository import Repository
from intuitivus_flow.llm.fallback import (
    Attempt,
    Candidate,
    Completion,
    NoProviderAvailable,
    complete_with_fallback,
)
from intuitivus_flow.llm.models import LlmUsage, ProviderKey
from intuitivus_flow.llm.pricing import Price, list_price, price_for
from intuitivus_flow.llm.providers import (
    NO_KEY_REASON,
    ChatMessage,
    ChatRequest,
    OfflineProvider,
    ProviderKind,
    build_provider,
)
from intuitivus_flow.llm.repository import ProviderKeyRepository, UsageRepository
from intuitivus_flow.llm.schemas import ProviderKeyCreate, ProviderKeyUpdate
from intuitivus_flow.observability.metrics import get_metrics

OFFLINE_LABEL = "offline"


async def add_key(
    session: AsyncSession,
    principal: Principal,
    *,
    data: ProviderKeyCreate,
    box: SecretBox,
    outbound: OutboundPolicy,
) -> ProviderKey:
    """Store a key. `outbound` is the instance's rule for the addresses a base URL may have:
    a URL that literally names an internal address is refused here (422); host names are
    checked again on every call, when connecting."""
    _require_key_manager(principal)
    base_url = str(data.base_url) if data.base_url else None
    if base_url is not None:
        _check_base_url(base_url, outbound)
    key = ProviderKey(
        provider=data.provider.value,
        label=data.label.strip(),
        base_url=base_url,
        default_model=data.default_model.strip(),
        encrypted_key=box.encrypt(data.api_key),
        key_hint=mask(data.api_key) if data.api_key else "",
        priority=data.priority,
        monthly_token_limit=data.monthly_token_limit,
        monthly_cost_limit_micros=data.monthly_cost_limit_micros,
        prompt_micros_per_million=data.prompt_micros_per_million,
        completion_micros_per_million=data.completion_micros_per_million,
    )
    _check_pricing(key)
    await ProviderKeyRepository(session, principal.workspace_id).add(key)
    await _record(session, principal, catalog.LLM_KEY_ADDED, key)
    return key


async def list_keys(session: AsyncSession, principal: Principal) -> Sequence[ProviderKey]:
    principal.require_scope(Scope.llm_use)
    repository = ProviderKeyRepository(session, principal.workspace_id)
    return await repository.all(repository.by_priority())


async def update_key(
    session: AsyncSession,
    principal: Principal,
    key_id: uuid.UUID,
    *,
    changes: ProviderKeyUpdate,
    box: SecretBox,
) -> ProviderKey:
    _require_key_manager(principal)
    key = await ProviderKeyRepository(session, principal.workspace_id).get_or_raise(key_id)
    fields = changes.model_dump(exclude_unset=True)
    if (secret := fields.pop("api_key", None)) is not None:
        key.encrypted_key, key.key_hint = box.encrypt(secret), mask(secret)
    for name, value in fields.items():
        if value is not None or name in _CLEARABLE:
            setattr(key, name, value)
    if fields.keys() & _PRICING_FIELDS:  # pausing a key must not depend on its prices
        _check_pricing(key)
    await _record(
        session,
        principal,
        catalog.LLM_KEY_UPDATED,
        key,
        changed=sorted(changes.model_dump(exclude_unset=True)),
    )
    return key


async def remove_key(session: AsyncSession, principal: Principal, key_id: uuid.UUID) -> None:
    _require_key_manager(principal)
    repository = ProviderKeyRepository(session, principal.workspace_id)
    key = await repository.get_or_raise(key_id)
    await _record(session, principal, catalog.LLM_KEY_REMOVED, key)
    await repository.delete(key)


async def complete(
    session: AsyncSession,
    principal: Principal,
    *,
    request: ChatRequest,
    box: SecretBox,
    outbound: OutboundPolicy,
    provider: ProviderKind | None = None,
) -> tuple[Completion, int]:
    """Answer with the first provider (by priority) that is within budget and works.

    `provider` restricts the choice to that vendor's keys (an agent bound to one vendor);
    `outbound` is the instance's rule for the addresses providers may be reached at.
    Returns the completion and its cost in micro-USD. Every attempt is recorded as usage;
    with no usable key the clearly labelled offline provider answers.
    """
    principal.require_scope(Scope.llm_use)
    active = await _active_keys(session, principal.workspace_id)
    keys = [key for key in active if provider is None or key.provider == provider.value]
    candidates = [_candidate(key, request.model, box, outbound) for key in keys] or [
        Candidate(
            OfflineProvider(await _offline_reason(session, principal, provider, active)),
            OfflineProvider.model,
            OFFLINE_LABEL,
        )
    ]
    usage = UsageRepository(session, principal.workspace_id)
    by_id = {key.id: key for key in keys}
    month_start = _month_start(utcnow())

    async def over_budget(candidate: Candidate) -> str | None:
        key = by_id.get(candidate.key_id) if candidate.key_id else None
        if key is None:
            return None
        return await _budget_problem(usage, key, candidate.model, month_start)

    try:
        completion = await complete_with_fallback(candidates, request, skip_reason=over_budget)
    except NoProviderAvailable as failure:
        await _record_failed_attempts(usage, by_id, failure.attempts)
        raise
    await _record_failed_attempts(usage, by_id, completion.attempts[:-1])
    cost = await _record_success(usage, completion, by_id)
    _count_tokens(completion)
    await events.record(
        session,
        workspace_id=principal.workspace_id,
        user_id=principal.user_id,
        name=catalog.LLM_COMPLETED,
        properties={
            "provider": completion.candidate.label,
            "model": completion.result.model,
            "tokens": completion.result.total_tokens,
            "fallbacks": len(completion.attempts) - 1,
            "actor": principal.actor,  # a job's completion shows as the system's
        },
    )
    return completion, cost


async def usage_since(
    session: AsyncSession, principal: Principal, since: datetime
) -> list[tuple[str, str, int, int, int]]:
    principal.require_scope(Scope.llm_use)
    return await UsageRepository(session, principal.workspace_id).summary_since(since)


class _AllProviderKeys(Repository[ProviderKey]):
    """Every workspace's keys: only for the instance-wide re-encryption maintenance task."""

    model = ProviderKey


async def rotate_encryption(session: AsyncSession, box: SecretBox) -> int:
    """Re-encrypt every stored provider key under the current (first) encryption key."""
    repository = _AllProviderKeys(session)
    keys = await repository.all(repository.scoped())
    for key in keys:
        key.encrypted_key = box.rotate(key.encrypted_key)
    await session.flush()
    return len(keys)


def _month_start(now: datetime) -> datetime:
    return now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


async def _offline_reason(
    session: AsyncSession,
    principal: Principal,
    provider: ProviderKind | None,
    active: Sequence[ProviderKey],
) -> str:
    """Why the offline provider answers, in words that are true for this workspace (the
    caller is an agent, a crew step or a direct API call, so the words name none of them)."""
    if provider is ProviderKind.offline:
        return "The offline provider was chosen rather than the workspace's LLM keys"
    if provider is not None and active:
        name = provider.value
        return f"Only {name} keys may answer and the workspace has no active {name} key"
    repository = ProviderKeyRepository(session, principal.workspace_id)
    if await repository.count(repository.by_priority(active_only=False)):
        return "Every LLM key of this workspace is paused"
    if provider is not None:
        return f"No {provider.value} key is configured for this workspace"
    return NO_KEY_REASON


async def _active_keys(session: AsyncSession, workspace_id: uuid.UUID) -> Sequence[ProviderKey]:
    repository = ProviderKeyRepository(session, workspace_id)
    return await repository.all(repository.by_priority(active_only=True))


def _candidate(key: ProviderKey, model: str, box: SecretBox, outbound: OutboundPolicy) -> Candidate:
    provider = build_provider(
        ProviderKind(key.provider),
        api_key=box.decrypt(key.encrypted_key),
        base_url=key.base_url,
        outbound=outbound,
    )
    return Candidate(provider, model or key.default_model, f"{key.provider}:{key.label}", key.id)


# Update fields whose null means "none" (no limit, no own price) rather than "unchanged".
_CLEARABLE = frozenset(
    {
        "monthly_token_limit",
        "monthly_cost_limit_micros",
        "prompt_micros_per_million",
        "completion_micros_per_million",
    }
)


_PRICING_FIELDS = frozenset(
    {
        "default_model",
        "monthly_cost_limit_micros",
        "prompt_micros_per_million",
        "completion_micros_per_million",
    }
)


def _check_base_url(base_url: str, outbound: OutboundPolicy) -> None:
    try:
        outbound.check_url(base_url)
    except RefusedURL as refused:
        raise InvalidInput(
            f"base_url: {refused}", errors=[{"field": "body.base_url", "msg": str(refused)}]
        ) from None


def _key_price(key: ProviderKey) -> Price | None:
    prompt, completion = key.prompt_micros_per_million, key.completion_micros_per_million
    if prompt is None or completion is None:
        return None
    return Price.from_micros_per_million(prompt, completion)


def _check_pricing(key: ProviderKey) -> None:
    """A key's own price is whole (both token kinds), and a cost limit has a price to count."""
    prompt, completion = key.prompt_micros_per_million, key.completion_micros_per_million
    if (prompt is None) != (completion is None):
        raise InvalidInput(
            "Set both prompt_micros_per_million and completion_micros_per_million, or neither",
            errors=[{"field": "body.prompt_micros_per_million", "msg": "set both or neither"}],
        )
    limited = key.monthly_cost_limit_micros is not None
    if limited and price_for(key.default_model, _key_price(key)) is None:
        raise InvalidInput(
            f"There is no list price for {key.default_model!r}, so a cost limit cannot be "
            "kept: set this key's prompt_micros_per_million and "
            "completion_micros_per_million",
            errors=[{"field": "body.monthly_cost_limit_micros", "msg": "model has no price"}],
        )


async def _budget_problem(
    usage: UsageRepository, key: ProviderKey, model: str, since: datetime
) -> str | None:
    if key.monthly_token_limit is None and key.monthly_cost_limit_micros is None:
        return None
    if key.monthly_cost_limit_micros is not None and price_for(model, _key_price(key)) is None:
        # Counting an unpriced model as free would let any call through the cost limit.
        return "unpriced_model"
    tokens, cost = await usage.month_totals(key.id, since)
    if key.monthly_token_limit is not None and tokens >= key.monthly_token_limit:
        return "monthly_token_limit"
    if key.monthly_cost_limit_micros is not None and cost >= key.monthly_cost_limit_micros:
        return "monthly_cost_limit"
    return None


async def _record_failed_attempts(
    usage: UsageRepository, keys: dict[uuid.UUID, ProviderKey], attempts: Sequence[Attempt]
) -> None:
    rows = [
        LlmUsage(
            key_id=a.key_id,
            provider=keys[a.key_id].provider,
            model=keys[a.key_id].default_model,
            outcome=a.outcome,
        )
        for a in attempts
        if a.key_id in keys and a.outcome != "ok"
    ]
    if rows:
        await usage.add_many(rows)


async def _record_success(
    usage: UsageRepository, completion: Completion, keys: dict[uuid.UUID, ProviderKey]
) -> int:
    result, candidate = completion.result, completion.candidate
    key = keys.get(candidate.key_id) if candidate.key_id else None
    provider = key.provider if key is not None else OFFLINE_LABEL
    cost = _cost(key, candidate.model, result.model, result.prompt_tokens, result.completion_tokens)
    await usage.add(
        LlmUsage(
            key_id=candidate.key_id,
            provider=provider,
            model=result.model,
            outcome="ok",
            prompt_tokens=result.prompt_tokens,
            completion_tokens=result.completion_tokens,
            cost_micros=cost,
            latency_ms=round(result.latency_ms),
        )
    )
    return cost


def _cost(
    key: ProviderKey | None, asked: str, answered: str, prompt_tokens: int, completion_tokens: int
) -> int:
    """Micro-USD of one call: the key's own price, else the list price of the model that
    answered (a dated snapshot), else of the model asked for. The offline provider is free;
    an unpriced model on a key without a cost limit is recorded at 0 (see pricing.py)."""
    if key is None:
        return 0
    own = _key_price(key)
    price = own or list_price(answered) or list_price(asked)
    return price.cost_micros(prompt_tokens, completion_tokens) if price else 0


async def _record(
    session: AsyncSession, principal: Principal, name: str, key: ProviderKey, **extra: object
) -> None:
    await events.record(
        session,
        workspace_id=principal.workspace_id,
        user_id=principal.user_id,
        name=name,
        properties={"key_id": str(key.id), "provider": key.provider, **extra},
    )


def _count_tokens(completion: Completion) -> None:
    provider = completion.candidate.label.split(":", 1)[0]
    tokens = get_metrics().llm_tokens_total
    tokens.labels(provider=provider, kind="prompt").inc(completion.result.prompt_tokens)
    tokens.labels(provider=provider, kind="completion").inc(completion.result.completion_tokens)


def _require_key_manager(principal: Principal) -> None:
    principal.require_scope(Scope.llm_keys_write)
    principal.require_role(Role.admin)


def as_request(
    messages: Sequence[tuple[str, str]],
    *,
    system: str,
    model: str | None,
    temperature: float,
    max_tokens: int,
) -> ChatRequest:
    return ChatRequest(
        model=model or "",
        messages=[ChatMessage(role, content) for role, content in messages],
        system=system,
        temperature=temperature,
        max_tokens=max_tokens,
    )
