"""The entities beyond the basics: crew runs and steps, campaign timelines, deliveries and
conversions, conversation settings and WhatsApp numbers (credentials stay behind). Both
engines."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from tests.conversations.graph_server import RunningGraph, serve_graph
from tests.dataport.support import (
    DELETED_AGENT,
    DELETED_CONTACT,
    forget_numbers,
    jsonl,
    jsonl_rows,
    make_zip,
    owner,
    read_zip,
    seed,
)
from tests.dataport.test_import import export, upload
from tests.helpers import assert_problem

from intuitivus_flow.conversations.models import ConversationSettings, WhatsAppNumber
from intuitivus_flow.conversations.repository import WhatsAppRoutingRepository


@pytest.fixture(scope="module")
def graph() -> Iterator[RunningGraph]:
    """Meta's Graph API (fake): connecting a number asks it whether the token owns it."""
    yield from serve_graph()


@pytest.fixture
def settings_overrides(graph: RunningGraph) -> dict[str, Any]:
    return {"whatsapp_graph_url": graph.url}


AGENT = str(uuid.uuid4())
RUN = str(uuid.uuid4())


async def numbers_of(app: Any, workspace_id: uuid.UUID) -> list[WhatsAppNumber]:
    async with app.state.context.sessions() as session:
        found = await session.scalars(
            select(WhatsAppNumber).where(WhatsAppNumber.workspace_id == workspace_id)
        )
        return list(found.all())


class TestWhatsAppNumbers:
    async def test_a_number_arrives_switched_off_without_credentials(
        self, app: Any, client: httpx.AsyncClient
    ) -> None:
        acme = await owner(client, "Acme")
        sessions = app.state.context.sessions
        await seed(sessions, acme.workspace_id)
        archive = await export(client, acme.headers)
        (source,) = jsonl_rows(read_zip(archive), "whatsapp_numbers")
        await forget_numbers(sessions, acme.workspace_id)  # as on another instance
        copy = await owner(client, "Copy")
        response = await upload(client, copy.headers, archive)
        assert response.status_code == 200, response.text
        assert response.json()["created"]["whatsapp_numbers"] == 1
        (number,) = await numbers_of(app, copy.workspace_id)
        assert number.phone_number_id == source["phone_number_id"]
        assert number.active is False
        credentials = (
            number.encrypted_access_token,
            number.encrypted_app_secret,
            number.verify_token_digest,
            number.token_hint,
        )
        assert credentials == ("", "", "", "")
        agents = {
            row["id"]: row["name"]
            for row in jsonl_rows(read_zip(await export(client, copy.headers)), "agents")
        }
        assert agents[str(number.agent_id)] == "Helper"  # the copy's own agent
        async with sessions() as session:  # webhooks for it are not routed anywhere
            routed = await WhatsAppRoutingRepository(session).by_phone_number_ids(
                [number.phone_number_id]
            )
        assert list(routed) == []
        # What docs/dataport.md tells people to do: remove it, connect it with its tokens.
        removed = await client.delete(
            f"/api/channels/whatsapp/numbers/{number.id}", headers=copy.headers
        )
        assert removed.status_code == 204
        connected = await client.post(
            "/api/channels/whatsapp/numbers",
            json={
                "phone_number_id": number.phone_number_id,
                "access_token": "EAAG-entered-again",
                "verify_token": "verify-entered-again",
                "app_secret": "secret-entered-again",
            },
            headers=copy.headers,
        )
        assert connected.status_code == 201, connected.text
        assert connected.json()["active"] is True

    async def test_numbers_connected_on_this_instance_are_left_out(
        self, app: Any, client: httpx.AsyncClient
    ) -> None:
        acme = await owner(client, "Acme")
        await seed(app.state.context.sessions, acme.workspace_id)
        archive = await export(client, acme.headers)
        copy = await owner(client, "Copy")
        dry = await upload(client, copy.headers, archive, dry_run=True)
        assert dry.json()["skipped"] == {"whatsapp_numbers": 1}
        assert dry.json()["created"]["whatsapp_numbers"] == 0
        response = await upload(client, copy.headers, archive)
        assert response.status_code == 200, response.text
        assert response.json()["skipped"] == {"whatsapp_numbers": 1}
        assert await numbers_of(app, copy.workspace_id) == []
        assert len(await numbers_of(app, acme.workspace_id)) == 1  # still Acme's, untouched

    async def test_number_rows_are_validated(self, client: httpx.AsyncClient) -> None:
        acme = await owner(client)
        archive = make_zip(
            {
                "whatsapp_numbers.jsonl": jsonl(
                    {"phone_number_id": "not-digits"},
                    {"phone_number_id": "123", "active": True},  # line 2: not a field
                    {"phone_number_id": "456", "encrypted_access_token": "x"},
                    {"phone_number_id": "789"},
                    {"phone_number_id": "789"},  # line 5: twice in the file
                )
            }
        )
        body = assert_problem(await upload(client, acme.headers, archive), 422)
        found = {(e["line"], e["field"]) for e in body["errors"]}
        assert found == {
            (1, "phone_number_id"),
            (2, "active"),
            (3, "encrypted_access_token"),
            (5, "phone_number_id"),
        }


