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

import httpx

DEFAULT_TIMEOUT = httpx.Timeout(60.0, connect=5.0)
ANTHROPIC_VERSION = "2023-06-01"


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


class ChatProvider(Protocol):
    kind: ProviderKind

    async def complete(self, request: ChatRequest) -> ChatResult: ...


@dataclass
class _HttpAdapter:
    api_key: str
    base_url: str
    client: httpx.AsyncClient | None = None
    timeout: httpx.Timeout = field(default_factory=lambda: DEFAULT_TIMEOUT)

    async def _post(
        self,
        path: str,
        *,
        headers: dict[str, str],
        body: dict[str, Any],
        params: dict[str, str] | None = None,
    ) -> tuple[dict[str, Any], float]:
        started = time.perf_counter()
        url = self.base_url.rstrip("/") + path
        try:
            if self.client is not None:
                response = await self.client.post(
                    url, headers=headers, json=body, params=params, timeout=self.timeout
                )
            else:
                async with httpx.AsyncClient(timeout=self.timeout) as client:
                    response = await client.post(url, headers=headers, json=body, params=params)
        except httpx.TimeoutException as exc:
            raise ProviderTimeout(f"timed out calling {path}") from exc
        except httpx.TransportError as exc:
            raise ProviderUnavailable(f"cannot reach provider: {type(exc).__name__}") from exc
        latency_ms = (time.perf_counter() - started) * 1000
        _raise_for_status(response)
        try:
            payload: dict[str, Any] = response.json()
        except ValueError as exc:
            raise ProviderUnavailable("provider answered with invalid JSON") from exc
        return payload, latency_ms


def _raise_for_status(response: httpx.Response) -> None:
    status = response.status_code
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
        error = response.json().get("error", {})
    except ValueError:
        return response.text[:200]
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
                text=choice["message"]["content"] or "",
                model=payload.get("model", request.model),
                prompt_tokens=int(usage.get("prompt_tokens", 0)),
                completion_tokens=int(usage.get("completion_tokens", 0)),
                latency_ms=latency,
                finish_reason=choice.get("finish_reason") or "stop",
                raw_id=str(payload.get("id", "")),
            )
        except (KeyError, IndexError, TypeError, ValueError) as exc:
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
                part.get("text", "") for part in payload["content"] if part.get("type") == "text"
            )
            usage = payload.get("usage") or {}
            return ChatResult(
                text=text,
                model=payload.get("model", request.model),
                prompt_tokens=int(usage.get("input_tokens", 0)),
                completion_tokens=int(usage.get("output_tokens", 0)),
                latency_ms=latency,
                finish_reason=payload.get("stop_reason") or "end_turn",
                raw_id=str(payload.get("id", "")),
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
        path = f"/v1beta/models/{request.model}:generateContent"
        payload, latency = await self._post(path, headers=headers, body=body)
        try:
            candidate = payload["candidates"][0]
            usage = payload.get("usageMetadata") or {}
            return ChatResult(
                text="".join(part.get("text", "") for part in candidate["content"]["parts"]),
                model=request.model,
                prompt_tokens=int(usage.get("promptTokenCount", 0)),
                completion_tokens=int(usage.get("candidatesTokenCount", 0)),
                latency_ms=latency,
                finish_reason=str(candidate.get("finishReason", "STOP")).lower(),
            )
        except (KeyError, IndexError, TypeError, ValueError) as exc:
            raise ProviderUnavailable("unexpected response shape from Gemini API") from exc


class OfflineProvider:
    """Deterministic answers with no network, so the product can be tried with nothing
    configured. Every reply says it is offline; it never pretends to be a real model."""

    kind = ProviderKind.offline
    model = "offline-echo-1"

    async def complete(self, request: ChatRequest) -> ChatResult:
        last = request.messages[-1].content if request.messages else ""
        digest = hashlib.sha256(f"{request.system}\n{last}".encode()).hexdigest()[:8]
        text = (
            f"[offline provider {digest}] No LLM key is configured for this workspace, so this "
            f"is a canned reply. You said: {last[:200]}"
        )
        return ChatResult(
            text=text,
            model=self.model,
            prompt_tokens=_rough_tokens(request.system)
            + sum(_rough_tokens(m.content) for m in request.messages),
            completion_tokens=_rough_tokens(text),
            latency_ms=0.0,
        )


def _rough_tokens(text: str) -> int:
    # About four characters per token for English-like text; good enough for offline budgets.
    return max(1, len(text) // 4) if text else 0


def build_provider(
    kind: ProviderKind,
    *,
    api_key: str,
    base_url: str | None,
    client: httpx.AsyncClient | None = None,
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
    return adapters[kind](api_key=api_key, base_url=url, client=client)  # type: ignore[return-value]
