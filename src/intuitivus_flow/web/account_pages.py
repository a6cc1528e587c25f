"""Pages for getting in and out: sign-in, sign-up, sign-out, accepting an invitation and
resetting a forgotten password."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.background import BackgroundTasks
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession

from intuitivus_flow.auth import password_reset
from intuitivus_flow.auth import service as auth
from intuitivus_flow.auth.schemas import (
    AcceptInvitation,
    Login,
    PasswordReset,
    PasswordResetRequest,
    Register,
)
from intuitivus_flow.context import AppContext
from intuitivus_flow.kit.errors import FlowError, Unauthorized
from intuitivus_flow.kit.http.deps import ClientAddress, DbSession
from intuitivus_flow.kit.mail import mail_sender
from intuitivus_flow.users.models import User
from intuitivus_flow.web import csrf
from intuitivus_flow.web.app_context import Context
from intuitivus_flow.web.auth import (
    MaybeViewer,
    clear_session_cookie,
    open_session,
    principal_from_cookie,
    safe_next,
)
from intuitivus_flow.web.forms import (
    FormInvalid,
    FormState,
    discard_failed_work,
    read_fields,
    state_from_error,
    validate,
)
from intuitivus_flow.web.templating import redirect, render

router = APIRouter(include_in_schema=False)
csrf_checked = [Depends(csrf.require_csrf)]

SIGNIN_FIELDS = ("email", "password", "next")
SIGNUP_FIELDS = ("email", "password", "name", "workspace_name", "licence_key")
ACCEPT_FIELDS = ("name", "password")
FORGOT_FIELDS = ("email",)
RESET_FIELDS = ("token", "new_password")
FORGOT_DESCRIPTION = "Forgot your password? Get a link to choose a new one by e-mail."
RESET_DESCRIPTION = "Choose a new password for your Intuitivus Flow Studio account."

# Any value is accepted here; `safe_next` decides whether it is a place we may send people.
NextParam = Annotated[str | None, Query(alias="next")]


def _form_page(request: Request, template: str, form: FormState, **context: object) -> HTMLResponse:
    return render(
        request,
        template,
        {"form": form, **context},
        status_code=form.status_code,
        headers=form.headers,
    )


async def _signed_in_redirect(
    session: AsyncSession, user: User, request: Request, context: AppContext, target: str
) -> Response:
    response = redirect(target)
    await open_session(session, user, response, context)
    csrf.rotate(request, response)
    return response


# --- sign-in -------------------------------------------------------------------------------


@router.get("/signin")
async def signin_page(
    request: Request, viewer: MaybeViewer, next_path: NextParam = None
) -> Response:
    target = safe_next(next_path)
    if viewer is not None:
        return redirect(target)
    return _form_page(request, "signin.html", FormState(values={"next": target}))


@router.post("/signin", dependencies=csrf_checked)
async def signin(
    request: Request, session: DbSession, context: Context, client: ClientAddress
) -> Response:
    values = await read_fields(request, SIGNIN_FIELDS)
    values["next"] = safe_next(values["next"])
    try:
        credentials = validate(
            Login, {"email": values["email"], "password": values["password"]}, values
        )
        user = await auth.authenticate_password(
            session,
            email=credentials.email,
            password=credentials.password,
            client=client,
            policy=context.auth,
        )
    except FormInvalid as invalid:
        return _form_page(request, "signin.html", invalid.state)
    except FlowError as error:
        await discard_failed_work(session, error)
        return _form_page(request, "signin.html", state_from_error(error, values))
    return await _signed_in_redirect(session, user, request, context, values["next"])


# --- sign-up -------------------------------------------------------------------------------


def _signup_page(request: Request, form: FormState, context: AppContext) -> HTMLResponse:
    # With FLOW_SIGNUP_REQUIRES_LICENCE the key is a required field; otherwise an optional one.
    licence_required = context.auth.signup_requires_licence
    return _form_page(request, "signup.html", form, licence_required=licence_required)


@router.get("/signup")
async def signup_page(request: Request, viewer: MaybeViewer, context: Context) -> Response:
    if viewer is not None:
        return redirect("/")
    return _signup_page(request, FormState(), context)


@router.post("/signup", dependencies=csrf_checked)
async def signup(
    request: Request, session: DbSession, context: Context, client: ClientAddress
) -> Response:
    values = await read_fields(request, SIGNUP_FIELDS)
    try:
        registration = validate(Register, dict(values), values)
        # The API's path: the key is redeemed in this transaction, and a missing, unknown,
        # used or revoked one fails the sign-up, so the rollback below leaves no account.
        owner = await auth.register(
            session,
            email=registration.email,
            password=registration.password,
            name=registration.name,
            workspace_name=registration.workspace_name,
            client=client,
            policy=context.auth,
            licence_key=registration.licence_key,
        )
    except FormInvalid as invalid:
        return _signup_page(request, invalid.state, context)
    except FlowError as error:
        await discard_failed_work(session, error)
        return _signup_page(request, state_from_error(error, values), context)
    return await _signed_in_redirect(session, owner, request, context, "/")


# --- sign-out ------------------------------------------------------------------------------


@router.post("/signout", dependencies=csrf_checked)
async def signout(request: Request, session: DbSession, context: Context) -> Response:
    try:
        principal = await principal_from_cookie(request, session, context)
        await auth.logout(session, principal)
    except Unauthorized:
        pass  # already signed out (or the session expired): just drop the cookie
    response = redirect("/signin")
    clear_session_cookie(response, context)
    csrf.rotate(request, response)
    return response


# --- invitations ---------------------------------------------------------------------------


@router.get("/invite/{token}")
async def invitation_page(request: Request, token: str) -> Response:
    return _form_page(request, "invite.html", FormState(), token=token)


@router.post("/invite/{token}", dependencies=csrf_checked)
async def accept_invitation(
    request: Request, token: str, session: DbSession, context: Context
) -> Response:
    values = await read_fields(request, ACCEPT_FIELDS)
    try:
        accepted = validate(AcceptInvitation, {"token": token, **values}, values)
        member = await auth.accept_invitation(
            session, token=accepted.token, password=accepted.password, name=accepted.name
        )
    except FormInvalid as invalid:
        return _form_page(
            request, "invite.html", _token_error_as_message(invalid.state), token=token
        )
    except FlowError as error:
        await discard_failed_work(session, error)
        return _form_page(request, "invite.html", state_from_error(error, values), token=token)
    return await _signed_in_redirect(session, member, request, context, "/")


def _token_error_as_message(state: FormState) -> FormState:
    # The token is in the link, not a field the person can fix.
    if state.errors.pop("token", None):
        state.message = "This invitation link is not valid. Ask for a new one."
    return state


# --- forgotten password --------------------------------------------------------------------


def _forgot_page(
    request: Request, form: FormState, context: AppContext, *, sent: bool = False
) -> HTMLResponse:
    return _form_page(
        request,
        "forgot_password.html",
        form,
        sent=sent,
        mail_configured=context.settings.smtp_host is not None,
        meta_description=FORGOT_DESCRIPTION,
    )


@router.get("/forgot-password")
async def forgot_password_page(request: Request, context: Context) -> Response:
    return _forgot_page(request, FormState(), context)


@router.post("/forgot-password", dependencies=csrf_checked)
async def forgot_password(
    request: Request, context: Context, client: ClientAddress, background: BackgroundTasks
) -> Response:
    values = await read_fields(request, FORGOT_FIELDS)
    try:
        wanted = validate(PasswordResetRequest, dict(values), values)
        accepted = await password_reset.request_reset(
            email=wanted.email, client=client, policy=context.auth
        )
    except FormInvalid as invalid:
        return _forgot_page(request, invalid.state, context)
    except FlowError as error:  # a throttle: nothing was written
        return _forgot_page(request, state_from_error(error, values), context)
    # After the response: whether the address has an account must not change how long the
    # answer takes (the lookup, the write and the mail server all happen later).
    background.add_task(
        password_reset.send_link,
        accepted,
        sessions=context.sessions,
        policy=context.auth,
        public_url=context.settings.public_url,
        sender=mail_sender(context.settings),
    )
    return _forgot_page(request, FormState(values={"email": wanted.email}), context, sent=True)


def _reset_page(request: Request, form: FormState, token: str, *, usable: bool) -> HTMLResponse:
    return render(
        request,
        "reset_password.html",
        {"form": form, "token": token, "usable": usable, "meta_description": RESET_DESCRIPTION},
        status_code=form.status_code,
        headers=form.headers,
    )


def _dead_link(request: Request, error: FlowError) -> HTMLResponse:
    form = FormState(message=error.detail, status_code=error.status_code)
    return _reset_page(request, form, "", usable=False)


@router.get("/reset-password")
async def reset_password_page(request: Request, session: DbSession, token: str = "") -> Response:
    # Only looked at: mail scanners open links, so the GET must never use the token up.
    try:
        await password_reset.check_link(session, token=token)
    except password_reset.ResetLinkInvalid as error:
        return _dead_link(request, error)
    return _reset_page(request, FormState(), token, usable=True)


@router.post("/reset-password", dependencies=csrf_checked)
async def reset_password(request: Request, session: DbSession, context: Context) -> Response:
    values = await read_fields(request, RESET_FIELDS)
    token = values["token"]
    try:
        wanted = validate(PasswordReset, dict(values), values)
        user = await password_reset.reset_password(
            session, token=wanted.token, new_password=wanted.new_password, policy=context.auth
        )
    except FormInvalid as invalid:
        if invalid.state.errors.pop("token", None):
            return _dead_link(request, password_reset.ResetLinkInvalid(LINK_NOT_VALID))
        return _reset_page(request, invalid.state, token, usable=True)
    except password_reset.ResetLinkInvalid as error:
        await discard_failed_work(session, error)
        return _dead_link(request, error)
    except FlowError as error:
        await discard_failed_work(session, error)
        return _reset_page(request, state_from_error(error, values), token, usable=True)
    # Every session was just revoked; the person who proved the mailbox gets a fresh one.
    return await _signed_in_redirect(session, user, request, context, "/")


LINK_NOT_VALID = "This reset link is not valid. Ask for a new one."
