"""Pages for getting in and out: sign-in, sign-up, sign-out and accepting an invitation."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession

from intuitivus_flow.auth import service as auth
from intuitivus_flow.auth.schemas import AcceptInvitation, Login, Register
from intuitivus_flow.context import AppContext
from intuitivus_flow.kit.errors import FlowError, Unauthorized
from intuitivus_flow.kit.http.deps import ClientAddress, DbSession
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
