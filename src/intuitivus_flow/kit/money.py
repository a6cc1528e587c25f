"""Money is stored as integer minor units with an ISO 4217 currency; this turns it into text.

How many minor units make a major one depends on the currency (100 cents, 1 guaraní, 1000
fils, 10000 for the Chilean UF), so every place that shows or parses an amount goes through
`decimals`/`format_money`, never `minor / 100`.

The exponents come from the ISO 4217 list itself (the `iso4217` package ships the maintenance
agency's table and follows its amendments), not from a table kept by hand: ours missed eleven
currencies, e.g. PYG was shown with two decimals while Stripe charged whole guaraníes. Babel was
considered and not used: it gives CLDR's *display* digits, which differ from ISO's minor units
for about twenty currencies (HUF, COP, IDR, IQD, ...), and the stored minor units must mean what
payment providers mean by them. Where Stripe's own units differ from ISO's, the Stripe gateway
converts (`billing/gateways.stripe_amount`).
"""

from __future__ import annotations

from decimal import Decimal
from functools import cache

from iso4217 import Currency

# Codes outside ISO 4217 (the API only checks the shape, three capital letters) and the ISO
# codes without a minor unit ("N.A.": gold, SDR, the test code) keep the common two decimals,
# as every amount did before the exponents came from the ISO list.
DEFAULT_DECIMALS = 2


@cache
def decimals(currency: str) -> int:
    """Digits after the decimal point in the currency's major unit (its ISO 4217 exponent)."""
    try:
        exponent = Currency(currency).exponent
    except ValueError:
        return DEFAULT_DECIMALS
    return DEFAULT_DECIMALS if exponent is None else exponent


def format_money(minor: int | float | None, currency: str) -> str:
    """Minor units as the major amount, e.g. 123456 USD -> "1,234.56 USD", 500 JPY -> "500 JPY"."""
    if minor is None:
        return "—"
    places = decimals(currency)
    # Decimal keeps every digit of large amounts (budgets reach 10**15 minor units).
    return f"{Decimal(minor).scaleb(-places):,.{places}f} {currency}"
