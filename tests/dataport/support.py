"""Workspaces full of data, archives to import, and the round-trip normal form."""

from __future__ import annotations

import csv
import io
import json
import uuid
import zipfile
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import delete
from tests.helpers import Account, me, register

from intuitivus_flow.agents.models import Agent, AgentTask, CrewRun, CrewStep
from intuitivus_flow.apikeys.models import ApiKey
from intuitivus_flow.campaigns.models import (
    Campaign,
    CampaignConversion,
    CampaignEvent,
    CampaignReport,
    CampaignStep,
    CampaignStepDelivery,
)
from intuitivus_flow.contacts.models import Contact, ContactTag
from intuitivus_flow.conversations.models import (
    Conversation,
    ConversationSettings,
    Message,
    WhatsAppNumber,
)
from intuitivus_flow.dataport.registry import ENTITIES, REFERENCED
from intuitivus_flow.events.models import Event
from intuitivus_flow.kit.db import SessionFactory, unit_of_work
from intuitivus_flow.llm.models import ProviderKey

# Values planted in secret columns: none of them may appear in any export.
SECRETS = (
    "sk-provider-secret-0123456789",
    "gAAAAA-encrypted-provider-key",
    "EAAG-whatsapp-access-token",
    "whatsapp-app-secret-value",
    "apikey-digest-0123456789abcdef",
)
T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
# Ids the seed's loose references name although no row has them (deleted before the export).
DELETED_AGENT = uuid.UUID("00000000-0000-4000-8000-00000000a9e7")
DELETED_CONTACT = uuid.UUID("00000000-0000-4000-8000-0000000c0417")


@dataclass
class Owner:
    account: Account
    workspace_id: uuid.UUID

    @property
    def headers(self) -> dict[str, str]:
        return self.account.headers


async def owner(client: httpx.AsyncClient, workspace: str = "Acme") -> Owner:
    account = await register(client, workspace=workspace)
    profile = await me(client, account.headers)
    return Owner(account, uuid.UUID(profile["workspace"]["id"]))


def at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


async def _add(session: Any, workspace_id: uuid.UUID, *rows: Any) -> None:
    for row in rows:
        row.workspace_id = workspace_id
    session.add_all(rows)
    await session.flush()


def phone_number_id() -> str:
    """A WhatsApp phone number id: digits, unique across the instance."""
    return str(uuid.uuid4().int)[:16]


