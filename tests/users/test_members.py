from __future__ import annotations

import httpx

from tests.helpers import (
    PASSWORD,
    Account,
    assert_problem,
    invite_and_join,
    login,
    me,
    register,
    unique_email,
)


async def member_id(client: httpx.AsyncClient, account: Account) -> str:
    return str((await me(client, account.headers))["id"])


class TestInvitations:
    async def test_invitee_joins_with_the_role(self, client: httpx.AsyncClient) -> None:
        owner = await register(client, workspace="Team")
        admin = await invite_and_join(client, owner, role="admin")
        profile = await me(client, admin.headers)
        assert profile["role"] == "admin"
        assert profile["workspace"]["name"] == "Team"
        listing = await client.get("/api/workspace/members", headers=owner.headers)
        assert listing.json()["total"] == 2

    async def test_token_works_once(self, client: httpx.AsyncClient) -> None:
        owner = await register(client)
        invited = await client.post(
            "/api/workspace/invitations", json={"email": unique_email()}, headers=owner.headers
        )
        token = invited.json()["token"]
        assert invited.json()["accept_url"].endswith(f"/invite/{token}")
        body = {"token": token, "password": PASSWORD}
        assert (await client.post("/api/auth/invitations/accept", json=body)).status_code == 201
        assert_problem(await client.post("/api/auth/invitations/accept", json=body), 409)

    async def test_revoked_invitation_cannot_be_used(self, client: httpx.AsyncClient) -> None:
        owner = await register(client)
        invited = (
            await client.post(
                "/api/workspace/invitations",
                json={"email": unique_email()},
                headers=owner.headers,
            )
        ).json()
        pending = await client.get("/api/workspace/invitations", headers=owner.headers)
        assert [item["id"] for item in pending.json()["items"]] == [invited["id"]]
        revoked = await client.delete(
            f"/api/workspace/invitations/{invited['id']}", headers=owner.headers
        )
        assert revoked.status_code == 204
        accept = await client.post(
            "/api/auth/invitations/accept", json={"token": invited["token"], "password": PASSWORD}
        )
        assert_problem(accept, 404)

    async def test_existing_email_cannot_be_invited(self, client: httpx.AsyncClient) -> None:
        owner = await register(client)
        other = await register(client)
        response = await client.post(
            "/api/workspace/invitations",
            json={"email": other.email.upper()},
            headers=owner.headers,
        )
        assert_problem(response, 409)

    async def test_reinviting_replaces_the_old_link(self, client: httpx.AsyncClient) -> None:
        owner = await register(client)
        email = unique_email()
        first = (
            await client.post(
                "/api/workspace/invitations", json={"email": email}, headers=owner.headers
            )
        ).json()
        await client.post(
            "/api/workspace/invitations", json={"email": email}, headers=owner.headers
        )
        stale = await client.post(
            "/api/auth/invitations/accept", json={"token": first["token"], "password": PASSWORD}
        )
        assert_problem(stale, 404)

    async def test_members_cannot_invite(self, client: httpx.AsyncClient) -> None:
        owner = await register(client)
        member = await invite_and_join(client, owner)
        response = await client.post(
            "/api/workspace/invitations", json={"email": unique_email()}, headers=member.headers
        )
        assert_problem(response, 403, "forbidden")

    async def test_admins_cannot_invite_owners(self, client: httpx.AsyncClient) -> None:
        owner = await register(client)
        admin = await invite_and_join(client, owner, role="admin")
        response = await client.post(
            "/api/workspace/invitations",
            json={"email": unique_email(), "role": "owner"},
            headers=admin.headers,
        )
        assert_problem(response, 403)


