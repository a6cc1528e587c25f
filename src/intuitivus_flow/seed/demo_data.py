"""Sample data for the demo workspace, so a newcomer's first look shows a working product.

Three weeks of a small shop's life: agents, 200 contacts, web-chat conversations (some
escalated to a person, some unread), a running WhatsApp campaign with steps, deliveries,
conversions and daily reports (plus a draft and a finished one), the shop's website events
for the analytics pages, and two weeks of service metrics for service health, alerts and
forecasts. Everything is written through the domains' services where one exists, so their
rules and product events hold; only what a service cannot date in the past (messages,
deliveries, history) is written through the repositories.

Deterministic (one seeded RNG; times relative to `now`), idempotent (a workspace that already
has agents, contacts or campaigns is left alone) and fast (one transaction, a few seconds).
"""

from __future__ import annotations

import csv
import io
import random
import socket
import unicodedata
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from math import pi, sin
from typing import Any

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession

from intuitivus_flow.agents import service as agents
from intuitivus_flow.agents.models import Agent
from intuitivus_flow.agents.repository import AgentRepository
from intuitivus_flow.agents.schemas import AgentCreate
from intuitivus_flow.analytics import collection
from intuitivus_flow.analytics.schemas import SegmentMessage
from intuitivus_flow.campaigns import service as campaigns
from intuitivus_flow.campaigns.automation import service as automation
from intuitivus_flow.campaigns.automation.models import CampaignStepDelivery, DeliveryStatus
from intuitivus_flow.campaigns.automation.repository import DeliveryRepository
from intuitivus_flow.campaigns.automation.schemas import (
    BranchStep,
    SendMessageStep,
    SendTemplateStep,
    WaitStep,
)
from intuitivus_flow.campaigns.models import Campaign, CampaignStatus, Platform
from intuitivus_flow.campaigns.reports import FileReports
from intuitivus_flow.campaigns.repository import CampaignEventRepository, CampaignRepository
from intuitivus_flow.campaigns.schemas import CampaignCreate, CreativeInput, Targeting
from intuitivus_flow.contacts import csv_import
from intuitivus_flow.contacts.models import Contact, OptIn
from intuitivus_flow.contacts.repository import ContactRepository
from intuitivus_flow.conversations import service as conversations
from intuitivus_flow.conversations.models import (
    Author,
    Channel,
    Conversation,
    ConversationRead,
    Direction,
    Message,
    MessageStatus,
)
from intuitivus_flow.conversations.repository import (
    ConversationReadRepository,
    ConversationRepository,
    MessageRepository,
)
from intuitivus_flow.events import catalog
from intuitivus_flow.events.models import Event
from intuitivus_flow.events.repository import EventRepository
from intuitivus_flow.identity.principal import Principal
from intuitivus_flow.identity.roles import Role
from intuitivus_flow.identity.scopes import ROLE_SCOPES
from intuitivus_flow.kit.models import utcnow
from intuitivus_flow.metrics_history import partitions
from intuitivus_flow.metrics_history.models import MetricSample
from intuitivus_flow.metrics_history.repository import MetricRepository
from intuitivus_flow.metrics_history.signals import Signal

SEED = 17
CONTACTS = 200
CONVERSATIONS = 60
DAYS = 21  # of history
METRIC_DAYS = 14
METRIC_STEP = timedelta(minutes=30)

