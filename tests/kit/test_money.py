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
        (0, "EUR", "0.00 EUR"),
        (None, "USD", "—"),
    ],
)
def test_amounts_use_the_currencys_minor_units(
    minor: int | None, currency: str, shown: str
) -> None:
    assert format_money(minor, currency) == shown
