"""Campaign CRUD, validation and status transitions over the API, on both engines."""

from __future__ import annotations

import httpx
import pytest

from tests.campaigns.helpers import activate, create_agent, create_campaign, set_status
from tests.helpers import assert_problem, invite_and_join, register

START = "2026-12-01T00:00:00+00:00"


class TestCrud:
    async def test_create_read_update_list_delete(self, client: httpx.AsyncClient) -> None:
        owner = await register(client)
        agent_id = await create_agent(client, owner)
        created = await create_campaign(
            client,
            owner,
            total_budget_minor=100_000,
            daily_budget_minor=5_000,
            starts_at=START,
            targeting={"countries": ["BR", "PT"], "age_min": 18, "age_max": 45},
            creatives=[{"name": "Hero", "format": "image", "headline": "Save 20%"}],
            audience_tags=["vip"],
            agent_id=agent_id,
        )
        assert created["status"] == "draft"
        assert created["targeting"]["countries"] == ["BR", "PT"]
        assert created["agent_id"] == agent_id
        one = (await client.get(f"/api/campaigns/{created['id']}", headers=owner.headers)).json()
        assert one["metrics"]["spend_minor"] == 0
        assert one["metrics"]["roas"] is None
        changed = await client.patch(
            f"/api/campaigns/{created['id']}",
            json={"name": "Summer sale", "agent_id": None},
            headers=owner.headers,
        )
        assert changed.status_code == 200, changed.text
        assert (changed.json()["name"], changed.json()["agent_id"]) == ("Summer sale", None)
        await create_campaign(client, owner, name="Other", platform="email")
        listed = (
            await client.get("/api/campaigns?platform=meta_ads", headers=owner.headers)
        ).json()
        assert [item["name"] for item in listed["items"]] == ["Summer sale"]
        assert listed["items"][0]["metrics"]["ctr"] is None
        by_status = await client.get("/api/campaigns?status=active", headers=owner.headers)
        assert by_status.json()["total"] == 0
        deleted = await client.delete(f"/api/campaigns/{created['id']}", headers=owner.headers)
        assert deleted.status_code == 204
        gone = await client.get(f"/api/campaigns/{created['id']}", headers=owner.headers)
        assert_problem(gone, 404, "not-found")

    @pytest.mark.parametrize(
        ("fields", "field"),
        [
            ({"platform": "myspace"}, "body.platform"),
            ({"currency": "usd"}, "body.currency"),
            ({"total_budget_minor": -1}, "body.total_budget_minor"),
            ({"targeting": {"age_min": 50, "age_max": 20}}, "body.targeting"),
            ({"targeting": {"countries": ["Brazil"]}}, "body.targeting.countries.0"),
            ({"targeting": {"planet": "Mars"}}, "body.targeting.planet"),
            ({"creatives": [{"name": "x", "format": "hologram"}]}, "body.creatives.0.format"),
            ({"creatives": [{"name": "x", "format": "image", "media_url": "nope"}]}, None),
            ({"starts_at": "2026-12-01T00:00:00"}, "body.starts_at"),
        ],
    )
    async def test_invalid_fields_are_422_with_their_path(
        self, client: httpx.AsyncClient, fields: dict[str, object], field: str | None
    ) -> None:
        owner = await register(client)
        body = {"name": "X", "platform": "meta_ads", **fields}
        response = await client.post("/api/campaigns", json=body, headers=owner.headers)
        problem = assert_problem(response, 422)
        if field:
            assert field in [error["field"] for error in problem["errors"]], problem

    async def test_business_rules_are_422(self, client: httpx.AsyncClient) -> None:
        owner = await register(client)
        budgets = await client.post(
            "/api/campaigns",
            json={
                "name": "X",
                "platform": "google_ads",
                "total_budget_minor": 100,
                "daily_budget_minor": 500,
            },
            headers=owner.headers,
        )
        assert "daily budget" in assert_problem(budgets, 422, "invalid-input")["detail"]
        created = await create_campaign(client, owner, starts_at=START)
        backwards = await client.patch(
            f"/api/campaigns/{created['id']}",
            json={"ends_at": "2026-11-01T00:00:00+00:00"},
            headers=owner.headers,
        )
        assert assert_problem(backwards, 422)["field"] == "ends_at"
        null_name = await client.patch(
            f"/api/campaigns/{created['id']}", json={"name": None}, headers=owner.headers
        )
        assert_problem(null_name, 422)

    async def test_agent_must_belong_to_the_workspace(self, client: httpx.AsyncClient) -> None:
        alpha = await register(client, workspace="Alpha")
        beta = await register(client, workspace="Beta")
        foreign_agent = await create_agent(client, beta)
        response = await client.post(
            "/api/campaigns",
            json={"name": "X", "platform": "whatsapp", "agent_id": foreign_agent},
            headers=alpha.headers,
        )
        assert assert_problem(response, 422)["field"] == "agent_id"

    async def test_other_workspaces_campaigns_are_404(self, client: httpx.AsyncClient) -> None:
        alpha = await register(client, workspace="Alpha")
        beta = await register(client, workspace="Beta")
        theirs = await create_campaign(client, beta)
        for method, suffix, body in [
            ("GET", "", None),
            ("PATCH", "", {"name": "mine"}),
            ("DELETE", "", None),
            ("PUT", "/status", {"status": "scheduled"}),
            ("GET", "/performance", None),
            ("GET", "/steps", None),
            ("GET", "/events", None),
        ]:
            response = await client.request(
                method, f"/api/campaigns/{theirs['id']}{suffix}", json=body, headers=alpha.headers
            )
            assert_problem(response, 404, "not-found")
        assert (await client.get("/api/campaigns", headers=alpha.headers)).json()["total"] == 0

    async def test_members_may_manage_campaigns(self, client: httpx.AsyncClient) -> None:
        owner = await register(client)
        member = await invite_and_join(client, owner)
        await create_campaign(client, member)