class TestRoles:
    async def test_owner_promotes_and_demotes(self, client: httpx.AsyncClient) -> None:
        owner = await register(client)
        member = await invite_and_join(client, owner)
        target = await member_id(client, member)
        promoted = await client.put(
            f"/api/workspace/members/{target}/role", json={"role": "admin"}, headers=owner.headers
        )
        assert promoted.json()["role"] == "admin"
        assert (await me(client, member.headers))["role"] == "admin"  # applies immediately

    async def test_last_owner_cannot_step_down(self, client: httpx.AsyncClient) -> None:
        owner = await register(client)
        response = await client.put(
            f"/api/workspace/members/{await member_id(client, owner)}/role",
            json={"role": "member"},
            headers=owner.headers,
        )
        assert_problem(response, 422)

    async def test_admin_cannot_touch_an_owner(self, client: httpx.AsyncClient) -> None:
        owner = await register(client)
        admin = await invite_and_join(client, owner, role="admin")
        response = await client.put(
            f"/api/workspace/members/{await member_id(client, owner)}/role",
            json={"role": "member"},
            headers=admin.headers,
        )
        assert_problem(response, 403)

    async def test_unknown_role_is_a_validation_error(self, client: httpx.AsyncClient) -> None:
        owner = await register(client)
        response = await client.put(
            f"/api/workspace/members/{await member_id(client, owner)}/role",
            json={"role": "god"},
            headers=owner.headers,
        )
        assert assert_problem(response, 422)["errors"][0]["field"] == "body.role"


class TestDeactivation:
    async def test_deactivated_member_is_locked_out_everywhere(
        self, client: httpx.AsyncClient
    ) -> None:
        owner = await register(client)
        member = await invite_and_join(client, owner)
        target = await member_id(client, member)
        response = await client.post(
            f"/api/workspace/members/{target}/deactivate", headers=owner.headers
        )
        assert response.json()["active"] is False
        assert_problem(await client.get("/api/auth/me", headers=member.headers), 401)
        refresh = await client.post(
            "/api/auth/refresh", json={"refresh_token": member.refresh_token}
        )
        assert_problem(refresh, 401)
        signin = await client.post(
            "/api/auth/login", json={"email": member.email, "password": PASSWORD}
        )
        assert_problem(signin, 403)

    async def test_reactivated_member_signs_in_again(self, client: httpx.AsyncClient) -> None:
        owner = await register(client)
        member = await invite_and_join(client, owner)
        target = await member_id(client, member)
        await client.post(f"/api/workspace/members/{target}/deactivate", headers=owner.headers)
        await client.post(f"/api/workspace/members/{target}/reactivate", headers=owner.headers)
        # Deactivation revoked the sessions (auth/models.py): reactivating does not revive them.
        assert_problem(await client.get("/api/auth/me", headers=member.headers), 401)
        await login(client, member.email)

    async def test_cannot_deactivate_yourself(self, client: httpx.AsyncClient) -> None:
        owner = await register(client)
        response = await client.post(
            f"/api/workspace/members/{await member_id(client, owner)}/deactivate",
            headers=owner.headers,
        )
        assert_problem(response, 403)

    async def test_member_cannot_deactivate(self, client: httpx.AsyncClient) -> None:
        owner = await register(client)
        member = await invite_and_join(client, owner)
        response = await client.post(
            f"/api/workspace/members/{await member_id(client, owner)}/deactivate",
            headers=member.headers,
        )
        assert_problem(response, 403)

    async def test_one_of_two_owners_can_be_deactivated(self, client: httpx.AsyncClient) -> None:
        owner = await register(client)
        second = await invite_and_join(client, owner, role="owner")
        response = await client.post(
            f"/api/workspace/members/{await member_id(client, second)}/deactivate",
            headers=owner.headers,
        )
        assert response.status_code == 200


class TestWorkspace:
    async def test_admin_renames_member_reads(self, client: httpx.AsyncClient) -> None:
        owner = await register(client, workspace="Old")
        member = await invite_and_join(client, owner)
        renamed = await client.patch("/api/workspace", json={"name": "New"}, headers=owner.headers)
        assert renamed.json()["name"] == "New"
        assert (await client.get("/api/workspace", headers=member.headers)).json()["name"] == "New"
        denied = await client.patch("/api/workspace", json={"name": "X"}, headers=member.headers)
        assert_problem(denied, 403)
