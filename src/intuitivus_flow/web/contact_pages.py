"""A contact's page (details to edit, consent per channel with its history, conversations,
campaign deliveries, events) and the CSV import page, over the same services as the API.

Edits follow post/redirect/get; a failure re-renders the page with the message next to its
field, undoing what the failed action wrote. An import answers with its report on the page
that asked (dry run or real run): posting the same file again changes nothing, so a reload
does no harm.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.datastructures import UploadFile

from intuitivus_flow.contacts import csv_import
from intuitivus_flow.contacts import service as contacts
from intuitivus_flow.contacts.exceptions import ContactImportRejected
from intuitivus_flow.contacts.models import ConsentChannel, Contact, OptIn
from intuitivus_flow.contacts.schemas import (
    MAX_ATTRIBUTES_KEYS,
    ConsentChange,
    ContactUpdate,
    ImportReport,
)
from intuitivus_flow.dashboard.contact_activity import contact_activity
from intuitivus_flow.kit.errors import FlowError
from intuitivus_flow.kit.http.deps import DbSession
from intuitivus_flow.web import csrf
from intuitivus_flow.web.auth import CurrentViewer, Viewer
from intuitivus_flow.web.forms import (
    FormInvalid,
    FormState,
    PageState,
    form_action,
    parse_id,
    read_fields,
    validate,
)
from intuitivus_flow.web.templating import redirect, render

router = APIRouter(include_in_schema=False)
csrf_checked = [Depends(csrf.require_csrf)]

HISTORY_LIMIT = 50
NOTICES = {
    "saved": "The contact was saved.",
    "consent": "The consent change was recorded.",
}
CHANNEL_LABELS = {ConsentChannel.whatsapp: "WhatsApp", ConsentChannel.email: "E-mail"}
STATE_LABELS = {
    OptIn.opted_in: "Opted in",
    OptIn.opted_out: "Opted out",
    OptIn.unknown: "Unknown (not consent for marketing)",
}
EDIT_FIELDS = ("name", "phone", "email", "tags", "attributes")


# --- import (before /contacts/{id}, which would take "import" as an id) -----------------------


@router.get("/contacts/import")
async def import_page(request: Request, viewer: CurrentViewer) -> Response:
    return _render_import(request, viewer, PageState())


@router.post("/contacts/import", dependencies=csrf_checked)
async def upload(request: Request, session: DbSession, viewer: CurrentViewer) -> Response:
    """A dry run reports here and writes nothing; a real run writes every row or none."""
    form = await request.form()  # already parsed (and cached) by the CSRF check
    file = form.get("file")
    tags = form.get("tags")
    values = {
        "dry_run": "on" if form.get("dry_run") == "on" else "",
        "tags": tags if isinstance(tags, str) else "",
    }
    try:
        if not isinstance(file, UploadFile) or not file.filename:
            errors = {"file": "Choose a CSV file."}
            raise FormInvalid(FormState(values=values, errors=errors, status_code=422))
        data = await file.read(csv_import.MAX_BYTES + 1)
        file_name = file.filename
        report = await form_action(
            session,
            viewer,
            values,
            lambda: csv_import.import_csv(
                session,
                viewer.principal,
                data=data,
                file_name=file_name,
                dry_run=bool(values["dry_run"]),
                extra_tags=[values["tags"]],
            ),
        )
    except FormInvalid as invalid:
        # A rejected file lists its problems under the form (form_action kept the cause).
        cause = invalid.__cause__
        rejected = cause.report if isinstance(cause, ContactImportRejected) else None
        return _render_import(request, viewer, PageState.failed("import", invalid.state), rejected)
    notice = None
    if not report.dry_run:
        notice = (
            f"Imported: {report.created} created, {report.updated} updated, "
            f"{report.unchanged} unchanged."
        )
    elif report.valid:
        notice = "Dry run: nothing was written. Untick the dry run to import."
    return _render_import(request, viewer, PageState(notice=notice), report, values=values)


def _render_import(
    request: Request,
    viewer: Viewer,
    state: PageState,
    report: ImportReport | None = None,
    *,
    values: dict[str, str] | None = None,
) -> Response:
    if values is not None and "import" not in state.forms:
        state.forms["import"] = FormState(values=values)
    context: dict[str, Any] = {
        "viewer": viewer,
        "view": state,
        "report": report,
        "columns": csv_import.COLUMNS,
        "max_rows": csv_import.MAX_ROWS,
        "max_megabytes": csv_import.MAX_BYTES // (1024 * 1024),
        "meta_description": "Import contacts from a CSV file, with a dry run first.",
    }
    return render(request, "contacts_import.html", context, status_code=state.status_code)


# --- one contact -----------------------------------------------------------------------------


@router.get("/contacts/{contact_id}")
async def contact_page(
    request: Request,
    contact_id: str,
    session: DbSession,
    viewer: CurrentViewer,
    done: str | None = None,
) -> Response:
    target = parse_id(contact_id, "Contact")
    return await _render_contact(
        request, session, viewer, target, PageState(notice=NOTICES.get(done or ""))
    )


@router.post("/contacts/{contact_id}", dependencies=csrf_checked)
async def edit_contact(
    request: Request, contact_id: str, session: DbSession, viewer: CurrentViewer
) -> Response:
    target = parse_id(contact_id, "Contact")
    values = await read_fields(request, EDIT_FIELDS)
    try:
        contact = await contacts.get(session, viewer.principal, target)
        changes = _changes(values, contact)
        await form_action(
            session,
            viewer,
            values,
            lambda: contacts.update(session, viewer.principal, target, changes=changes),
        )
    except FormInvalid as invalid:
        state = PageState.failed("edit", invalid.state)
        return await _render_contact(request, session, viewer, target, state)
    return redirect(f"/contacts/{target}?done=saved")


@router.post("/contacts/{contact_id}/consent", dependencies=csrf_checked)
async def change_consent(
    request: Request, contact_id: str, session: DbSession, viewer: CurrentViewer
) -> Response:
    target = parse_id(contact_id, "Contact")
    values = await read_fields(request, ("channel", "state", "reason"))
    try:
        change = validate(ConsentChange, {**values, "reason": values["reason"].strip()}, values)
        await form_action(
            session,
            viewer,
            values,
            lambda: contacts.set_consent(session, viewer.principal, target, change=change),
        )
    except FormInvalid as invalid:
        state = PageState.failed("consent", invalid.state)
        return await _render_contact(request, session, viewer, target, state)
    return redirect(f"/contacts/{target}?done=consent")


def _changes(values: dict[str, str], contact: Contact) -> ContactUpdate:
    """The edit form as a change: every field is sent, and attributes only when their text
    changed (so values the API stored as numbers or lists stay as they are)."""
    data: dict[str, object] = {
        "name": values["name"],
        "phone": values["phone"] or None,
        "email": values["email"] or None,
        "tags": values["tags"].replace(",", " ").split(),
    }
    if values["attributes"].strip() != attributes_text(contact.attributes).strip():
        data["attributes"] = _parse_attributes(values)
    return validate(ContactUpdate, data, values)


def attributes_text(attributes: dict[str, Any]) -> str:
    return "\n".join(
        f"{key}: {value if isinstance(value, str) else json.dumps(value)}"
        for key, value in sorted(attributes.items())
    )


def _parse_attributes(values: dict[str, str]) -> dict[str, str]:
    parsed: dict[str, str] = {}
    for number, line in enumerate(values["attributes"].splitlines(), start=1):
        if not line.strip():
            continue
        key, separator, value = line.partition(":")
        if not separator or not key.strip():
            message = f"line {number}: write each attribute as 'name: value'"
            raise FormInvalid(
                FormState(values=values, errors={"attributes": message}, status_code=422)
            )
        parsed[key.strip()[:64]] = value.strip()[:1000]
    if len(parsed) > MAX_ATTRIBUTES_KEYS:
        raise _attributes_invalid(values, f"at most {MAX_ATTRIBUTES_KEYS} attributes")
    return parsed


def _attributes_invalid(values: dict[str, str], message: str) -> FormInvalid:
    return FormInvalid(FormState(values=values, errors={"attributes": message}, status_code=422))


async def _render_contact(
    request: Request,
    session: AsyncSession,
    viewer: Viewer,
    contact_id: uuid.UUID,
    state: PageState,
) -> Response:
    try:
        contact = await contacts.get(session, viewer.principal, contact_id)
    except FlowError as error:
        missing = {"viewer": viewer, "title": "Contact not found", "message": error.detail}
        return render(request, "error.html", missing, status_code=error.status_code)
    history = await contacts.consent_history(
        session, viewer.principal, contact_id, limit=HISTORY_LIMIT, offset=0
    )
    activity = await contact_activity(session, viewer.principal, contact_id)
    edit = state.form("edit")
    if not edit.failed:
        edit = FormState(
            values={
                "name": contact.name,
                "phone": contact.phone or "",
                "email": contact.email or "",
                "tags": " ".join(contact.tags),
                "attributes": attributes_text(contact.attributes),
            }
        )
    context: dict[str, Any] = {
        "viewer": viewer,
        "view": state,
        "contact": contact,
        "edit": edit,
        "consent_form": state.form("consent"),
        "consents": [
            {
                "channel": channel.value,
                "label": CHANNEL_LABELS[channel],
                "state": STATE_LABELS[contact.consent(channel)],
                "since": contact.consent_changed_at(channel),
                "marketing": contacts.marketing_refusal(contact, channel) is None,
            }
            for channel in ConsentChannel
        ],
        "channel_labels": {channel.value: label for channel, label in CHANNEL_LABELS.items()},
        "channel_options": [
            {"value": channel.value, "label": label} for channel, label in CHANNEL_LABELS.items()
        ],
        "state_options": [
            {"value": OptIn.opted_in.value, "label": "Opted in"},
            {"value": OptIn.opted_out.value, "label": "Opted out"},
        ],
        "state_labels": {state.value: label for state, label in STATE_LABELS.items()},
        "history": history,
        "activity": activity,
        "meta_description": "A contact's details, consent, conversations and campaigns.",
    }
    return render(request, "contact.html", context, status_code=state.status_code)
