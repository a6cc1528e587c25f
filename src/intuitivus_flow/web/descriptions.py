"""The `<meta name="description">` of every page (search engines and link previews show it).

A view may pass its own `meta_description` to `render`; otherwise the template's entry here is
used, and pages not listed (new ones) get `DEFAULT_DESCRIPTION`, so no page goes without.
"""

from __future__ import annotations

DEFAULT_DESCRIPTION = (
    "Intuitivus Flow Studio: AI agents, conversations and marketing-campaign automation "
    "for your workspace, with the operations layer to run them."
)

PAGE_DESCRIPTIONS: dict[str, str] = {
    "signin.html": "Sign in to your Intuitivus Flow Studio workspace.",
    "signup.html": (
        "Create an Intuitivus Flow Studio workspace: AI agents that answer your contacts "
        "and campaigns that run themselves."
    ),
    "invite.html": "Accept an invitation and join a workspace on Intuitivus Flow Studio.",
    "overview.html": "Your workspace at a glance: agents, campaigns, conversations and members.",
    "dashboard.html": "Campaign spend and results, conversations and recent activity.",
    "agents.html": "Create and manage the AI agents that answer your contacts.",
    "agent.html": "An AI agent: its instructions, model, tasks and statistics.",
    "crews.html": "Crews of agents that work on a task together.",
    "crew_run.html": "One run of a crew: each agent's step and the result.",
    "campaigns.html": "Your marketing campaigns, their budgets, status and results.",
    "campaign.html": "A campaign: settings, audience, automated steps and performance.",
    "inbox.html": "Conversations with your contacts, answered by agents and people.",
    "conversation.html": "One conversation with a contact, and the actions a person can take.",
    "contacts.html": "The people your agents and campaigns reach, with their tags and opt-in.",
    "channels.html": "Connect WhatsApp numbers and web chat to your workspace.",
    "settings.html": "Workspace settings: members, invitations, API keys and analytics write keys.",
    "service_health.html": "Service health: error budgets, latency and alert signals.",
    "alerts.html": "Alert rules, what is firing and the notifications sent.",
    "forecasts.html": "Forecasts of the alert signals and predictive alerts.",
    "performance.html": "Performance: slow requests, database queries and their advice.",
    "billing.html": "Your plan, usage, invoices and payments.",
    "operator_payments.html": "Manual payments waiting for an operator to confirm them.",
    "data.html": "Export your workspace's data or import it from a file.",
    "data_import.html": "The progress and result of a data import.",
    "analytics_kpis.html": "Business KPIs, customer lifetime value and goals.",
    "analytics_funnels.html": "Conversion funnels over your product's events.",
    "analytics_paths.html": "The paths people take between events.",
    "analytics_retention.html": "Retention, lifecycle and stickiness of your users.",
    "analytics_bottlenecks.html": "Where people get stuck on the way to activation.",
    "analytics_contacts.html": "Predicted purchases and value per contact.",
}


def description_for(template: str) -> str:
    return PAGE_DESCRIPTIONS.get(template, DEFAULT_DESCRIPTION)
