"""Campaigns in the web UI: the list (status, spend, ROAS) with a create form, and one
campaign's page: performance chart (inline SVG), status actions, its settings (name, budgets,
schedule, targeting, creatives) and deletion, report upload, the automation (audience and agent, a
step editor, the run button) and its recent deliveries and conversions.

Actions follow post/redirect/get; failures re-render the page with the message next to the
field it is about (a rejected report lists every bad row with its line and field). The step
editor works without JavaScript: each step has its own small forms (edit, move, delete), and
one form per kind adds a step.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from pydantic import BaseModel, TypeAdapter, ValidationError
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.datastructures import UploadFile

from intuitivus_flow.agents import service as agents
from intuitivus_flow.campaigns import automation
from intuitivus_flow.campaigns import service as campaigns
from intuitivus_flow.campaigns.models import CampaignStatus, Platform, StepKind
from intuitivus_flow.campaigns.reports import FileReports, ReportRejected, to_minor
from intuitivus_flow.campaigns.schemas import (
    MAX_WAIT_SECONDS,
    BranchStep,
    CampaignCreate,
    CampaignSummary,
    CampaignUpdate,
    ConversionCreate,
    Creative,
    Performance,
    SendMessageStep,
    SendTemplateStep,
    StepRead,
    StepSpec,
    StepSpecs,
    Targeting,
    WaitStep,
)
from intuitivus_flow.campaigns.service import ALLOWED_TRANSITIONS
from intuitivus_flow.kit.errors import FlowError, InvalidInput, NotFound
from intuitivus_flow.kit.http.deps import DbSession
from intuitivus_flow.kit.money import decimals
from intuitivus_flow.metrics_history import charts
from intuitivus_flow.web import csrf
from intuitivus_flow.web.auth import CurrentViewer, Viewer
from intuitivus_flow.web.forms import (
    FormInvalid,
    FormState,
    PageState,
    discard_failed_work,
    echo,
    form_action,
    parse_id,
    read_fields,
    read_list,
    validate,
)
from intuitivus_flow.web.templating import redirect, render

router = APIRouter(include_in_schema=False)
csrf_checked = [Depends(csrf.require_csrf)]

CREATE_FIELDS = ("name", "platform", "currency", "total_budget", "daily_budget", "starts_at")
STEP_FIELDS = (
    "kind",
    "position",
    "template",
    "language",
    "parameters",
    "text",
    "duration",
    "unit",
    "on",
    "if_true",
    "if_false",
)
SETTINGS_FIELDS = (
    "name",
    "total_budget",
    "daily_budget",
    "starts_at",
    "ends_at",
    "countries",
    "languages",
    "age_min",
    "age_max",
    "interests",
    "keywords",
    "creatives",
)
# Free-text settings that may be long: echoed back whole (up to this) when the form fails, so a
# typo in a long creatives list does not cost the rest of it (the shared echo keeps 320).
LONG_SETTINGS = ("interests", "keywords", "creatives")
MAX_LONG_ECHO = 100_000
GENDERS = ("female", "male", "other")
CREATIVES = TypeAdapter(list[Creative])
LISTING_LIMIT = 100
AGENT_CHOICES = 100
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
    "deleted": "The campaign was deleted.",
}
STEP_SCHEMAS: dict[StepKind, type[BaseModel]] = {
    StepKind.send_template: SendTemplateStep,
    StepKind.send_message: SendMessageStep,
    StepKind.wait: WaitStep,
    StepKind.branch: BranchStep,
}
STEP_TITLES = {
    StepKind.send_template: "Send a WhatsApp template",
    StepKind.send_message: "Send a message from the agent",
    StepKind.wait: "Wait",
    StepKind.branch: "Branch on a reply or a conversion",
}
# Largest first: a wait is shown in the largest unit that divides it exactly.
WAIT_UNITS = {"days": 86_400, "hours": 3_600, "minutes": 60, "seconds": 1}
# Schema fields that the forms name differently (the form asks in people's terms).
FORM_FIELD = {
    "seconds": "duration",
    "contact_id": "contact",
    "value_minor": "value",
    "total_budget_minor": "total_budget",
    "daily_budget_minor": "daily_budget",
}
# Pattern errors say the regular expression; people need an example instead.
TARGETING_FORMATS = {
    "countries": "Use two-letter country codes separated by commas, e.g. US, BR",
    "languages": "Use language codes separated by commas, e.g. en, pt_BR",
}


def ratio_text(value: float | None, *, percent: bool = False) -> str:
    if value is None:
        return "—"
    return f"{value * 100:.2f} %" if percent else f"{value:.2f}"


# --- the list ------------------------------------------------------------------------------


@router.get("/campaigns")
async def campaigns_page(request: Request, session: DbSession, viewer: CurrentViewer) -> Response:
    state = PageState(notice=NOTICES.get(request.query_params.get("done", "")))
    return await _render_list(request, session, viewer, state)


@router.post("/campaigns", dependencies=csrf_checked)
async def create_campaign(request: Request, session: DbSession, viewer: CurrentViewer) -> Response:
    values = await read_fields(request, CREATE_FIELDS)

    async def create() -> Any:
        data = validate(CampaignCreate, _create_data(values), values)
        return await campaigns.create(session, viewer.principal, data=data)

    try:
        campaign = await form_action(session, viewer, values, create)
    except FormInvalid as invalid:
        state = PageState.failed("create", invalid.state)
        return await _render_list(request, session, viewer, state)
    return redirect(f"/campaigns/{campaign.id}?done=created")


def _create_data(values: dict[str, str]) -> dict[str, object]:
    currency = values["currency"].strip().upper() or "USD"
    data: dict[str, object] = {
        "name": values["name"],
        "platform": values["platform"],
        "currency": currency,
    }
    if values["starts_at"].strip():  # a date input: the day starts at midnight UTC
        data["starts_at"] = f"{values['starts_at'].strip()}T00:00:00+00:00"
    for form_name, schema_name in (
        ("total_budget", "total_budget_minor"),
        ("daily_budget", "daily_budget_minor"),
    ):
        if values[form_name].strip():
            minor, problem = to_minor(values[form_name], currency, required=False)
            # An unreadable amount goes to the schema as text, which names the field.
            data[schema_name] = values[form_name] if problem else minor
    return data


async def _render_list(
    request: Request, session: AsyncSession, viewer: Viewer, state: PageState
) -> Response:
    page = await campaigns.list_campaigns(
        session, viewer.principal, status=None, platform=None, limit=LISTING_LIMIT, offset=0
    )
    context = {
        "viewer": viewer,
        "view": state,
        "campaigns": page.items,
        "total": page.total,
        "platforms": list(Platform),
        "ratio_text": ratio_text,
    }
    return render(request, "campaigns.html", context, status_code=state.status_code)


# --- one campaign --------------------------------------------------------------------------


@router.get("/campaigns/{campaign_id}")
async def campaign_page(
    request: Request, campaign_id: str, session: DbSession, viewer: CurrentViewer
) -> Response:
    state = PageState(notice=NOTICES.get(request.query_params.get("done", "")))
    return await _render_campaign(request, session, viewer, campaign_id, state)


@router.post("/campaigns/{campaign_id}/status", dependencies=csrf_checked)
async def change_status(
    request: Request, campaign_id: str, session: DbSession, viewer: CurrentViewer
) -> Response:
    values = await read_fields(request, ("status",))

    async def change() -> None:
        status = _parse_status(values["status"])
        await campaigns.change_status(
            session, viewer.principal, parse_id(campaign_id, "Campaign"), status=status
        )

    return await _submit(
        request, session, viewer, campaign_id, values, change, form=None, done="status"
    )


@router.post("/campaigns/{campaign_id}/settings", dependencies=csrf_checked)
async def save_settings(
    request: Request, campaign_id: str, session: DbSession, viewer: CurrentViewer
) -> Response:
    values = await read_fields(request, SETTINGS_FIELDS)
    # Checkboxes: one value per ticked box, kept as one line so the form can be refilled.
    values["genders"] = ",".join(await read_list(request, "genders"))

    async def save() -> None:
        campaign = await campaigns.get(session, viewer.principal, parse_id(campaign_id, "Campaign"))
        changes = _settings_changes(values, campaign.currency, campaign.starts_at, campaign.ends_at)
        try:
            await campaigns.update(session, viewer.principal, campaign.id, changes=changes)
        except InvalidInput as error:
            raise _on_form_field(error) from error

    return await _submit(
        request,
        session,
        viewer,
        campaign_id,
        values,
        save,
        form="settings",
        done="settings#settings-title",
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
        return await _render_campaign(request, session, viewer, campaign_id, state)
    return redirect("/campaigns?done=deleted")


@router.post("/campaigns/{campaign_id}/reports", dependencies=csrf_checked)
async def upload_report(
    request: Request, campaign_id: str, session: DbSession, viewer: CurrentViewer
) -> Response:
    upload = (await request.form()).get("file")
    try:
        if not isinstance(upload, UploadFile) or not upload.filename:
            raise ReportRejected([])
        source = FileReports(await upload.read(), upload.filename)
        campaign = parse_id(campaign_id, "Campaign")
        await campaigns.ingest(session, viewer.principal, campaign, source=source)
    except FlowError as error:
        await discard_failed_work(session, error, viewer.user, viewer.workspace)
        if not isinstance(error, ReportRejected):
            state = PageState(alert=error.detail, status_code=error.status_code)
            return await _render_campaign(request, session, viewer, campaign_id, state)
        state = PageState(
            alert=error.detail if error.problems else "Choose a CSV or JSON file.",
            status_code=422,
        )
        problems = [problem.as_dict() for problem in error.problems]
        return await _render_campaign(
            request, session, viewer, campaign_id, state, report_problems=problems
        )
    return redirect(f"/campaigns/{campaign_id}?done=report")


@router.post("/campaigns/{campaign_id}/automation/run", dependencies=csrf_checked)
async def run_automation(
    request: Request, campaign_id: str, session: DbSession, viewer: CurrentViewer
) -> Response:
    async def run() -> None:
        await automation.run(session, viewer.principal, parse_id(campaign_id, "Campaign"))

    return await _submit(request, session, viewer, campaign_id, {}, run, form=None, done="run")


@router.post("/campaigns/{campaign_id}/audience", dependencies=csrf_checked)
async def save_audience(
    request: Request, campaign_id: str, session: DbSession, viewer: CurrentViewer
) -> Response:
    values = await read_fields(request, ("audience_tags", "agent_id"))

    async def save() -> None:
        tags = [tag.strip() for tag in values["audience_tags"].split(",")]
        data: dict[str, object] = {
            "audience_tags": [tag for tag in tags if tag],
            "agent_id": values["agent_id"].strip() or None,
        }
        changes = validate(CampaignUpdate, data, values)
        await campaigns.update(
            session, viewer.principal, parse_id(campaign_id, "Campaign"), changes=changes
        )

    return await _submit(
        request,
        session,
        viewer,
        campaign_id,
        values,
        save,
        form="audience",
        done="audience#automation-title",
    )


@router.post("/campaigns/{campaign_id}/steps", dependencies=csrf_checked)
async def add_step(
    request: Request, campaign_id: str, session: DbSession, viewer: CurrentViewer
) -> Response:
    values = await read_fields(request, STEP_FIELDS)
    kind = _parse_kind(values["kind"])

    async def add() -> None:
        spec = _step_spec(kind, values)
        await automation.add_step(
            session,
            viewer.principal,
            parse_id(campaign_id, "Campaign"),
            spec=spec,
            position=_optional_position(values),
        )

    return await _submit(
        request,
        session,
        viewer,
        campaign_id,
        values,
        add,
        form=f"add-{kind.value}",
        done="step-added#automation-title",
    )


@router.post("/campaigns/{campaign_id}/steps/{step_id}", dependencies=csrf_checked)
async def edit_step(
    request: Request, campaign_id: str, step_id: str, session: DbSession, viewer: CurrentViewer
) -> Response:
    values = await read_fields(request, STEP_FIELDS)
    kind = _parse_kind(values["kind"])

    async def edit() -> None:
        spec = _step_spec(kind, values)
        await automation.update_step(
            session,
            viewer.principal,
            parse_id(campaign_id, "Campaign"),
            parse_id(step_id, "Step"),
            spec=spec,
        )

    return await _submit(
        request,
        session,
        viewer,
        campaign_id,
        values,
        edit,
        form=f"step-{step_id}",
        done="step-edited#automation-title",
    )


@router.post("/campaigns/{campaign_id}/steps/{step_id}/move", dependencies=csrf_checked)
async def move_step(
    request: Request, campaign_id: str, step_id: str, session: DbSession, viewer: CurrentViewer
) -> Response:
    values = await read_fields(request, ("position",))

    async def move() -> None:
        position = _optional_position(values)
        if position is None:
            raise FormInvalid(_field_error(values, "position", "Choose where to move the step"))
        await automation.move_step(
            session,
            viewer.principal,
            parse_id(campaign_id, "Campaign"),
            parse_id(step_id, "Step"),
            position=position,
        )

    return await _submit(
        request,
        session,
        viewer,
        campaign_id,
        values,
        move,
        form=None,
        done="step-moved#automation-title",
    )


@router.post("/campaigns/{campaign_id}/steps/{step_id}/delete", dependencies=csrf_checked)
async def delete_step(
    request: Request, campaign_id: str, step_id: str, session: DbSession, viewer: CurrentViewer
) -> Response:
    async def delete() -> None:
        await automation.delete_step(
            session,
            viewer.principal,
            parse_id(campaign_id, "Campaign"),
            parse_id(step_id, "Step"),
        )

    return await _submit(
        request,
        session,
        viewer,
        campaign_id,
        {},
        delete,
        form=None,
        done="step-deleted#automation-title",
    )


@router.post("/campaigns/{campaign_id}/conversions", dependencies=csrf_checked)
async def record_conversion(
    request: Request, campaign_id: str, session: DbSession, viewer: CurrentViewer
) -> Response:
    values = await read_fields(request, ("contact", "value"))

    async def record() -> None:
        campaign = await campaigns.get(session, viewer.principal, parse_id(campaign_id, "Campaign"))
        value, problem = to_minor(values["value"] or "0", campaign.currency, required=False)
        if problem:
            raise FormInvalid(_field_error(values, "value", problem))
        contact = await automation.find_contact(session, viewer.principal, values["contact"])
        data = {"contact_id": str(contact.id), "value_minor": value}
        conversion = _validate_form(ConversionCreate, data, values)
        await automation.record_conversion(
            session,
            viewer.principal,
            campaign.id,
            contact_id=conversion.contact_id,
            value_minor=conversion.value_minor,
        )

    return await _submit(
        request,
        session,
        viewer,
        campaign_id,
        values,
        record,
        form="conversion",
        done="conversion#activity-title",
    )


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
        lambda: {"creatives": _creatives(values)},
    ]
    for read in readers:
        try:
            data.update(read())
        except FormInvalid as invalid:  # left out: the schema then checks the rest
            errors.update(invalid.state.errors)
    try:
        changes: CampaignUpdate = _validate_form(CampaignUpdate, data, values)
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
        if current is None or day != _day_text(current):
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


def _creatives(values: dict[str, str]) -> list[Creative]:
    """The creatives textarea: a JSON list, checked by the schema the API uses."""
    raw = values["creatives"].strip()
    if not raw:
        return []
    try:
        parsed = json.loads(raw)
    except ValueError as error:  # JSONDecodeError, with the line and column
        raise FormInvalid(_field_error(values, "creatives", f"Not valid JSON: {error}")) from None
    except RecursionError:  # absurdly deep nesting
        raise FormInvalid(_field_error(values, "creatives", "Not valid JSON")) from None
    if not isinstance(parsed, list):
        message = 'Enter a JSON list of creatives: [{"name": …, "format": …}, …]'
        raise FormInvalid(_field_error(values, "creatives", message))
    try:
        return CREATIVES.validate_python(parsed)
    except ValidationError as error:
        raise FormInvalid(_field_error(values, "creatives", _first_problem(error))) from None


def _first_problem(error: ValidationError) -> str:
    """One schema error as people read it, e.g. "Creative 2, media_url: Input should be …"."""
    problem = error.errors(include_input=False, include_url=False)[0]
    location = [str(part) for part in problem["loc"]]
    message = str(problem["msg"]).removeprefix("Value error, ")
    if not location:  # the list itself, e.g. too many creatives
        return message
    where = f"Creative {int(location[0]) + 1}" if location[0].isdigit() else location[0]
    return ", ".join([where, *location[1:]]) + f": {message}"


def _split(raw: str, separator: str) -> list[str]:
    return [item.strip() for item in raw.split(separator) if item.strip()]


def _day_text(moment: datetime) -> str:
    return moment.astimezone(UTC).date().isoformat()


def _on_form_field(error: InvalidInput) -> InvalidInput:
    """The service names schema fields; the form names budgets in major units differently."""
    field_name = error.extra.get("field")
    if not isinstance(field_name, str):
        return error
    return InvalidInput(
        error.detail, **{**error.extra, "field": FORM_FIELD.get(field_name, field_name)}
    )


def _settings_values(campaign: CampaignSummary) -> FormState:
    targeting = campaign.targeting
    creatives = [
        creative.model_dump(mode="json", exclude_none=True) for creative in campaign.creatives
    ]
    return FormState(
        values={
            "name": campaign.name,
            "total_budget": _major_text(campaign.total_budget_minor, campaign.currency),
            "daily_budget": _major_text(campaign.daily_budget_minor, campaign.currency),
            "starts_at": _day_text(campaign.starts_at) if campaign.starts_at else "",
            "ends_at": _day_text(campaign.ends_at) if campaign.ends_at else "",
            "countries": ", ".join(targeting.countries),
            "languages": ", ".join(targeting.languages),
            "genders": ",".join(targeting.genders),
            "age_min": str(targeting.age_min or ""),
            "age_max": str(targeting.age_max or ""),
            "interests": "\n".join(targeting.interests),
            "keywords": "\n".join(targeting.keywords),
            "creatives": json.dumps(creatives, indent=2, ensure_ascii=False) if creatives else "",
        }
    )


def _major_text(minor: int | None, currency: str) -> str:
    """Minor units as the amount people type (no thousands separators, no currency)."""
    if minor is None:
        return ""
    places = decimals(currency)
    return f"{Decimal(minor).scaleb(-places):.{places}f}"  # exact: budgets reach 10**15


# --- step forms ----------------------------------------------------------------------------


def _parse_kind(raw: str) -> StepKind:
    try:
        return StepKind(raw)
    except ValueError:
        raise NotFound("Unknown kind of step") from None


def _step_spec(kind: StepKind, values: dict[str, str]) -> StepSpec:
    """The form of one step, validated by the same schema as the API's steps."""
    spec: StepSpec = _validate_form(STEP_SCHEMAS[kind], _step_data(kind, values), values)
    return spec