class TestConversationSettings:
    async def test_an_existing_row_is_updated_and_keeps_its_widget_key(
        self, app: Any, client: httpx.AsyncClient
    ) -> None:
        acme = await owner(client, "Acme")
        await seed(app.state.context.sessions, acme.workspace_id)
        archive = await export(client, acme.headers)
        copy = await owner(client, "Copy")
        before = (await client.get("/api/conversations/settings", headers=copy.headers)).json()
        assert before["widget_enabled"] is True
        assert (await upload(client, copy.headers, archive)).status_code == 200
        after = (await client.get("/api/conversations/settings", headers=copy.headers)).json()
        assert after["widget_key"] == before["widget_key"]
        assert after["widget_enabled"] is False
        agents = jsonl_rows(read_zip(await export(client, copy.headers)), "agents")
        closer = next(row["id"] for row in agents if row["name"] == "Closer")
        assert after["default_agent_id"] == closer
        async with app.state.context.sessions() as session:
            rows = await session.scalars(
                select(ConversationSettings).where(
                    ConversationSettings.workspace_id == copy.workspace_id
                )
            )
            assert len(rows.all()) == 1

    async def test_a_new_row_gets_a_widget_key_of_its_own(
        self, app: Any, client: httpx.AsyncClient
    ) -> None:
        acme = await owner(client, "Acme")
        await seed(app.state.context.sessions, acme.workspace_id)
        source = (await client.get("/api/conversations/settings", headers=acme.headers)).json()
        copy = await owner(client, "Copy")
        assert (await upload(client, copy.headers, await export(client, acme.headers))).is_success
        imported = (await client.get("/api/conversations/settings", headers=copy.headers)).json()
        assert imported["widget_key"]
        assert imported["widget_key"] != source["widget_key"]
        assert imported["widget_enabled"] is False

    async def test_one_row_only(self, client: httpx.AsyncClient) -> None:
        acme = await owner(client)
        archive = make_zip({"conversation_settings.jsonl": jsonl({"widget_enabled": True}, {})})
        body = assert_problem(await upload(client, acme.headers, archive), 422)
        assert [(e["line"], e["field"]) for e in body["errors"]] == [(2, None)]
        assert "one conversation_settings row" in body["errors"][0]["message"]


class TestCrews:
    async def test_agent_lists_and_steps_follow_the_new_ids(
        self, app: Any, client: httpx.AsyncClient
    ) -> None:
        acme = await owner(client, "Acme")
        await seed(app.state.context.sessions, acme.workspace_id)
        copy = await owner(client, "Copy")
        assert (await upload(client, copy.headers, await export(client, acme.headers))).is_success
        files = read_zip(await export(client, copy.headers))
        names = {row["id"]: row["name"] for row in jsonl_rows(files, "agents")}
        (run,) = jsonl_rows(files, "crew_runs")
        # The deleted agent stays what it was: an id that names no agent.
        assert [names.get(agent, agent) for agent in run["agent_ids"]["order"]] == [
            "Closer",
            str(DELETED_AGENT),
            "Helper",
        ]
        steps = jsonl_rows(files, "crew_steps")
        assert {step["run_id"] for step in steps} == {run["id"]}
        assert [names[step["agent_id"]] for step in steps] == ["Closer", "Helper"]
        assert steps[0]["handed_to_id"] == str(DELETED_AGENT)
        # The crew API reads the imported run like one of its own.
        read = await client.get(f"/api/agents/crews/{run['id']}", headers=copy.headers)
        assert read.status_code == 200, read.text

    async def test_unfinished_runs_arrive_cancelled_and_lists_are_checked(
        self, app: Any, client: httpx.AsyncClient
    ) -> None:
        acme = await owner(client)
        good = {"mode": "sequential", "input": "x", "agent_ids": {"order": [AGENT]}}
        archive = make_zip(
            {
                "agents.jsonl": jsonl({"id": AGENT, "name": "Solo"}),
                "crew_runs.jsonl": jsonl({**good, "id": RUN, "status": "running"}),
                "crew_steps.jsonl": jsonl(
                    {"run_id": RUN, "position": 0, "input": "x", "handed_to_id": AGENT}
                ),
            }
        )
        assert (await upload(client, acme.headers, archive)).status_code == 200
        (run,) = jsonl_rows(read_zip(await export(client, acme.headers)), "crew_runs")
        assert (run["status"], run["error"]) == ("cancelled", "imported before it finished")
        bad = make_zip(
            {
                "crew_runs.jsonl": jsonl(
                    {**good, "agent_ids": {"order": []}},
                    {**good, "agent_ids": {"order": ["not an id"]}},
                    {**good, "agent_ids": [AGENT]},
                    {**good, "mode": "swarm"},
                ),
                # A strict reference must name a row; a loose one (hand-over) need not.
                "crew_steps.jsonl": jsonl(
                    {"run_id": str(uuid.uuid4()), "position": 0, "input": "x"},
                ),
            }
        )
        body = assert_problem(await upload(client, acme.headers, bad), 422)
        assert {(e["file"], e["line"], e["field"]) for e in body["errors"]} == {
            ("crew_runs.jsonl", 1, "agent_ids"),
            ("crew_runs.jsonl", 2, "agent_ids"),
            ("crew_runs.jsonl", 3, "agent_ids"),
            ("crew_runs.jsonl", 4, "mode"),
            ("crew_steps.jsonl", 1, "run_id"),
        }


