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


def test_every_catalogued_event_reads_as_a_sentence_not_its_name() -> None:
    """Recent activity never shows a raw name such as `campaign.status_changed` or 'Llm
    completed' (issue 17): every event in the catalog has a phrase of its own."""
    from intuitivus_flow.dashboard.activity import _ACTOR_PHRASES, _PHRASES
    from intuitivus_flow.events.catalog import SERVER_EVENTS

    without = sorted(name for name in SERVER_EVENTS if name not in {**_PHRASES, **_ACTOR_PHRASES})
    assert without == []


def test_agent_names_keep_their_capitals_and_outcomes_are_said() -> None:
    done = {"agent_id": "a1", "status": "failed"}
    assert describe("agent_task.finished", done, user_id=None, names=NAMES) == (
        "A task of agent Helper failed"
    )
    assert describe("agent_task.submitted", {"agent_id": "a1"}, user_id="u1", names=NAMES) == (
        "A task for agent Helper was submitted by Ana"
    )
    answer = {"provider": "openai", "tokens": 1234, "agent_id": "a1"}
    assert describe("llm.completed", answer, user_id=None, names=NAMES) == (
        "The LLM answered (openai, 1,234 tokens)"
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
