"""The Billing page for owners and admins: plan, usage against limits, invoices, payments,
and forms to change plan or redeem a licence key."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from sqlalchemy.ext.asyncio import AsyncSession

from intuitivus_flow.billing import licences, payments
from intuitivus_flow.billing import service as billing
from intuitivus_flow.billing.plans import PLANS, PlanId
from intuitivus_flow.kit.errors import FlowError
from intuitivus_flow.kit.http.deps import DbSession
from intuitivus_flow.users.models import Role
from intuitivus_flow.web import csrf
from intuitivus_flow.web.auth import CurrentViewer, Viewer
from intuitivus_flow.web.forms import FormState, discard_failed_work, read_fields, state_from_error
from intuitivus_flow.web.templating import redirect, render

router = APIRouter(include_in_schema=False)
csrf_checked = [Depends(csrf.require_csrf)]
ROWS = 20
NOTICES = {"plan": "Your plan was changed.", "licence": "The licence was redeemed."}


def _refusal(request: Request, viewer: Viewer) -> Response | None:
    if viewer.principal.role.rank >= Role.admin.rank:
        return None
    message = "Billing is available to workspace owners and admins."
    context = {"viewer": viewer, "title": "Not allowed", "message": message}
    return render(request, "error.html", context, status_code=403)


async def _render(
    request: Request,
    session: AsyncSession,
    viewer: Viewer,
    *,
    form: FormState | None = None,
    notice: str | None = None,
    status_code: int = 200,
) -> Response:
    principal = viewer.principal
    page: dict[str, Any] = {
        "viewer": viewer,
        "usage": await billing.usage(session, principal),
        "plans": list(PLANS.values()),
        "invoices": (await billing.list_invoices(session, principal, limit=ROWS, offset=0)).items,
        "payments": (await payments.list_payments(session, principal, limit=ROWS, offset=0)).items,
        "licences": (
            await licences.list_my_licences(session, principal, limit=ROWS, offset=0)
        ).items,
        "form": form or FormState(),
        "notice": notice,
    }
    return render(request, "billing.html", page, status_code=status_code)


@router.get("/billing")
async def billing_page(
    request: Request, session: DbSession, viewer: CurrentViewer, done: str | None = None
) -> Response:
    if refusal := _refusal(request, viewer):
        return refusal
    return await _render(request, session, viewer, notice=NOTICES.get(done or ""))


@router.post("/billing/plan", dependencies=csrf_checked)
async def change_plan(request: Request, session: DbSession, viewer: CurrentViewer) -> Response:
    if refusal := _refusal(request, viewer):
        return refusal
    values = await read_fields(request, ("plan",))
    try:
        await billing.choose_plan(session, viewer.principal, plan_id=PlanId(values["plan"]))
    except ValueError:
        state = FormState(
            values=values, errors={"plan": "Choose one of the plans"}, status_code=422
        )
        return await _render(request, session, viewer, form=state, status_code=422)
    except FlowError as error:
        await discard_failed_work(session, error, viewer.user, viewer.workspace)
        state = state_from_error(error, values)
        return await _render(request, session, viewer, form=state, status_code=error.status_code)
    return redirect("/billing?done=plan")


@router.post("/billing/licences", dependencies=csrf_checked)
async def redeem_licence(request: Request, session: DbSession, viewer: CurrentViewer) -> Response:
    if refusal := _refusal(request, viewer):
        return refusal
    values = await read_fields(request, ("licence_key",))
    try:
        await licences.redeem(session, viewer.principal, key=values["licence_key"][:100])
    except FlowError as error:
        await discard_failed_work(session, error, viewer.user, viewer.workspace)
        state = state_from_error(error, values)
        return await _render(request, session, viewer, form=state, status_code=error.status_code)
    return redirect("/billing?done=licence")
