"""Contacts API and audience segments, on both engines."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from intuitivus_flow.contacts import service as contacts
from intuitivus_flow.kit.db import unit_of_work
from tests.helpers import Account, assert_problem, invite_and_join, register


async def create(client: httpx.AsyncClient, account: Account, **fields: Any) -> dict[str, Any]:
    response = await client.post("/api/contacts", json=fields, headers=account.headers)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def listing(client: httpx.AsyncClient, account: Account, **params: Any) -> dict[str, Any]:
    response = await client.get("/api/contacts", params=params, headers=account.headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


class TestCrud:
    async def test_create_normalises_phone_and_tags(self, client: httpx.AsyncClient) -> None:
        owner = await register(client)
        contact = await create(
            client,
            owner,
            name="Maria Silva",
            phone="+55 (11) 98765-4321",
            email="maria@example.com",
            tags=["VIP", "lead", "vip", " "],
            attributes={"city": "São Paulo"},
            opt_in="opted_in",
        )
        assert contact["phone"] == "+5511987654321"
        assert contact["tags"] == ["lead", "vip"]
        assert contact["opt_in"] == "opted_in"
        assert contact["opt_in_changed_at"] is not None
        fetched = await client.get(f"/api/contacts/{contact['id']}", headers=owner.headers)
        assert fetched.json() == contact
        international = await create(client, owner, phone="0044 20 7946 0958")
        assert international["phone"] == "+442079460958"
        assert international["opt_in_changed_at"] is None

    @pytest.mark.parametrize(
        "fields",
        [
            {"phone": "12345"},
            {"phone": "not a phone"},
            {"tags": ["has space"]},
            {"tags": [f"t{i}" for i in range(51)]},
            {"email": "nope"},
            {"attributes": {str(i): i for i in range(101)}},
            {"unknown": 1},
        ],
    )
    async def test_invalid_input(self, client: httpx.AsyncClient, fields: dict[str, Any]) -> None:
        owner = await register(client)
        response = await client.post("/api/contacts", json=fields, headers=owner.headers)
        assert_problem(response, 422)

    async def test_phone_is_unique_in_the_workspace(self, client: httpx.AsyncClient) -> None:
        owner = await register(client)
        first = await create(client, owner, phone="+5511987654321")
        taken = await client.post(
            "/api/contacts", json={"phone": "+55 11 98765 4321"}, headers=owner.headers
        )
        assert_problem(taken, 409, "conflict")
        other = await create(client, owner, phone="+5511900000000")
        moved = await client.patch(
            f"/api/contacts/{other['id']}", json={"phone": first["phone"]}, headers=owner.headers
        )
        assert_problem(moved, 409)
        # Another workspace may know the same person.
        assert (await create(client, await register(client), phone=first["phone"]))["phone"]

    async def test_update_replaces_tags_and_tracks_opt_in(self, client: httpx.AsyncClient) -> None:
        owner = await register(client)
        contact = await create(client, owner, name="A", tags=["a", "b"])
        response = await client.patch(
            f"/api/contacts/{contact['id']}",
            json={
                "tags": ["b", "c"],
                "opt_in": "opted_out",
                "email": "a@example.com",
                "phone": "+14155550100",
                "name": "Anna",
            },
            headers=owner.headers,
        )
        updated = response.json()
        assert updated["tags"] == ["b", "c"]
        assert (updated["opt_in"], updated["name"]) == ("opted_out", "Anna")
        assert updated["email"] == "a@example.com"
        assert updated["opt_in_changed_at"] is not None
        same = await client.patch(
            f"/api/contacts/{contact['id']}",
            json={"tags": ["c", "b"], "phone": "+14155550100", "opt_in": "opted_out"},
            headers=owner.headers,
        )
        assert same.json()["opt_in_changed_at"] == updated["opt_in_changed_at"]
        cleared = await client.patch(
            f"/api/contacts/{contact['id']}", json={"tags": None}, headers=owner.headers
        )
        assert cleared.json()["tags"] == []
        refused = await client.patch(
            f"/api/contacts/{contact['id']}", json={"name": None}, headers=owner.headers
        )
        assert_problem(refused, 422)

    async def test_delete(self, client: httpx.AsyncClient) -> None:
        owner = await register(client)
        contact = await create(client, owner, tags=["x"])
        deleted = await client.delete(f"/api/contacts/{contact['id']}", headers=owner.headers)
        assert deleted.status_code == 204
        gone = await client.get(f"/api/contacts/{contact['id']}", headers=owner.headers)
        assert_problem(gone, 404, "not-found")

    async def test_events_are_recorded(self, client: httpx.AsyncClient) -> None:
        owner = await register(client)
        contact = await create(client, owner)
        await client.patch(
            f"/api/contacts/{contact['id']}", json={"name": "B"}, headers=owner.headers
        )
        await client.delete(f"/api/contacts/{contact['id']}", headers=owner.headers)
        events = (await client.get("/api/events", headers=owner.headers)).json()["items"]
        names = {event["name"] for event in events}
        assert {"contact.created", "contact.updated", "contact.deleted"} <= names

    async def test_members_manage_contacts(self, client: httpx.AsyncClient) -> None:
        owner = await register(client)
        member = await invite_and_join(client, owner)
        assert (await create(client, member, name="By member"))["name"] == "By member"


class TestFiltering:
    async def test_tags_must_all_match_and_search_finds_text(
        self, client: httpx.AsyncClient
    ) -> None:
        owner = await register(client)
        both = await create(client, owner, name="Both", tags=["vip", "lead"])
        await create(client, owner, name="Only VIP", tags=["vip"], email="v@example.com")
        await create(client, owner, name="None", phone="+14155550123")
        vip = await listing(client, owner, tag="vip")
        assert vip["total"] == 2
        assert [c["id"] for c in (await listing(client, owner, tag=["vip", "lead"]))["items"]] == [
            both["id"]
        ]
        assert (await listing(client, owner, q="only"))["items"][0]["name"] == "Only VIP"
        assert (await listing(client, owner, q="V@EXAMPLE"))["total"] == 1
        assert (await listing(client, owner, q="4155550123"))["total"] == 1
        bad = await client.get("/api/contacts", params={"tag": "no spaces"}, headers=owner.headers)
        assert_problem(bad, 422)

    async def test_select_segment_for_campaigns(self, client: httpx.AsyncClient, app: Any) -> None:
        owner = await register(client)
        keep = await create(client, owner, name="Keep", tags=["promo", "br"])
        await create(client, owner, name="Out", tags=["promo", "br"], opt_in="opted_out")
        await create(client, owner, name="Partial", tags=["promo"])
        other = await register(client, workspace="Other")
        await create(client, other, name="Foreign", tags=["promo", "br"])
        workspace_id = (await client.get("/api/workspace", headers=owner.headers)).json()["id"]
        async with unit_of_work(app.state.context.sessions) as session:
            segment = await contacts.select_segment(
                session, _uuid(workspace_id), tags=["BR", "promo"]
            )
            everyone = await contacts.select_segment(session, _uuid(workspace_id), tags=[])
        assert [str(c.id) for c in segment] == [keep["id"]]
        assert {c.name for c in everyone} == {"Keep", "Partial"}


class TestIsolation:
    async def test_foreign_ids_are_not_found_and_lists_do_not_leak(
        self, client: httpx.AsyncClient
    ) -> None:
        alpha = await register(client, workspace="Alpha")
        beta = await register(client, workspace="Beta")
        theirs = await create(client, beta, name="Beta's", tags=["shared"])
        await create(client, alpha, name="Alpha's", tags=["shared"])
        for method, body in (("GET", None), ("PATCH", {"name": "x"}), ("DELETE", None)):
            response = await client.request(
                method, f"/api/contacts/{theirs['id']}", json=body, headers=alpha.headers
            )
            assert_problem(response, 404)
        mine = await listing(client, alpha, tag="shared")
        assert [c["name"] for c in mine["items"]] == ["Alpha's"]


def _uuid(value: str) -> Any:
    import uuid

    return uuid.UUID(value)