FIRST_NAMES = (
    "Ana", "Bruno", "Carla", "Diego", "Elena", "Felipe", "Gabriela", "Hugo", "Isabela",
    "João", "Karina", "Lucas", "Mariana", "Nicolas", "Olivia", "Paulo", "Rafaela", "Samuel",
    "Tatiana", "Vitor", "Amelia", "Ben", "Chloe", "Daniel", "Emma", "Frank", "Grace", "Henry",
    "Iris", "Jack", "Laura", "Mateo", "Nina", "Oscar", "Priya", "Quentin", "Rosa", "Sofia",
)  # fmt: skip
LAST_NAMES = (
    "Silva", "Santos", "Oliveira", "Souza", "Lima", "Pereira", "Costa", "Almeida", "Ribeiro",
    "Carvalho", "Gomes", "Martins", "Rocha", "Barbosa", "Smith", "Johnson", "Brown", "Garcia",
    "Miller", "Davis", "Wilson", "Moore", "Taylor", "Clark", "Walker", "Young", "King", "Lopez",
)  # fmt: skip
CITIES = ("São Paulo", "Rio de Janeiro", "Belo Horizonte", "Curitiba", "Lisbon", "Miami")
TAGS = ("customer", "lead", "vip", "newsletter", "spring-sale")
QUESTIONS = (
    ("Hi! Do you ship to {city}?", "Yes, we ship to {city} in 2 to 4 business days."),
    ("Is the spring collection still on sale?", "It is: 20% off until Friday, on every item."),
    ("What sizes does the linen shirt come in?", "From XS to XXL; the fit runs slightly large."),
    ("Can I pay by Pix?", "Yes, Pix and cards both work at checkout."),
    ("My order hasn't arrived yet", "Sorry about that! Let me check: it left our store today."),
    ("Do you have a store I can visit?", "Our shop is open Monday to Saturday, 9am to 7pm."),
    ("How do I return an item?", "Returns are free within 30 days: reply RETURN for a label."),
)
FOLLOW_UPS = (
    "Great, thanks!",
    "Perfect, I'll order today.",
    "And the delivery cost?",
    "Ok, thank you!",
)
ESCALATIONS = (
    "I was charged twice, can I talk to a person?",
    "I need to change the address on my order, please call me",
    "The product arrived damaged",
)


@dataclass
class DemoCounts:
    """What was written, for the CLI's one line and the tests."""

    agents: int = 0
    contacts: int = 0
    conversations: int = 0
    messages: int = 0
    campaigns: int = 0
    deliveries: int = 0
    conversions: int = 0
    website_events: int = 0
    metric_samples: int = 0
    extra: dict[str, int] = field(default_factory=dict)

    def summary(self) -> str:
        return (
            f"{self.agents} agents, {self.contacts} contacts, {self.conversations} "
            f"conversations ({self.messages} messages), {self.campaigns} campaigns "
            f"({self.deliveries} deliveries, {self.conversions} conversions), "
            f"{self.website_events} website events, {self.metric_samples} metric samples"
        )


async def has_data(session: AsyncSession, workspace_id: uuid.UUID) -> bool:
    """Whether the workspace was already filled (by this module or by a person)."""
    for repository in (
        AgentRepository(session, workspace_id),
        ContactRepository(session, workspace_id),
        CampaignRepository(session, workspace_id),
    ):
        if await repository.count():
            return True
    return False


async def fill_demo_workspace(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    owner_id: uuid.UUID,
    *,
    now: datetime | None = None,
) -> DemoCounts | None:
    """Fill the demo workspace with its sample data; None when it already has data."""
    if await has_data(session, workspace_id):
        return None
    demo = _Demo(session, workspace_id, owner_id, now or utcnow())
    await demo.run()
    return demo.counts


