"""Every LLM provider failing: the agent's reply job retries with backoff, and when its last
attempt fails too the inbox shows on the contact's message why no answer came."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import select, update

from intuitivus_flow.conversations import tasks
from intuitivus_flow.jobs.models import Job
from intuitivus_flow.kit.models import utcnow
from intuitivus_flow.llm.fallback import NoProviderAvailable
from tests.conversations.support import create_agent, inbox, run_jobs, thread
from tests.helpers import register


async def _every_provider_fails(*_: Any, **__: Any) -> Any:
    raise NoProviderAvailable([])


async def _reply_job(app: Any) -> Job:
    async with app.state.context.sessions() as session:
        job = await session.scalar(select(Job).where(Job.kind == "conversation.reply"))
        assert job is not None
        return job


async def test_a_reply_no_provider_could_write_is_shown_after_the_last_attempt(
    client: httpx.AsyncClient, app: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tasks.llm, "complete", _every_provider_fails)
    owner = await register(client)
    await create_agent(client, owner)
    settings = await client.get("/api/conversations/settings", headers=owner.headers)
    key = settings.json()["widget_key"]
    sent = await client.post(
        f"/api/webchat/{key}/messages", json={"visitor": "visitor-0009", "text": "Hi", "name": "V"}
    )
    assert sent.status_code == 202, sent.text

    await run_jobs(app)  # the first attempt fails: retried later, nothing shown yet
    job = await _reply_job(app)
    assert (job.status, job.attempts) == ("queued", 1)
    conversation = (await inbox(client, owner))["items"][0]
    [inbound] = await thread(client, owner, conversation["id"])
    assert inbound["error"] is None

    async with app.state.context.sessions() as session, session.begin():
        await session.execute(  # as if the retries had come and gone
            update(Job)
            .where(Job.id == job.id)
            .values(attempts=job.max_attempts - 1, run_at=utcnow())
        )
    await run_jobs(app)
    job = await _reply_job(app)
    assert (job.status, job.result) == ("succeeded", {"skipped": "no LLM provider answered"})
    # By the workspace's default, the failed reply hands the conversation to a person, and the
    # contact is told so instead of hearing nothing.
    inbound, handover = await thread(client, owner, conversation["id"])
    assert handover["author"] == "agent"
    assert "passing you to a person" in handover["text"]
    assert inbound["error"].startswith("The agent could not reply: Every provider failed")