def _step_data(kind: StepKind, values: dict[str, str]) -> dict[str, object]:
    data: dict[str, object] = {"kind": kind.value}
    if kind is StepKind.send_template:
        data["template"] = values["template"]
        data["language"] = values["language"].strip() or "en"
        lines = [line.strip() for line in values["parameters"].splitlines()]
        data["parameters"] = [line for line in lines if line]
    elif kind is StepKind.send_message:
        data["text"] = values["text"].strip()
    elif kind is StepKind.wait:
        data["seconds"] = _wait_seconds(values)
    else:
        data["on"] = values["on"]
        for name in ("if_true", "if_false"):
            raw = values[name].strip()
            # A target that is not a number goes to the schema as text, which names the field.
            data[name] = int(raw) if raw.isdigit() else (raw or None)
    return data


def _wait_seconds(values: dict[str, str]) -> int:
    multiplier = WAIT_UNITS.get(values["unit"])
    if multiplier is None:
        raise FormInvalid(_field_error(values, "unit", "Choose seconds, minutes, hours or days"))
    amount = values["duration"].strip()
    if not amount.isdigit():
        raise FormInvalid(_field_error(values, "duration", "Enter a whole number"))
    return int(amount) * multiplier


def _optional_position(values: dict[str, str]) -> int | None:
    raw = values["position"].strip()
    if not raw:
        return None
    if not raw.isdigit():
        raise FormInvalid(_field_error(values, "position", "Choose a position"))
    return int(raw)


