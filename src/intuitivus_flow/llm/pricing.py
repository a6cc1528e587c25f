"""Token prices, to turn usage into cost. Costs are integers in micro-dollars (1e-6 USD).

Handy identity: cost in micro-USD = tokens * price in USD per million tokens.
Prices are vendors' public list prices when this table was written; a key can set its own
(`prompt_micros_per_million`, `completion_micros_per_million`: a self-hosted model may cost
nothing per token, a model missing here costs what its key says).

A model with no price is never taken as free: a key with a monthly cost limit refuses it, since
the limit could not be kept (llm/service.py); without a limit its calls are recorded at 0.
"""

from __future__ import annotations

import re
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

    @classmethod
    def from_micros_per_million(cls, prompt: int, completion: int) -> Price:
        """A key's own price: micro-USD per million tokens (150000 = 0.15 USD per million)."""
        million = Decimal(1_000_000)
        return cls(Decimal(prompt) / million, Decimal(completion) / million)


# A family's price also covers its dated snapshots and aliases ("gpt-4o-mini-2024-07-18",
# "claude-3-5-haiku-20241022", "gemini-2.0-flash-001", "...-latest"), and nothing else:
# "gpt-4o-audio-preview" is another model with another price.
_VERSION_SUFFIX = re.compile(r"(-\d{4}-\d{2}-\d{2}|-\d{8}|-\d{3}|-latest)?")

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


def list_price(model: str) -> Price | None:
    """The list price of a model, or None when the table does not know it."""
    for family, price in LIST_PRICES.items():
        if model.startswith(family) and _VERSION_SUFFIX.fullmatch(model[len(family) :]):
            return price
    return None


def price_for(model: str, override: Price | None = None) -> Price | None:
    """The key's own price when it has one, else the model's list price, else None."""
    return override if override is not None else list_price(model)
