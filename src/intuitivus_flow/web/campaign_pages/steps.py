"""The step editor on a campaign's page. It works without JavaScript: each step has its own
small forms (edit, move, delete), and one form per kind adds a step. Branch targets are step
ids (the choices name the steps by their current positions); every form carries the
campaign's `steps_version`, so an edit made from an out-of-date page is refused (409)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response
from pydantic import BaseModel

from intuitivus_flow.campaigns.automation import service as automation
from intuitivus_flow.campaigns.automation.models import StepKind
from intuitivus_flow.campaigns.automation.schemas import (
    MAX_WAIT_SECONDS,
    BranchStep,
    SendMessageStep,
    SendTemplateStep,
    StepSpec,
    WaitStep,
)
from intuitivus_flow.kit.errors import NotFound
from intuitivus_flow.kit.http.deps import DbSession
from intuitivus_flow.web.auth import CurrentViewer
from intuitivus_flow.web.campaign_pages.forms import MoveForm, StepForm, VersionedForm
from intuitivus_flow.web.campaign_pages.page import (
    csrf_checked,
    field_error,
    submit,
    validate_form,
)
from intuitivus_flow.web.campaign_pages.step_display import WAIT_UNITS
from intuitivus_flow.web.forms import FormInvalid, parse_id

router = APIRouter(include_in_schema=False)
STEP_SCHEMAS: dict[StepKind, type[BaseModel]] = {
    StepKind.send_template: SendTemplateStep,
    StepKind.send_message: SendMessageStep,
    StepKind.wait: WaitStep,
    StepKind.branch: BranchStep,
}


@router.post("/campaigns/{campaign_id}/steps", dependencies=csrf_checked)
async def add_step(
    request: Request,
    campaign_id: str,
    form: Annotated[StepForm, Form()],
    session: DbSession,
    viewer: CurrentViewer,
) -> Response:
    kind = _parse_kind(form.kind)
    values = form.values()

    async def add() -> None:
        spec = _step_spec(kind, form)
        await automation.add_step(
            session,
            viewer.principal,
            parse_id(campaign_id, "Campaign"),
            spec=spec,
            position=_optional_position(form.position, values),
            version=_version(form),
        )

    return await submit(
        request,
        session,
        viewer,
        campaign_id,
        values,
        add,
        form=f"add-{kind.value}",
        done="step-added#automation-title",
        tab="automation",
    )


@router.post("/campaigns/{campaign_id}/steps/{step_id}", dependencies=csrf_checked)
async def edit_step(
    request: Request,
    campaign_id: str,
    step_id: str,
    form: Annotated[StepForm, Form()],
    session: DbSession,
    viewer: CurrentViewer,
) -> Response:
    kind = _parse_kind(form.kind)
    values = form.values()

    async def edit() -> None:
        spec = _step_spec(kind, form)
        await automation.update_step(
            session,
            viewer.principal,
            parse_id(campaign_id, "Campaign"),
            parse_id(step_id, "Step"),
            spec=spec,
            version=_version(form),
        )

    return await submit(
        request,
        session,
        viewer,
        campaign_id,
        values,
        edit,
        form=f"step-{step_id}",
        done="step-edited#automation-title",
        tab="automation",
    )


@router.post("/campaigns/{campaign_id}/steps/{step_id}/move", dependencies=csrf_checked)
async def move_step(
    request: Request,
    campaign_id: str,
    step_id: str,
    form: Annotated[MoveForm, Form()],
    session: DbSession,
    viewer: CurrentViewer,
) -> Response:
    values = form.values()

    async def move() -> None:
        position = _optional_position(form.position, values)
        if position is None:
            raise FormInvalid(field_error(values, "position", "Choose where to move the step"))
        await automation.move_step(
            session,
            viewer.principal,
            parse_id(campaign_id, "Campaign"),
            parse_id(step_id, "Step"),
            position=position,
            version=_version(form),
        )

    return await submit(
        request,
        session,
        viewer,
        campaign_id,
        values,
        move,
        form=None,
        done="step-moved#automation-title",
        tab="automation",
    )


@router.post("/campaigns/{campaign_id}/steps/{step_id}/delete", dependencies=csrf_checked)
async def delete_step(
    request: Request,
    campaign_id: str,
    step_id: str,
    form: Annotated[VersionedForm, Form()],
    session: DbSession,
    viewer: CurrentViewer,
) -> Response:
    async def delete() -> None:
        await automation.delete_step(
            session,
            viewer.principal,
            parse_id(campaign_id, "Campaign"),
            parse_id(step_id, "Step"),
            version=_version(form),
        )

    return await submit(
        request,
        session,
        viewer,
        campaign_id,
        {},
        delete,
        form=None,
        done="step-deleted#automation-title",
        tab="automation",
    )


def _parse_kind(raw: str) -> StepKind:
    try:
        return StepKind(raw)
    except ValueError:
        raise NotFound("Unknown kind of step") from None


def _version(form: VersionedForm) -> int | None:
    # Not a number (a page that never had one, or a forged post): no check, as in the API.
    raw = form.version.strip()
    return int(raw) if raw.isdigit() and len(raw) < 12 else None


def _step_spec(kind: StepKind, form: StepForm) -> StepSpec:
    """The form of one step, validated by the same schema as the API's steps."""
    values, data = form.values(), _step_data(kind, form)
    try:
        spec: StepSpec = validate_form(STEP_SCHEMAS[kind], data, values)
    except FormInvalid as invalid:
        if "duration" in invalid.state.errors:
            days = MAX_WAIT_SECONDS // WAIT_UNITS["days"]
            invalid.state.errors["duration"] = f"Wait at least 1 second and at most {days} days"
        raise
    return spec


def _step_data(kind: StepKind, form: StepForm) -> dict[str, object]:
    data: dict[str, object] = {"kind": kind.value}
    if kind is StepKind.send_template:
        data["template"] = form.template
        data["language"] = form.language.strip() or "en"
        lines = [line.strip() for line in form.parameters.splitlines()]
        data["parameters"] = [line for line in lines if line]
    elif kind is StepKind.send_message:
        data["text"] = form.text.strip()
    elif kind is StepKind.wait:
        data["seconds"] = _wait_seconds(form)
    else:
        data["on"] = form.on
        for name, raw in (("if_true", form.if_true), ("if_false", form.if_false)):
            data[name] = _target(name, raw.strip(), form)
    return data


def _target(name: str, raw: str, form: StepForm) -> uuid.UUID | None:
    if not raw:
        return None
    try:
        return uuid.UUID(raw)
    except ValueError:
        message = "Choose a step after this one, or stop"
        raise FormInvalid(field_error(form.values(), name, message)) from None


def _wait_seconds(form: StepForm) -> int:
    multiplier = WAIT_UNITS.get(form.unit)
    if multiplier is None:
        message = "Choose seconds, minutes, hours or days"
        raise FormInvalid(field_error(form.values(), "unit", message))
    amount = form.duration.strip()
    if not amount.isdigit():
        raise FormInvalid(field_error(form.values(), "duration", "Enter a whole number"))
    return int(amount) * multiplier


def _optional_position(raw: str, values: dict[str, str]) -> int | None:
    raw = raw.strip()
    if not raw:
        return None
    if not raw.isdigit():
        raise FormInvalid(field_error(values, "position", "Choose a position"))
    return int(raw)
