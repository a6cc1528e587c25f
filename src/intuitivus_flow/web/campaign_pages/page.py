"""One campaign's page, shared by its parts: rendering one of its tabs (overview, settings,
audience and steps, performance, deliveries, history; each at its own URL, so a tab can be
linked, bookmarked and reloaded without JavaScript) and running its forms with
post/redirect/get, re-rendering the form's tab with the errors when one fails."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import Any

from fastapi import Depends, Request
from fastapi.responses import Response
from sqlalchemy.ext.asyncio import AsyncSession

from intuitivus_flow.agents import service as agents
from intuitivus_flow.campaigns import service as campaigns
from intuitivus_flow.campaigns.automation import service as automation
from intuitivus_flow.campaigns.models import CampaignStatus
from intuitivus_flow.campaigns.schemas import CampaignSummary, Performance
from intuitivus_flow.campaigns.service import ALLOWED_TRANSITIONS
from intuitivus_flow.kit import chart_data
from intuitivus_flow.kit.errors import InvalidInput, NotFound
from intuitivus_flow.kit.money import decimals
from intuitivus_flow.metrics_history import charts
from intuitivus_flow.web import csrf
from intuitivus_flow.web.auth import Viewer
from intuitivus_flow.web.campaign_pages import creative_display
from intuitivus_flow.web.campaign_pages.step_display import STEP_TITLES, WAIT_UNITS, step_views
from intuitivus_flow.web.forms import (
    FormInvalid,
    FormState,
    PageState,
    echo,
    form_action,
    parse_id,
    validate,
)
from intuitivus_flow.web.templating import redirect, render

csrf_checked = [Depends(csrf.require_csrf)]
GENDERS = ("female", "male", "other")
AGENT_CHOICES = 100
# Free-text fields that may be long: echoed back whole (up to this) when the form fails, so a
# typo in a long keywords list does not cost the rest of it (the shared echo keeps 320).
MAX_LONG_ECHO = 100_000
NOTICES = {
    "created": "The campaign was created as a draft.",
    "status": "The campaign's status was changed.",
    "report": "The report was stored.",
    "run": "The automation is running: its jobs are on the queue.",
    "audience": "The audience and agent were saved.",
    "step-added": "The step was added.",
    "step-edited": "The step was saved.",
    "step-moved": "The step was moved.",
    "step-deleted": "The step was deleted.",
    "conversion": "The conversion was recorded.",
    "settings": "The settings were saved.",
    "creatives": "The creatives were saved.",
    "deleted": "The campaign was deleted.",
}
# Schema fields that the forms name differently (the form asks in people's terms).
FORM_FIELD = {
    "seconds": "duration",
    "contact_id": "contact",
    "value_minor": "value",
    "total_budget_minor": "total_budget",
    "daily_budget_minor": "daily_budget",
}


@dataclass(frozen=True, slots=True)
class Tab:
    name: str
    label: str
    suffix: str  # after /campaigns/{id}: the overview is the campaign's own URL

    def url(self, campaign_id: object) -> str:
        return f"/campaigns/{campaign_id}{self.suffix}"


TABS = (
    Tab("overview", "Overview", ""),
    Tab("settings", "Settings", "/settings"),
    Tab("automation", "Audience and steps", "/automation"),
    Tab("performance", "Performance", "/performance"),
    Tab("deliveries", "Deliveries", "/deliveries"),
    Tab("history", "History", "/history"),
)
TAB_BY_NAME = {tab.name: tab for tab in TABS}
# Each tab's meta description, so a shared link says what that tab holds.
TAB_DESCRIPTIONS = {
    "overview": "A campaign at a glance: status, budget, results and what runs next.",
    "settings": "A campaign's name, budgets, schedule, targeting and creatives.",
    "automation": "A campaign's audience, agent and automated steps.",
    "performance": "A campaign's impressions, clicks, spend and revenue, and its reports.",
    "deliveries": "A campaign's conversions and the steps delivered to its contacts.",
    "history": "A campaign's status changes and automation runs.",
}


def ratio_text(value: float | None, *, percent: bool = False) -> str:
    if value is None:
        return "—"
    return f"{value * 100:.2f} %" if percent else f"{value:.2f}"


def notice(request: Request) -> PageState:
    return PageState(notice=NOTICES.get(request.query_params.get("done", "")))


async def submit(
    request: Request,
    session: AsyncSession,
    viewer: Viewer,
    campaign_id: str,
    values: dict[str, str],
    action: Callable[[], Awaitable[object]],
    *,
    form: str | None,
    done: str,
    tab: str,
    long_fields: tuple[str, ...] = (),
) -> Response:
    """Run a campaign-page form's action, then back to its `tab` (post/redirect/get) with the
    `done` notice; on failure, that tab again with the errors at `form` (None: a button, whose
    failure goes in the banner) and the `long_fields` refilled beyond the usual echo limit."""
    try:
        await form_action(session, viewer, values, action)
    except FormInvalid as invalid:
        invalid.state.values.update({name: values[name][:MAX_LONG_ECHO] for name in long_fields})
        state = PageState.failed(form, invalid.state) if form else PageState.alerting(invalid.state)
        return await render_campaign(request, session, viewer, campaign_id, state, tab=tab)
    return redirect(done_url(campaign_id, tab, done))


def done_url(campaign_id: str, tab: str, done: str) -> str:
    """Where a form that worked leads: its tab with the notice (`done` may end in #anchor)."""
    return f"{TAB_BY_NAME[tab].url(campaign_id)}?done={done}"


def validate_form(schema: type[Any], data: dict[str, object], values: dict[str, str]) -> Any:
    """`validate`, with each error moved to the form field that holds the schema's field."""
    try:
        return validate(schema, data, values)
    except FormInvalid as invalid:
        errors = invalid.state.errors
        invalid.state.errors = {FORM_FIELD.get(name, name): text for name, text in errors.items()}
        raise


def field_error(values: dict[str, str], name: str, message: str) -> FormState:
    return FormState(values=echo(values), errors={name: message}, status_code=422)


def on_form_field(error: InvalidInput) -> InvalidInput:
    """The service names schema fields; the form names budgets in major units differently."""
    field_name = error.extra.get("field")
    if not isinstance(field_name, str):
        return error
    return InvalidInput(
        error.detail, **{**error.extra, "field": FORM_FIELD.get(field_name, field_name)}
    )


async def render_campaign(
    request: Request,
    session: AsyncSession,
    viewer: Viewer,
    campaign_id: str,
    state: PageState,
    *,
    tab: str = "overview",
    report_problems: list[dict[str, Any]] | None = None,
) -> Response:
    """One tab of the campaign's page; each tab reads only what it shows."""
    principal = viewer.principal
    summary = await campaigns.get_summary(session, principal, parse_id(campaign_id, "Campaign"))
    context: dict[str, Any] = {
        "viewer": viewer,
        "view": state,
        "campaign": summary,
        "tabs": TABS,
        "tab": TAB_BY_NAME[tab],
        "meta_description": TAB_DESCRIPTIONS[tab],
        "ratio_text": ratio_text,
    }
    readers = {
        "overview": _overview,
        "settings": _settings,
        "automation": _automation,
        "performance": _performance,
        "deliveries": _deliveries,
        "history": _history,
    }
    context.update(await readers[tab](session, viewer, summary, state))
    context["report_problems"] = report_problems or []
    return render(request, "campaign.html", context, status_code=state.status_code)


async def _overview(
    session: AsyncSession, viewer: Viewer, summary: CampaignSummary, state: PageState
) -> dict[str, Any]:
    principal = viewer.principal
    performance = await campaigns.performance(session, principal, summary.id)
    steps = await automation.list_steps(session, principal, summary.id)
    agent = await _agent_name(session, viewer, summary)
    return {
        "performance": performance,
        "spent_today": _spent_on(performance, datetime.now(UTC).date()),
        "step_count": len(steps),
        "delivered": sum(step.deliveries for step in steps),
        "agent_name": agent,
        "actions": sorted(ALLOWED_TRANSITIONS[summary.status], key=list(CampaignStatus).index),
    }


async def _settings(
    session: AsyncSession, viewer: Viewer, summary: CampaignSummary, state: PageState
) -> dict[str, Any]:
    creatives = state.forms.get("creatives") or FormState(
        values=creative_display.saved_values(summary.creatives)
    )
    return {
        "settings_form": state.forms.get("settings") or _settings_values(summary),
        "genders": GENDERS,
        "creatives_form": creatives,
        "creative_rows": creative_display.rows(creatives.values),
        "creative_formats": creative_display.FORMATS,
    }


async def _automation(
    session: AsyncSession, viewer: Viewer, summary: CampaignSummary, state: PageState
) -> dict[str, Any]:
    principal = viewer.principal
    steps = await automation.list_steps(session, principal, summary.id)
    team = await agents.list_agents(session, principal, status=None, limit=AGENT_CHOICES, offset=0)
    views = step_views(state, steps)
    return {
        "steps": views,
        "step_targets": [
            (str(item.step.id), f"Step {item.step.position}: {item.label}") for item in views
        ],
        "step_kinds": [(kind.value, title) for kind, title in STEP_TITLES.items()],
        "wait_units": [(unit, unit) for unit in WAIT_UNITS],
        "agents": team.items,
        "audience_form": state.forms.get("audience") or _audience_values(summary),
    }


async def _performance(
    session: AsyncSession, viewer: Viewer, summary: CampaignSummary, state: PageState
) -> dict[str, Any]:
    performance = await campaigns.performance(session, viewer.principal, summary.id)
    return {
        "performance": performance,
        "chart": _chart(performance),
        "chart_data": _chart_data(performance),
    }


async def _deliveries(
    session: AsyncSession, viewer: Viewer, summary: CampaignSummary, state: PageState
) -> dict[str, Any]:
    return {"activity": await automation.activity(session, viewer.principal, summary.id)}


async def _history(
    session: AsyncSession, viewer: Viewer, summary: CampaignSummary, state: PageState
) -> dict[str, Any]:
    timeline = await campaigns.timeline(session, viewer.principal, summary.id, limit=50, offset=0)
    return {"timeline": timeline.items}


async def _agent_name(
    session: AsyncSession, viewer: Viewer, summary: CampaignSummary
) -> str | None:
    if summary.agent_id is None:
        return None
    try:
        agent = await agents.get(session, viewer.principal, summary.agent_id)
    except NotFound:  # deleted since: the campaign keeps a dangling id until it is saved again
        return None
    return agent.name


def day_text(moment: datetime) -> str:
    return moment.astimezone(UTC).date().isoformat()


def _audience_values(campaign: CampaignSummary) -> FormState:
    return FormState(
        values={
            "audience_tags": ", ".join(campaign.audience_tags),
            "agent_id": str(campaign.agent_id or ""),
        }
    )


def _settings_values(campaign: CampaignSummary) -> FormState:
    targeting = campaign.targeting
    return FormState(
        values={
            "name": campaign.name,
            "total_budget": _major_text(campaign.total_budget_minor, campaign.currency),
            "daily_budget": _major_text(campaign.daily_budget_minor, campaign.currency),
            "starts_at": day_text(campaign.starts_at) if campaign.starts_at else "",
            "ends_at": day_text(campaign.ends_at) if campaign.ends_at else "",
            "countries": ", ".join(targeting.countries),
            "languages": ", ".join(targeting.languages),
            "genders": ",".join(targeting.genders),
            "age_min": str(targeting.age_min or ""),
            "age_max": str(targeting.age_max or ""),
            "interests": "\n".join(targeting.interests),
            "keywords": "\n".join(targeting.keywords),
        }
    )


def _major_text(minor: int | None, currency: str) -> str:
    """Minor units as the amount people type (no thousands separators, no currency)."""
    if minor is None:
        return ""
    places = decimals(currency)
    return f"{Decimal(minor).scaleb(-places):.{places}f}"  # exact: budgets reach 10**15


def _spent_on(performance: Performance, day: date) -> int | None:
    return next((item.spend_minor for item in performance.days if item.date == day), None)


def _chart_data(performance: Performance) -> dict[str, Any]:
    """The same days as the interactive chart (web/templates/_charts.html), in major units."""
    scale = 10 ** decimals(performance.currency)

    def at(day: Any) -> datetime:
        return datetime.combine(day.date, time(), tzinfo=UTC)

    series = [
        chart_data.Series(label, [(at(d), getattr(d, attribute) / scale) for d in performance.days])
        for label, attribute in (("spend", "spend_minor"), ("revenue", "revenue_minor"))
    ]
    chart = chart_data.TimeChart(
        title="Spend and revenue per day",
        unit=performance.currency,
        series=series,
        floor=0.0,
        empty="No reports yet. Upload one below.",
    )
    return chart_data.time_chart(chart)


def _chart(performance: Performance) -> Any:
    """Daily spend and revenue in major units, or None before the first report."""
    if not performance.days:
        return None
    scale = 10 ** decimals(performance.currency)

    def at(day: Any) -> datetime:
        return datetime.combine(day.date, time(), tzinfo=UTC)

    lines = [
        charts.Line(
            label=label,
            points=[(at(day), getattr(day, attribute) / scale) for day in performance.days],
        )
        for label, attribute in (("spend", "spend_minor"), ("revenue", "revenue_minor"))
    ]
    chart = charts.Chart(
        title="Spend and revenue per day",
        unit=performance.currency,
        lines=lines,
        start=at(performance.days[0]),
        end=at(performance.days[-1]),
    )
    return charts.render(chart)