async def seed(sessions: SessionFactory, workspace_id: uuid.UUID, *, label: str = "") -> None:
    """Two agents, tasks, a crew run with its steps, tagged contacts, conversation settings, a
    WhatsApp number, conversations with messages, a campaign with reports, steps, timeline,
    deliveries and a conversion, events, and secrets in the tables that must never be
    exported. Loose references name a deleted agent and a deleted contact."""
    async with unit_of_work(sessions) as session:
        closer = Agent(
            name=f"Closer{label}",
            role="Sales",
            system_prompt="Be brief.",
            provider="offline",
            temperature=0.25,
            max_tokens=300,
            created_at=at(0),
            updated_at=at(1),
        )
        helper = Agent(name=f"Helper{label}", status="paused", created_at=at(2), updated_at=at(2))
        ana = Contact(
            name="Ana",
            phone=f"+5511999900{label or '00'}",
            email="ana@x.io",
            attributes={"plan": "gold", "vip": True},
            opt_in="opted_in",
            opt_in_changed_at=at(3),
            created_at=at(3),
            updated_at=at(3),
        )
        bob = Contact(name='Bob, "the" builder', created_at=at(4), updated_at=at(4))
        await _add(session, workspace_id, closer, helper, ana, bob)
        number = WhatsAppNumber(
            phone_number_id=phone_number_id(),
            display_number="+55 11 4000-0000",
            encrypted_access_token=SECRETS[2],
            encrypted_app_secret=SECRETS[3],
            verify_token_digest="d" * 64,
            token_hint="oken",
            agent_id=helper.id,
            created_at=at(4),
        )
        settings = ConversationSettings(
            default_agent_id=closer.id,
            widget_key=f"wk-{uuid.uuid4().hex}",
            widget_enabled=False,
            updated_at=at(2),
        )
        crew = CrewRun(
            mode="delegation",
            agent_ids={"order": [str(closer.id), str(DELETED_AGENT), str(helper.id)]},
            input="Plan the launch",
            max_steps=4,
            status="succeeded",
            output="Launch plan",
            finished_at=at(3),
            created_at=at(2),
        )
        await _add(session, workspace_id, number, settings, crew)
        chat = Conversation(
            contact_id=ana.id,
            channel="whatsapp",
            agent_id=closer.id,
            whatsapp_number_id=number.id,
            last_message_at=at(6),
            last_message_text="Thanks!",
            created_at=at(5),
            updated_at=at(6),
        )
        web = Conversation(
            contact_id=bob.id,
            channel="webchat",
            visitor_id="v-1",
            state="escalated",
            escalated_at=at(8),
            last_message_at=at(8),
            created_at=at(7),
            updated_at=at(8),
        )
        campaign = Campaign(
            name="Spring",
            platform="whatsapp",
            currency="BRL",
            total_budget_minor=500_000,
            targeting={"countries": ["BR"]},
            creatives=[{"headline": "Olá"}],
            audience_tags=["vip"],
            agent_id=closer.id,
            created_at=at(10),
            updated_at=at(10),
        )
        await _add(session, workspace_id, chat, web, campaign)
        greet = CampaignStep(
            campaign_id=campaign.id,
            position=1,
            kind="send_template",
            config={"template": "hello", "language": "pt_BR", "parameters": ["Ana"]},
            created_at=at(13),
        )
        await _add(session, workspace_id, greet)
        await _add(
            session,
            workspace_id,
            ContactTag(contact_id=ana.id, tag="vip"),
            ContactTag(contact_id=ana.id, tag="lead"),
            AgentTask(
                agent_id=closer.id,
                prompt="Hi",
                status="succeeded",
                result_text="Hello",
                prompt_tokens=3,
                completion_tokens=5,
                cost_micros=12,
                latency_ms=40,
                started_at=at(1),
                finished_at=at(1),
                created_at=at(1),
            ),
            AgentTask(
                agent_id=helper.id, prompt="Fail", status="failed", error="quota", created_at=at(3)
            ),
            Message(
                conversation_id=chat.id,
                direction="in",
                author="contact",
                text='Oi\nmulti-line, with "quotes"',
                channel_message_id=f"wamid.{label}1",
                status="received",
                created_at=at(5),
            ),
            Message(
                conversation_id=chat.id,
                direction="out",
                author="agent",
                text="Thanks!",
                idempotency_key=f"reply-{label}1",
                status="read",
                status_updated_at=at(6),
                created_at=at(6),
            ),
            Message(
                conversation_id=web.id,
                direction="in",
                author="contact",
                text="Help",
                status="received",
                created_at=at(8),
            ),
            CampaignReport(
                campaign_id=campaign.id,
                report_date=date(2026, 1, 4),
                impressions=1000,
                clicks=50,
                conversions=5,
                spend_minor=12_345,
                revenue_minor=50_000,
                created_at=at(11),
            ),
            CampaignReport(
                campaign_id=campaign.id,
                report_date=date(2026, 1, 5),
                impressions=900,
                clicks=40,
                created_at=at(12),
            ),
            CampaignStep(
                campaign_id=campaign.id,
                position=2,
                kind="wait",
                config={"seconds": 3600},
                created_at=at(14),
            ),
            Event(
                name="agent.created",
                properties={"agent_id": str(closer.id)},
                occurred_at=at(0),
                received_at=at(0),
            ),
            Event(
                name="shop.checkout",
                source="client",
                properties={"total": 10.5},
                occurred_at=at(20),
                received_at=at(21),
            ),
            ProviderKey(
                provider="openai",
                label="main",
                default_model="gpt",
                encrypted_key=SECRETS[1],
                key_hint=SECRETS[0][-4:],
            ),
            ApiKey(name="ci", prefix=uuid.uuid4().hex[:12], key_hash=SECRETS[4], scopes={}),
            CrewStep(
                run_id=crew.id,
                position=0,
                agent_id=closer.id,
                input="Plan the launch",
                output="Draft",
                handed_to_id=DELETED_AGENT,
                provider="offline",
                tokens=30,
                cost_micros=7,
                latency_ms=12,
                created_at=at(2),
            ),
            CrewStep(
                run_id=crew.id,
                position=1,
                agent_id=helper.id,
                input="Draft",
                output="Launch plan",
                created_at=at(3),
            ),
            CampaignEvent(
                campaign_id=campaign.id,
                kind="status_changed",
                from_status="draft",
                to_status="active",
                reason="Spring starts",
                created_at=at(15),
            ),
            CampaignEvent(campaign_id=campaign.id, kind="automation_started", created_at=at(16)),
            CampaignStepDelivery(
                campaign_id=campaign.id,
                step_id=greet.id,
                contact_id=ana.id,
                status="sent",
                detail={"message_id": str(uuid.uuid4())},
                created_at=at(17),
            ),
            CampaignStepDelivery(
                campaign_id=campaign.id,
                step_id=greet.id,
                contact_id=DELETED_CONTACT,
                status="skipped",
                detail={"reason": "The contact has no phone number"},
                created_at=at(18),
            ),
            CampaignConversion(
                campaign_id=campaign.id, contact_id=ana.id, value_minor=1999, created_at=at(19)
            ),
        )


