"""Names of the events the server records. Keep docs/events.md in step (a test checks it).

Naming: `<object>.<past-tense verb>`, lower snake case, e.g. `member.invited`.
"""

from __future__ import annotations

import re

EVENT_NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,39}(\.[a-z][a-z0-9_]{0,39}){1,3}$")

WORKSPACE_CREATED = "workspace.created"
USER_SIGNED_UP = "user.signed_up"
USER_LOGGED_IN = "user.logged_in"
USER_LOGGED_OUT = "user.logged_out"
USER_PASSWORD_CHANGED = "user.password_changed"
SESSION_REUSE_DETECTED = "session.reuse_detected"
MEMBER_INVITED = "member.invited"
MEMBER_JOINED = "member.joined"
MEMBER_DEACTIVATED = "member.deactivated"
MEMBER_REACTIVATED = "member.reactivated"
MEMBER_ROLE_CHANGED = "member.role_changed"
INVITATION_REVOKED = "invitation.revoked"
API_KEY_CREATED = "api_key.created"
API_KEY_REVOKED = "api_key.revoked"
LLM_KEY_ADDED = "llm_key.added"
LLM_KEY_UPDATED = "llm_key.updated"
LLM_KEY_REMOVED = "llm_key.removed"
LLM_COMPLETED = "llm.completed"
AGENT_CREATED = "agent.created"
AGENT_UPDATED = "agent.updated"
AGENT_DELETED = "agent.deleted"
AGENT_CLONED = "agent.cloned"
AGENT_STATUS_CHANGED = "agent.status_changed"
AGENT_TASK_SUBMITTED = "agent_task.submitted"
AGENT_TASK_CANCELLED = "agent_task.cancelled"
AGENT_TASK_FINISHED = "agent_task.finished"
CAMPAIGN_CREATED = "campaign.created"
CAMPAIGN_UPDATED = "campaign.updated"
CAMPAIGN_DELETED = "campaign.deleted"
CAMPAIGN_STATUS_CHANGED = "campaign.status_changed"
CAMPAIGN_REPORT_INGESTED = "campaign.report_ingested"
CAMPAIGN_STEPS_REPLACED = "campaign.steps_replaced"
CAMPAIGN_AUTOMATION_STARTED = "campaign.automation_started"
CAMPAIGN_CONVERSION_RECORDED = "campaign.conversion_recorded"
CREW_RUN_STARTED = "crew_run.started"
CREW_RUN_FINISHED = "crew_run.finished"
SUBSCRIPTION_STARTED = "subscription.started"
SUBSCRIPTION_PLAN_CHANGED = "subscription.plan_changed"
SUBSCRIPTION_STATUS_CHANGED = "subscription.status_changed"
PAYMENT_CREATED = "payment.created"
PAYMENT_CONFIRMED = "payment.confirmed"
PAYMENT_MARKED_FAILED = "payment.marked_failed"
OPERATOR_PAYMENT_SETTLED = "operator.payment_settled"
SUBSCRIPTION_RENEWED = "subscription.renewed"
LICENCE_REDEEMED = "licence.redeemed"
LICENCE_REVOKED = "licence.revoked"
CONTACT_CREATED = "contact.created"
CONTACT_UPDATED = "contact.updated"
CONTACT_DELETED = "contact.deleted"
CONTACT_CONSENT_CHANGED = "contact.consent_changed"
CONTACTS_IMPORTED = "contacts.imported"
CONVERSATION_STARTED = "conversation.started"
CONVERSATION_MESSAGE_RECEIVED = "conversation.message_received"
CONVERSATION_AGENT_REPLIED = "conversation.agent_replied"
CONVERSATION_HUMAN_REPLIED = "conversation.human_replied"
CONVERSATION_OUTBOUND_QUEUED = "conversation.outbound_queued"
CONVERSATION_ESCALATED = "conversation.escalated"
CONVERSATION_HANDED_BACK = "conversation.handed_back"
CONVERSATION_CLOSED = "conversation.closed"
CONVERSATION_AGENT_ASSIGNED = "conversation.agent_assigned"
CONVERSATION_MEMBER_ASSIGNED = "conversation.member_assigned"
CONVERSATION_NEEDS_ATTENTION = "conversation.needs_attention"
CONVERSATION_SETTINGS_UPDATED = "conversation_settings.updated"
WHATSAPP_NUMBER_ADDED = "whatsapp_number.added"
WHATSAPP_NUMBER_REMOVED = "whatsapp_number.removed"
DATA_EXPORTED = "data.exported"
DATA_IMPORTED = "data.imported"
DATA_IMPORT_REQUESTED = "data.import_requested"
DATA_IMPORT_FINISHED = "data.import_finished"

