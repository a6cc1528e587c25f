"""Token prices, to turn usage into cost. Costs are integers in micro-dollars (1e-6 USD).

Handy identity: cost in micro-USD = tokens * price in USD per million tokens.
Prices are vendors' public list prices when this table was written; a key can override them
(self-hosted models cost nothing per token).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal


@dataclass(frozen=True, slots=True)
class Price:
    prompt_per_million: Decimal
    completion_per_million: Decimal

    def cost_micros(self, prompt_tokens: int, completion_tokens: int) -> int:
        total = (
            self.prompt_per_million * prompt_tokens
            + self.completion_per_million * completion_tokens
        )
        return int(total.quantize(Decimal(1), rounding=ROUND_HALF_UP))


FREE = Price(Decimal(0), Decimal(0))

# Longest matching prefix wins, so dated model names ("gpt-4o-mini-2024-07-18") are priced.
LIST_PRICES: dict[str, Price] = {
    "gpt-4o-mini": Price(Decimal("0.15"), Decimal("0.60")),
    "gpt-4o": Price(Decimal("2.50"), Decimal("10.00")),
    "gpt-4.1-mini": Price(Decimal("0.40"), Decimal("1.60")),
    "gpt-4.1": Price(Decimal("2.00"), Decimal("8.00")),
    "claude-3-5-haiku": Price(Decimal("0.80"), Decimal("4.00")),
    "claude-3-5-sonnet": Price(Decimal("3.00"), Decimal("15.00")),
    "claude-sonnet-4": Price(Decimal("3.00"), Decimal("15.00")),
    "gemini-1.5-flash": Price(Decimal("0.075"), Decimal("0.30")),
    "gemini-1.5-pro": Price(Decimal("1.25"), Decimal("5.00")),
    "gemini-2.0-flash": Price(Decimal("0.10"), Decimal("0.40")),
}


def price_for(model: str, override: Price | None = None) -> Price:
    if override is not None:
        return override
    matches = [prefix for prefix in LIST_PRICES if model.startswith(prefix)]
    return LIST_PRICES[max(matches, key=len)] if matches else FREE
