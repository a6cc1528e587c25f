"""Composition root: every domain's models, so that `Base.metadata` is complete (Alembic,
the CLI, tests). It sits above the domains; kit only defines `Base`."""

from intuitivus_flow.agents.models import Agent
from intuitivus_flow.alerts.models import (
    Alert,
    AlertTransition,
    Lease,
    NotificationAttempt,
    NotificationDelivery,
    Silence,
)
from intuitivus_flow.analytics.goals_models import KpiGoal
from intuitivus_flow.analytics.models import CollectedEvent, Identity, WriteKey
from intuitivus_flow.apikeys.models import ApiKey
from intuitivus_flow.auth.models import AuthSession, RefreshToken
from intuitivus_flow.billing.models import (
    IdempotencyRecord,
    Invoice,
    Licence,
    MessageUsage,
    Payment,
    Subscription,
    WebhookEvent,
)
from intuitivus_flow.campaigns.models import (
    Campaign,
    CampaignConversion,
    CampaignEvent,
    CampaignReport,
    CampaignStep,
    CampaignStepDelivery,
)
from intuitivus_flow.contacts.models import Contact, ContactConsentChange, ContactTag
from intuitivus_flow.conversations.models import (
    Conversation,
    ConversationSettings,
    Message,
    WhatsAppNumber,
)
from intuitivus_flow.dataport.models import ImportRun, ImportUploadChunk
from intuitivus_flow.events.models import Event
from intuitivus_flow.forecasting.models import ForecastModel
from intuitivus_flow.jobs.models import Job
from intuitivus_flow.kit.models import Base
from intuitivus_flow.llm.models import LlmUsage, ProviderKey
from intuitivus_flow.metrics_history.models import MetricSample
from intuitivus_flow.users.models import Invitation, User
from intuitivus_flow.workspaces.models import Workspace

__all__ = [
    "Agent",
    "Alert",
    "AlertTransition",
    "ApiKey",
    "AuthSession",
    "Base",
    "Campaign",
    "CampaignConversion",
    "CampaignEvent",
    "CampaignReport",
    "CampaignStep",
    "CampaignStepDelivery",
    "CollectedEvent",
    "Contact",
    "ContactConsentChange",
    "ContactTag",
    "Conversation",
    "ConversationSettings",
    "Event",
    "ForecastModel",
    "IdempotencyRecord",
    "Identity",
    "ImportRun",
    "ImportUploadChunk",
    "Invitation",
    "Invoice",
    "Job",
    "KpiGoal",
    "Lease",
    "Licence",
    "LlmUsage",
    "Message",
    "MessageUsage",
    "MetricSample",
    "NotificationAttempt",
    "NotificationDelivery",
    "Payment",
    "ProviderKey",
    "RefreshToken",
    "Silence",
    "Subscription",
    "User",
    "WebhookEvent",
    "WhatsAppNumber",
    "Workspace",
    "WriteKey",
]
