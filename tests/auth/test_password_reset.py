"""Password reset by e-mail through the API (issue 17), on both engines, with a real SMTP server.

The link is read from the message the local SMTP server received, as a person would click it.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from email.message import Message
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update

from intuitivus_flow.auth.models import PasswordResetToken
from tests.alerts_engine.receivers import smtp_receiver
from tests.helpers import PASSWORD, Account, assert_problem, login, register, unique_email

NEW_PASSWORD = "a brand new passphrase"
LONG_AGO = datetime(2020, 1, 1, tzinfo=UTC)
LINK = re.compile(r"(https?://\S+/reset-password\?token=([\w-]+))")


@pytest.fixture(scope="module")
def mail_server() -> Iterator[tuple[int, list[Message]]]:
    with smtp_receiver() as server:
        yield server


@pytest.fixture
def inbox(mail_server: tuple[int, list[Message]]) -> list[Message]:
    mail_server[1].clear()
    return mail_server[1]


@pytest.fixture
def settings_overrides(mail_server: tuple[int, list[Message]]) -> dict[str, Any]:
    return {
        "smtp_host": "127.0.0.1",
        "smtp_port": mail_server[0],
        "smtp_starttls": False,
        "smtp_from": "flow@example.com",
        "public_url": "https://flow.example.com",
        "password_reset_max_per_account": 3,
    }


def body_of(message: Message) -> str:
    payload = message.get_payload(decode=True)
    assert isinstance(payload, bytes)
    return payload.decode()


def token_in(message: Message) -> str:
    found = LINK.search(body_of(message))
    assert found, body_of(message)
    return found.group(2)


async def ask(client: httpx.AsyncClient, email: str) -> httpx.Response:
    return await client.post("/api/auth/password-reset", json={"email": email})


async def confirm(
    client: httpx.AsyncClient, token: str, password: str = NEW_PASSWORD
) -> httpx.Response:
    return await client.post(
        "/api/auth/password-reset/confirm", json={"token": token, "new_password": password}
    )


async def link_for(client: httpx.AsyncClient, inbox: list[Message], email: str) -> str:
    before = len(inbox)
    assert (await ask(client, email)).status_code == 202
    assert len(inbox) == before + 1
    return token_in(inbox[-1])


async def stored_tokens(app: Any) -> list[PasswordResetToken]:
    async with app.state.context.sessions() as session:
        return list((await session.execute(select(PasswordResetToken))).scalars())


class TestRequest:
    async def test_the_link_arrives_by_mail_and_only_its_digest_is_stored(
        self, client: httpx.AsyncClient, app: Any, inbox: list[Message]
    ) -> None:
        account = await register(client)
        response = await ask(client, account.email.upper())
        assert response.status_code == 202
        [message] = inbox
        assert message["To"] == account.email
        assert message["From"] == "flow@example.com"
        assert "reset" in message["Subject"].lower()
        link = LINK.search(body_of(message))
        assert link
        assert link.group(1).startswith("https://flow.example.com/reset-password?")
        [stored] = await stored_tokens(app)
        assert stored.token_hash == hashlib.sha256(link.group(2).encode()).hexdigest()
        assert link.group(2) not in stored.token_hash

    async def test_an_unknown_address_gets_the_same_answer_and_no_mail(
        self, client: httpx.AsyncClient, app: Any, inbox: list[Message]
    ) -> None:
        account = await register(client)
        known = await ask(client, account.email)
        unknown = await ask(client, unique_email("nobody"))
        assert (unknown.status_code, unknown.json()) == (known.status_code, known.json())
        assert set(unknown.headers) == set(known.headers)
        assert len(inbox) == 1
        assert len(await stored_tokens(app)) == 1

    async def test_throttled_per_address_whether_or_not_it_has_an_account(
        self, client: httpx.AsyncClient, inbox: list[Message]
    ) -> None:
        account = await register(client)
        stranger = unique_email("nobody")
        for _ in range(3):
            assert (await ask(client, account.email)).status_code == 202
            assert (await ask(client, stranger)).status_code == 202
        for email in (account.email, stranger):
            refused = await ask(client, email)
            assert_problem(refused, 429, "rate-limited")
            assert int(refused.headers["retry-after"]) > 0
        assert len(inbox) == 3

    async def test_bad_bodies_are_problems(self, client: httpx.AsyncClient) -> None:
        for body in ({}, {"email": ""}, {"email": "x" * 400}, {"email": "a@b.c", "extra": 1}):
            assert_problem(await client.post("/api/auth/password-reset", json=body), 422)


class TestReset:
    async def test_sets_the_password_and_signs_out_every_session(
        self, client: httpx.AsyncClient, inbox: list[Message]
    ) -> None:
        account = await register(client)
        token = await link_for(client, inbox, account.email)
        assert (await confirm(client, token)).status_code == 204

        # The old access and refresh tokens die with their sessions.
        assert_problem(await client.get("/api/auth/me", headers=account.headers), 401)
        refreshed = await client.post(
            "/api/auth/refresh", json={"refresh_token": account.refresh_token}
        )
        assert_problem(refreshed, 401)
        old = await client.post(
            "/api/auth/login", json={"email": account.email, "password": PASSWORD}
        )
        assert_problem(old, 401)
        await login(client, account.email, NEW_PASSWORD)

    async def test_a_link_works_once(self, client: httpx.AsyncClient, inbox: list[Message]) -> None:
        account = await register(client)
        token = await link_for(client, inbox, account.email)
        assert (await confirm(client, token)).status_code == 204
        again = assert_problem(await confirm(client, token, "yet another passphrase"), 400)
        assert again["type"].endswith("reset-link-invalid")
        assert "already used" in again["detail"]
        await login(client, account.email, NEW_PASSWORD)

    async def test_a_newer_link_replaces_the_older_one(
        self, client: httpx.AsyncClient, inbox: list[Message]
    ) -> None:
        account = await register(client)
        first = await link_for(client, inbox, account.email)
        second = await link_for(client, inbox, account.email)
        replaced = assert_problem(await confirm(client, first), 400)
        assert "newer" in replaced["detail"]
        assert (await confirm(client, second)).status_code == 204

    async def test_parallel_requests_leave_one_live_link(
        self, client: httpx.AsyncClient, app: Any, inbox: list[Message]
    ) -> None:
        account = await register(client)
        answers = await asyncio.gather(*(ask(client, account.email) for _ in range(3)))
        assert [answer.status_code for answer in answers] == [202, 202, 202]
        tokens = await stored_tokens(app)
        assert len(tokens) == 3
        assert len([t for t in tokens if t.revoked_at is None]) == 1
        live = [token_in(message) for message in inbox]
        outcomes = sorted([(await confirm(client, token)).status_code for token in live])
        assert outcomes == [204, 400, 400]

    async def test_an_expired_link_changes_nothing(
        self, client: httpx.AsyncClient, app: Any, inbox: list[Message]
    ) -> None:
        account = await register(client)
        token = await link_for(client, inbox, account.email)
        async with app.state.context.sessions.begin() as session:
            await session.execute(update(PasswordResetToken).values(expires_at=LONG_AGO))
        expired = assert_problem(await confirm(client, token), 400)
        assert "expired" in expired["detail"]
        await login(client, account.email, PASSWORD)

    async def test_garbled_links_and_weak_passwords_change_nothing(
        self, client: httpx.AsyncClient, inbox: list[Message]
    ) -> None:
        account = await register(client)
        token = await link_for(client, inbox, account.email)
        for garbled in ("nope", token[:-2], token + "x", "€" * 40):
            assert_problem(await confirm(client, garbled), 400, "reset-link-invalid")
        assert_problem(await confirm(client, token, "short"), 422)
        assert_problem(await confirm(client, "x" * 300), 422)
        # The link survived the refused attempts.
        assert (await confirm(client, token)).status_code == 204

    async def test_parallel_submissions_of_one_link_set_exactly_one_password(
        self, client: httpx.AsyncClient, inbox: list[Message]
    ) -> None:
        account = await register(client)
        token = await link_for(client, inbox, account.email)
        passwords = [f"parallel passphrase {n}" for n in range(4)]
        answers = await asyncio.gather(*(confirm(client, token, p) for p in passwords))
        statuses = [answer.status_code for answer in answers]
        assert sorted(statuses) == [204, 400, 400, 400], [a.text for a in answers]
        winner = passwords[statuses.index(204)]
        await login(client, account.email, winner)
        for loser in passwords:
            if loser != winner:
                refused = await client.post(
                    "/api/auth/login", json={"email": account.email, "password": loser}
                )
                assert refused.status_code == 401

    async def test_a_deactivated_member_gets_no_link(
        self, client: httpx.AsyncClient, inbox: list[Message]
    ) -> None:
        owner = await register(client)
        member = await _member(client, owner)
        deactivated = await client.post(
            f"/api/workspace/members/{member['id']}/deactivate", headers=owner.headers
        )
        assert deactivated.status_code == 200, deactivated.text
        assert (await ask(client, member["email"])).status_code == 202
        assert inbox == []


async def _member(client: httpx.AsyncClient, owner: Account) -> dict[str, Any]:
    from tests.helpers import invite_and_join

    joined = await invite_and_join(client, owner)
    listed = await client.get("/api/workspace/members", headers=owner.headers)
    found: dict[str, Any] = next(m for m in listed.json()["items"] if m["email"] == joined.email)
    return found


class TestWithoutMail:
    @pytest.fixture
    def settings_overrides(self) -> dict[str, Any]:
        return {"smtp_host": None}

    async def test_the_request_is_logged_without_its_link(
        self, client: httpx.AsyncClient, app: Any, caplog: pytest.LogCaptureFixture
    ) -> None:
        account = await register(client)
        with caplog.at_level(logging.INFO):
            assert (await ask(client, account.email)).status_code == 202
        warnings = [r for r in caplog.records if "FLOW_SMTP_HOST" in r.getMessage()]
        assert warnings, [r.getMessage() for r in caplog.records]
        assert "users reset-password" in warnings[0].getMessage()
        assert len(await stored_tokens(app)) == 1
        for record in caplog.records:
            text = record.getMessage() + repr(record.__dict__)
            assert "token=" not in text
            assert "reset-password?" not in text