class TestStatus:
    async def test_full_lifecycle_is_recorded(self, client: httpx.AsyncClient) -> None:
        owner = await register(client)
        campaign = await create_campaign(client, owner, starts_at=START)
        cid = campaign["id"]
        for status in ("scheduled", "active", "paused", "active", "completed"):
            response = await set_status(client, owner, cid, status)
            assert response.status_code == 200, response.text
            assert response.json()["status"] == status
        timeline = (await client.get(f"/api/campaigns/{cid}/events", headers=owner.headers)).json()
        assert [item["to_status"] for item in reversed(timeline["items"])] == [
            "scheduled",
            "active",
            "paused",
            "active",
            "completed",
        ]
        events = (
            await client.get("/api/events?name=campaign.status_changed", headers=owner.headers)
        ).json()
        assert events["total"] == 5

    async def test_same_status_is_a_no_op(self, client: httpx.AsyncClient) -> None:
        owner = await register(client)
        campaign = await create_campaign(client, owner)
        response = await set_status(client, owner, campaign["id"], "draft")
        assert response.status_code == 200

    @pytest.mark.parametrize(
        ("path", "target"),
        [
            ([], "active"),
            ([], "paused"),
            ([], "completed"),
            (["scheduled"], "paused"),
            (["scheduled", "active"], "scheduled"),
            (["scheduled", "active", "completed"], "active"),
            (["cancelled"], "draft"),
            (["scheduled", "active", "paused", "cancelled"], "active"),
        ],
    )
    async def test_invalid_transitions_are_422(
        self, client: httpx.AsyncClient, path: list[str], target: str
    ) -> None:
        owner = await register(client)
        campaign = await create_campaign(client, owner, starts_at=START)
        for status in path:
            assert (await set_status(client, owner, campaign["id"], status)).status_code == 200
        problem = assert_problem(
            await set_status(client, owner, campaign["id"], target), 422, "invalid-input"
        )
        assert problem["field"] == "status"
        assert f"cannot become {target}" in problem["detail"]

    async def test_cancel_from_any_non_final_state(self, client: httpx.AsyncClient) -> None:
        owner = await register(client)
        for path in ([], ["scheduled"], ["scheduled", "active"], ["scheduled", "active", "paused"]):
            campaign = await create_campaign(client, owner, starts_at=START)
            for status in path:
                await set_status(client, owner, campaign["id"], status)
            response = await set_status(client, owner, campaign["id"], "cancelled")
            assert response.json()["status"] == "cancelled"

    async def test_scheduling_needs_a_start(self, client: httpx.AsyncClient) -> None:
        owner = await register(client)
        campaign = await create_campaign(client, owner)
        problem = assert_problem(await set_status(client, owner, campaign["id"], "scheduled"), 422)
        assert problem["field"] == "starts_at"

    async def test_final_campaigns_are_read_only(self, client: httpx.AsyncClient) -> None:
        owner = await register(client)
        campaign = await create_campaign(client, owner)
        await set_status(client, owner, campaign["id"], "cancelled")
        response = await client.patch(
            f"/api/campaigns/{campaign['id']}", json={"name": "again"}, headers=owner.headers
        )
        assert_problem(response, 409, "conflict")

    async def test_an_active_campaign_cannot_be_deleted(self, client: httpx.AsyncClient) -> None:
        owner = await register(client)
        campaign = await create_campaign(client, owner, starts_at=START)
        await activate(client, owner, campaign["id"])
        response = await client.delete(f"/api/campaigns/{campaign['id']}", headers=owner.headers)
        assert_problem(response, 409)
