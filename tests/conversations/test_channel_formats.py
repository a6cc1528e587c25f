"""The WhatsApp wire formats without a database: signatures, payload parsing, the client."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from intuitivus_flow.conversations.channels.whatsapp import (
    WhatsAppClient,
    WhatsAppError,
    parse_notification,
    sign,
    verify_signature,
)
from intuitivus_flow.conversations.models import Message
from intuitivus_flow.conversations.tasks import chat_messages
from tests.conversations.graph_server import ACCESS_TOKEN, RunningGraph, serve_graph


@pytest.fixture
def graph() -> Iterator[RunningGraph]:
    yield from serve_graph()


def value(**fields: Any) -> dict[str, Any]:
    return {
        "object": "whatsapp_business_account",
        "entry": [{"changes": [{"field": "messages", "value": fields}]}],
    }


class TestSignature:
    def test_round_trip_and_tampering(self) -> None:
        body = b'{"a":1}'
        header = sign(body, "secret")
        assert verify_signature(body, header, "secret")
        assert verify_signature(body, header.upper().replace("SHA256=", "sha256="), "secret")
        assert not verify_signature(body + b" ", header, "secret")
        assert not verify_signature(body, header, "other")
        assert not verify_signature(body, None, "secret")
        assert not verify_signature(body, header.removeprefix("sha256="), "secret")


class TestParsing:
    @pytest.mark.parametrize(
        "body",
        [
            None,
            [],
            {"object": "page", "entry": []},
            {"object": "whatsapp_business_account", "entry": "x"},
            value(messages=[{"from": "1", "id": "w"}]),  # no metadata
            value(metadata={"phone_number_id": ""}, messages=[]),
            {
                "object": "whatsapp_business_account",
                "entry": [{"changes": [{"field": "account_update", "value": {}}]}],
            },
        ],
    )
    def test_unexpected_shapes_yield_nothing(self, body: Any) -> None:
        notification = parse_notification(body)
        assert (notification.messages, notification.statuses) == ([], [])

    def test_message_types_become_readable_text(self) -> None:
        meta = {"phone_number_id": "42"}
        messages = [
            {"from": "1", "id": "a", "type": "text", "text": {"body": "hi"}},
            {"from": "1", "id": "b", "type": "button", "button": {"text": "Yes"}},
            {
                "from": "1",
                "id": "c",
                "type": "interactive",
                "interactive": {"button_reply": {"title": "Option A"}},
            },
            {"from": "1", "id": "d", "type": "interactive", "interactive": {}},
            {"from": "1", "id": "e", "type": "image", "image": {"caption": "receipt"}},
            {"from": "1", "id": "f", "type": "sticker", "sticker": {"id": "9"}},
            {"from": "1", "id": "g", "type": "location"},
            {"id": "no-sender"},
            "not a dict",
        ]
        parsed = parse_notification(
            value(
                metadata=meta,
                contacts=[{"wa_id": "1", "profile": {"name": "Ana"}}, {"wa_id": "2"}],
                messages=messages,
            )
        )
        assert [m.text for m in parsed.messages] == [
            "hi",
            "Yes",
            "Option A",
            "[interactive message]",
            "[image] receipt",
            "[sticker message]",
            "[location message]",
        ]
        assert {m.profile_name for m in parsed.messages} == {"Ana"}
        assert parsed.phone_number_ids == {"42"}

    def test_statuses_with_and_without_errors(self) -> None:
        parsed = parse_notification(
            value(
                metadata={"phone_number_id": "42"},
                statuses=[
                    {"id": "w1", "status": "delivered"},
                    {"id": "w2", "status": "failed", "errors": [{"code": 1, "message": "boom"}]},
                    {"id": "w3"},
                ],
            )
        )
        assert [(s.wamid, s.status, s.error) for s in parsed.statuses] == [
            ("w1", "delivered", None),
            ("w2", "failed", "1 boom"),
        ]


class TestClient:
    def client(self, graph: RunningGraph, token: str = ACCESS_TOKEN) -> WhatsAppClient:
        return WhatsAppClient(
            base_url=graph.url + "/", version="v21.0", phone_number_id="42", access_token=token
        )

    async def test_sends_text_and_templates(self, graph: RunningGraph) -> None:
        client = self.client(graph)
        assert (await client.send_text("+15550100", "hi")).startswith("wamid.")
        await client.send_template("+15550100", name="hello_world", language="en_US", components=[])
        text, template = graph.state.bodies()
        assert text["to"] == "15550100"
        assert template["template"] == {"name": "hello_world", "language": {"code": "en_US"}}

    async def test_errors_say_whether_to_retry(self, graph: RunningGraph) -> None:
        with pytest.raises(WhatsAppError) as refused:
            await self.client(graph, token="wrong").send_text("+1555", "hi")
        assert not refused.value.retryable
        assert "190" in str(refused.value)
        graph.state.mode = "error500"
        with pytest.raises(WhatsAppError) as outage:
            await self.client(graph).send_text("+1555", "hi")
        assert outage.value.retryable
        graph.state.mode = "garbage"
        with pytest.raises(WhatsAppError, match="unexpected answer"):
            await self.client(graph).send_text("+1555", "hi")

    async def test_network_errors_and_non_json_errors(self) -> None:
        def refuse(request: httpx.Request) -> httpx.Response:
            raise httpx.ConnectError("refused", request=request)

        async with httpx.AsyncClient(transport=httpx.MockTransport(refuse)) as http:
            client = WhatsAppClient("http://graph", "v21.0", "42", "t", client=http)
            with pytest.raises(WhatsAppError, match="network") as failure:
                await client.send_text("+1", "x")
        assert failure.value.retryable

        def html(request: httpx.Request) -> httpx.Response:
            return httpx.Response(502, text="<html>bad gateway</html>")

        async with httpx.AsyncClient(transport=httpx.MockTransport(html)) as http:
            client = WhatsAppClient("http://graph", "v21.0", "42", "t", client=http)
            with pytest.raises(WhatsAppError, match="bad gateway"):
                await client.send_text("+1", "x")


def test_chat_turns_start_with_the_user_and_alternate() -> None:
    def message(direction: str, text: str) -> Message:
        return Message(id=uuid.uuid4(), direction=direction, text=text)

    turns = chat_messages(
        [
            message("out", "template"),
            message("in", "a"),
            message("in", "b"),
            message("out", "c"),
            message("out", "d"),
            message("in", "e"),
        ]
    )
    assert [(t.role, t.content) for t in turns] == [
        ("user", "a\nb"),
        ("assistant", "c\nd"),
        ("user", "e"),
    ]
