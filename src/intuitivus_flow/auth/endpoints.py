from __future__ import annotations

from fastapi import APIRouter, BackgroundTasks, status

from intuitivus_flow.auth import password_reset, schemas
from intuitivus_flow.auth import service as auth
from intuitivus_flow.auth.deps import AuthContext
from intuitivus_flow.auth.service import IssuedTokens
from intuitivus_flow.billing.exceptions import PlanLimitReached
from intuitivus_flow.identity.http import CurrentPrincipal
from intuitivus_flow.kit.errors import Conflict, Forbidden, NotFound, TooManyRequests, Unauthorized
from intuitivus_flow.kit.http.deps import ClientAddress, Context, DbSession, Work
from intuitivus_flow.kit.http.openapi import route_errors
from intuitivus_flow.kit.mail import mail_sender

router = APIRouter(prefix="/api/auth", tags=["auth"])


def _token_pair(tokens: IssuedTokens) -> schemas.TokenPair:
    return schemas.TokenPair(
        access_token=tokens.access_token,
        refresh_token=tokens.refresh_token,
        expires_in=tokens.expires_in,
    )


@router.post(
    "/register",
    openapi_extra=route_errors(Conflict, TooManyRequests),
    response_model=schemas.TokenPair,
    status_code=status.HTTP_201_CREATED,
    summary="Create a workspace and its owner",
)
async def register(
    body: schemas.Register, session: DbSession, context: AuthContext, client: ClientAddress
) -> schemas.TokenPair:
    """Sign up: creates a new workspace, makes you its owner and signs you in."""
    owner = await auth.register(
        session,
        email=body.email,
        password=body.password,
        name=body.name,
        workspace_name=body.workspace_name,
        client=client,
        policy=context.auth,
        licence_key=body.licence_key,
    )
    return _token_pair(await auth.open_api_session(session, owner, policy=context.auth))


@router.post(
    "/login",
    openapi_extra=route_errors(Unauthorized, Forbidden, TooManyRequests),
    response_model=schemas.TokenPair,
    summary="Sign in",
)
async def login(
    body: schemas.Login, session: DbSession, context: AuthContext, client: ClientAddress
) -> schemas.TokenPair:
    """Exchange email and password for an access token and a refresh token.

    Repeated failures are throttled per account and per client address (429 + Retry-After).
    """
    tokens = await auth.login(
        session, email=body.email, password=body.password, client=client, policy=context.auth
    )
    return _token_pair(tokens)


@router.post(
    "/refresh",
    openapi_extra=route_errors(Unauthorized, Forbidden),
    response_model=schemas.TokenPair,
    summary="Rotate the refresh token",
)
async def refresh(
    body: schemas.RefreshRequest, session: DbSession, context: AuthContext
) -> schemas.TokenPair:
    """Trade a refresh token for a new pair. Each refresh token works once; reusing one revokes
    the whole session."""
    return _token_pair(
        await auth.refresh(session, refresh_token=body.refresh_token, policy=context.auth)
    )


@router.post("/logout", status_code=status.HTTP_204_NO_CONTENT, summary="Sign out")
async def logout(session: DbSession, principal: CurrentPrincipal) -> None:
    """Revoke the session behind this access token and its refresh tokens."""
    await auth.logout(session, principal)


@router.get("/me", response_model=schemas.Me, summary="Who am I")
async def me(work: Work, principal: CurrentPrincipal, context: Context) -> schemas.Me:
    """The signed-in user (or API key), its role, scopes and workspace."""
    account = await auth.account_summary(work, principal, cache=context.cache)
    return schemas.Me(
        id=account["id"],
        email=account["email"],
        name=account["name"],
        role=principal.role,
        scopes=sorted(scope.value for scope in principal.scopes),
        workspace=schemas.WorkspaceSummary.model_validate(account["workspace"]),
        via="token" if principal.is_user else "api_key",
    )


@router.post(
    "/password",
    openapi_extra=route_errors(Forbidden, TooManyRequests),
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Change password",
)
async def change_password(
    body: schemas.PasswordChange,
    session: DbSession,
    context: AuthContext,
    principal: CurrentPrincipal,
) -> None:
    """Set a new password; every other session of yours is signed out.

    Wrong current passwords are throttled per user (429 + Retry-After), as sign-ins are.
    """
    await auth.change_password(
        session,
        principal,
        current_password=body.current_password,
        new_password=body.new_password,
        policy=context.auth,
    )


@router.post(
    "/password-reset",
    openapi_extra=route_errors(TooManyRequests),
    response_model=schemas.PasswordResetAccepted,
    status_code=status.HTTP_202_ACCEPTED,
    summary="Ask for a password-reset link",
)
async def request_password_reset(
    body: schemas.PasswordResetRequest,
    context: AuthContext,
    resources: Context,
    client: ClientAddress,
    background: BackgroundTasks,
) -> schemas.PasswordResetAccepted:
    """E-mails a single-use link to the account with this address, if there is one. The
    answer is the same either way, in the same time (the account is looked up after it);
    throttled per address and per client address (429 + Retry-After)."""
    accepted = await password_reset.request_reset(
        email=body.email, client=client, policy=context.auth
    )
    background.add_task(
        password_reset.send_link,
        accepted,
        sessions=resources.sessions,
        policy=context.auth,
        public_url=context.settings.public_url,
        sender=mail_sender(context.settings),
    )
    return schemas.PasswordResetAccepted(detail=RESET_REQUESTED)


RESET_REQUESTED = (
    "If an account uses this address, a link to choose a new password is on its way. "
    "It works once and expires soon."
)


@router.post(
    "/password-reset/confirm",
    openapi_extra=route_errors(password_reset.ResetLinkInvalid),
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Set a new password with a reset link",
)
async def reset_password(
    body: schemas.PasswordReset, session: DbSession, context: AuthContext
) -> None:
    """Sets the password through the link's `token`, once (an unknown, used, replaced or
    expired link is a 400 and changes nothing). Every session of the account is signed out;
    sign in with the new password."""
    await password_reset.reset_password(
        session, token=body.token, new_password=body.new_password, policy=context.auth
    )


@router.post(
    "/invitations/accept",
    openapi_extra=route_errors(NotFound, Conflict, PlanLimitReached),
    response_model=schemas.TokenPair,
    status_code=status.HTTP_201_CREATED,
    summary="Accept an invitation",
)
async def accept_invitation(
    body: schemas.AcceptInvitation, session: DbSession, context: AuthContext
) -> schemas.TokenPair:
    """Join the inviting workspace with the invited role and sign in."""
    member = await auth.accept_invitation(
        session, token=body.token, password=body.password, name=body.name
    )
    return _token_pair(await auth.open_api_session(session, member, policy=context.auth))
