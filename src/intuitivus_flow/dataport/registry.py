"""What a workspace export holds: one `EntitySpec` per exportable table, parents first.

Each entity names the domain repository that scopes it to a workspace, the columns that leave
the instance (never secrets: provider keys, password hashes, API keys and session tokens live
in tables that are not listed here at all; a WhatsApp number leaves without its access token,
app secret, verify-token digest and token hint, and arrives switched off), the columns that
point at other entities (rewritten to new ids on import) and the rules an imported row must
follow beyond its column types (choices, domain types, uniqueness).

Columns that point at people (`created_by_id`, `author_user_id`, `user_id`) are not exported:
members belong to one instance and are invited, not imported.

Some references have no foreign key behind them (a campaign delivery's contact, a crew step's
hand-over, the agents of a crew in a JSON list): the row they named may have been deleted
since, so they are `loose`. A loose reference is rewritten when it names a row of the import
and kept as it is otherwise (it names a row the workspace has, or nothing, as before).
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, TypeAdapter, ValidationError
from sqlalchemy import Column

from intuitivus_flow.agents.models import AgentStatus, CrewMode, TaskStatus
from intuitivus_flow.agents.repository import (
    AgentRepository,
    AgentTaskRepository,
    CrewRunRepository,
    CrewStepRepository,
)
from intuitivus_flow.campaigns.automation.repository import (
    CampaignStepRepository,
    ConversionRepository,
    DeliveryRepository,
)
from intuitivus_flow.campaigns.automation.schemas import StepSpec
from intuitivus_flow.campaigns.models import (
    CampaignStatus,
    DeliveryStatus,
    PauseReason,
    Platform,
    StepKind,
)
from intuitivus_flow.campaigns.repository import (
    CampaignEventRepository,
    CampaignReportRepository,
    CampaignRepository,
)
from intuitivus_flow.campaigns.schemas import Currency
from intuitivus_flow.contacts.models import OptIn
from intuitivus_flow.contacts.repository import ContactRepository, ContactTagRepository
from intuitivus_flow.contacts.schemas import Phone
from intuitivus_flow.conversations.models import (
    Author,
    Channel,
    ConversationState,
    Direction,
    MessageKind,
    MessageStatus,
)
from intuitivus_flow.conversations.repository import (
    ConversationRepository,
    ConversationSettingsRepository,
    MessageRepository,
    WhatsAppNumberRepository,
)
from intuitivus_flow.events.catalog import EVENT_NAME_PATTERN
from intuitivus_flow.events.repository import EventRepository
from intuitivus_flow.kit.repository import WorkspaceRepository

FORMAT_VERSION = 1

# (field, message) pairs an entity-level rule reports for one row.
RowProblems = list[tuple[str, str]]


@dataclass(frozen=True, slots=True)
class IdsInJson:
    """Ids of `target` rows kept in a JSON column as a list under `key` (no foreign key can
    guard them, so they are loose: rewritten when they name a row of the import)."""

    target: str
    key: str


# eq=False: specs are compared (and cached on) by identity; they hold dicts.
@dataclass(frozen=True, slots=True, eq=False)
class EntitySpec:
    name: str  # the file stem (`agents.jsonl`) and the key in manifests and reports
    repository: type[WorkspaceRepository[Any]]
    fields: tuple[str, ...]  # exported columns, in file order; `id` first
    references: Mapping[str, str] = field(default_factory=dict)  # column -> entity name
    # References without a foreign key: they may name a deleted row (see the module docstring).
    loose: frozenset[str] = frozenset()
    ids_in_json: Mapping[str, IdsInJson] = field(default_factory=dict)  # column -> its ids
    order_by: tuple[str, ...] = ("created_at", "id")  # keyset order of the export
    choices: Mapping[str, type[StrEnum]] = field(default_factory=dict)
    # Domain types that replace the column's own type in validation (E.164 phones...).
    types: Mapping[str, Any] = field(default_factory=dict)
    # Column sets unique within a workspace: checked inside the file and, when no column of
    # the set is a reference, against the rows the workspace already has.
    unique: tuple[tuple[str, ...], ...] = ()
    # Columns unique across the whole instance (a WhatsApp number routes webhooks to exactly
    # one workspace): unique within the file; a row whose value is taken anywhere is skipped.
    instance_unique: tuple[str, ...] = ()
    # One row per workspace (settings): at most one row in the file, and importing it updates
    # the row the workspace already has instead of adding a second one.
    singleton: bool = False
    check: Callable[[Mapping[str, Any]], RowProblems] | None = None
    # What import changes on a row (work that was in flight has no job in the new workspace).
    on_import: Callable[[dict[str, Any]], None] | None = None

    @property
    def model(self) -> type[Any]:
        return self.repository.model

    def column(self, name: str) -> Column[Any]:
        column: Column[Any] = self.model.__table__.columns[name]
        return column


def _check_step_config(row: Mapping[str, Any]) -> RowProblems:
    # A step's config is what campaigns/ validated when the steps were set; keep it that way.
    try:
        TypeAdapter(StepSpec).validate_python({**(row.get("config") or {}), "kind": row["kind"]})
    except ValidationError as exc:
        first = exc.errors(include_input=False, include_url=False)[0]
        path = ".".join(str(part) for part in first["loc"][1:])
        return [("config", f"{path}: {first['msg']}" if path else first["msg"])]
    return []


def _settle_task(row: dict[str, Any]) -> None:
    # A queued or running task has no job in the new workspace: it would wait forever.
    if row.get("status") in {TaskStatus.queued.value, TaskStatus.running.value}:
        row["status"] = TaskStatus.cancelled.value
        row["error"] = "imported before it finished"


def _settle_message(row: dict[str, Any]) -> None:
    # Same for an outbound message that was waiting for its delivery job.
    if row.get("status") == MessageStatus.pending.value:
        row["status"] = MessageStatus.failed.value
        row["error"] = "imported before it was sent"


def _disconnect_number(row: dict[str, Any]) -> None:
    # The access token, app secret and verify token never leave their instance, so an imported
    # number cannot send, receive or verify webhooks: it arrives switched off, with empty
    # credentials that match nothing (routing and the handshake only look at active numbers).
    # Removing it and connecting it again with its tokens brings it back.
    row.update(
        active=False,
        encrypted_access_token="",
        encrypted_app_secret="",
        verify_token_digest="",
        token_hint="",
    )


def _new_widget_key(row: dict[str, Any]) -> None:
    # The web-chat key names its workspace and lets anyone post visitor messages into it: the
    # target gets a key of its own (only used when the workspace has no settings row yet).
    row["widget_key"] = secrets.token_urlsafe(24)


class _CrewOrder(BaseModel):
    model_config = ConfigDict(extra="forbid")
    order: list[uuid.UUID] = Field(min_length=1)


def _check_crew_order(row: Mapping[str, Any]) -> RowProblems:
    # The same shape agents/crews.py writes: {"order": [agent id, ...]}.
    try:
        _CrewOrder.model_validate(row.get("agent_ids"))
    except ValidationError as exc:
        first = exc.errors(include_input=False, include_url=False)[0]
        path = ".".join(str(part) for part in first["loc"])
        return [("agent_ids", f"{path}: {first['msg']}" if path else first["msg"])]
    return []


EventName = Annotated[str, StringConstraints(pattern=EVENT_NAME_PATTERN.pattern)]
# What Meta calls the number (digits); conversations/schemas.py accepts the same.
PhoneNumberId = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^\d+$")]

ENTITIES: tuple[EntitySpec, ...] = (
    EntitySpec(
        name="agents",
        repository=AgentRepository,
        fields=(
            "id",
            "name",
            "role",
            "system_prompt",
            "provider",
            "model",
            "temperature",
            "max_tokens",
            "status",
            "created_at",
            "updated_at",
        ),
        choices={"status": AgentStatus},
    ),
    EntitySpec(
        name="agent_tasks",
        repository=AgentTaskRepository,
        fields=(
            "id",
            "agent_id",
            "prompt",
            "status",
            "result_text",
            "error",
            "provider",
            "model",
            "prompt_tokens",
            "completion_tokens",
            "cost_micros",
            "latency_ms",
            "started_at",
            "finished_at",
            "created_at",
        ),
        references={"agent_id": "agents"},
        choices={"status": TaskStatus},
        on_import=_settle_task,
    ),
    EntitySpec(
        name="crew_runs",
        repository=CrewRunRepository,
        fields=(
            "id",
            "mode",
            "agent_ids",
            "input",
            "max_steps",
            "status",
            "output",
            "error",
            "finished_at",
            "created_at",
        ),
        ids_in_json={"agent_ids": IdsInJson(target="agents", key="order")},
        choices={"mode": CrewMode, "status": TaskStatus},
        check=_check_crew_order,
        on_import=_settle_task,  # its step jobs stayed behind too
    ),
    EntitySpec(
        name="crew_steps",
        repository=CrewStepRepository,
        fields=(
            "id",
            "run_id",
            "position",
            "agent_id",
            "input",
            "output",
            "handed_to_id",
            "provider",
            "tokens",
            "cost_micros",
            "latency_ms",
            "created_at",
        ),
        references={"run_id": "crew_runs", "agent_id": "agents", "handed_to_id": "agents"},
        loose=frozenset({"handed_to_id"}),
        unique=(("run_id", "position"),),
    ),
    EntitySpec(
        name="contacts",
        repository=ContactRepository,
        fields=(
            "id",
            "name",
            "phone",
            "email",
            "attributes",
            "opt_in",
            "opt_in_changed_at",
            "email_opt_in",
            "email_opt_in_changed_at",
            "created_at",
            "updated_at",
        ),
        choices={"opt_in": OptIn, "email_opt_in": OptIn},
        types={"phone": Phone | None},
        unique=(("phone",),),
    ),
    EntitySpec(
        name="contact_tags",
        repository=ContactTagRepository,
        fields=("id", "contact_id", "tag"),
        references={"contact_id": "contacts"},
        order_by=("id",),  # tags have no creation time
        unique=(("contact_id", "tag"),),
    ),
    EntitySpec(
        name="conversation_settings",
        repository=ConversationSettingsRepository,
        fields=("id", "default_agent_id", "widget_enabled", "updated_at"),
        references={"default_agent_id": "agents"},
        order_by=("id",),  # one row per workspace, no creation time
        singleton=True,
        on_import=_new_widget_key,
    ),
    EntitySpec(
        name="whatsapp_numbers",
        repository=WhatsAppNumberRepository,
        # Never the credentials (see _disconnect_number) nor `active`, which they decide.
        fields=("id", "phone_number_id", "display_number", "agent_id", "created_at"),
        references={"agent_id": "agents"},
        types={"phone_number_id": PhoneNumberId},
        instance_unique=("phone_number_id",),
        on_import=_disconnect_number,
    ),
    EntitySpec(
        name="conversations",
        repository=ConversationRepository,
        fields=(
            "id",
            "contact_id",
            "channel",
            "visitor_id",
            "agent_id",
            "state",
            "last_message_at",
            "last_message_text",
            "escalated_at",
            "closed_at",
            "created_at",
            "updated_at",
        ),
        references={"contact_id": "contacts", "agent_id": "agents"},
        choices={"channel": Channel, "state": ConversationState},
    ),
    EntitySpec(
        name="messages",
        repository=MessageRepository,
        fields=(
            "id",
            "conversation_id",
            "direction",
            "author",
            "kind",
            "text",
            "payload",
            "channel_message_id",
            "idempotency_key",
            "status",
            "error",
            "status_updated_at",
            "created_at",
        ),
        references={"conversation_id": "conversations"},
        choices={
            "direction": Direction,
            "author": Author,
            "kind": MessageKind,
            "status": MessageStatus,
        },
        unique=(("channel_message_id",), ("idempotency_key",)),
        on_import=_settle_message,
    ),
    EntitySpec(
        name="campaigns",
        repository=CampaignRepository,
        fields=(
            "id",
            "name",
            "platform",
            "status",
            "currency",
            "total_budget_minor",
            "daily_budget_minor",
            "starts_at",
            "ends_at",
            "targeting",
            "creatives",
            "audience_tags",
            "agent_id",
            "automation_started_at",
            # A campaign paused for its daily budget resumes by itself after an import too.
            "pause_reason",
            "resume_at",
            "created_at",
            "updated_at",
        ),
        references={"agent_id": "agents"},
        choices={"platform": Platform, "status": CampaignStatus, "pause_reason": PauseReason},
        types={"currency": Currency},
    ),
    EntitySpec(
        name="campaign_reports",
        repository=CampaignReportRepository,
        fields=(
            "id",
            "campaign_id",
            "report_date",
            "impressions",
            "clicks",
            "conversions",
            "spend_minor",
            "revenue_minor",
            "source",
            "created_at",
        ),
        references={"campaign_id": "campaigns"},
        unique=(("campaign_id", "report_date"),),
    ),
    EntitySpec(
        name="campaign_steps",
        repository=CampaignStepRepository,
        fields=(
            "id",
            "campaign_id",
            "position",
            "kind",
            "config",
            "if_true_step_id",
            "if_false_step_id",
            "created_at",
        ),
        # A branch names later steps of its campaign, which may come later in the file.
        references={
            "campaign_id": "campaigns",
            "if_true_step_id": "campaign_steps",
            "if_false_step_id": "campaign_steps",
        },
        choices={"kind": StepKind},
        unique=(("campaign_id", "position"),),
        check=_check_step_config,
    ),
    EntitySpec(
        name="campaign_events",  # the campaign's timeline
        repository=CampaignEventRepository,
        fields=("id", "campaign_id", "kind", "from_status", "to_status", "reason", "created_at"),
        references={"campaign_id": "campaigns"},
        choices={"from_status": CampaignStatus, "to_status": CampaignStatus},
    ),
    EntitySpec(
        name="campaign_step_deliveries",  # the automation's state: who got which step
        repository=DeliveryRepository,
        fields=("id", "campaign_id", "step_id", "contact_id", "status", "detail", "created_at"),
        references={
            "campaign_id": "campaigns",
            "step_id": "campaign_steps",
            "contact_id": "contacts",
        },
        loose=frozenset({"contact_id"}),
        choices={"status": DeliveryStatus},
        unique=(("step_id", "contact_id"),),
    ),
    EntitySpec(
        name="campaign_conversions",
        repository=ConversionRepository,
        fields=("id", "campaign_id", "contact_id", "value_minor", "created_at"),
        references={"campaign_id": "campaigns", "contact_id": "contacts"},
        loose=frozenset({"contact_id"}),
        unique=(("campaign_id", "contact_id"),),
    ),
    EntitySpec(
        name="events",
        repository=EventRepository,
        fields=("id", "name", "source", "occurred_at", "received_at", "properties"),
        order_by=("occurred_at", "id"),
        types={"name": EventName},
    ),
)

BY_NAME: dict[str, EntitySpec] = {spec.name: spec for spec in ENTITIES}
# Entities some other entity points at: only their ids need remembering during an import.
REFERENCED: frozenset[str] = frozenset(
    {
        *(target for spec in ENTITIES for target in spec.references.values()),
        *(ids.target for spec in ENTITIES for ids in spec.ids_in_json.values()),
    }
)


def get(name: str) -> EntitySpec | None:
    return BY_NAME.get(name)
