"""Small helpers the API tests share: sign-up, sign-in and auth headers."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import httpx

PASSWORD = "correct horse battery"


@dataclass
class Account:
    email: str
    access_token: str
    refresh_token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access_token}"}


def unique_email(label: str = "user") -> str:
    return f"{label}-{uuid.uuid4().hex[:8]}@example.com"


async def register(
    client: httpx.AsyncClient, *, email: str | None = None, workspace: str = "Acme"
) -> Account:
    email = email or unique_email("owner")
    response = await client.post(
        "/api/auth/register",
        json={"email": email, "password": PASSWORD, "workspace_name": workspace, "name": "O"},
    )
    assert response.status_code == 201, response.text
    return _account(email, response.json())


async def login(client: httpx.AsyncClient, email: str, password: str = PASSWORD) -> Account:
    response = await client.post("/api/auth/login", json={"email": email, "password": password})
    assert response.status_code == 200, response.text
    return _account(email, response.json())


async def invite_and_join(
    client: httpx.AsyncClient, inviter: Account, *, role: str = "member"
) -> Account:
    email = unique_email(role)
    invited = await client.post(
        "/api/workspace/invitations", json={"email": email, "role": role}, headers=inviter.headers
    )
    assert invited.status_code == 201, invited.text
    joined = await client.post(
        "/api/auth/invitations/accept",
        json={"token": invited.json()["token"], "password": PASSWORD, "name": role},
    )
    assert joined.status_code == 201, joined.text
    return _account(email, joined.json())


async def me(client: httpx.AsyncClient, headers: dict[str, str]) -> dict[str, Any]:
    response = await client.get("/api/auth/me", headers=headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _account(email: str, tokens: dict[str, Any]) -> Account:
    assert tokens["token_type"] == "bearer"
    return Account(email, tokens["access_token"], tokens["refresh_token"])


def assert_problem(
    response: httpx.Response, status: int, type_suffix: str | None = None
) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    if type_suffix:
        assert body["type"] == f"/problems/{type_suffix}", body
    return body
