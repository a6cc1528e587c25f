"""Campaign sends count against the plan's monthly message quota. Over it, the step is skipped
for the contact with the reason (on the campaign page), the job ends without retrying, and no
conversation is started for nothing. Both engines, over the real conversations channel."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
from sqlalchemy import func, select

from intuitivus_flow.billing import service as billing
from intuitivus_flow.billing.plans import PLANS, PlanId
from intuitivus_flow.campaigns.automation.service import RUN_STEP
from intuitivus_flow.conversations.models import Conversation
from intuitivus_flow.kit.db import unit_of_work
from tests.campaigns.test_automation import (
    TEMPLATE,
    automated_campaign,
    campaign_jobs,
    deliveries,
    drain,
    run,
    sessions_of,
)
from tests.campaigns.test_end_to_end import (  # noqa: F401 (graph: the fixture, by name)
    add_contact,
    campaign_messages,
    connect_number,
    graph,
    real_workers,
    settings_overrides,
)
from tests.helpers import PASSWORD, me, register
from tests.web.browsing import Web, submit, text_of

ALLOWED = PLANS[PlanId.free].max_monthly_messages


async def test_sends_over_the_quota_are_skipped_with_the_reason(
    client: httpx.AsyncClient, app: Any
) -> None:
    owner = await register(client)
    await connect_number(client, owner)
    for index in range(4):
        await add_contact(client, owner, f"+551199999000{index}")
    workspace_id = uuid.UUID((await me(client, owner.headers))["workspace"]["id"])
    async with unit_of_work(sessions_of(app)) as session:  # two messages left this month
        await billing.use_message_quota(session, workspace_id, count=ALLOWED - 2)
    cid = await automated_campaign(client, owner, [TEMPLATE])
    await run(client, owner, cid)
    await drain(app, real_workers(app))

    assert len(await campaign_messages(app)) == 2
    done = await deliveries(app)
    assert sorted(delivery.status for delivery in done) == ["sent", "sent", "skipped", "skipped"]
    for delivery in done:
        if delivery.status == "skipped":
            assert delivery.detail["reason"].startswith("monthly message quota: The Free plan")
    # Finished for good: no failed job, no retry waiting, no attempt beyond the first.
    step_jobs = [job for job in await campaign_jobs(app) if job.kind == RUN_STEP]
    assert {(job.status, job.attempts) for job in step_jobs} == {("succeeded", 1)}
    async with sessions_of(app)() as session:  # nothing started for the skipped contacts
        assert await session.scalar(select(func.count()).select_from(Conversation)) == 2

    async with Web(app).client() as browser:
        email = owner.email
        signed_in = await submit(
            browser, "/signin", "/signin", {"email": email, "password": PASSWORD}
        )
        assert signed_in.status_code == 303
        page = text_of((await browser.get(f"/campaigns/{cid}/deliveries")).text)
    assert page.count("skipped: monthly message quota: The Free plan allows 1000") == 2
