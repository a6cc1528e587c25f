"""`/api/alerts`: live alerts, history, silences, notification deliveries and SLO budgets.

Reading: the instance's operators (auth/operators.py; keys with `operations:read`) or the
metrics token. Creating or expiring a silence: operators (keys with `operations:write`).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Query, status

from intuitivus_flow.alerts import schemas
from intuitivus_flow.alerts import service as alerts
from intuitivus_flow.alerts.models import AlertTransition, NotificationDelivery, Silence
from intuitivus_flow.alerts.rules import RulesError, configured_rules
from intuitivus_flow.identity.requirements import checked_by_operator_access
from intuitivus_flow.identity.scopes import Scope
from intuitivus_flow.kit.errors import Conflict, FlowError
from intuitivus_flow.kit.http.deps import Context, DbSession, Paging
from intuitivus_flow.kit.http.openapi import route_errors
from intuitivus_flow.kit.pagination import Page
from intuitivus_flow.metrics_history.operator_guard import OperatorReader, OperatorWriter

router = APIRouter(prefix="/api/alerts", tags=["operations"])


class RulesUnavailable(FlowError):
    status_code = 503
    type = "rules-unavailable"
    title = "Alert rules unavailable"


def _silence_out(silence: Silence, now: datetime) -> schemas.SilenceOut:
    out = schemas.SilenceOut.model_validate(silence)
    out.active = silence.active_at(now)
    return out


@router.get(
    "",
    openapi_extra=route_errors(RulesUnavailable),
    dependencies=[checked_by_operator_access(Scope.operations_read)],
    response_model=schemas.AlertBoardOut,
    summary="Firing and pending alerts",
)
async def list_alerts(session: DbSession, _: OperatorReader) -> alerts.AlertBoard:
    """Alerts firing or pending now. `silenced_by`/`inhibited_by` tell which are muted."""
    return await alerts.board(session)


@router.get(
    "/history",
    dependencies=[checked_by_operator_access(Scope.operations_read)],
    response_model=schemas.TransitionPage,
    summary="Alert history",
)
async def list_history(
    session: DbSession,
    _: OperatorReader,
    paging: Paging,
    name: Annotated[str | None, Query(max_length=128)] = None,
) -> Page[AlertTransition]:
    """Every state change of every alert, newest first, optionally for one alert name."""
    return await alerts.history(session, name=name, limit=paging.limit, offset=paging.offset)


@router.get(
    "/deliveries",
    dependencies=[checked_by_operator_access(Scope.operations_read)],
    response_model=schemas.DeliveryPage,
    summary="Notifications",
)
async def list_deliveries(
    session: DbSession, _: OperatorReader, paging: Paging
) -> Page[NotificationDelivery]:
    """Notifications sent or being retried, newest first, with attempts and last error."""
    return await alerts.deliveries(session, limit=paging.limit, offset=paging.offset)


@router.get(
    "/slos",
    openapi_extra=route_errors(RulesUnavailable),
    dependencies=[checked_by_operator_access(Scope.operations_read)],
    response_model=list[schemas.SloStatus],
    summary="SLO error budgets",
)
async def list_slos(
    session: DbSession, _: OperatorReader, context: Context
) -> list[schemas.SloStatus]:
    """Each SLO's remaining error budget over its window (1 untouched, 0 spent)."""
    try:
        rules = configured_rules(context.settings)
    except RulesError as exc:
        raise RulesUnavailable(str(exc).splitlines()[0]) from None
    return await alerts.slo_status(session, rules, now=datetime.now(UTC))


@router.get(
    "/silences",
    dependencies=[checked_by_operator_access(Scope.operations_read)],
    response_model=schemas.SilencePage,
    summary="Silences",
)
async def list_silences(
    session: DbSession,
    _: OperatorReader,
    paging: Paging,
    include_expired: bool = False,
) -> schemas.SilencePage:
    """Silences that have not ended yet (all of them with `include_expired=true`)."""
    now = datetime.now(UTC)
    page = await alerts.list_silences(
        session,
        now=now,
        include_expired=include_expired,
        limit=paging.limit,
        offset=paging.offset,
    )
    return schemas.SilencePage(
        items=[_silence_out(silence, now) for silence in page.items],
        total=page.total,
        limit=page.limit,
        offset=page.offset,
    )


@router.post(
    "/silences",
    dependencies=[checked_by_operator_access(Scope.operations_write)],
    response_model=schemas.SilenceOut,
    status_code=status.HTTP_201_CREATED,
    summary="Silence alerts",
)
async def create_silence(
    body: schemas.SilenceCreate, session: DbSession, operator: OperatorWriter
) -> schemas.SilenceOut:
    """Mute notifications of alerts matching every matcher until `ends_at` (or for
    `duration_minutes`). Matchers: `=`, `!=`, `=~`, `!~` on labels, `alertname` included."""
    now = datetime.now(UTC)
    silence = await alerts.create_silence(session, body, created_by=operator.actor, now=now)
    return _silence_out(silence, now)


@router.delete(
    "/silences/{silence_id}",
    openapi_extra=route_errors(Conflict),
    dependencies=[checked_by_operator_access(Scope.operations_write)],
    response_model=schemas.SilenceOut,
    summary="Expire a silence",
)
async def expire_silence(
    silence_id: uuid.UUID, session: DbSession, operator: OperatorWriter
) -> schemas.SilenceOut:
    """End the silence now (it stays listed as expired); 409 when it already ended."""
    now = datetime.now(UTC)
    silence = await alerts.expire_silence(session, silence_id, expired_by=operator.actor, now=now)
    return _silence_out(silence, now)
