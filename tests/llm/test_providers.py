from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from intuitivus_flow.llm.fallback import (
    Candidate,
    NoProviderAvailable,
    complete_with_fallback,
)
from intuitivus_flow.llm.pricing import price_for
from intuitivus_flow.llm.providers import (
    ChatMessage,
    ChatRequest,
    OfflineProvider,
    ProviderKind,
    ProviderQuotaExceeded,
    ProviderRejected,
    ProviderTimeout,
    ProviderUnavailable,
    build_provider,
)
from tests.llm.vendor_server import API_KEY, RunningVendor, serve_vendor


@pytest.fixture
def vendor() -> Iterator[RunningVendor]:
    yield from serve_vendor()


def request(text: str = "hello") -> ChatRequest:
    return ChatRequest(
        model="m",
        messages=[ChatMessage("user", text)],
        system="be brief",
        temperature=0.2,
        max_tokens=64,
    )


def provider(vendor: RunningVendor, kind: ProviderKind, key: str = API_KEY, **kw: object):  # type: ignore[no-untyped-def]
    return build_provider(kind, api_key=key, base_url=vendor.url, **kw)  # type: ignore[arg-type]


class TestWireFormats:
    async def test_openai(self, vendor: RunningVendor) -> None:
        result = await provider(vendor, ProviderKind.openai).complete(request())
        assert result.text == "openai says: hello"
        assert (result.prompt_tokens, result.completion_tokens) == (11, 7)
        _, body, _ = vendor.state.requests[-1]
        assert body["messages"][0] == {"role": "system", "content": "be brief"}
        assert body["max_tokens"] == 64

    async def test_openai_compatible_needs_a_base_url(self) -> None:
        with pytest.raises(ValueError, match="base URL"):
            build_provider(ProviderKind.openai_compatible, api_key="", base_url=None)

    async def test_anthropic(self, vendor: RunningVendor) -> None:
        result = await provider(vendor, ProviderKind.anthropic).complete(request())
        assert result.text == "anthropic says: hello"
        assert (result.prompt_tokens, result.completion_tokens) == (13, 5)
        _, body, headers = vendor.state.requests[-1]
        assert body["system"] == "be brief"
        assert headers["anthropic-version"] == "2023-06-01"

    async def test_google(self, vendor: RunningVendor) -> None:
        result = await provider(vendor, ProviderKind.google).complete(request())
        assert result.text == "gemini says: hello"
        assert result.total_tokens == 13
        _, body, _ = vendor.state.requests[-1]
        assert body["systemInstruction"] == {"parts": [{"text": "be brief"}]}
        assert body["generationConfig"]["maxOutputTokens"] == 64


class TestFailures:
    @pytest.mark.parametrize(
        ("mode", "error"),
        [
            ("error500", ProviderUnavailable),
            ("quota429", ProviderQuotaExceeded),
            ("garbage", ProviderUnavailable),
        ],
    )
    async def test_vendor_failures_are_typed(
        self, vendor: RunningVendor, mode: str, error: type[Exception]
    ) -> None:
        vendor.state.modes["openai"] = mode
        with pytest.raises(error):
            await provider(vendor, ProviderKind.openai).complete(request())

    async def test_overloaded_anthropic_is_unavailable(self, vendor: RunningVendor) -> None:
        vendor.state.modes["anthropic"] = "overloaded529"
        with pytest.raises(ProviderUnavailable):
            await provider(vendor, ProviderKind.anthropic).complete(request())

    async def test_wrong_key_is_rejected(self, vendor: RunningVendor) -> None:
        with pytest.raises(ProviderRejected):
            await provider(vendor, ProviderKind.google, key="wrong").complete(request())

    async def test_timeout(self, vendor: RunningVendor) -> None:
        vendor.state.modes["openai"] = "slow"
        adapter = provider(vendor, ProviderKind.openai)
        adapter.timeout = httpx.Timeout(0.3)
        with pytest.raises(ProviderTimeout):
            await adapter.complete(request())

    async def test_unreachable(self) -> None:
        adapter = build_provider(ProviderKind.openai, api_key="k", base_url="http://127.0.0.1:1")
        with pytest.raises(ProviderUnavailable):
            await adapter.complete(request())


class TestFallback:
    async def test_next_provider_answers_when_the_first_fails(self, vendor: RunningVendor) -> None:
        vendor.state.modes["openai"] = "error500"
        vendor.state.modes["anthropic"] = "quota429"
        candidates = [
            Candidate(provider(vendor, ProviderKind.openai), "gpt-4o-mini", "openai"),
            Candidate(provider(vendor, ProviderKind.anthropic), "claude-3-5-haiku", "anthropic"),
            Candidate(provider(vendor, ProviderKind.google), "gemini-2.0-flash", "google"),
        ]
        completion = await complete_with_fallback(candidates, request())
        assert completion.candidate.label == "google"
        assert [a.outcome for a in completion.attempts] == ["unavailable", "quota", "ok"]
        assert vendor.state.requests[-1][0] == "google"

    async def test_skipped_candidates_are_not_called(self, vendor: RunningVendor) -> None:
        candidates = [
            Candidate(provider(vendor, ProviderKind.openai), "gpt-4o", "openai"),
            Candidate(OfflineProvider(), "offline-echo-1", "offline"),
        ]

        async def over_budget(candidate: Candidate) -> str | None:
            return "monthly_budget" if candidate.label == "openai" else None

        completion = await complete_with_fallback(candidates, request(), skip_reason=over_budget)
        assert completion.candidate.label == "offline"
        assert completion.attempts[0].outcome == "skipped:monthly_budget"
        assert vendor.state.requests == []

    async def test_all_failing_is_a_clear_503(self, vendor: RunningVendor) -> None:
        vendor.state.modes["openai"] = "error500"
        with pytest.raises(NoProviderAvailable) as raised:
            await complete_with_fallback(
                [Candidate(provider(vendor, ProviderKind.openai), "gpt-4o", "openai")], request()
            )
        assert raised.value.status_code == 503
        assert "openai: unavailable" in raised.value.detail


class TestOfflineAndPricing:
    async def test_offline_is_deterministic_and_labelled(self) -> None:
        first = await OfflineProvider().complete(request("hi there"))
        second = await OfflineProvider().complete(request("hi there"))
        assert first.text == second.text
        assert first.text.startswith("[offline provider")
        assert first.prompt_tokens > 0

    def test_dated_models_take_the_family_price(self) -> None:
        price = price_for("gpt-4o-mini-2024-07-18")
        assert price.cost_micros(1_000_000, 0) == 150_000  # $0.15 per million prompt tokens
        assert price_for("gpt-4o-2024-08-06").cost_micros(0, 1000) == 10_000
        assert price_for("llama3:8b").cost_micros(5000, 5000) == 0
