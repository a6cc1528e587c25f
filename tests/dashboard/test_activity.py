"""Recent activity reads as sentences: by hand for the phrasing, through the API for the names."""

from __future__ import annotations

import httpx

from intuitivus_flow.dashboard.activity import Names, describe
from tests.campaigns.helpers import activate, create_campaign, set_status
from tests.helpers import register

NAMES = Names(users={"u1": "Ana"}, campaigns={"c1": "Black Friday"}, agents={"a1": "Helper"})


def test_sentences() -> None:
    paused = {"campaign_id": "c1", "from": "active", "to": "paused"}
    assert (
        describe("campaign.status_changed", paused, user_id="u1", names=NAMES)
        == "Campaign Black Friday was paused by Ana"
    )
    assert describe("agent.created", {"agent_id": "a1"}, user_id=None, names=NAMES) == (
        "Agent Helper was created"
    )
    assert describe("user.logged_in", {}, user_id="u1", names=NAMES) == "Ana signed in"
    # A deleted campaign, an unknown actor, an event without a phrase of its own.
    assert describe("campaign.created", {"campaign_id": "gone"}, user_id="x", names=NAMES) == (
        "A campaign was created"
    )
    assert describe("crew_run.started", {}, user_id="u1", names=NAMES) == (
        "Crew run started by Ana"
    )


async def test_the_dashboard_names_campaign_and_person(client: httpx.AsyncClient) -> None:
    owner = await register(client)
    campaign = await create_campaign(
        client, owner, name="Black Friday", starts_at="2026-01-01T00:00:00Z"
    )
    await activate(client, owner, campaign["id"])
    assert (await set_status(client, owner, campaign["id"], "paused")).status_code == 200
    body = (await client.get("/api/dashboard", headers=owner.headers)).json()
    newest = body["recent_activity"][0]
    assert newest["name"] == "campaign.status_changed"
    assert newest["sentence"] == "Campaign Black Friday was paused by O"
