"""Creatives on the campaign's settings tab, edited as fields instead of JSON.

Every creative is one group of fields (`creative-<n>-<field>`), plus an empty group to add one;
a ticked "Remove" drops it. "Preview" shows what was typed, checked, without saving; "Save
creatives" replaces the campaign's list through the same update and schema (`CreativeInput`)
the API uses. Each group's preview is rendered here, on the server; `campaign_creatives.js`
only redraws it while typing, so the page works without JavaScript.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response
from pydantic import ValidationError
from starlette.datastructures import FormData

from intuitivus_flow.campaigns import creatives as rules
from intuitivus_flow.campaigns import service as campaigns
from intuitivus_flow.campaigns.schemas import CampaignUpdate, CreativeInput
from intuitivus_flow.kit.http.deps import DbSession
from intuitivus_flow.web.auth import CurrentViewer
from intuitivus_flow.web.campaign_pages.creative_display import (
    FIELDS,
    MAX_CREATIVES,
    TEXT_FIELDS,
    is_blank,
    lines,
    prefixes,
)
from intuitivus_flow.web.campaign_pages.forms import CampaignForm
from intuitivus_flow.web.campaign_pages.page import (
    csrf_checked,
    done_url,
    render_campaign,
)
from intuitivus_flow.web.forms import (
    FormInvalid,
    FormState,
    PageState,
    form_action,
    parse_id,
    readable_message,
)
from intuitivus_flow.web.templating import redirect

router = APIRouter(include_in_schema=False)
FORM = "creatives"  # the form's name in the page state
MAX_FIELD_ECHO = 6_000  # longer than any field may be (a body is 5,000)
URL_HELP = "Enter a full address starting with https://, e.g. https://example.com/sale"


class CreativesForm(CampaignForm):
    intent: str = ""  # "preview": check and show, save nothing
    count: str = ""  # how many groups the page had (the saved ones and the empty one)


@router.post("/campaigns/{campaign_id}/creatives", dependencies=csrf_checked)
async def save_creatives(
    request: Request,
    campaign_id: str,
    form: Annotated[CreativesForm, Form()],
    session: DbSession,
    viewer: CurrentViewer,
) -> Response:
    values = posted_values(await request.form(), _count(form.count))

    async def save() -> None:
        chosen = parse_creatives(values)
        if form.intent == "preview":  # checked: show it as it would be saved
            raise FormInvalid(FormState(values=values))
        changes = CampaignUpdate(creatives=chosen)
        await campaigns.update(
            session, viewer.principal, parse_id(campaign_id, "Campaign"), changes=changes
        )

    try:
        await form_action(session, viewer, values, save)
    except FormInvalid as invalid:
        invalid.state.values = values  # whole, and with the removal boxes as ticked
        state = PageState(forms={FORM: invalid.state}, status_code=invalid.state.status_code)
        if invalid.state.failed:
            state = PageState.failed(FORM, invalid.state)
        else:
            state.notice = "This is the preview; nothing was saved yet."
        return await render_campaign(request, session, viewer, campaign_id, state, tab="settings")
    return redirect(done_url(campaign_id, "settings", "creatives#creatives-title"))


def _count(raw: str) -> int:
    raw = raw.strip()
    # One more than the limit: the groups shown include the empty one for adding.
    return min(int(raw), MAX_CREATIVES + 1) if raw.isdigit() and len(raw) < 4 else 0


def posted_values(form: FormData, count: int) -> dict[str, str]:
    """The creatives' fields as posted (text only, files ignored), group by group."""
    values: dict[str, str] = {}
    for index in range(count):
        prefix = f"creative-{index}-"
        for name in (*FIELDS, "remove"):
            value = form.get(prefix + name)
            values[prefix + name] = value[:MAX_FIELD_ECHO] if isinstance(value, str) else ""
    values["count"] = str(count)
    return values


def parse_creatives(values: Mapping[str, str]) -> list[CreativeInput]:
    """The groups as the API's creatives, or every group's field errors at once."""
    chosen: list[CreativeInput] = []
    errors: dict[str, str] = {}
    for prefix in prefixes(values):
        if values.get(prefix + "remove") or is_blank(values, prefix):
            continue
        creative, problems = _parse_one(values, prefix)
        errors.update(problems)
        if creative is not None:
            chosen.append(creative)
    if len(chosen) > MAX_CREATIVES:
        errors["form"] = f"A campaign has at most {MAX_CREATIVES} creatives"
    if errors:
        message = errors.pop("form", None)
        raise FormInvalid(FormState(errors=errors, message=message, status_code=422))
    return chosen


def _parse_one(
    values: Mapping[str, str], prefix: str
) -> tuple[CreativeInput | None, dict[str, str]]:
    def text(name: str) -> str:
        return values.get(prefix + name, "").strip()

    data: dict[str, Any] = {"name": text("name"), "format": text("format")}
    for name in TEXT_FIELDS[1:]:
        data[name] = text(name) or None
    errors: dict[str, str] = {}
    if data["format"] == "whatsapp_template":  # other formats ignore these fields
        data["template_name"] = text("template_name") or None
        data["template_language"] = text("template_language") or None
        data["template_variables"] = lines(text("template_variables"))
        if not data["template_name"]:
            errors[prefix + "template_name"] = "Enter the name of an approved template"
        missing = rules.missing_variables(data["body"], data["template_variables"])
        if missing:
            needed = len(data["template_variables"]) + missing
            errors[prefix + "template_variables"] = (
                f"The body uses {{{{{needed}}}}}: enter {needed} values, one per line"
            )
    given = {name: value for name, value in data.items() if value not in (None, [])}
    try:
        # Only what was typed: the stored creative stays as small as one posted to the API.
        creative = CreativeInput.model_validate({**given, "name": data["name"]})
    except ValidationError as error:
        for problem in error.errors(include_input=False, include_url=False):
            location = problem["loc"]
            field = str(location[0]) if location else "name"
            message = readable_message(str(problem["msg"]))
            if problem["type"].startswith("url_"):
                message = URL_HELP
            elif field == "format":
                message = "Choose one of the formats"
            errors.setdefault(prefix + field, message)
        return None, errors
    return (None, errors) if errors else (creative, errors)
