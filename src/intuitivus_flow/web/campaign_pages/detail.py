"""One campaign's page and its forms other than steps, creatives and reports: status actions,
settings (name, budgets, schedule, targeting), deletion, audience and agent, running the
automation, and recording conversions."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from intuitivus_flow.campaigns import service as campaigns
from intuitivus_flow.campaigns.automation import service as automation
from intuitivus_flow.campaigns.automation.schemas import ConversionCreate
from intuitivus_flow.campaigns.models import CampaignStatus
from intuitivus_flow.campaigns.reports import to_minor
from intuitivus_flow.campaigns.schemas import CampaignUpdate, Targeting
from intuitivus_flow.kit.errors import InvalidInput, NotFound
from intuitivus_flow.kit.http.deps import DbSession
from intuitivus_flow.web.auth import CurrentViewer
from intuitivus_flow.web.campaign_pages.forms import (
    AudienceForm,
    ConversionForm,
    SettingsForm,
    StatusForm,
)
from intuitivus_flow.web.campaign_pages.page import (
    TAB_BY_NAME,
    csrf_checked,
    day_text,
    field_error,
    notice,
    on_form_field,
    render_campaign,
    submit,
    validate_form,
)
from intuitivus_flow.web.forms import (
    FormInvalid,
    FormState,
    PageState,
    echo,
    form_action,
    parse_id,
    validate,
)
from intuitivus_flow.web.templating import redirect

router = APIRouter(include_in_schema=False)
LONG_SETTINGS = ("interests", "keywords")
# Pattern errors say the regular expression; people need an example instead.
TARGETING_FORMATS = {
    "countries": "Use two-letter country codes separated by commas, e.g. US, BR",
    "languages": "Use language codes separated by commas, e.g. en, pt_BR",
}


@router.get("/campaigns/{campaign_id}")
async def campaign_page(
    request: Request, campaign_id: str, session: DbSession, viewer: CurrentViewer
) -> Response:
    return await render_campaign(request, session, viewer, campaign_id, notice(request))


@router.get("/campaigns/{campaign_id}/{tab}")
async def campaign_tab(
    request: Request, campaign_id: str, tab: str, session: DbSession, viewer: CurrentViewer
) -> Response:
    if tab not in TAB_BY_NAME or tab == "overview":  # the overview is the campaign's own URL
        raise NotFound("Page not found")
    return await render_campaign(request, session, viewer, campaign_id, notice(request), tab=tab)


@router.post("/campaigns/{campaign_id}/status", dependencies=csrf_checked)
async def change_status(
    request: Request,
    campaign_id: str,
    form: Annotated[StatusForm, Form()],
    session: DbSession,
    viewer: CurrentViewer,
) -> Response:
    async def change() -> None:
        status = _parse_status(form.status)
        await campaigns.change_status(
            session, viewer.principal, parse_id(campaign_id, "Campaign"), status=status
        )

    return await submit(
        request,
        session,
        viewer,
        campaign_id,
        form.values(),
        change,
        form=None,
        done="status",
        tab="overview",
    )


@router.post("/campaigns/{campaign_id}/settings", dependencies=csrf_checked)
async def save_settings(
    request: Request,
    campaign_id: str,
    form: Annotated[SettingsForm, Form()],
    session: DbSession,
    viewer: CurrentViewer,
) -> Response:
    values = form.values()

    async def save() -> None:
        campaign = await campaigns.get(session, viewer.principal, parse_id(campaign_id, "Campaign"))
        changes = _settings_changes(values, campaign.currency, campaign.starts_at, campaign.ends_at)
        try:
            await campaigns.update(session, viewer.principal, campaign.id, changes=changes)
        except InvalidInput as error:
            raise on_form_field(error) from error

    return await submit(
        request,
        session,
        viewer,
        campaign_id,
        values,
        save,
        form="settings",
        done="settings#settings-title",
        tab="settings",
        long_fields=LONG_SETTINGS,
    )


@router.post("/campaigns/{campaign_id}/delete", dependencies=csrf_checked)
async def delete_campaign(
    request: Request, campaign_id: str, session: DbSession, viewer: CurrentViewer
) -> Response:
    async def delete() -> None:
        await campaigns.delete(session, viewer.principal, parse_id(campaign_id, "Campaign"))

    try:
        await form_action(session, viewer, {}, delete)
    except FormInvalid as invalid:
        # The campaign is still there (or never was: then the page itself is the 404).
        state = PageState.alerting(invalid.state)
        return await render_campaign(request, session, viewer, campaign_id, state, tab="settings")
    return redirect("/campaigns?done=deleted")


@router.post("/campaigns/{campaign_id}/automation/run", dependencies=csrf_checked)
async def run_automation(
    request: Request, campaign_id: str, session: DbSession, viewer: CurrentViewer
) -> Response:
    async def run() -> None:
        await automation.run(session, viewer.principal, parse_id(campaign_id, "Campaign"))

    return await submit(
        request, session, viewer, campaign_id, {}, run, form=None, done="run", tab="automation"
    )


@router.post("/campaigns/{campaign_id}/audience", dependencies=csrf_checked)
async def save_audience(
    request: Request,
    campaign_id: str,
    form: Annotated[AudienceForm, Form()],
    session: DbSession,
    viewer: CurrentViewer,
) -> Response:
    values = form.values()

    async def save() -> None:
        tags = [tag.strip() for tag in form.audience_tags.split(",")]
        data: dict[str, object] = {
            "audience_tags": [tag for tag in tags if tag],
            "agent_id": form.agent_id.strip() or None,
        }
        changes = validate(CampaignUpdate, data, values)
        await campaigns.update(
            session, viewer.principal, parse_id(campaign_id, "Campaign"), changes=changes
        )

    return await submit(
        request,
        session,
        viewer,
        campaign_id,
        values,
        save,
        form="audience",
        done="audience#automation-title",
        tab="automation",
    )


@router.post("/campaigns/{campaign_id}/conversions", dependencies=csrf_checked)
async def record_conversion(
    request: Request,
    campaign_id: str,
    form: Annotated[ConversionForm, Form()],
    session: DbSession,
    viewer: CurrentViewer,
) -> Response:
    values = form.values()

    async def record() -> None:
        campaign = await campaigns.get(session, viewer.principal, parse_id(campaign_id, "Campaign"))
        value, problem = to_minor(form.value or "0", campaign.currency, required=False)
        if problem:
            raise FormInvalid(field_error(values, "value", problem))
        contact = await automation.find_contact(session, viewer.principal, form.contact)
        data = {"contact_id": str(contact.id), "value_minor": value}
        conversion = validate_form(ConversionCreate, data, values)
        await automation.record_conversion(
            session,
            viewer.principal,
            campaign.id,
            contact_id=conversion.contact_id,
            value_minor=conversion.value_minor,
        )

    return await submit(
        request,
        session,
        viewer,
        campaign_id,
        values,
        record,
        form="conversion",
        done="conversion#activity-title",
        tab="deliveries",
    )


def _parse_status(raw: str) -> CampaignStatus:
    try:
        return CampaignStatus(raw)
    except ValueError:
        raise NotFound("Unknown status") from None


# --- settings form -------------------------------------------------------------------------


def _settings_changes(
    values: dict[str, str],
    currency: str,
    starts_at: datetime | None,
    ends_at: datetime | None,
) -> CampaignUpdate:
    """The settings form as the API's update, with every field's error found in one pass."""
    errors: dict[str, str] = {}
    data = _name_and_schedule(values, starts_at, ends_at)
    readers: list[Callable[[], dict[str, object]]] = [
        lambda: _budgets(values, currency),
        lambda: {"targeting": _targeting(values)},
    ]
    for read in readers:
        try:
            data.update(read())
        except FormInvalid as invalid:  # left out: the schema then checks the rest
            errors.update(invalid.state.errors)
    try:
        changes: CampaignUpdate = validate_form(CampaignUpdate, data, values)
    except FormInvalid as invalid:
        errors = {**invalid.state.errors, **errors}
    if errors:
        raise FormInvalid(FormState(values=echo(values), errors=errors, status_code=422))
    return changes


def _name_and_schedule(
    values: dict[str, str], starts_at: datetime | None, ends_at: datetime | None
) -> dict[str, object]:
    # Every field is sent: an emptied date removes it, as the API's null does.
    data: dict[str, object] = {"name": values["name"]}
    for name, current in (("starts_at", starts_at), ("ends_at", ends_at)):
        day = values[name].strip()
        # The form shows days; a time of day set through the API survives an unchanged date.
        if current is None or day != day_text(current):
            data[name] = f"{day}T00:00:00+00:00" if day else None
    return data


def _budgets(values: dict[str, str], currency: str) -> dict[str, object]:
    """Both budgets in minor units (None when emptied: no budget), or both fields' errors."""
    data: dict[str, object] = {}
    errors: dict[str, str] = {}
    for form_name, schema_name in (
        ("total_budget", "total_budget_minor"),
        ("daily_budget", "daily_budget_minor"),
    ):
        minor, problem = to_minor(values[form_name], currency, required=False)
        if problem:  # e.g. "at most 2 decimal places in USD", said in the form's terms
            errors[form_name] = problem[:1].upper() + problem[1:]
        data[schema_name] = minor if values[form_name].strip() else None
    if errors:
        raise FormInvalid(FormState(values=echo(values), errors=errors, status_code=422))
    return data


def _targeting(values: dict[str, str]) -> Targeting:
    data: dict[str, object] = {
        "countries": _split(values["countries"].upper(), ","),
        "languages": _split(values["languages"], ","),
        "genders": _split(values["genders"], ","),
        "interests": _split(values["interests"], "\n"),
        "keywords": _split(values["keywords"], "\n"),
    }
    for name in ("age_min", "age_max"):
        # As text: the schema reads the number or names the field.
        data[name] = values[name].strip() or None
    try:
        targeting: Targeting = validate(Targeting, data, values)
    except FormInvalid as invalid:
        errors = invalid.state.errors
        # The age range check belongs to the whole model; the maximum is the field to fix.
        if errors.pop("form", None):
            errors["age_max"] = "The maximum age must not be below the minimum age"
        for name, text in TARGETING_FORMATS.items():
            if errors.get(name, "").startswith("String should match pattern"):
                errors[name] = text
        raise
    return targeting


def _split(raw: str, separator: str) -> list[str]:
    return [item.strip() for item in raw.split(separator) if item.strip()]
