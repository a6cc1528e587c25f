"""Amounts are shown in the currency's own major unit, never as minor / 100."""

from __future__ import annotations

import pytest

from intuitivus_flow.kit.money import format_money


@pytest.mark.parametrize(
    ("minor", "currency", "shown"),
    [
        (123456, "USD", "1,234.56 USD"),
        (5, "BRL", "0.05 BRL"),
        (500, "JPY", "500 JPY"),
        (1234, "KWD", "1.234 KWD"),
        (1234, "BHD", "1.234 BHD"),
        # Wrong in the old hand-kept table (shown with two decimals): ISO 4217 is the source now.
        (150000, "PYG", "150,000 PYG"),
        (75, "BIF", "75 BIF"),
        (2000, "XPF", "2,000 XPF"),
        (1234, "IQD", "1.234 IQD"),
        (1234, "LYD", "1.234 LYD"),
        (12345, "CLF", "1.2345 CLF"),
        (5000, "ISK", "5,000 ISK"),
        (12300, "MGA", "123.00 MGA"),
        # Not in ISO 4217 (only the shape is checked at the edge), or no minor unit defined.
        (5, "ZZZ", "0.05 ZZZ"),
        (5, "XAU", "0.05 XAU"),
        # Every digit of the largest budget the API accepts.
        (10**15 - 1, "USD", "9,999,999,999,999.99 USD"),
        (0, "EUR", "0.00 EUR"),
        (None, "USD", "—"),
    ],
)
def test_amounts_use_the_currencys_minor_units(
    minor: int | None, currency: str, shown: str
) -> None:
    assert format_money(minor, currency) == shown
