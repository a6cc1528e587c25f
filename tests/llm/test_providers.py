from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from intuitivus_flow.kit.outbound import OutboundPolicy
from intuitivus_flow.llm.fallback import (
    Candidate,
    NoProviderAvailable,
    complete_with_fallback,
)
from intuitivus_flow.llm.pricing import Price, list_price, price_for
from intuitivus_flow.llm.providers import (
    MAX_MODEL_LENGTH,
    ChatMessage,
    ChatRequest,
    OfflineProvider,
    ProviderAddressRefused,
    ProviderKind,
    ProviderQuotaExceeded,
    ProviderRejected,
    ProviderTimeout,
    ProviderUnavailable,
    build_provider,
)
from tests.llm.vendor_server import API_KEY, RunningVendor, serve_vendor

# The fake vendor listens on loopback: reached only because this operator setting says so.
LOCAL_VENDOR = OutboundPolicy.parse(["127.0.0.1"])


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


def provider(  # type: ignore[no-untyped-def]
    vendor: RunningVendor,
    kind: ProviderKind,
    key: str = API_KEY,
    outbound: OutboundPolicy = LOCAL_VENDOR,
):
    return build_provider(kind, api_key=key, base_url=vendor.url, outbound=outbound)


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
            build_provider(
                ProviderKind.openai_compatible, api_key="", base_url=None, outbound=LOCAL_VENDOR
            )

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
        adapter = build_provider(
            ProviderKind.openai, api_key="k", base_url="http://127.0.0.1:1", outbound=LOCAL_VENDOR
        )
        with pytest.raises(ProviderUnavailable):
            await adapter.complete(request())


class TestOutboundSafety:
    """Issue 10, item 1: a provider URL may not lead to the instance's own network."""

    @pytest.mark.parametrize("kind", [ProviderKind.openai_compatible, ProviderKind.anthropic])
    async def test_an_internal_address_is_refused_clearly(
        self, vendor: RunningVendor, kind: ProviderKind
    ) -> None:
        adapter = provider(vendor, kind, outbound=OutboundPolicy())
        with pytest.raises(ProviderAddressRefused, match="not a public address") as raised:
            await adapter.complete(request())
        assert raised.value.reason == "address_refused"
        assert vendor.state.requests == []

    async def test_a_redirect_is_rejected_not_followed(self, vendor: RunningVendor) -> None:
        vendor.state.modes["openai"] = "redirect"
        with pytest.raises(ProviderRejected, match="redirect"):
            await provider(vendor, ProviderKind.openai_compatible).complete(request())
        assert len(vendor.state.requests) == 1

    async def test_google_model_names_stay_inside_the_path(self, vendor: RunningVendor) -> None:
        # Unquoted, "../../v1/x?y=" climbed out of /v1beta/models and picked another path.
        hostile = ChatRequest(
            model="../../v1/other?x=1", messages=[ChatMessage("user", "hello")], max_tokens=8
        )
        result = await provider(vendor, ProviderKind.google).complete(hostile)
        assert result.text == "gemini says: hello"


class TestRobustness:
    """Issue 10, item 11: bad keys and bad answers fail one provider call, never the caller."""

    @pytest.mark.parametrize("key", ["clé-secrète", "sk-ключ", "sk-line\nbreak", "sk-\x00"])
    async def test_a_key_no_header_can_carry_is_rejected_without_a_call(
        self, vendor: RunningVendor, key: str
    ) -> None:
        for kind in (ProviderKind.openai, ProviderKind.anthropic, ProviderKind.google):
            with pytest.raises(ProviderRejected, match="replace the key"):
                await provider(vendor, kind, key=key).complete(request())
        assert vendor.state.requests == []

    @pytest.mark.parametrize(
        "answer",
        [
            [],
            {"choices": [{"message": {"content": "x"}}], "usage": [1]},
            {"choices": [{"message": {"content": "x"}}], "usage": {"prompt_tokens": 10**30}},
            {"choices": [{"message": {"content": "x"}}], "usage": {"completion_tokens": -5}},
            {"choices": ["not an object"]},
        ],
    )
    async def test_a_broken_answer_is_an_unavailable_provider(
        self, vendor: RunningVendor, answer: object
    ) -> None:
        vendor.state.openai_answer = answer
        with pytest.raises(ProviderUnavailable):
            await provider(vendor, ProviderKind.openai_compatible).complete(request())

    async def test_answers_are_made_storable(self, vendor: RunningVendor) -> None:
        vendor.state.openai_answer = {
            "model": "m" * 500,
            "choices": [{"message": {"content": "a\x00b"}, "finish_reason": None}],
            "usage": {"prompt_tokens": "3", "completion_tokens": 4},
        }
        result = await provider(vendor, ProviderKind.openai_compatible).complete(request())
        assert result.text == "ab"  # PostgreSQL text cannot hold NUL
        assert result.model == "m" * MAX_MODEL_LENGTH
        assert (result.prompt_tokens, result.completion_tokens) == (3, 4)


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
        price = list_price("gpt-4o-mini-2024-07-18")
        assert price is not None
        assert price.cost_micros(1_000_000, 0) == 150_000  # $0.15 per million prompt tokens
        assert list_price("gpt-4o-2024-08-06") == list_price("gpt-4o")
        assert list_price("claude-3-5-haiku-20241022") == list_price("claude-3-5-haiku-latest")
        assert list_price("gemini-2.0-flash-001") == list_price("gemini-2.0-flash")

    @pytest.mark.parametrize(
        "model", ["llama3:8b", "gpt-4o-audio-preview", "o1-pro", "gemini-1.5-flash-8b", ""]
    )
    def test_unknown_models_have_no_price_rather_than_a_free_one(self, model: str) -> None:
        # Issue 10, item 8: "no price" used to be "free", which a cost limit never stopped.
        assert list_price(model) is None
        assert price_for(model) is None

    def test_a_key_price_covers_every_model(self) -> None:
        own = Price.from_micros_per_million(150_000, 600_000)
        assert price_for("llama3:8b", own) is own
        assert own.cost_micros(1_000_000, 1_000_000) == 750_000
        assert own == list_price("gpt-4o-mini")
