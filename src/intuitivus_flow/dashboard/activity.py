"""Recent activity as sentences people read ("Campaign Black Friday was paused by Ana"),
not event names (`campaign.status_changed`).

`describe` is pure: the repository resolves the names the events point at (who acted, which
campaign or agent) and hands them in; a name it cannot resolve (deleted since) falls back to a
neutral phrase ("a campaign"), and an event without a sentence of its own reads as its name in
words ("Crew run started").
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from intuitivus_flow.events import catalog

# Status values that read better as a verb than as "moved to <status>".
_STATUS_VERBS = {
    "active": "activated",
    "paused": "paused",
    "completed": "completed",
    "scheduled": "scheduled",
    "draft": "moved back to draft",
    "archived": "archived",
    "inactive": "deactivated",
}


@dataclass(frozen=True, slots=True)
class Names:
    """Display names of what recent events point at, by id (as text)."""

    users: Mapping[str, str]
    campaigns: Mapping[str, str]
    agents: Mapping[str, str]


def _campaign(properties: Mapping[str, Any], names: Names) -> str:
    name = names.campaigns.get(str(properties.get("campaign_id", "")))
    return f"Campaign {name}" if name else "A campaign"


def _agent(properties: Mapping[str, Any], names: Names) -> str:
    name = names.agents.get(str(properties.get("agent_id", "")))
    return f"Agent {name}" if name else "An agent"


def _of_agent(properties: Mapping[str, Any], names: Names) -> str:
    name = names.agents.get(str(properties.get("agent_id", "")))
    return f"agent {name}" if name else "an agent"


def _outcome(properties: Mapping[str, Any]) -> str:
    status = str(properties.get("status", ""))
    return {"succeeded": "succeeded", "failed": "failed"}.get(status, "finished")


def _llm_answer(properties: Mapping[str, Any]) -> str:
    provider, tokens = properties.get("provider"), properties.get("tokens")
    details = [str(provider)] if provider else []
    if isinstance(tokens, int):
        details.append(f"{tokens:,} tokens")
    return "The LLM answered" + (f" ({', '.join(details)})" if details else "")


def _status(properties: Mapping[str, Any]) -> str:
    to = str(properties.get("to", ""))
    return _STATUS_VERBS.get(to, f"moved to {to}" if to else "changed status")


Phrase = Callable[[Mapping[str, Any], Names], str]

# The subject and what happened to it, in the passive voice: "by <actor>" is appended.
_PHRASES: dict[str, Phrase] = {
    catalog.CAMPAIGN_CREATED: lambda p, n: f"{_campaign(p, n)} was created",
    catalog.CAMPAIGN_UPDATED: lambda p, n: f"{_campaign(p, n)} was edited",
    catalog.CAMPAIGN_DELETED: lambda p, n: "A campaign was deleted",
    catalog.CAMPAIGN_STATUS_CHANGED: lambda p, n: f"{_campaign(p, n)} was {_status(p)}",
    catalog.CAMPAIGN_REPORT_INGESTED: lambda p, n: f"{_campaign(p, n)} got a performance report",
    catalog.CAMPAIGN_STEPS_REPLACED: lambda p, n: f"{_campaign(p, n)}'s steps were changed",
    catalog.CAMPAIGN_AUTOMATION_STARTED: lambda p, n: f"{_campaign(p, n)}'s automation was started",
    catalog.CAMPAIGN_CONVERSION_RECORDED: lambda p, n: f"{_campaign(p, n)} recorded a conversion",
    catalog.AGENT_CREATED: lambda p, n: f"{_agent(p, n)} was created",
    catalog.AGENT_UPDATED: lambda p, n: f"{_agent(p, n)} was edited",
    catalog.AGENT_DELETED: lambda p, n: "An agent was deleted",
    catalog.AGENT_CLONED: lambda p, n: f"{_agent(p, n)} was cloned",
    catalog.AGENT_STATUS_CHANGED: lambda p, n: f"{_agent(p, n)} was {_status(p)}",
    # The agent's name keeps its capitals: "a task for agent Closer", not "agent closer".
    catalog.AGENT_TASK_SUBMITTED: lambda p, n: f"A task for {_of_agent(p, n)} was submitted",
    catalog.AGENT_TASK_FINISHED: lambda p, n: f"A task of {_of_agent(p, n)} {_outcome(p)}",
    catalog.AGENT_TASK_CANCELLED: lambda p, n: f"A task of {_of_agent(p, n)} was cancelled",
    catalog.LLM_COMPLETED: lambda p, n: _llm_answer(p),
    catalog.LLM_KEY_ADDED: lambda p, n: "An LLM provider key was added",
    catalog.LLM_KEY_UPDATED: lambda p, n: "An LLM provider key was changed",
    catalog.LLM_KEY_REMOVED: lambda p, n: "An LLM provider key was removed",
    catalog.API_KEY_CREATED: lambda p, n: "An API key was created",
    catalog.API_KEY_REVOKED: lambda p, n: "An API key was revoked",
    catalog.WORKSPACE_CREATED: lambda p, n: "The workspace was created",
    catalog.SESSION_REUSE_DETECTED: lambda p, n: "A reused sign-in token was refused",
    catalog.MEMBER_DEACTIVATED: lambda p, n: "A member was deactivated",
    catalog.MEMBER_REACTIVATED: lambda p, n: "A member was reactivated",
    catalog.INVITATION_REVOKED: lambda p, n: "An invitation was withdrawn",
    catalog.CONTACT_CONSENT_CHANGED: lambda p, n: "A contact's consent was changed",
    catalog.CONTACTS_IMPORTED: lambda p, n: "Contacts were imported",
    catalog.CONVERSATION_STARTED: lambda p, n: "A conversation started",
    catalog.CONVERSATION_MESSAGE_RECEIVED: lambda p, n: "A contact sent a message",
    catalog.CONVERSATION_AGENT_REPLIED: lambda p, n: f"{_agent(p, n)} replied to a contact",
    catalog.CONVERSATION_HUMAN_REPLIED: lambda p, n: "A person replied to a contact",
    catalog.CONVERSATION_OUTBOUND_QUEUED: lambda p, n: "A message to a contact was queued",
    catalog.CONVERSATION_HANDED_BACK: lambda p, n: "A conversation was handed back to its agent",
    catalog.CONVERSATION_CLOSED: lambda p, n: "A conversation was closed",
    catalog.CONVERSATION_AGENT_ASSIGNED: lambda p, n: f"{_agent(p, n)} was given a conversation",
    catalog.CONVERSATION_MEMBER_ASSIGNED: lambda p, n: "A conversation was assigned to a member",
    catalog.CONVERSATION_NEEDS_ATTENTION: lambda p, n: "A conversation needs a person",
    catalog.CONVERSATION_SETTINGS_UPDATED: lambda p, n: "Conversation settings were changed",
    catalog.WHATSAPP_NUMBER_ADDED: lambda p, n: "A WhatsApp number was connected",
    catalog.WHATSAPP_NUMBER_REMOVED: lambda p, n: "A WhatsApp number was disconnected",
    catalog.CREW_RUN_STARTED: lambda p, n: "Crew run started",
    catalog.CREW_RUN_FINISHED: lambda p, n: "Crew run finished",
    catalog.SUBSCRIPTION_STARTED: lambda p, n: "The subscription started",
    catalog.SUBSCRIPTION_STATUS_CHANGED: lambda p, n: (
        f"The subscription became {p.get('to', 'something else')}"
    ),
    catalog.SUBSCRIPTION_RENEWED: lambda p, n: "The subscription was renewed",
    catalog.PAYMENT_CREATED: lambda p, n: "A payment was started",
    catalog.PAYMENT_MARKED_FAILED: lambda p, n: "A payment failed",
    catalog.OPERATOR_PAYMENT_SETTLED: lambda p, n: "A payment was settled by the operators",
    catalog.LICENCE_REDEEMED: lambda p, n: "A licence was redeemed",
    catalog.LICENCE_REVOKED: lambda p, n: "A licence was revoked",
    catalog.DATA_IMPORT_REQUESTED: lambda p, n: "A data import was queued",
    catalog.DATA_IMPORT_FINISHED: lambda p, n: "A data import finished",
    catalog.MEMBER_INVITED: lambda p, n: f"A new {p.get('role', 'member')} was invited",
    catalog.MEMBER_ROLE_CHANGED: lambda p, n: "A member's role was changed",
    catalog.CONTACT_CREATED: lambda p, n: "A contact was added",
    catalog.CONTACT_UPDATED: lambda p, n: "A contact was updated",
    catalog.CONTACT_DELETED: lambda p, n: "A contact was deleted",
    catalog.PAYMENT_CONFIRMED: lambda p, n: "A payment was confirmed",
    catalog.SUBSCRIPTION_PLAN_CHANGED: lambda p, n: (
        f"The plan was changed to {p.get('to', p.get('plan', 'another plan'))}"
    ),
    catalog.CONVERSATION_ESCALATED: lambda p, n: "A conversation was handed to a person",
    catalog.DATA_EXPORTED: lambda p, n: "The workspace's data was exported",
    catalog.DATA_IMPORTED: lambda p, n: "Data was imported",
}

# Events that are about the actor: "Ana signed in", not "... by Ana".
_ACTOR_PHRASES: dict[str, str] = {
    catalog.USER_SIGNED_UP: "signed up",
    catalog.USER_LOGGED_IN: "signed in",
    catalog.USER_LOGGED_OUT: "signed out",
    catalog.USER_PASSWORD_CHANGED: "changed their password",
    catalog.MEMBER_JOINED: "joined the workspace",
}


def describe(name: str, properties: Mapping[str, Any], *, user_id: str | None, names: Names) -> str:
    actor = names.users.get(user_id or "")
    if name in _ACTOR_PHRASES:
        return f"{actor or 'Someone'} {_ACTOR_PHRASES[name]}"
    phrase = _PHRASES.get(name)
    if phrase is None:
        words = name.replace(".", " ").replace("_", " ").strip()
        sentence = words[:1].upper() + words[1:]
    else:
        sentence = phrase(properties, names)
    return f"{sentence} by {actor}" if actor else sentence