class _Demo:
    def __init__(
        self, session: AsyncSession, workspace_id: uuid.UUID, owner_id: uuid.UUID, now: datetime
    ) -> None:
        self.session = session
        self.workspace_id = workspace_id
        self.now = now.astimezone(UTC).replace(microsecond=0)
        # Sample data, not secrets: a seeded generator makes every demo the same.
        self.rng = random.Random(SEED)  # noqa: S311
        self.owner = Principal(
            workspace_id=workspace_id,
            role=Role.owner,
            scopes=ROLE_SCOPES[Role.owner],
            user_id=owner_id,
        )
        self.counts = DemoCounts()
        self.events: list[Event] = []

    async def run(self) -> None:
        team = await self._agents()
        people = await self._contacts()
        await self._conversations(people, team)
        await self._campaigns(people, team)
        await self._website_events(people)
        await self._owner_activity()
        await EventRepository(self.session, self.workspace_id).add_many(self.events)
        await self._metrics()

    def _ago(self, days: float) -> datetime:
        return self.now - timedelta(days=days)

    # --- agents and contacts -------------------------------------------------------------

    async def _agents(self) -> list[Agent]:
        specs = (
            ("Ava", "Sales assistant", "You help shoppers choose and buy. Be brief and warm."),
            ("Leo", "Support agent", "You answer order, delivery and return questions."),
            ("Mia", "Campaign follow-up", "You follow up on campaign replies with one offer."),
        )
        team = []
        for name, role, prompt in specs:
            data = AgentCreate(
                name=name, role=role, system_prompt=prompt, provider="offline", max_tokens=400
            )
            team.append(await agents.create(self.session, self.owner, data=data))
        self.counts.agents = len(team)
        return team

    async def _contacts(self) -> list[Contact]:
        """200 people, imported as a shop would import its customer list (one CSV)."""
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(["name", "phone", "email", "tags", "opt_in", "email_opt_in", "attr.city"])
        for index in range(CONTACTS):
            first, last = self.rng.choice(FIRST_NAMES), self.rng.choice(LAST_NAMES)
            tags = self.rng.sample(TAGS, self.rng.choice((0, 1, 1, 2, 2, 3)))
            roll = self.rng.random()
            writer.writerow(
                [
                    f"{first} {last}",
                    # +55 11 9xxxx-xxxx, unique by construction (a fictional range).
                    f"+55119{70000000 + index * 4099:08d}",
                    f"{_ascii(first)}.{_ascii(last)}{index}@example.com".lower(),
                    " ".join(sorted(tags)),
                    "yes" if roll < 0.82 else "no" if roll < 0.88 else "",
                    "yes" if self.rng.random() < 0.6 else "",
                    self.rng.choice(CITIES),
                ]
            )
        await csv_import.import_csv(
            self.session,
            self.owner,
            data=out.getvalue().encode(),
            file_name="customers.csv",
            dry_run=False,
        )
        repository = ContactRepository(self.session, self.workspace_id)
        people = list(await repository.all(repository.scoped().order_by(Contact.phone)))
        for contact in people:
            contact.created_at = self._ago(self.rng.uniform(DAYS - 0.5, DAYS))
        self.counts.contacts = len(people)
        return people

    # --- conversations -------------------------------------------------------------------

    async def _conversations(self, people: Sequence[Contact], team: Sequence[Agent]) -> None:
        """Web-chat conversations written in one batch (the services start one conversation
        per call and date it now; these happened over three weeks), then escalated, closed
        and read through the services."""
        talkers = self.rng.sample(list(people), CONVERSATIONS)
        started: list[Conversation] = []
        for index, contact in enumerate(talkers):
            # Recent ones are still going; older ones end answered or closed.
            # (The last message of a recent one stays before `now`: at most 5 turns of 6 min.)
            start = self._ago(self.rng.uniform(0.05, DAYS) if index >= 12 else 0.03 + index * 0.04)
            conversation = Conversation(
                id=uuid.uuid4(),  # now: its events name it before the flush
                contact=contact,
                channel=Channel.webchat,
                visitor_id=f"demo-visitor-{index:03d}",
                agent_id=team[index % 2].id,  # sales and support share the inbox
                created_at=start,
            )
            started.append(conversation)
            self._event(
                catalog.CONVERSATION_STARTED,
                start,
                {"conversation_id": str(conversation.id), "channel": "webchat"},
                user_id=None,
            )
        await ConversationRepository(self.session, self.workspace_id).add_many(started)
        pending: list[Message] = []
        reads: list[ConversationRead] = []
        for index, conversation in enumerate(started):
            start = conversation.created_at
            contact = conversation.contact
            city = str(contact.attributes.get("city", "your city"))
            question, answer = self.rng.choice(QUESTIONS)
            turns = [
                (Author.contact, question.format(city=city)),
                (Author.agent, answer.format(city=city)),
            ]
            if self.rng.random() < 0.6:
                turns.append((Author.contact, self.rng.choice(FOLLOW_UPS)))
                if index >= 12:  # the recent ones wait for their answer (unread)
                    turns.append((Author.agent, "You're welcome! Anything else I can do?"))
            escalated = index % 7 == 3
            if escalated:
                turns.append((Author.contact, self.rng.choice(ESCALATIONS)))
            moment = start
            for author, text in turns:
                moment += timedelta(minutes=self.rng.uniform(0.3, 6))
                inbound = author is Author.contact
                pending.append(
                    Message(
                        conversation_id=conversation.id,
                        direction=Direction.inbound if inbound else Direction.outbound,
                        author=author,
                        text=text,
                        status=MessageStatus.received if inbound else MessageStatus.delivered,
                        created_at=moment,
                    )
                )
                conversation.last_message_at, conversation.last_message_text = moment, text[:200]
                if inbound:
                    conversation.last_inbound_at = moment
                self._event(
                    catalog.CONVERSATION_MESSAGE_RECEIVED
                    if inbound
                    else catalog.CONVERSATION_AGENT_REPLIED,
                    moment,
                    {"conversation_id": str(conversation.id), "channel": "webchat"},
                    user_id=None,
                )
                self.counts.messages += 1
            if escalated:
                await conversations.escalate(self.session, self.owner, conversation.id)
                conversation.attention_reason = "The contact asked for a person"
                conversation.attention_at = conversation.last_message_at
            elif index >= 30 and index % 3 == 0:
                await conversations.close(self.session, self.owner, conversation.id)
            if index >= 12 or index % 2:  # older ones were read; a few recent ones wait
                reads.append(
                    ConversationRead(
                        conversation_id=conversation.id,
                        user_id=self.owner.user_id,
                        read_at=self.now,
                    )
                )
        await MessageRepository(self.session, self.workspace_id).add_many(pending)
        await ConversationReadRepository(self.session, self.workspace_id).add_many(reads)
        await self._retime_handling(started)
        self.counts.conversations = len(started)

    # --- campaigns -----------------------------------------------------------------------

    async def _campaigns(self, people: Sequence[Contact], team: Sequence[Agent]) -> None:
        running = await self._running_campaign(people, team[2])
        draft = await self._draft_campaign()
        finished = await self._finished_campaign()
        self.counts.campaigns = 3
        for campaign, created in (
            (finished, self._ago(DAYS + 11)),
            (running, self._ago(DAYS + 0.5)),
            (draft, self._ago(2.2)),
        ):
            await self._retime_campaign(campaign, created)

    async def _running_campaign(self, people: Sequence[Contact], agent: Agent) -> Campaign:
        start = datetime.combine(self._ago(DAYS).date(), time(), tzinfo=UTC)
        data = CampaignCreate(
            name="Spring sale on WhatsApp",
            platform=Platform.meta_ads,
            currency="USD",
            total_budget_minor=600_000,
            daily_budget_minor=40_000,
            starts_at=start,
            ends_at=start + timedelta(days=DAYS + 14),
            targeting=Targeting(
                countries=["BR", "PT"],
                languages=["pt_BR", "en"],
                age_min=21,
                age_max=55,
                interests=["Fashion", "Linen clothing"],
            ),
            creatives=[
                CreativeInput(
                    name="Spring hero",
                    format="image",
                    headline="Spring sale: 20% off linen",
                    body="Light, breathable and made to last. This week only.",
                    call_to_action="Shop now",
                    landing_url="https://shop.example.com/spring",  # type: ignore[arg-type]
                    media_url="https://cdn.example.com/spring-hero.jpg",  # type: ignore[arg-type]
                ),
                CreativeInput(
                    name="WhatsApp offer",
                    format="whatsapp_template",
                    body="Hi {{1}}! Our spring sale is on: {{2}} off everything until Friday.",
                    call_to_action="See the collection",
                    template_name="spring_offer",
                    template_language="en",
                    template_variables=["Ana", "20%"],
                ),
            ],
            audience_tags=["spring-sale"],
            agent_id=agent.id,
        )
        campaign = await campaigns.create(self.session, self.owner, data=data)
        for status in (CampaignStatus.scheduled, CampaignStatus.active):
            await campaigns.change_status(self.session, self.owner, campaign.id, status=status)
        await self._reports(campaign, days=DAYS, daily_spend=(150.0, 330.0))
        steps = await self._steps(campaign)
        await self._deliveries(campaign, steps, people)
        return campaign

    async def _steps(self, campaign: Campaign) -> list[uuid.UUID]:
        template = SendTemplateStep(
            kind="send_template", template="spring_offer", language="en", parameters=["20%"]
        )
        ids = []
        for spec in (
            template,
            WaitStep(kind="wait", seconds=86_400),
            SendMessageStep(
                kind="send_message", text="Did you see our spring offer? It ends on Friday."
            ),
        ):
            step = await automation.add_step(self.session, self.owner, campaign.id, spec=spec)
            ids.append(step.id)
        branch = BranchStep(kind="branch", on="reply", if_true=None, if_false=ids[2])
        added = await automation.add_step(
            self.session, self.owner, campaign.id, spec=branch, position=3
        )
        return [ids[0], ids[1], added.id, ids[2]]

    async def _deliveries(
        self, campaign: Campaign, steps: Sequence[uuid.UUID], people: Sequence[Contact]
    ) -> None:
        """The contacts the automation reached so far, each as far as their journey went."""
        audience = [
            contact
            for contact in people
            if "spring-sale" in contact.tags and contact.opt_in == OptIn.opted_in
        ] or list(people[:40])
        rows: list[CampaignStepDelivery] = []
        converted: list[tuple[Contact, datetime]] = []
        for contact in audience:
            sent_at = self._ago(self.rng.uniform(1, DAYS - 1))
            replied = self.rng.random() < 0.35
            journey = [
                (steps[0], DeliveryStatus.sent, {"message_id": f"wamid.demo{len(rows)}"}),
                (steps[1], DeliveryStatus.waited, {}),
                (steps[2], DeliveryStatus.branched, {"result": replied}),
            ]
            if not replied:
                journey.append((steps[3], DeliveryStatus.sent, {}))
            reached = self.rng.randint(1, len(journey))
            for offset, (step_id, status, detail) in enumerate(journey[:reached]):
                rows.append(
                    CampaignStepDelivery(
                        campaign_id=campaign.id,
                        step_id=step_id,
                        contact_id=contact.id,
                        status=status,
                        detail=detail,
                        created_at=sent_at + timedelta(days=offset * 0.5),
                    )
                )
            if replied and self.rng.random() < 0.6:
                converted.append((contact, min(self.now, sent_at + timedelta(hours=30))))
        await DeliveryRepository(self.session, self.workspace_id).add_many(rows)
        when: dict[str, datetime] = {}
        for contact, moment in converted:
            value = self.rng.choice((4990, 7990, 12900, 18900))
            conversion = await automation.record_conversion(
                self.session, self.owner, campaign.id, contact_id=contact.id, value_minor=value
            )
            conversion.created_at = moment  # the day after the reply, not now
            when[str(contact.id)] = moment
        repository = EventRepository(self.session, self.workspace_id)
        recorded = repository.scoped().where(Event.name == catalog.CAMPAIGN_CONVERSION_RECORDED)
        for event in await repository.all(recorded):
            event.occurred_at = when.get(str(event.properties.get("contact_id")), self.now)
        self.counts.deliveries = len(rows)
        self.counts.conversions = len(converted)

    async def _reports(
        self, campaign: Campaign, *, days: int, daily_spend: tuple[float, float], last: int = 1
    ) -> None:
        """Daily reports as the ad platform exports them, up to `last` days ago."""
        lines = ["date,impressions,clicks,conversions,spend,revenue"]
        for back in range(days, last - 1, -1):
            day = self._ago(back).date()
            spend = self.rng.uniform(*daily_spend)
            impressions = int(spend * self.rng.uniform(38, 55))
            clicks = int(impressions * self.rng.uniform(0.012, 0.03))
            conversions = int(clicks * self.rng.uniform(0.03, 0.08))
            revenue = conversions * self.rng.uniform(45, 120)
            lines.append(f"{day},{impressions},{clicks},{conversions},{spend:.2f},{revenue:.2f}")
        source = FileReports("\n".join(lines).encode(), "demo-report.csv")
        await campaigns.ingest(self.session, self.owner, campaign.id, source=source, now=self.now)

    async def _draft_campaign(self) -> Campaign:
        data = CampaignCreate(
            name="Winter newsletter",
            platform=Platform.email,
            currency="USD",
            total_budget_minor=50_000,
            starts_at=datetime.combine(self._ago(-20).date(), time(), tzinfo=UTC),
            creatives=[
                CreativeInput(
                    name="Newsletter",
                    format="email",
                    headline="New in: the winter collection",
                    body="Warm layers, soft knits and 10% off your first order.",
                    call_to_action="Discover it",
                    landing_url="https://shop.example.com/winter",  # type: ignore[arg-type]
                )
            ],
            audience_tags=["newsletter"],
        )
        return await campaigns.create(self.session, self.owner, data=data)

    async def _finished_campaign(self) -> Campaign:
        start = datetime.combine(self._ago(DAYS + 10).date(), time(), tzinfo=UTC)
        data = CampaignCreate(
            name="Carnival flash sale",
            platform=Platform.google_ads,
            currency="USD",
            total_budget_minor=200_000,
            starts_at=start,
            ends_at=start + timedelta(days=8),
            targeting=Targeting(countries=["BR"], keywords=["carnival outfit", "linen shirt"]),
            creatives=[
                CreativeInput(
                    name="Search ad",
                    format="text",
                    headline="Carnival outfits, 30% off",
                    body="Free delivery in São Paulo and Rio.",
                    landing_url="https://shop.example.com/carnival",  # type: ignore[arg-type]
                )
            ],
        )
        campaign = await campaigns.create(self.session, self.owner, data=data)
        for status in (CampaignStatus.scheduled, CampaignStatus.active):
            await campaigns.change_status(self.session, self.owner, campaign.id, status=status)
        await self._reports(campaign, days=DAYS + 10, daily_spend=(180.0, 240.0), last=DAYS + 3)
        await campaigns.change_status(
            self.session, self.owner, campaign.id, status=CampaignStatus.completed
        )
        return campaign

    # --- events --------------------------------------------------------------------------

    async def _website_events(self, people: Sequence[Contact]) -> None:
        """The shop's website, as its Segment-compatible tracking would have sent it: visits,
        product views, carts, checkouts and orders, with some visitors coming back weekly."""
        key, _ = await collection.create_write_key(
            self.session, self.owner, name="Shop website (demo)", allowed_origins=[]
        )
        collector = collection.Collector(self.workspace_id, key.id, ())
        batch: list[SegmentMessage] = []
        steps = (
            ("Product Viewed", 0.72),
            ("Product Added", 0.45),
            ("Checkout Started", 0.6),
            ("Order Completed", 0.55),
        )
        for person, contact in enumerate(people):
            visits = 1 + (self.rng.random() < 0.45) + (self.rng.random() < 0.25)
            first = self.rng.uniform(1, DAYS)
            for visit in range(visits):
                moment = self._ago(max(0.05, first - visit * self.rng.uniform(5, 8)))
                names = ["Page Viewed"]
                for name, chance in steps:
                    if self.rng.random() > chance:
                        break
                    names.append(name)
                for step, name in enumerate(names):
                    moment += timedelta(minutes=self.rng.uniform(0.5, 9))
                    properties: dict[str, object] = {"path": "/spring"} if step == 0 else {}
                    if name == "Order Completed":
                        properties = {"revenue": round(self.rng.uniform(40, 180), 2)}
                    batch.append(
                        SegmentMessage(
                            type="page" if step == 0 else "track",
                            event=None if step == 0 else name,
                            name="Spring collection" if step == 0 else None,
                            userId=str(contact.id),
                            messageId=f"demo-{person}-{visit}-{step}",
                            timestamp=moment.isoformat(),
                            properties=properties,
                        )
                    )
        stored = 0
        for start in range(0, len(batch), collection.MAX_BATCH_MESSAGES):
            chunk = batch[start : start + collection.MAX_BATCH_MESSAGES]
            written, _ = await collection.collect(self.session, collector, chunk, default_type=None)
            stored += written
        self.counts.website_events = stored

    async def _owner_activity(self) -> None:
        """The owner signing in most working days, for the members' activity and retention."""
        for back in range(DAYS, 0, -1):
            day = self._ago(back)
            if day.weekday() < 5 or self.rng.random() < 0.3:
                moment = day.replace(hour=self.rng.randint(8, 11), minute=self.rng.randint(0, 59))
                self._event(catalog.USER_LOGGED_IN, moment, {"method": "password"})

    def _event(
        self,
        name: str,
        when: datetime,
        properties: dict[str, Any],
        *,
        user_id: uuid.UUID | str | None = "owner",
    ) -> None:
        # Written together at the end (`run`): one INSERT batch instead of one per event.
        self.events.append(
            Event(
                name=name,
                user_id=self.owner.user_id if user_id == "owner" else user_id,
                source="server",
                occurred_at=when,
                properties=properties,
            )
        )

    async def _retime_handling(self, handled: Sequence[Conversation]) -> None:
        """A person escalated or closed each conversation some minutes after its last
        message, not now when the services ran."""
        when = {
            str(row.id): row.last_message_at + timedelta(minutes=12 + index % 40)
            for index, row in enumerate(handled)
        }
        repository = EventRepository(self.session, self.workspace_id)
        names = (catalog.CONVERSATION_ESCALATED, catalog.CONVERSATION_CLOSED)
        for event in await repository.all(repository.scoped().where(Event.name.in_(names))):
            moment = when.get(str(event.properties.get("conversation_id")))
            if moment is not None:
                event.occurred_at = min(moment, self.now)
        for row in handled:
            moment = min(when[str(row.id)], self.now)
            row.escalated_at = moment if row.escalated_at else None
            row.closed_at = moment if row.closed_at else None

    async def _retime_campaign(self, campaign: Campaign, created: datetime) -> None:
        """Date what the services recorded `now` about a campaign (its product events and its
        history) from its creation on, an hour apart, in the order they happened."""
        repository = EventRepository(self.session, self.workspace_id)
        statement = repository.scoped().where(
            Event.name.startswith("campaign."),
            Event.name != catalog.CAMPAIGN_CONVERSION_RECORDED,  # dated with each conversion
        )
        mine = [
            event
            for event in await repository.all(statement.order_by(Event.occurred_at, Event.id))
            if event.properties.get("campaign_id") == str(campaign.id)
        ]
        for offset, event in enumerate(mine):
            event.occurred_at = created + timedelta(hours=offset)
        history = CampaignEventRepository(self.session, self.workspace_id)
        rows = list(await history.all(history.timeline(campaign.id)))
        for offset, row in enumerate(reversed(rows), start=1):  # the timeline is newest first
            row.created_at = created + timedelta(hours=offset)
        campaign.created_at = created

    # --- service metrics -----------------------------------------------------------------

    async def _metrics(self) -> None:
        """Two weeks of the sampled signals with a daily rhythm, for the operators' pages."""
        repository = MetricRepository(self.session)
        if await repository.count():
            return  # an instance that already samples itself keeps its own history
        first = self.now - timedelta(days=METRIC_DAYS)
        if self.session.get_bind().dialect.name == "postgresql":
            for month in {partitions.month_start(first), partitions.month_start(self.now)}:
                await partitions.ensure_partition(self.session, month)
        instance = _instance()
        samples: list[dict[str, Any]] = []
        moment = first
        while moment <= self.now:
            samples.extend(
                {"name": name.value, "time": moment, "instance": instance, "value": value}
                for name, value in self._signals(moment).items()
            )
            moment += METRIC_STEP
        # One multi-row INSERT: ten thousand ORM objects took seconds to flush.
        await self.session.execute(insert(MetricSample), samples)
        self.counts.metric_samples = len(samples)

    def _signals(self, moment: datetime) -> dict[Signal, float]:
        # Busier in the afternoon (UTC), calmer at night and at weekends.
        hour = moment.hour + moment.minute / 60
        day = 0.55 + 0.45 * max(0.0, sin((hour - 8) / 16 * pi))
        load = day * (0.7 if moment.weekday() >= 5 else 1.0)
        noise = self.rng.gauss
        rps = max(0.2, 12 * load + noise(0, 0.8))
        p50 = max(5.0, 38 + 22 * load + noise(0, 3))
        requests = rps * METRIC_STEP.total_seconds()
        errors = max(0.0, requests * max(0.0, 0.002 + noise(0, 0.0008)))
        slow = max(0.0, requests * max(0.0, 0.01 + noise(0, 0.003)))
        return {
            Signal.requests_per_second: rps,
            Signal.response_time_p50_ms: p50,
            Signal.response_time_p95_ms: p50 * 2.6 + noise(0, 8),
            Signal.response_time_p99_ms: p50 * 4.8 + noise(0, 20),
            Signal.error_rate_ratio: errors / requests,
            Signal.cpu_usage_percent: min(95.0, 18 + 45 * load + noise(0, 4)),
            Signal.memory_usage_percent: 52 + 8 * load + noise(0, 1.5),
            Signal.disk_usage_percent: 41 + (moment - self.now).total_seconds() / 86_400 * -0.2,
            Signal.db_connections_percent: min(100.0, 10 + 35 * load + noise(0, 3)),
            Signal.queue_lag_seconds: max(0.0, 0.4 + 2.5 * load + noise(0, 0.4)),
            Signal.database_up: 1.0,
            Signal.redis_up: 1.0,
            Signal.requests_total_count: round(requests),
            Signal.requests_errors_count: round(errors),
            Signal.requests_slow_count: round(slow),
            Signal.requests_latency_count: round(requests),
        }


def _instance() -> str:
    # The name the app's own sampler writes under (operations.instance_name, a layer above
    # this one), so the sampled history continues the seeded one as one series.
    return socket.gethostname()[:128]


def _ascii(text: str) -> str:
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
