"""What Stripe is asked to charge is what the product shows, in every currency.

Amounts are stored in ISO 4217 minor units; Stripe counts some currencies differently (ISK is
two-decimal there, MGA zero-decimal, three-decimal ones need a last digit of 0). The expected
Stripe amounts below are written out from Stripe's currency documentation, not computed.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from intuitivus_flow.kit.money import format_money
from tests.billing.stripe_server import API_KEY, RunningStripe, serve_stripe
from tests.billing.test_payments import pay, payments_in_db
from tests.helpers import assert_problem, register


@pytest.fixture
def stripe() -> Iterator[RunningStripe]:
    yield from serve_stripe()


@pytest.fixture
def settings_overrides(stripe: RunningStripe) -> dict[str, Any]:
    return {"stripe_api_key": API_KEY, "stripe_api_base": stripe.url}


@pytest.mark.parametrize(
    ("amount_minor", "currency", "shown", "stripe_amount"),
    [
        (2900, "USD", "29.00 USD", "2900"),
        (500, "JPY", "500 JPY", "500"),
        # Zero-decimal in ISO 4217 and for Stripe: the old table showed these / 100.
        (150000, "PYG", "150,000 PYG", "150000"),
        (2000, "XPF", "2,000 XPF", "2000"),
        (75, "BIF", "75 BIF", "75"),
        (12340, "KWD", "12.340 KWD", "12340"),
        (9990, "BHD", "9.990 BHD", "9990"),
        # ISO: no minor unit; Stripe: still two decimals, whole krónur only.
        (5000, "ISK", "5,000 ISK", "500000"),
        # ISO: 2 decimals (iraimbilanja); Stripe: zero-decimal.
        (12300, "MGA", "123.00 MGA", "123"),
        # Stripe's HUF and TWD special cases concern payouts only: charges are two-decimal.
        (2550, "HUF", "25.50 HUF", "2550"),
        (9900, "TWD", "99.00 TWD", "9900"),
    ],
)
async def test_stripe_charges_the_amount_shown(
    client: httpx.AsyncClient,
    stripe: RunningStripe,
    amount_minor: int,
    currency: str,
    shown: str,
    stripe_amount: str,
) -> None:
    owner = await register(client)
    paid = await pay(
        client,
        owner,
        {"amount_minor": amount_minor, "currency": currency, "payment_method": "pm_card_visa"},
    )
    assert paid.status_code == 201, paid.text
    assert paid.json()["status"] == "succeeded"
    assert format_money(paid.json()["amount_minor"], currency) == shown
    form = stripe.state.requests[-1]
    assert (form["amount"], form["currency"]) == (stripe_amount, currency.lower())


@pytest.mark.parametrize(
    ("amount_minor", "currency"),
    [
        (12345, "MGA"),  # 123.45 MGA: Stripe charges whole ariary only
        (1235, "KWD"),  # 1.235 KWD: Stripe needs the last fils digit to be 0
    ],
)
async def test_amounts_stripe_cannot_charge_exactly_are_refused(
    client: httpx.AsyncClient, app: Any, stripe: RunningStripe, amount_minor: int, currency: str
) -> None:
    owner = await register(client)
    refused = await pay(client, owner, {"amount_minor": amount_minor, "currency": currency})
    problem = assert_problem(refused, 422)
    assert currency in str(problem)
    assert stripe.state.requests == []  # refused before anything was sent, not rounded
    assert await payments_in_db(app) == 0
