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
    catalog.AGENT_TASK_SUBMITTED: lambda p, n: f"A task for {_agent(p, n).lower()} was submitted",
    catalog.AGENT_TASK_FINISHED: lambda p, n: f"A task of {_agent(p, n).lower()} finished",
    catalog.AGENT_TASK_CANCELLED: lambda p, n: f"A task of {_agent(p, n).lower()} was cancelled",
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
