"""Hand-over from the agent's side (issue 17): an agent that says it is not confident hands
the conversation to a person, and a failed LLM reply marks it. The vendor is replaced behind
the provider interface only (`build_provider`), so everything else runs for real."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import update

from intuitivus_flow.conversations import handover
from intuitivus_flow.jobs.models import Job
from intuitivus_flow.kit.models import utcnow
from intuitivus_flow.llm import service as llm_service
from intuitivus_flow.llm.providers import ChatRequest, ChatResult, ProviderUnavailable
from tests.conversations.graph_server import RunningGraph, serve_graph
from tests.conversations.support import connect, inbound_body, inbox, post_webhook, run_jobs


class ScriptedProvider:
    """Answers with the next scripted reply (or fails when it is an exception)."""

    def __init__(self, replies: list[str | Exception]) -> None:
        self.replies = replies
        self.requests: list[ChatRequest] = []

    async def complete(self, request: ChatRequest) -> ChatResult:
        self.requests.append(request)
        reply = self.replies.pop(0)
        if isinstance(reply, Exception):
            raise reply
        return ChatResult(reply, request.model, 10, 5, 1.0)


@pytest.fixture
def graph() -> Iterator[RunningGraph]:
    yield from serve_graph()


@pytest.fixture
def settings_overrides(graph: RunningGraph) -> dict[str, Any]:
    return {"whatsapp_graph_url": graph.url, "whatsapp_graph_version": "v21.0"}


async def _scripted(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch, replies: list[str | Exception]
) -> tuple[Any, ScriptedProvider]:
    tenant = await connect(client)
    provider = ScriptedProvider(replies)
    monkeypatch.setattr(llm_service, "build_provider", lambda *_, **__: provider)
    added = await client.post(
        "/api/llm/keys",
        headers=tenant.owner.headers,
        json={
            "provider": "openai",
            "label": "main",
            "api_key": "sk-test-123456",
            "default_model": "gpt-4o-mini",
        },
    )
    assert added.status_code == 201, added.text
    return tenant, provider


async def test_an_unsure_agent_hands_over_with_its_reason(
    client: httpx.AsyncClient, app: Any, graph: RunningGraph, monkeypatch: pytest.MonkeyPatch
) -> None:
    tenant, provider = await _scripted(
        client, monkeypatch, ["[[handover]] wants a refund for order 42"]
    )
    await post_webhook(client, inbound_body(tenant.phone_number_id, text="Hola, mi pedido?"))
    await run_jobs(app)
    assert handover.AGENT_INSTRUCTION in provider.requests[0].system
    [(_, _, told)] = graph.state.sent  # the notice, never the marker or the reason
    assert told["text"]["body"] == handover.HANDOVER_MESSAGES[handover.Language.es]
    [conversation] = (await inbox(client, tenant.owner))["items"]
    assert conversation["state"] == "escalated"
    assert conversation["attention_reason"] == (
        "The agent was not confident: wants a refund for order 42"
    )


async def test_a_failed_reply_escalates_and_a_later_answer_clears_the_mark(
    client: httpx.AsyncClient, app: Any, graph: RunningGraph, monkeypatch: pytest.MonkeyPatch
) -> None:
    down = ProviderUnavailable("vendor down", status=503)
    tenant, _ = await _scripted(client, monkeypatch, [down, down, "We ship on Monday."])
    headers = tenant.owner.headers
    await post_webhook(client, inbound_body(tenant.phone_number_id, text="When do you ship?"))
    await run_jobs(app)  # the first attempt fails: retried later, nothing marked yet
    assert (await inbox(client, tenant.owner))["items"][0]["attention_reason"] is None
    async with app.state.context.sessions() as session, session.begin():
        await session.execute(  # as if the retries had come and gone
            update(Job)
            .where(Job.kind == "conversation.reply")
            .values(attempts=Job.max_attempts - 1, run_at=utcnow())
        )
    await run_jobs(app)  # the last attempt fails too
    [conversation] = (await inbox(client, tenant.owner, state="escalated"))["items"]
    assert conversation["attention_reason"].startswith("The agent could not reply:")
    assert len(graph.state.sent) == 1  # the contact was told a person takes over

    back = await client.post(f"/api/conversations/{conversation['id']}/hand-back", headers=headers)
    assert back.json()["attention_reason"] is None
    await post_webhook(client, inbound_body(tenant.phone_number_id, text="Still there?"))
    await run_jobs(app)
    assert graph.state.sent[-1][2]["text"]["body"] == "We ship on Monday."
