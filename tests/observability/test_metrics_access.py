"""`/metrics` behind a token, a network allow-list, or both (the test client is 203.0.113.7)."""

from __future__ import annotations

import httpx
import pytest

from tests.helpers import assert_problem

TOKEN = "scrape-token-0123456789"
GOOD = {"Authorization": f"Bearer {TOKEN}"}
WRONG = {"Authorization": "Bearer not-the-token"}
TOKEN_ONLY = {"metrics_token": TOKEN}
OUR_NETWORK = {"metrics_allowed_networks": ["10.0.0.0/8", "203.0.113.0/24"]}
OTHER_NETWORK = {"metrics_allowed_networks": ["10.0.0.0/8", "2001:db8::/32"]}


async def scrape(client: httpx.AsyncClient, headers: dict[str, str] | None = None) -> int:
    return (await client.get("/metrics", headers=headers)).status_code


async def test_open_by_default(client: httpx.AsyncClient) -> None:
    assert await scrape(client) == 200


@pytest.mark.parametrize("settings_overrides", [TOKEN_ONLY])
async def test_token_required_when_set(client: httpx.AsyncClient) -> None:
    missing = await client.get("/metrics")
    assert_problem(missing, 401, "unauthorized")
    assert missing.headers["www-authenticate"] == "Bearer"
    assert_problem(await client.get("/metrics", headers=WRONG), 401)
    assert await scrape(client, GOOD) == 200


@pytest.mark.parametrize(
    ("settings_overrides", "status"), [(OUR_NETWORK, 200), (OTHER_NETWORK, 403)]
)
async def test_network_allow_list(client: httpx.AsyncClient, status: int) -> None:
    response = await client.get("/metrics")
    assert response.status_code == status
    if status == 403:
        assert_problem(response, 403, "forbidden")


@pytest.mark.parametrize(
    ("settings_overrides", "headers", "status"),
    [
        ({**TOKEN_ONLY, **OUR_NETWORK}, GOOD, 200),
        ({**TOKEN_ONLY, **OUR_NETWORK}, None, 401),
        ({**TOKEN_ONLY, **OUR_NETWORK}, WRONG, 401),
        # The right token does not open the endpoint to a foreign network.
        ({**TOKEN_ONLY, **OTHER_NETWORK}, GOOD, 403),
    ],
)
async def test_token_and_network_both_apply(
    client: httpx.AsyncClient, headers: dict[str, str] | None, status: int
) -> None:
    assert await scrape(client, headers) == status


@pytest.mark.parametrize("settings_overrides", [{**OUR_NETWORK, "trust_forwarded_for": True}])
async def test_forwarded_address_is_used_behind_a_trusted_proxy(
    client: httpx.AsyncClient,
) -> None:
    assert await scrape(client, {"X-Forwarded-For": "198.51.100.4"}) == 403
    assert await scrape(client, {"X-Forwarded-For": "10.1.2.3, 198.51.100.4"}) == 200
