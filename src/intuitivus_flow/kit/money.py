"""Money is stored as integer minor units with an ISO 4217 currency; this turns it into text.

How many minor units make a major one depends on the currency (100 cents, 1 yen, 1000 fils),
so every place that shows an amount goes through `format_money`, never `minor / 100`.
"""

from __future__ import annotations

# ISO 4217 currencies without minor units, and those with three; the rest of the common ones
# have two.
ZERO_DECIMAL_CURRENCIES = frozenset({"JPY", "KRW", "CLP", "VND", "ISK", "UGX", "XOF", "XAF"})
THREE_DECIMAL_CURRENCIES = frozenset({"BHD", "KWD", "OMR", "JOD", "TND"})


def decimals(currency: str) -> int:
    """Digits after the decimal point in the currency's major unit."""
    if currency in ZERO_DECIMAL_CURRENCIES:
        return 0
    if currency in THREE_DECIMAL_CURRENCIES:
        return 3
    return 2


def format_money(minor: int | float | None, currency: str) -> str:
    """Minor units as the major amount, e.g. 123456 USD -> "1,234.56 USD", 500 JPY -> "500 JPY"."""
    if minor is None:
        return "—"
    places = decimals(currency)
    return f"{minor / 10**places:,.{places}f} {currency}"
