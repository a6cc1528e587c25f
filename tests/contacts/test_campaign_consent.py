"""Campaign sends respect consent: over the real contacts, conversations and campaign worker,
only contacts who opted in on WhatsApp get the campaign's message; unknown consent, an
opt-out, an e-mail-only opt-in, and an opt-out recorded after enrolment are skipped with the
reason, on both engines."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import select

from intuitivus_flow.campaigns.models import CampaignStepDelivery
from tests.campaigns.test_automation import (
    TEMPLATE,
    automated_campaign,
    drain,
    fast_forward,
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
from tests.helpers import register


async def test_only_whatsapp_opt_ins_get_campaign_sends(
    client: httpx.AsyncClient, app: Any
) -> None:
    owner = await register(client)
    await connect_number(client, owner)
    consenting = await add_contact(client, owner, "+5511999990001")
    unknown = await add_contact(client, owner, "+5511999990002", opt_in="unknown")
    email_only = await add_contact(
        client, owner, "+5511999990003", opt_in="unknown", email_opt_in="opted_in"
    )
    changed_mind = await add_contact(client, owner, "+5511999990004")
    cid = await automated_campaign(client, owner, [{"kind": "wait", "seconds": 60}, TEMPLATE])
    await run(client, owner, cid)
    pool = real_workers(app)
    await drain(app, pool)  # enrolled: everyone waits a minute before the send step
    # Enrolled with the rest, then opts out before the send step runs.
    withdrawn = await client.post(
        f"/api/contacts/{changed_mind}/consent",
        json={"channel": "whatsapp", "state": "opted_out", "reason": "Replied STOP by phone"},
        headers=owner.headers,
    )
    assert withdrawn.status_code == 200, withdrawn.text
    await fast_forward(app)
    await drain(app, pool)

    sent = await campaign_messages(app)
    async with sessions_of(app)() as session:
        conversations = {message.conversation_id for message in sent}
        assert len(sent) == 1
        assert len(conversations) == 1
        done = (
            await session.scalars(
                select(CampaignStepDelivery).where(CampaignStepDelivery.status != "waited")
            )
        ).all()
    outcome = {str(d.contact_id): (d.status, d.detail.get("reason")) for d in done}
    not_opted_in = "No WhatsApp marketing consent: the contact has not opted in"
    assert outcome == {
        consenting: ("sent", None),
        unknown: ("skipped", not_opted_in),
        email_only: ("skipped", not_opted_in),
        changed_mind: ("skipped", "The contact opted out of WhatsApp messages"),
    }