class TestCampaignAutomation:
    async def test_timeline_deliveries_and_conversions_follow_the_new_ids(
        self, app: Any, client: httpx.AsyncClient
    ) -> None:
        acme = await owner(client, "Acme")
        await seed(app.state.context.sessions, acme.workspace_id)
        copy = await owner(client, "Copy")
        assert (await upload(client, copy.headers, await export(client, acme.headers))).is_success
        files = read_zip(await export(client, copy.headers))
        (campaign,) = jsonl_rows(files, "campaigns")
        contacts = {row["id"]: row["name"] for row in jsonl_rows(files, "contacts")}
        step = next(row for row in jsonl_rows(files, "campaign_steps") if row["position"] == 1)
        timeline = jsonl_rows(files, "campaign_events")
        assert [(e["kind"], e["to_status"]) for e in timeline] == [
            ("status_changed", "active"),
            ("automation_started", None),
        ]
        assert {e["campaign_id"] for e in timeline} == {campaign["id"]}
        deliveries = jsonl_rows(files, "campaign_step_deliveries")
        assert {d["step_id"] for d in deliveries} == {step["id"]}
        assert [contacts.get(d["contact_id"], d["contact_id"]) for d in deliveries] == [
            "Ana",
            str(DELETED_CONTACT),  # deleted before the export: kept, naming no contact
        ]
        (conversion,) = jsonl_rows(files, "campaign_conversions")
        assert contacts[conversion["contact_id"]] == "Ana"
        assert conversion["value_minor"] == 1999
        # The campaign API sees the imported automation state as its own.
        shown = await client.get(f"/api/campaigns/{campaign['id']}/events", headers=copy.headers)
        assert shown.status_code == 200, shown.text
        assert shown.json()["total"] == 2

    async def test_delivery_rows_are_validated(self, client: httpx.AsyncClient) -> None:
        acme = await owner(client)
        campaign, step = str(uuid.uuid4()), str(uuid.uuid4())
        contact = str(uuid.uuid4())

        def delivery(**values: str) -> dict[str, str]:
            return {"campaign_id": campaign, "step_id": step, "contact_id": contact, **values}

        wait = {"id": step, "campaign_id": campaign, "position": 1, "kind": "wait"}
        archive = make_zip(
            {
                "campaigns.jsonl": jsonl(
                    {"id": campaign, "name": "C", "platform": "email", "currency": "EUR"}
                ),
                "campaign_steps.jsonl": jsonl({**wait, "config": {"seconds": 60}}),
                "campaign_step_deliveries.jsonl": jsonl(
                    delivery(status="waited"),
                    delivery(status="waited"),  # line 2: same step and contact
                    delivery(status="lost"),  # line 3
                    delivery(status="sent", step_id=str(uuid.uuid4())),  # line 4: unknown step
                ),
                "campaign_events.jsonl": jsonl(
                    {"campaign_id": campaign, "kind": "status_changed", "to_status": "gone"}
                ),
            }
        )
        body = assert_problem(await upload(client, acme.headers, archive), 422)
        assert {(e["file"], e["line"], e["field"]) for e in body["errors"]} == {
            ("campaign_step_deliveries.jsonl", 2, "contact_id"),
            ("campaign_step_deliveries.jsonl", 3, "status"),
            ("campaign_step_deliveries.jsonl", 4, "step_id"),
            ("campaign_events.jsonl", 1, "to_status"),
        }
