"""Which WhatsApp numbers are trusted, on both engines.

- Ownership: a number routes webhooks only once the Graph API confirmed that the access token
  given with it can read it, so a workspace cannot claim another business's number.
- Secrets: an empty app secret verifies nothing, a blank one is never stored, and a number
  whose stored secret cannot be decrypted is refused (401), logged and shown as needing it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update

from intuitivus_flow.conversations.channels.whatsapp import sign, verify_signature
from intuitivus_flow.conversations.models import WhatsAppNumber
from intuitivus_flow.kit.crypto import SecretBox, generate_key
from tests.conversations.graph_server import ACCESS_TOKEN, RunningGraph, serve_graph
from tests.conversations.support import (
    APP_SECRET,
    VERIFY_TOKEN,
    WEBHOOK,
    connect,
    inbound_body,
    inbox,
    post_webhook,
)
from tests.helpers import Account, assert_problem, register
from tests.web.browsing import Web, sign_up, submit, text_of

NUMBERS = "/api/channels/whatsapp/numbers"
VICTIM_TOKEN = "EAAG-token-of-the-business-that-owns-it"


@pytest.fixture(scope="module")
def graph() -> Iterator[RunningGraph]:
    yield from serve_graph()


@pytest.fixture
def settings_overrides(graph: RunningGraph) -> dict[str, Any]:
    graph.state.owners.clear()
    graph.state.reads.clear()
    graph.state.mode = "ok"
    return {"whatsapp_graph_url": graph.url, "whatsapp_graph_version": "v21.0"}


def number_body(phone_number_id: str, **fields: Any) -> dict[str, Any]:
    return {
        "phone_number_id": phone_number_id,
        "access_token": ACCESS_TOKEN,
        "verify_token": f"{VERIFY_TOKEN}-{phone_number_id}",
        "app_secret": APP_SECRET,
        **fields,
    }


async def stored_numbers(app: Any) -> list[WhatsAppNumber]:
    async with app.state.context.sessions() as session:
        return list((await session.scalars(select(WhatsAppNumber))).all())


def empty_key_signature(raw: bytes) -> str:
    """What anyone can compute: the HMAC of the body keyed with nothing."""
    return "sha256=" + hmac.new(b"", raw, hashlib.sha256).hexdigest()


class TestSignatureFunction:
    @pytest.mark.parametrize("secret", ["", "   ", None])
    def test_no_secret_verifies_nothing(self, secret: str | None) -> None:
        raw = b'{"object": "whatsapp_business_account"}'
        assert verify_signature(raw, empty_key_signature(raw), secret) is False
        assert verify_signature(raw, "sha256=" + "0" * 64, secret) is False

    def test_signing_needs_a_secret(self) -> None:
        with pytest.raises(ValueError, match="app secret"):
            sign(b"{}", "")

    def test_the_right_secret_still_verifies(self) -> None:
        raw = b'{"a": 1}'
        assert verify_signature(raw, sign(raw, APP_SECRET), APP_SECRET) is True


class TestOwnership:
    async def test_a_number_meta_confirms_is_connected_and_active(
        self, client: httpx.AsyncClient, graph: RunningGraph
    ) -> None:
        owner = await register(client)
        response = await client.post(NUMBERS, json=number_body("1061001"), headers=owner.headers)
        assert response.status_code == 201, response.text
        assert (response.json()["active"], response.json()["status"]) == (True, "active")
        assert response.json()["display_number"] == "+1 555-010-0000"  # Meta's, none given
        assert graph.state.reads == ["1061001"]

    async def test_another_business_number_cannot_be_claimed(
        self, client: httpx.AsyncClient, app: Any, graph: RunningGraph
    ) -> None:
        graph.state.owners["1062002"] = VICTIM_TOKEN
        squatter = await register(client, workspace="Squatter")
        refused = await client.post(NUMBERS, json=number_body("1062002"), headers=squatter.headers)
        problem = assert_problem(refused, 422, "invalid-input")
        assert "Meta did not confirm" in problem["detail"]
        assert await stored_numbers(app) == []

        # The business that owns it connects it, and its customers' messages reach it.
        owner = await register(client, workspace="Owner")
        mine = await client.post(
            NUMBERS,
            json=number_body("1062002", access_token=VICTIM_TOKEN),
            headers=owner.headers,
        )
        assert mine.status_code == 201, mine.text
        assert (await post_webhook(client, inbound_body("1062002"))).status_code == 200
        assert (await inbox(client, owner))["total"] == 1
        assert (await inbox(client, squatter))["total"] == 0

    async def test_nothing_is_connected_while_meta_cannot_be_asked(
        self, client: httpx.AsyncClient, app: Any, graph: RunningGraph
    ) -> None:
        owner = await register(client)
        graph.state.mode = "error500"
        response = await client.post(NUMBERS, json=number_body("1063003"), headers=owner.headers)
        assert "could not be reached" in assert_problem(response, 422)["detail"]
        assert await stored_numbers(app) == []

    async def test_an_unconfirmed_number_receives_nothing_and_blocks_no_owner(
        self, client: httpx.AsyncClient, app: Any
    ) -> None:
        """A row nobody proved (an import arrives so): no webhook is routed to it, and the
        business that proves the number takes it over."""
        squatter = await register(client, workspace="Squatter")
        squatter_workspace = await workspace_of(client, squatter)
        async with app.state.context.sessions() as session, session.begin():
            session.add(
                WhatsAppNumber(
                    workspace_id=squatter_workspace,
                    phone_number_id="1064004",
                    encrypted_access_token=app.state.context.secrets.encrypt(ACCESS_TOKEN),
                    encrypted_app_secret=app.state.context.secrets.encrypt(APP_SECRET),
                    verify_token_digest="0" * 64,
                )
            )
        listed = (await client.get(NUMBERS, headers=squatter.headers)).json()
        assert [(n["active"], n["status"]) for n in listed] == [(False, "pending_verification")]
        assert_problem(await post_webhook(client, inbound_body("1064004")), 401)

        owner = await register(client, workspace="Owner")
        taken = await client.post(NUMBERS, json=number_body("1064004"), headers=owner.headers)
        assert taken.status_code == 201, taken.text
        assert [n.workspace_id for n in await stored_numbers(app)] == [
            await workspace_of(client, owner)
        ]

    async def test_a_verified_number_stays_unique(self, client: httpx.AsyncClient) -> None:
        await connect(client, workspace="First", phone_number_id="1065005")
        second = await register(client, workspace="Second")
        again = await client.post(NUMBERS, json=number_body("1065005"), headers=second.headers)
        assert_problem(again, 409, "conflict")

    async def test_the_channels_page_says_why_a_number_was_refused(
        self, app: Any, graph: RunningGraph
    ) -> None:
        graph.state.owners["1068008"] = VICTIM_TOKEN
        async with Web(app).client() as browser:
            await sign_up(browser, email=f"o-{uuid.uuid4().hex[:6]}@example.com")
            refused = await submit(
                browser,
                "/channels",
                "/channels/numbers",
                {**number_body("1068008"), "display_number": "", "agent_id": ""},
            )
        assert refused.status_code == 422
        assert "Meta did not confirm" in text_of(refused.text)
        assert await stored_numbers(app) == []


class TestSecrets:
    @pytest.mark.parametrize("field", ["app_secret", "access_token", "verify_token"])
    async def test_blank_secrets_are_refused(
        self, client: httpx.AsyncClient, app: Any, field: str
    ) -> None:
        owner = await register(client)
        body = number_body("1066006", **{field: " " * 12})
        response = await client.post(NUMBERS, json=body, headers=owner.headers)
        assert_problem(response, 422)
        assert await stored_numbers(app) == []

    async def test_an_access_token_no_header_can_carry_is_refused(
        self, client: httpx.AsyncClient, app: Any
    ) -> None:
        owner = await register(client)
        body = number_body("1066007", access_token="token-\u00e9\u00e8-not-ascii")
        response = await client.post(NUMBERS, json=body, headers=owner.headers)
        assert_problem(response, 422)
        assert await stored_numbers(app) == []

    async def test_an_undecryptable_secret_is_never_trusted(
        self, client: httpx.AsyncClient, app: Any, caplog: pytest.LogCaptureFixture
    ) -> None:
        tenant = await connect(client)
        await lose_the_key_of(app, tenant.phone_number_id)
        raw = json.dumps(inbound_body(tenant.phone_number_id)).encode()
        with caplog.at_level(logging.WARNING, logger="intuitivus_flow.conversations.webhooks"):
            for signature in (empty_key_signature(raw), sign(raw, APP_SECRET)):
                response = await client.post(
                    WEBHOOK,
                    content=raw,
                    headers={"X-Hub-Signature-256": signature, "Content-Type": "application/json"},
                )
                assert_problem(response, 401, "unauthorized")
        assert (await inbox(client, tenant.owner))["total"] == 0
        warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
        assert any(tenant.phone_number_id in line for line in warnings), warnings
        assert not any(APP_SECRET in line for line in warnings)
        listed = (await client.get(NUMBERS, headers=tenant.owner.headers)).json()
        assert [n["status"] for n in listed] == ["needs_secret"]

    async def test_the_channels_page_says_the_secret_must_be_entered_again(self, app: Any) -> None:
        async with Web(app).client() as browser:
            await sign_up(browser, email=f"o-{uuid.uuid4().hex[:6]}@example.com")
            added = await submit(
                browser,
                "/channels",
                "/channels/numbers",
                {**number_body("1067007"), "display_number": "", "agent_id": ""},
            )
            assert added.status_code == 303, text_of(added.text)
            await lose_the_key_of(app, "1067007")
            page = text_of((await browser.get("/channels")).text)
        assert "Needs its secret re-entered" in page
        assert APP_SECRET not in page


async def workspace_of(client: httpx.AsyncClient, account: Account) -> uuid.UUID:
    me = (await client.get("/api/auth/me", headers=account.headers)).json()
    return uuid.UUID(me["workspace"]["id"])


async def lose_the_key_of(app: Any, phone_number_id: str) -> None:
    """The number's secrets encrypted with a key the instance no longer has (a rotation that
    dropped the old key): they can no longer be decrypted."""
    lost = SecretBox([generate_key()])
    async with app.state.context.sessions() as session, session.begin():
        await session.execute(
            update(WhatsAppNumber)
            .where(WhatsAppNumber.phone_number_id == phone_number_id)
            .values(
                encrypted_app_secret=lost.encrypt(APP_SECRET),
                encrypted_access_token=lost.encrypt(ACCESS_TOKEN),
            )
        )