def _validate_form(schema: type[Any], data: dict[str, object], values: dict[str, str]) -> Any:
    """`validate`, with each error moved to the form field that holds the schema's field."""
    try:
        return validate(schema, data, values)
    except FormInvalid as invalid:
        errors = invalid.state.errors
        invalid.state.errors = {FORM_FIELD.get(name, name): text for name, text in errors.items()}
        if "duration" in invalid.state.errors:
            days = MAX_WAIT_SECONDS // WAIT_UNITS["days"]
            invalid.state.errors["duration"] = f"Wait at least 1 second and at most {days} days"
        raise


def _field_error(values: dict[str, str], name: str, message: str) -> FormState:
    return FormState(values=echo(values), errors={name: message}, status_code=422)


def _step_forms(
    state: PageState, steps: list[StepRead], specs: list[StepSpec]
) -> dict[str, FormState]:
    """Each step's edit form: what was posted when saving it failed, else its settings."""
    return {
        str(step.id): state.forms.get(f"step-{step.id}") or FormState(values=_step_values(spec))
        for step, spec in zip(steps, specs, strict=True)
    }


def _step_values(spec: StepSpec) -> dict[str, str]:
    if isinstance(spec, SendTemplateStep):
        return {
            "template": spec.template,
            "language": spec.language,
            "parameters": "\n".join(spec.parameters),
        }
    if isinstance(spec, SendMessageStep):
        return {"text": spec.text}
    if isinstance(spec, WaitStep):
        amount, unit = _in_largest_unit(spec.seconds)
        return {"duration": str(amount), "unit": unit}
    return {
        "on": spec.on,
        "if_true": str(spec.if_true or ""),
        "if_false": str(spec.if_false or ""),
    }


