"""Try providers in priority order until one answers; record every attempt.

A provider that times out, fails (5xx), is out of quota or over its monthly budget is skipped
and the next one is tried. The attempts are returned, so callers can store and show them.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

from intuitivus_flow.kit.errors import FlowError
from intuitivus_flow.llm.providers import ChatProvider, ChatRequest, ChatResult, ProviderError


@dataclass(frozen=True, slots=True)
class Candidate:
    provider: ChatProvider
    model: str
    label: str
    key_id: uuid.UUID | None = None


@dataclass(frozen=True, slots=True)
class Attempt:
    label: str
    outcome: str  # "ok", "skipped:<why>" or the ProviderError reason
    detail: str = ""
    key_id: uuid.UUID | None = None


@dataclass(frozen=True, slots=True)
class Completion:
    result: ChatResult
    candidate: Candidate
    attempts: list[Attempt] = field(default_factory=list)


class NoProviderAvailable(FlowError):
    status_code = 503
    type = "llm-unavailable"
    title = "No LLM provider could answer"
    # The failed attempts are recorded as usage; that record must survive the error.
    keeps_work = True

    def __init__(self, attempts: Sequence[Attempt]) -> None:
        summary = "; ".join(f"{a.label}: {a.outcome}" for a in attempts) or "none configured"
        super().__init__(
            f"Every provider failed ({summary})",
            attempts=[{"provider": a.label, "outcome": a.outcome} for a in attempts],
        )
        self.attempts = list(attempts)


SkipCheck = Callable[[Candidate], Awaitable[str | None]]


async def _never_skip(_: Candidate) -> str | None:
    return None


async def complete_with_fallback(
    candidates: Sequence[Candidate],
    request: ChatRequest,
    *,
    skip_reason: SkipCheck = _never_skip,
) -> Completion:
    attempts: list[Attempt] = []
    for candidate in candidates:
        reason = await skip_reason(candidate)
        if reason:
            attempts.append(Attempt(candidate.label, f"skipped:{reason}", key_id=candidate.key_id))
            continue
        try:
            result = await candidate.provider.complete(_for_model(request, candidate.model))
        except ProviderError as error:
            attempts.append(
                Attempt(candidate.label, error.reason, str(error)[:300], key_id=candidate.key_id)
            )
            continue
        attempts.append(Attempt(candidate.label, "ok", key_id=candidate.key_id))
        return Completion(result, candidate, attempts)
    raise NoProviderAvailable(attempts)


def _for_model(request: ChatRequest, model: str) -> ChatRequest:
    if request.model == model:
        return request
    return ChatRequest(
        model=model,
        messages=request.messages,
        system=request.system,
        temperature=request.temperature,
        max_tokens=request.max_tokens,
    )
