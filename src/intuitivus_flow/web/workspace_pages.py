"""The signed-in pages: the overview and the workspace settings (members, invitations, API keys,
analytics write keys).

Actions post to small routes. Those that only change state redirect back to /settings with a
notice (post/redirect/get); those that produce a one-time secret (an invitation link, an API
key, a write key) render the page directly, because the secret must never be stored to survive
a redirect.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from sqlalchemy.ext.asyncio import AsyncSession

from intuitivus_flow.analytics import collection
from intuitivus_flow.analytics.schemas import WriteKeyCreate
from intuitivus_flow.apikeys import service as api_keys
from intuitivus_flow.apikeys.schemas import ApiKeyCreate
from intuitivus_flow.auth import service as auth
from intuitivus_flow.auth.schemas import PasswordChange
from intuitivus_flow.events import service as events
from intuitivus_flow.identity.roles import Role
from intuitivus_flow.identity.scopes import Scope
from intuitivus_flow.kit.errors import FlowError
from intuitivus_flow.kit.http.deps import DbSession
from intuitivus_flow.users import service as members
from intuitivus_flow.users.schemas import InvitationCreate
from intuitivus_flow.web import csrf
from intuitivus_flow.web.app_context import Context, get_app_context
from intuitivus_flow.web.auth import CurrentViewer, Viewer
from intuitivus_flow.web.forms import (
    FormInvalid,
    FormState,
    discard_failed_work,
    form_action,
    parse_id,
    read_fields,
    read_list,
    state_from_error,
    validate,
)
from intuitivus_flow.web.templating import redirect, render
from intuitivus_flow.workspaces import service as workspaces
from intuitivus_flow.workspaces.schemas import WorkspaceUpdate

router = APIRouter(include_in_schema=False)
csrf_checked = [Depends(csrf.require_csrf)]

RECENT_EVENTS = 10
TRACK_PATH = "/api/analytics/track"
WRITE_KEY_FIELDS = ("name", "allowed_origins")
LISTING_LIMIT = 100  # the largest page the repositories serve
PASSWORD_FIELDS = ("current_password", "new_password")

# Notices are chosen by key, never taken from the URL as text, so nothing can be injected.
NOTICES = {
    "renamed": "The workspace was renamed.",
    "member_deactivated": "The member was deactivated and signed out everywhere.",
    "member_reactivated": "The member was reactivated.",
    "invitation_revoked": "The invitation was revoked; its link no longer works.",
    "key_revoked": "The API key was revoked.",
    "write_key_revoked": "The write key was revoked; calls with it are refused from now on.",
    "password_changed": "Your password was changed; your other sessions were signed out.",
}


@dataclass(slots=True)
class SettingsView:
    """Everything the settings page can show beyond the stored data."""

    forms: dict[str, FormState] = field(default_factory=dict)  # by form: rename/invite/new_key
    notice: str | None = None
    alert: str | None = None
    invitation_link: str | None = None
    invitation_email: str | None = None
    key_secret: str | None = None
    write_key_secret: str | None = None
    status_code: int = 200

    def form(self, name: str) -> FormState:
        return self.forms.get(name) or FormState()

    @classmethod
    def failed(
        cls,
        *,
        alert: str,
        status_code: int,
        form: str | None = None,
        state: FormState | None = None,
    ) -> SettingsView:
        forms = {form: state} if form and state else {}
        return cls(forms=forms, alert=alert, status_code=status_code)

    @classmethod
    def form_failed(cls, form: str, state: FormState) -> SettingsView:
        # The alert sits at the top of the page, where the re-rendered page starts; field
        # messages sit next to their fields.
        alert = state.message or "Please correct the highlighted fields."
        return cls.failed(alert=alert, status_code=state.status_code, form=form, state=state)


# --- overview --------------------------------------------------------------------------------


@router.get("/")
async def overview(request: Request, session: DbSession, viewer: CurrentViewer) -> Response:
    principal = viewer.principal
    people = await members.list_members(session, principal, limit=LISTING_LIMIT, offset=0)
    recent = await events.list_events(
        session, principal, name=None, since=None, limit=RECENT_EVENTS, offset=0
    )
    names = {member.id: member.name or member.email for member in people.items}
    return render(
        request,
        "overview.html",
        {
            "viewer": viewer,
            "member_count": people.total,
            "events": recent.items,
            "actor_names": names,
        },
    )


# --- settings --------------------------------------------------------------------------------


@router.get("/settings")
async def settings_page(
    request: Request, session: DbSession, viewer: CurrentViewer, done: str | None = None
) -> Response:
    view = SettingsView(notice=NOTICES.get(done or ""))
    return await _render_settings(request, session, viewer, view)


async def _render_settings(
    request: Request, session: AsyncSession, viewer: Viewer, view: SettingsView
) -> Response:
    principal = viewer.principal
    people = await members.list_members(session, principal, limit=LISTING_LIMIT, offset=0)
    invitations = await members.list_pending_invitations(
        session, principal, limit=LISTING_LIMIT, offset=0
    )
    keys = (
        await api_keys.list_keys(session, principal, limit=LISTING_LIMIT, offset=0)
        if viewer.is_admin
        else None
    )
    write_keys = (
        await collection.list_write_keys(session, principal)
        if Scope.api_keys_write in principal.scopes
        else None
    )
    public_url = (await get_app_context(request)).settings.public_url.rstrip("/")
    context: dict[str, Any] = {
        "viewer": viewer,
        "view": view,
        "members": people,
        "invitations": invitations,
        "api_keys": keys,
        "write_keys": write_keys,
        "track_url": public_url + TRACK_PATH,
        "grantable_roles": [role for role in Role if role.rank <= principal.role.rank],
        "grantable_scopes": [scope for scope in Scope if scope in principal.scopes],
    }
    return render(request, "settings.html", context, status_code=view.status_code)


async def _after_failure(
    request: Request,
    session: AsyncSession,
    viewer: Viewer,
    error: FlowError,
    form: str | None = None,
    values: dict[str, str] | None = None,
) -> Response:
    """Undo the failed action and show the page again with the error and its status."""
    await discard_failed_work(session, error, viewer.user, viewer.workspace)
    if form is None:
        view = SettingsView.failed(alert=error.detail, status_code=error.status_code)
    else:
        view = SettingsView.form_failed(form, state_from_error(error, values or {}))
    return await _render_settings(request, session, viewer, view)


async def _invalid_form(
    request: Request, session: AsyncSession, viewer: Viewer, form: str, state: FormState
) -> Response:
    return await _render_settings(request, session, viewer, SettingsView.form_failed(form, state))


@router.post("/settings/workspace", dependencies=csrf_checked)
async def rename_workspace(request: Request, session: DbSession, viewer: CurrentViewer) -> Response:
    values = await read_fields(request, ("name",))
    try:
        update = validate(WorkspaceUpdate, dict(values), values)
        await workspaces.rename(session, viewer.principal, name=update.name)
    except FormInvalid as invalid:
        return await _invalid_form(request, session, viewer, "rename", invalid.state)
    except FlowError as error:
        return await _after_failure(request, session, viewer, error, "rename", values)
    return redirect("/settings?done=renamed")


@router.post("/settings/password", dependencies=csrf_checked)
async def change_password(
    request: Request, session: DbSession, viewer: CurrentViewer, context: Context
) -> Response:
    values = await read_fields(request, PASSWORD_FIELDS)

    async def change() -> None:
        wanted = validate(PasswordChange, dict(values), values)
        # The same rules as the API: current password checked (throttled), every other
        # session of this user revoked, this browser's kept.
        await auth.change_password(
            session,
            viewer.principal,
            current_password=wanted.current_password,
            new_password=wanted.new_password,
            policy=context.auth,
        )

    try:
        await form_action(session, viewer, values, change, secret=PASSWORD_FIELDS)
    except FormInvalid as invalid:
        return await _invalid_form(request, session, viewer, "password", invalid.state)
    return redirect("/settings?done=password_changed")


@router.post("/settings/invitations", dependencies=csrf_checked)
async def invite_member(
    request: Request, session: DbSession, viewer: CurrentViewer, context: Context
) -> Response:
    values = await read_fields(request, ("email", "role"))
    try:
        wanted = validate(InvitationCreate, dict(values), values)
        issued = await members.invite(
            session,
            viewer.principal,
            email=wanted.email,
            role=wanted.role,
            lifetime=context.auth.invitation_lifetime,
        )
    except FormInvalid as invalid:
        return await _invalid_form(request, session, viewer, "invite", invalid.state)
    except FlowError as error:
        return await _after_failure(request, session, viewer, error, "invite", values)
    view = SettingsView(
        invitation_link=f"{context.settings.public_url.rstrip('/')}/invite/{issued.token}",
        invitation_email=issued.invitation.email,
    )
    return await _render_settings(request, session, viewer, view)


@router.post("/settings/invitations/{invitation_id}/revoke", dependencies=csrf_checked)
async def revoke_invitation(
    request: Request, invitation_id: str, session: DbSession, viewer: CurrentViewer
) -> Response:
    try:
        await members.revoke_invitation(
            session, viewer.principal, parse_id(invitation_id, "Invitation")
        )
    except FlowError as error:
        return await _after_failure(request, session, viewer, error)
    return redirect("/settings?done=invitation_revoked")


@router.post("/settings/members/{member_id}/deactivate", dependencies=csrf_checked)
async def deactivate_member(
    request: Request, member_id: str, session: DbSession, viewer: CurrentViewer
) -> Response:
    try:
        await members.set_active(
            session, viewer.principal, parse_id(member_id, "Member"), active=False
        )
    except FlowError as error:
        return await _after_failure(request, session, viewer, error)
    return redirect("/settings?done=member_deactivated")


@router.post("/settings/members/{member_id}/reactivate", dependencies=csrf_checked)
async def reactivate_member(
    request: Request, member_id: str, session: DbSession, viewer: CurrentViewer
) -> Response:
    try:
        await members.set_active(
            session, viewer.principal, parse_id(member_id, "Member"), active=True
        )
    except FlowError as error:
        return await _after_failure(request, session, viewer, error)
    return redirect("/settings?done=member_reactivated")


@router.post("/settings/api-keys", dependencies=csrf_checked)
async def create_api_key(request: Request, session: DbSession, viewer: CurrentViewer) -> Response:
    values = await read_fields(request, ("name",))
    scopes = await read_list(request, "scopes")
    try:
        wanted = validate(ApiKeyCreate, {"name": values["name"], "scopes": scopes}, values)
        issued = await api_keys.create(
            session,
            viewer.principal,
            name=wanted.name,
            scopes=wanted.scopes,
            expires_in_days=None,
        )
    except FormInvalid as invalid:
        invalid.state.values["scopes"] = " ".join(scopes)
        return await _invalid_form(request, session, viewer, "new_key", invalid.state)
    except FlowError as error:
        return await _after_failure(request, session, viewer, error, "new_key", values)
    return await _render_settings(request, session, viewer, SettingsView(key_secret=issued.secret))


@router.post("/settings/api-keys/{key_id}/revoke", dependencies=csrf_checked)
async def revoke_api_key(
    request: Request, key_id: str, session: DbSession, viewer: CurrentViewer
) -> Response:
    try:
        await api_keys.revoke(session, viewer.principal, parse_id(key_id, "API key"))
    except FlowError as error:
        return await _after_failure(request, session, viewer, error)
    return redirect("/settings?done=key_revoked")


# --- analytics write keys (the collection API, docs/analytics.md) ----------------------------


@router.post("/settings/write-keys", dependencies=csrf_checked)
async def create_write_key(request: Request, session: DbSession, viewer: CurrentViewer) -> Response:
    values = await read_fields(request, WRITE_KEY_FIELDS)

    async def create() -> str:
        # One origin a line, as on the Channels page; blank lines are ignored.
        origins = [line for line in values["allowed_origins"].splitlines() if line.strip()]
        wanted = validate(
            WriteKeyCreate, {"name": values["name"], "allowed_origins": origins}, values
        )
        _, raw = await collection.create_write_key(
            session, viewer.principal, name=wanted.name, allowed_origins=wanted.allowed_origins
        )
        return raw

    try:
        secret = await form_action(session, viewer, values, create)
    except FormInvalid as invalid:  # a refusal (403) is the form's message, shown in the banner
        return await _invalid_form(request, session, viewer, "new_write_key", invalid.state)
    # Rendered, not redirected: the key is shown this once and never stored in clear.
    view = SettingsView(write_key_secret=secret)
    return await _render_settings(request, session, viewer, view)


@router.post("/settings/write-keys/{key_id}/revoke", dependencies=csrf_checked)
async def revoke_write_key(
    request: Request, key_id: str, session: DbSession, viewer: CurrentViewer
) -> Response:
    try:
        await collection.revoke_write_key(session, viewer.principal, parse_id(key_id, "Write key"))
    except FlowError as error:
        return await _after_failure(request, session, viewer, error)
    return redirect("/settings?done=write_key_revoked")
