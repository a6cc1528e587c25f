"""Chat-completion adapters for the LLM vendors, over their real HTTP APIs (httpx).

Every adapter turns the vendor's wire format into `ChatResult` and its failures into
`ProviderError`s that say whether trying the next provider makes sense (`retryable`).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol
from urllib.parse import quote

import httpx

from intuitivus_flow.kit.outbound import OutboundPolicy, RefusedAddress

DEFAULT_TIMEOUT = httpx.Timeout(60.0, connect=5.0)
ANTHROPIC_VERSION = "2023-06-01"
# What a vendor's answer may carry into our tables: `llm_usage.model` is String(120) and the
# token columns are 32-bit integers; anything beyond is a broken or hostile server.
MAX_MODEL_LENGTH = 120
MAX_TOKEN_COUNT = 2**31 - 1


class ProviderKind(StrEnum):
    openai = "openai"
    anthropic = "anthropic"
    google = "google"
    openai_compatible = "openai_compatible"  # Ollama, vLLM, LM Studio, ...
    offline = "offline"


DEFAULT_BASE_URLS = {
    ProviderKind.openai: "https://api.openai.com",
    ProviderKind.anthropic: "https://api.anthropic.com",
    ProviderKind.google: "https://generativelanguage.googleapis.com",
}


@dataclass(frozen=True, slots=True)
class ChatMessage:
    role: str  # "user" or "assistant"
    content: str


@dataclass(frozen=True, slots=True)
class ChatRequest:
    model: str
    messages: Sequence[ChatMessage]
    system: str = ""
    temperature: float = 0.7
    max_tokens: int = 1024


@dataclass(frozen=True, slots=True)
class ChatResult:
    text: str
    model: str
    prompt_tokens: int
    completion_tokens: int
    latency_ms: float
    finish_reason: str = "stop"
    raw_id: str = ""

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


class ProviderError(Exception):
    """A provider call failed. `retryable` means another provider may well succeed."""

    retryable = True
    reason = "error"

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class ProviderTimeout(ProviderError):
    reason = "timeout"


class ProviderUnavailable(ProviderError):
    reason = "unavailable"  # 5xx, overloaded, connection refused


class ProviderQuotaExceeded(ProviderError):
    reason = "quota"  # 429 / quota: this key is out, another may not be


class ProviderRejected(ProviderError):
    """The request itself is wrong (bad model, bad key): the next provider gets the same
    request, so it is still worth trying, but the key needs attention."""

    reason = "rejected"


class ProviderAddressRefused(ProviderError):
    """The provider's URL leads to an address this instance does not connect to (its own
    network, unless the operator allowed it): see `kit/outbound.py`."""

    reason = "address_refused"


class ChatProvider(Protocol):
    kind: ProviderKind

    async def complete(self, request: ChatRequest) -> ChatResult: ...


@dataclass
class _HttpAdapter:
    api_key: str
    base_url: str
    # Every call connects through this rule, vendors' URLs included (kit/outbound.py).
    outbound: OutboundPolicy
    timeout: httpx.Timeout = field(default_factory=lambda: DEFAULT_TIMEOUT)

    async def _post(
        self, path: str, *, headers: dict[str, str], body: dict[str, Any]
    ) -> tuple[dict[str, Any], float]:
        _check_key_fits_a_header(self.api_key)
        started = time.perf_counter()
        url = self.base_url.rstrip("/") + path
        try:
            async with self.outbound.client(timeout=self.timeout) as client:
                response = await client.post(url, headers=headers, json=body)
        except RefusedAddress as exc:
            raise ProviderAddressRefused(str(exc)) from exc
        except httpx.TimeoutException as exc:
            raise ProviderTimeout(f"timed out calling {path}") from exc
        except httpx.TransportError as exc:
            raise ProviderUnavailable(f"cannot reach provider: {type(exc).__name__}") from exc
        latency_ms = (time.perf_counter() - started) * 1000
        _raise_for_status(response)
        try:
            payload = response.json()
        except ValueError as exc:
            raise ProviderUnavailable("provider answered with invalid JSON") from exc
        if not isinstance(payload, dict):
            raise ProviderUnavailable("provider answered with JSON that is not an object")
        return payload, latency_ms


def _check_key_fits_a_header(api_key: str) -> None:
    # HTTP header values are ASCII: a key stored before keys were validated (or pasted with a
    # stray character) must fail this key's call clearly, not crash the request or agent task.
    if not (api_key.isascii() and api_key.isprintable()):
        raise ProviderRejected(
            "the stored API key has characters an HTTP header cannot carry; replace the key"
        )


def _raise_for_status(response: httpx.Response) -> None:
    status = response.status_code
    if response.is_redirect:
        # Not followed: a redirect could lead anywhere, and vendors' APIs do not redirect.
        raise ProviderRejected(
            f"provider answered with a redirect ({status}); use the final URL as base URL",
            status=status,
        )
    if status < 400:
        return
    detail = _error_message(response)
    if status == 429 or "quota" in detail.lower():
        raise ProviderQuotaExceeded(f"quota or rate limit: {detail}", status=status)
    if status >= 500:
        raise ProviderUnavailable(f"provider error {status}: {detail}", status=status)
    raise ProviderRejected(f"request rejected ({status}): {detail}", status=status)


def _error_message(response: httpx.Response) -> str:
    try:
        payload = response.json()
    except ValueError:
        return response.text[:200]
    error = payload.get("error", {}) if isinstance(payload, dict) else payload
    if isinstance(error, dict):
        return str(error.get("message") or error.get("type") or error)[:200]
    return str(error)[:200]


class OpenAIProvider(_HttpAdapter):
    """OpenAI Chat Completions; also any OpenAI-compatible server (Ollama, vLLM, LM Studio)."""

    kind = ProviderKind.openai

    async def complete(self, request: ChatRequest) -> ChatResult:
        messages = [{"role": "system", "content": request.system}] if request.system else []
        messages += [{"role": m.role, "content": m.content} for m in request.messages]
        body = {
            "model": request.model,
            "messages": messages,
            "temperature": request.temperature,
            "max_tokens": request.max_tokens,
        }
        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        payload, latency = await self._post("/v1/chat/completions", headers=headers, body=body)
        try:
            choice = payload["choices"][0]
            usage = payload.get("usage") or {}
            return ChatResult(
                text=_text(choice["message"]["content"]),
                model=_model_name(payload.get("model"), request.model),
                prompt_tokens=_token_count(usage.get("prompt_tokens")),
                completion_tokens=_token_count(usage.get("completion_tokens")),
                latency_ms=latency,
                finish_reason=_text(choice.get("finish_reason") or "stop"),
                raw_id=_text(payload.get("id")),
            )
        except (KeyError, IndexError, TypeError, ValueError, AttributeError) as exc:
            raise ProviderUnavailable("unexpected response shape from OpenAI API") from exc


class OpenAICompatibleProvider(OpenAIProvider):
    kind = ProviderKind.openai_compatible


class AnthropicProvider(_HttpAdapter):
    """Anthropic Messages API."""

    kind = ProviderKind.anthropic

    async def complete(self, request: ChatRequest) -> ChatResult:
        body: dict[str, Any] = {
            "model": request.model,
            "max_tokens": request.max_tokens,
            "temperature": request.temperature,
            "messages": [{"role": m.role, "content": m.content} for m in request.messages],
        }
        if request.system:
            body["system"] = request.system
        headers = {"x-api-key": self.api_key, "anthropic-version": ANTHROPIC_VERSION}
        payload, latency = await self._post("/v1/messages", headers=headers, body=body)
        try:
            text = "".join(
                _text(part.get("text")) for part in payload["content"] if part.get("type") == "text"
            )
            usage = payload.get("usage") or {}
            return ChatResult(
                text=text,
                model=_model_name(payload.get("model"), request.model),
                prompt_tokens=_token_count(usage.get("input_tokens")),
                completion_tokens=_token_count(usage.get("output_tokens")),
                latency_ms=latency,
                finish_reason=_text(payload.get("stop_reason") or "end_turn"),
                raw_id=_text(payload.get("id")),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ProviderUnavailable("unexpected response shape from Anthropic API") from exc


class GoogleProvider(_HttpAdapter):
    """Google Gemini `generateContent`."""

    kind = ProviderKind.google

    async def complete(self, request: ChatRequest) -> ChatResult:
        body: dict[str, Any] = {
            "contents": [
                {
                    "role": "model" if m.role == "assistant" else "user",
                    "parts": [{"text": m.content}],
                }
                for m in request.messages
            ],
            "generationConfig": {
                "temperature": request.temperature,
                "maxOutputTokens": request.max_tokens,
            },
        }
        if request.system:
            body["systemInstruction"] = {"parts": [{"text": request.system}]}
        headers = {"x-goog-api-key": self.api_key}
        # The model name is the caller's text: quoted, so it cannot climb out of the path.
        path = f"/v1beta/models/{quote(request.model, safe='')}:generateContent"
        payload, latency = await self._post(path, headers=headers, body=body)
        try:
            candidate = payload["candidates"][0]
            usage = payload.get("usageMetadata") or {}
            return ChatResult(
                text="".join(_text(part.get("text")) for part in candidate["content"]["parts"]),
                model=request.model,
                prompt_tokens=_token_count(usage.get("promptTokenCount")),
                completion_tokens=_token_count(usage.get("candidatesTokenCount")),
                latency_ms=latency,
                finish_reason=_text(candidate.get("finishReason", "STOP")).lower(),
            )
        except (KeyError, IndexError, TypeError, ValueError, AttributeError) as exc:
            raise ProviderUnavailable("unexpected response shape from Gemini API") from exc


NO_KEY_REASON = "No LLM key is configured for this workspace"


class OfflineProvider:
    """Deterministic answers with no network, so the product can be tried with nothing
    configured. Every reply says it is offline; it never pretends to be a real model."""

    kind = ProviderKind.offline
    model = "offline-echo-1"

    def __init__(self, reason: str = NO_KEY_REASON) -> None:
        # Why no real model answers, said in the reply: it must be true (issue 17: an agent
        # bound to "offline" said no key was configured while the workspace had one).
        self.reason = reason

    async def complete(self, request: ChatRequest) -> ChatResult:
        last = request.messages[-1].content if request.messages else ""
        digest = hashlib.sha256(f"{request.system}\n{last}".encode()).hexdigest()[:8]
        text = (
            f"[offline provider {digest}] {self.reason}, so this is a canned reply. "
            f"You said: {last[:200]}"
        )
        return ChatResult(
            text=text,
            model=self.model,
            prompt_tokens=_rough_tokens(request.system)
            + sum(_rough_tokens(m.content) for m in request.messages),
            completion_tokens=_rough_tokens(text),
            latency_ms=0.0,
        )


def _text(value: object) -> str:
    # PostgreSQL text cannot hold NUL, and answers end up stored (tasks, messages).
    return str(value).replace("\x00", "") if value is not None else ""


def _model_name(value: object, requested: str) -> str:
    name = _text(value)[:MAX_MODEL_LENGTH]
    return name or requested


def _token_count(value: Any) -> int:
    count = int(value or 0)
    if not 0 <= count <= MAX_TOKEN_COUNT:
        raise ValueError(f"implausible token count {count}")
    return count


def _rough_tokens(text: str) -> int:
    # About four characters per token for English-like text; good enough for offline budgets.
    return max(1, len(text) // 4) if text else 0


def build_provider(
    kind: ProviderKind, *, api_key: str, base_url: str | None, outbound: OutboundPolicy
) -> ChatProvider:
    if kind is ProviderKind.offline:
        return OfflineProvider()
    if kind is ProviderKind.openai_compatible and not base_url:
        raise ValueError("an OpenAI-compatible provider needs a base URL")
    url = base_url or DEFAULT_BASE_URLS[kind]
    adapters: dict[ProviderKind, type[_HttpAdapter]] = {
        ProviderKind.openai: OpenAIProvider,
        ProviderKind.openai_compatible: OpenAICompatibleProvider,
        ProviderKind.anthropic: AnthropicProvider,
        ProviderKind.google: GoogleProvider,
    }
    # The adapters satisfy ChatProvider structurally; mypy cannot see `kind` on the base.
    return adapters[kind](api_key=api_key, base_url=url, outbound=outbound)  # type: ignore[return-value]
