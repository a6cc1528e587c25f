"""Two workspaces side by side: nothing of one is visible or writable from the other."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.helpers import Account, assert_problem, me, register, unique_email


@dataclass
class Tenant:
    owner: Account
    member_id: str
    invitation_id: str
    api_key_id: str
    api_key: str


async def populate(client: httpx.AsyncClient, name: str) -> Tenant:
    owner = await register(client, workspace=name)
    invitation = (
        await client.post(
            "/api/workspace/invitations", json={"email": unique_email()}, headers=owner.headers
        )
    ).json()
    key = (
        await client.post(
            "/api/api-keys",
            json={
                "name": name,
                "scopes": ["events:write", "events:read", "workspace:read", "members:read"],
            },
            headers=owner.headers,
        )
    ).json()
    await client.post(
        "/api/events", json={"events": [{"name": f"ui.{name.lower()}_seen"}]}, headers=owner.headers
    )
    profile = await me(client, owner.headers)
    return Tenant(owner, profile["id"], invitation["id"], key["id"], key["key"])


@pytest.fixture
async def tenants(client: httpx.AsyncClient) -> tuple[Tenant, Tenant]:
    return await populate(client, "Alpha"), await populate(client, "Beta")


class TestForeignIdsAnswer404:
    @pytest.mark.parametrize(
        ("method", "path", "body"),
        [
            ("GET", "/api/workspace/members/{member_id}", None),
            ("PUT", "/api/workspace/members/{member_id}/role", {"role": "member"}),
            ("POST", "/api/workspace/members/{member_id}/deactivate", None),
            ("POST", "/api/workspace/members/{member_id}/reactivate", None),
            ("DELETE", "/api/workspace/invitations/{invitation_id}", None),
            ("DELETE", "/api/api-keys/{api_key_id}", None),
        ],
    )
    async def test_foreign_id(
        self,
        client: httpx.AsyncClient,
        tenants: tuple[Tenant, Tenant],
        method: str,
        path: str,
        body: dict[str, Any] | None,
    ) -> None:
        alpha, beta = tenants
        url = path.format(
            member_id=beta.member_id, invitation_id=beta.invitation_id, api_key_id=beta.api_key_id
        )
        response = await client.request(method, url, json=body, headers=alpha.owner.headers)
        assert_problem(response, 404, "not-found")

    async def test_the_foreign_rows_are_untouched(
        self, client: httpx.AsyncClient, tenants: tuple[Tenant, Tenant]
    ) -> None:
        alpha, beta = tenants
        await client.post(
            f"/api/workspace/members/{beta.member_id}/deactivate", headers=alpha.owner.headers
        )
        await client.delete(f"/api/api-keys/{beta.api_key_id}", headers=alpha.owner.headers)
        assert (await me(client, beta.owner.headers))["email"] == beta.owner.email
        still_works = await client.get("/api/workspace", headers={"X-API-Key": beta.api_key})
        assert still_works.json()["name"] == "Beta"


class TestListsNeverLeak:
    @pytest.mark.parametrize(
        "path",
        ["/api/workspace/members", "/api/workspace/invitations", "/api/api-keys", "/api/events"],
    )
    async def test_lists_hold_only_own_rows(
        self, client: httpx.AsyncClient, tenants: tuple[Tenant, Tenant], path: str
    ) -> None:
        alpha, beta = tenants
        mine = (await client.get(path, headers=alpha.owner.headers)).json()
        theirs = (await client.get(path, headers=beta.owner.headers)).json()
        assert mine["total"] >= 1
        mine_ids = {item["id"] for item in mine["items"]}
        their_ids = {item["id"] for item in theirs["items"]}
        assert not mine_ids & their_ids
        assert beta.owner.email not in str(mine)

    async def test_api_key_sees_its_own_workspace_only(
        self, client: httpx.AsyncClient, tenants: tuple[Tenant, Tenant]
    ) -> None:
        alpha, _ = tenants
        events = (await client.get("/api/events", headers={"X-API-Key": alpha.api_key})).json()
        assert {item["name"] for item in events["items"]} >= {"ui.alpha_seen"}
        assert "ui.beta_seen" not in str(events)

    async def test_events_are_stamped_with_the_callers_workspace(
        self, client: httpx.AsyncClient, tenants: tuple[Tenant, Tenant]
    ) -> None:
        alpha, beta = tenants
        await client.post(
            "/api/events",
            json={"events": [{"name": "ui.sneaky"}]},
            headers={"X-API-Key": alpha.api_key},
        )
        beta_events = (
            await client.get(
                "/api/events", params={"name": "ui.sneaky"}, headers=beta.owner.headers
            )
        ).json()
        assert beta_events["total"] == 0


class TestEveryWorkspaceTableIsScoped:
    def test_each_table_with_workspace_id_has_a_scoped_repository(self) -> None:
        """A new workspace table without a `WorkspaceRepository` would bypass the scoping."""
        import importlib
        import pkgutil

        import intuitivus_flow
        from intuitivus_flow.kit.repository import WorkspaceQueries, WorkspaceRepository
        from intuitivus_flow.models import Base

        for module in pkgutil.walk_packages(intuitivus_flow.__path__, "intuitivus_flow."):
            if module.name.endswith(".repository"):
                importlib.import_module(module.name)

        def subclasses(cls: type) -> list[type]:
            found = []
            for sub in cls.__subclasses__():
                found += [sub, *subclasses(sub)]
            return found

        scoped_tables = {repo.model.__tablename__ for repo in subclasses(WorkspaceRepository)}
        scoped_tables |= {
            model.__tablename__
            for queries in subclasses(WorkspaceQueries)
            for model in queries.owns
        }
        tenant_tables = {
            table.name for table in Base.metadata.sorted_tables if "workspace_id" in table.columns
        }
        # Auth sessions are found by the signed id in a token, never listed by workspace.
        assert tenant_tables - scoped_tables <= {"auth_sessions"}
