"""`intuitivus-flow billing ...`: the operators' payment desk from the shell.

Whoever runs the CLI can reach the database, so it acts as an operator of the instance (like
`data export`). Every expected failure is one line on stderr and exit code 2.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Coroutine
from typing import Annotated, Any, TypeVar

import typer
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.ext.asyncio import AsyncSession

from intuitivus_flow.billing.payments import manual as manual_payments
from intuitivus_flow.billing.payments.manual import Decision, DeskPayment
from intuitivus_flow.config import ConfigurationError, Settings, get_settings
from intuitivus_flow.kit.db import create_engine, create_session_factory, unit_of_work
from intuitivus_flow.kit.errors import FlowError
from intuitivus_flow.kit.money import format_money
from intuitivus_flow.kit.repository import Page

app = typer.Typer(
    help="Billing operations for the operators of this instance.", no_args_is_help=True
)
T = TypeVar("T")
LISTING_LIMIT = 200
PaymentId = Annotated[str, typer.Argument(help="The payment's id (from `billing payments`).")]


def _fail(message: str) -> typer.Exit:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    return typer.Exit(2)


def _run(work: Callable[[Settings], Coroutine[Any, Any, T]]) -> T:
    try:
        return asyncio.run(work(get_settings()))
    except FlowError as exc:
        raise _fail(exc.detail) from None
    except ConfigurationError as exc:
        raise _fail(str(exc)) from None
    except (OperationalError, DBAPIError, OSError) as exc:
        reason = str(getattr(exc, "orig", None) or exc).splitlines()[0]
        raise _fail(f"database unavailable: {reason}") from None


async def _in_transaction(
    settings: Settings, work: Callable[[AsyncSession], Coroutine[Any, Any, T]]
) -> T:
    engine = create_engine(settings)
    try:
        async with unit_of_work(create_session_factory(engine)) as session:
            return await work(session)
    finally:
        await engine.dispose()


def _payment_id(raw: str) -> uuid.UUID:
    try:
        return uuid.UUID(raw.strip())
    except ValueError:
        raise _fail(f"not a payment id: {raw!r}") from None


def _line(item: DeskPayment) -> str:
    payment = item.payment
    columns = [
        str(payment.id),
        f"{payment.created_at:%Y-%m-%d %H:%M}",
        f"{format_money(payment.amount_minor, payment.currency):>14}",
        f"{payment.status:<9}",
        f"{item.workspace_name} ({payment.workspace_id})",
    ]
    if payment.description:
        columns.append(payment.description)
    return "  ".join(columns)


@app.command("payments")
def payments_command(
    pending: Annotated[
        bool,
        typer.Option(
            "--pending/--all",
            help="Pending manual payments, oldest first (default), or every manual payment, "
            "newest first.",
        ),
    ] = True,
) -> None:
    """List the manual gateway's payments of every workspace."""
    listing = manual_payments.list_pending if pending else manual_payments.list_recent

    async def work(session: AsyncSession) -> Page[DeskPayment]:
        operator = manual_payments.shell_operator()
        return await listing(session, operator, limit=LISTING_LIMIT, offset=0)

    page = _run(lambda settings: _in_transaction(settings, work))
    if not page.items:
        typer.echo("no pending manual payments" if pending else "no manual payments")
        return
    for item in page.items:
        typer.echo(_line(item))
    if page.total > len(page.items):
        typer.echo(f"... and {page.total - len(page.items)} more")


@app.command("confirm-payment")
def confirm_payment_command(payment_id: PaymentId) -> None:
    """The money arrived: the payment succeeds and pays its invoice."""
    wanted = _payment_id(payment_id)

    async def work(session: AsyncSession) -> Decision:
        return await manual_payments.confirm(session, manual_payments.shell_operator(), wanted)

    _report(_run(lambda settings: _in_transaction(settings, work)), "confirmed")


@app.command("fail-payment")
def fail_payment_command(
    payment_id: PaymentId,
    reason: Annotated[
        str | None,
        typer.Option(
            "--reason", help="Required: why the money will not come (shown to the workspace)."
        ),
    ] = None,
) -> None:
    """The money will not come: the payment fails; its subscription goes past_due."""
    if reason is None:  # checked here, not by typer, so the error is one line like the others
        raise _fail("--reason is required: say why the money will not come")
    wanted = _payment_id(payment_id)

    async def work(session: AsyncSession) -> Decision:
        operator = manual_payments.shell_operator()
        return await manual_payments.mark_failed(session, operator, wanted, reason=reason)

    _report(_run(lambda settings: _in_transaction(settings, work)), "marked failed")


def _report(decision: Decision, verb: str) -> None:
    payment = decision.payment
    what = (
        f"payment {payment.id} ({format_money(payment.amount_minor, payment.currency)}, "
        f"workspace '{decision.workspace_name}')"
    )
    if decision.changed:
        typer.echo(f"{verb} {what}")
    else:
        typer.echo(f"{what} was already {verb}; nothing changed")