def _in_largest_unit(seconds: int) -> tuple[int, str]:
    for unit, size in WAIT_UNITS.items():
        if seconds % size == 0:
            return seconds // size, unit
    return seconds, "seconds"  # unreachable: every whole number of seconds divides by 1


def _describe(spec: StepSpec) -> str:
    """One line about a step, for the list and the "continue at" choices."""
    if isinstance(spec, SendTemplateStep):
        return f"Send template “{spec.template}” ({spec.language})"
    if isinstance(spec, SendMessageStep):
        text = spec.text if len(spec.text) <= 60 else f"{spec.text[:59]}…"
        return f"Send message “{text}”"
    if isinstance(spec, WaitStep):
        amount, unit = _in_largest_unit(spec.seconds)
        return f"Wait {amount} {unit.removesuffix('s') if amount == 1 else unit}"
    subject = "the contact replied" if spec.on == "reply" else "the contact converted"
    return f"Branch: has {subject}?"


def _audience_values(campaign: CampaignSummary) -> FormState:
    return FormState(
        values={
            "audience_tags": ", ".join(campaign.audience_tags),
            "agent_id": str(campaign.agent_id or ""),
        }
    )


async def _render_campaign(
    request: Request,
    session: AsyncSession,
    viewer: Viewer,
    campaign_id: str,
    state: PageState,
    *,
    report_problems: list[dict[str, Any]] | None = None,
) -> Response:
    principal = viewer.principal
    summary = await campaigns.get_summary(session, principal, parse_id(campaign_id, "Campaign"))
    performance = await campaigns.performance(session, principal, summary.id)
    steps = await automation.list_steps(session, principal, summary.id)
    timeline = await campaigns.timeline(session, principal, summary.id, limit=20, offset=0)
    team = await agents.list_agents(session, principal, status=None, limit=AGENT_CHOICES, offset=0)
    specs = StepSpecs.validate_python([{"kind": step.kind, **step.config} for step in steps])
    context = {
        "viewer": viewer,
        "view": state,
        "report_problems": report_problems or [],
        "campaign": summary,
        "performance": performance,
        "spent_today": _spent_on(performance, datetime.now(UTC).date()),
        "chart": _chart(performance),
        "steps": steps,
        "step_labels": {
            step.position: _describe(spec) for step, spec in zip(steps, specs, strict=True)
        },
        "step_forms": _step_forms(state, steps, specs),
        "steps_fixed": any(step.deliveries for step in steps),
        "step_kinds": [(kind.value, title) for kind, title in STEP_TITLES.items()],
        "wait_units": [(unit, unit) for unit in WAIT_UNITS],
        "agents": team.items,
        "audience_form": state.forms.get("audience") or _audience_values(summary),
        "settings_form": state.forms.get("settings") or _settings_values(summary),
        "genders": GENDERS,
        "activity": await automation.activity(session, principal, summary.id),
        "timeline": timeline.items,
        "actions": sorted(ALLOWED_TRANSITIONS[summary.status], key=list(CampaignStatus).index),
        "ratio_text": ratio_text,
    }
    return render(request, "campaign.html", context, status_code=state.status_code)


def _spent_on(performance: Performance, day: date) -> int | None:
    return next((item.spend_minor for item in performance.days if item.date == day), None)


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


async def _submit(
    request: Request,
    session: AsyncSession,
    viewer: Viewer,
    campaign_id: str,
    values: dict[str, str],
    action: Callable[[], Awaitable[object]],
    *,
    form: str | None,
    done: str,
    long_fields: tuple[str, ...] = (),
) -> Response:
    """Run a campaign-page form's action, then back to the page (post/redirect/get) with the
    `done` notice; on failure, the page again with the errors at `form` (None: a button, whose
    failure goes in the banner) and the `long_fields` refilled beyond the usual echo limit."""
    try:
        await form_action(session, viewer, values, action)
    except FormInvalid as invalid:
        invalid.state.values.update({name: values[name][:MAX_LONG_ECHO] for name in long_fields})
        state = PageState.failed(form, invalid.state) if form else PageState.alerting(invalid.state)
        return await _render_campaign(request, session, viewer, campaign_id, state)
    return redirect(f"/campaigns/{campaign_id}?done={done}")


def _parse_status(raw: str) -> CampaignStatus:
    try:
        return CampaignStatus(raw)
    except ValueError:
        raise NotFound("Unknown status") from None
