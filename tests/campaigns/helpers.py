from __future__ import annotations

from typing import Any

import httpx

from tests.helpers import Account


async def create_campaign(
    client: httpx.AsyncClient, account: Account, **fields: Any
) -> dict[str, Any]:
    body = {"name": "Spring sale", "platform": "meta_ads", "currency": "USD", **fields}
    response = await client.post("/api/campaigns", json=body, headers=account.headers)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def set_status(
    client: httpx.AsyncClient, account: Account, campaign_id: str, status: str
) -> httpx.Response:
    return await client.put(
        f"/api/campaigns/{campaign_id}/status", json={"status": status}, headers=account.headers
    )


async def activate(client: httpx.AsyncClient, account: Account, campaign_id: str) -> None:
    for status in ("scheduled", "active"):
        response = await set_status(client, account, campaign_id, status)
        assert response.status_code == 200, response.text


async def create_agent(client: httpx.AsyncClient, account: Account) -> str:
    response = await client.post("/api/agents", json={"name": "Closer"}, headers=account.headers)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def report(
    client: httpx.AsyncClient, account: Account, campaign_id: str, day: str, spend_minor: int
) -> dict[str, Any]:
    """Ingest one day's figures; returns the campaign as the API answers after ingesting."""
    row = {"date": day, "impressions": 1000, "clicks": 40, "conversions": 4}
    response = await client.post(
        f"/api/campaigns/{campaign_id}/reports",
        json={"rows": [{**row, "spend_minor": spend_minor}]},
        headers=account.headers,
    )
    assert response.status_code == 200, response.text
    campaign: dict[str, Any] = response.json()["campaign"]
    return campaign