async def forget_numbers(sessions: SessionFactory, workspace_id: uuid.UUID) -> None:
    """Disconnect the workspace's WhatsApp numbers (as if the import ran on another instance)."""
    async with unit_of_work(sessions) as session:
        await session.execute(
            delete(WhatsAppNumber).where(WhatsAppNumber.workspace_id == workspace_id)
        )


SEEDED = {
    "agents": 2,
    "agent_tasks": 2,
    "contacts": 2,
    "contact_tags": 2,
    "conversations": 2,
    "messages": 3,
    "campaigns": 1,
    "campaign_reports": 2,
    "campaign_steps": 2,
    "crew_runs": 1,
    "crew_steps": 2,
    "conversation_settings": 1,
    "whatsapp_numbers": 1,
    "campaign_events": 2,
    "campaign_step_deliveries": 2,
    "campaign_conversions": 1,
}


def read_zip(content: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def jsonl_rows(files: dict[str, bytes], entity: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in files[f"{entity}.jsonl"].decode().splitlines()]


def csv_rows(data: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(data.decode())))


def make_zip(files: dict[str, str | bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def jsonl(*rows: dict[str, Any]) -> str:
    return "".join(json.dumps(row) + "\n" for row in rows)


def normal_form(
    files: dict[str, bytes], *, ignore_ids: frozenset[str] = frozenset()
) -> dict[str, list[str]]:
    """The export as "same" is defined in docs/dataport.md: per entity, the multiset of rows
    once ids are dropped and each reference is replaced by the position (in export order)
    of the row it names (a loose reference naming no row stays as it is); the round trip's
    own `data.*` events and the rows the target had before (`ignore_ids`) are left out."""
    positions: dict[str, dict[str, int]] = {}
    content: dict[str, list[dict[str, Any]]] = {}
    for spec in ENTITIES:
        rows = [row for row in jsonl_rows(files, spec.name) if row["id"] not in ignore_ids]
        if spec.name == "events":
            rows = [row for row in rows if not row["name"].startswith("data.")]
        positions[spec.name] = {row["id"]: index for index, row in enumerate(rows)}
        content[spec.name] = rows
    normal: dict[str, list[str]] = {}
    for spec in ENTITIES:
        for row in content[spec.name]:
            row["id"] = positions[spec.name][row["id"]] if spec.name in REFERENCED else None
            for name, target in spec.references.items():
                if row[name] is not None:
                    row[name] = positions[target].get(row[name], f"missing {row[name]}")
            for name, ids in spec.ids_in_json.items():
                row[name][ids.key] = [
                    positions[ids.target].get(value, f"missing {value}")
                    for value in row[name][ids.key]
                ]
        normal[spec.name] = sorted(json.dumps(row, sort_keys=True) for row in content[spec.name])
    return normal