SERVER_EVENTS = frozenset(
    {
        WORKSPACE_CREATED,
        USER_SIGNED_UP,
        USER_LOGGED_IN,
        USER_LOGGED_OUT,
        USER_PASSWORD_CHANGED,
        SESSION_REUSE_DETECTED,
        MEMBER_INVITED,
        MEMBER_JOINED,
        MEMBER_DEACTIVATED,
        MEMBER_REACTIVATED,
        MEMBER_ROLE_CHANGED,
        INVITATION_REVOKED,
        API_KEY_CREATED,
        API_KEY_REVOKED,
        LLM_KEY_ADDED,
        LLM_KEY_UPDATED,
        LLM_KEY_REMOVED,
        LLM_COMPLETED,
        AGENT_CREATED,
        AGENT_UPDATED,
        AGENT_DELETED,
        AGENT_CLONED,
        AGENT_STATUS_CHANGED,
        AGENT_TASK_SUBMITTED,
        AGENT_TASK_CANCELLED,
        AGENT_TASK_FINISHED,
        CAMPAIGN_CREATED,
        CAMPAIGN_UPDATED,
        CAMPAIGN_DELETED,
        CAMPAIGN_STATUS_CHANGED,
        CAMPAIGN_REPORT_INGESTED,
        CAMPAIGN_STEPS_REPLACED,
        CAMPAIGN_AUTOMATION_STARTED,
        CAMPAIGN_CONVERSION_RECORDED,
        CREW_RUN_STARTED,
        CREW_RUN_FINISHED,
        SUBSCRIPTION_STARTED,
        SUBSCRIPTION_PLAN_CHANGED,
        SUBSCRIPTION_STATUS_CHANGED,
        PAYMENT_CREATED,
        PAYMENT_CONFIRMED,
        PAYMENT_MARKED_FAILED,
        OPERATOR_PAYMENT_SETTLED,
        SUBSCRIPTION_RENEWED,
        LICENCE_REDEEMED,
        LICENCE_REVOKED,
        CONTACT_CREATED,
        CONTACT_UPDATED,
        CONTACT_DELETED,
        CONTACT_CONSENT_CHANGED,
        CONTACTS_IMPORTED,
        CONVERSATION_STARTED,
        CONVERSATION_MESSAGE_RECEIVED,
        CONVERSATION_AGENT_REPLIED,
        CONVERSATION_HUMAN_REPLIED,
        CONVERSATION_OUTBOUND_QUEUED,
        CONVERSATION_ESCALATED,
        CONVERSATION_HANDED_BACK,
        CONVERSATION_CLOSED,
        CONVERSATION_AGENT_ASSIGNED,
        CONVERSATION_MEMBER_ASSIGNED,
        CONVERSATION_NEEDS_ATTENTION,
        CONVERSATION_SETTINGS_UPDATED,
        WHATSAPP_NUMBER_ADDED,
        WHATSAPP_NUMBER_REMOVED,
        DATA_EXPORTED,
        DATA_IMPORTED,
        DATA_IMPORT_REQUESTED,
        DATA_IMPORT_FINISHED,
    }
)

# Clients may not forge what only the server can witness.
RESERVED_NAMESPACES = frozenset(name.split(".", 1)[0] for name in SERVER_EVENTS)
