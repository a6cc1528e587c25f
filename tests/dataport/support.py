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
from tests.helpers import Account, me, register

from intuitivus_flow.agents.models import Agent, AgentTask
from intuitivus_flow.apikeys.models import ApiKey
from intuitivus_flow.campaigns.models import Campaign, CampaignReport, CampaignStep
from intuitivus_flow.contacts.models import Contact, ContactTag
from intuitivus_flow.conversations.models import Conversation, Message, WhatsAppNumber
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


async def seed(sessions: SessionFactory, workspace_id: uuid.UUID, *, label: str = "") -> None:
    """Two agents, tasks, tagged contacts, conversations with messages, a campaign with
    reports and steps, events, and secrets in the tables that must never be exported."""
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
        number = WhatsAppNumber(
            phone_number_id=f"pn-{uuid.uuid4().hex[:8]}",
            encrypted_access_token=SECRETS[2],
            encrypted_app_secret=SECRETS[3],
            verify_token_digest="d" * 64,
            token_hint="oken",
        )
        await _add(session, workspace_id, closer, helper, ana, bob, number)
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
                position=1,
                kind="send_template",
                config={"template": "hello", "language": "pt_BR", "parameters": ["Ana"]},
                created_at=at(13),
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
    of the row it names; the round trip's own `data.*` events and the rows the target had
    before (`ignore_ids`) are left out."""
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
                    row[name] = positions[target][row[name]]
        normal[spec.name] = sorted(json.dumps(row, sort_keys=True) for row in content[spec.name])
    return normal
