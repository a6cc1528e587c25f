"""`intuitivus-flow users ...`: account chores for the operators of this instance.

Whoever runs the CLI can reach the database, so it may set anyone's password (the way out when
the instance cannot send e-mail). Every expected failure is one line on stderr and exit code 2.
"""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer
from pydantic import TypeAdapter, ValidationError
from sqlalchemy.exc import DBAPIError, OperationalError

from intuitivus_flow.auth import password_reset
from intuitivus_flow.auth.schemas import PASSWORD_FIELD
from intuitivus_flow.config import ConfigurationError, get_settings
from intuitivus_flow.kit.db import create_engine, create_session_factory, unit_of_work
from intuitivus_flow.kit.errors import FlowError

app = typer.Typer(help="Accounts of this instance (for its operators).", no_args_is_help=True)
_password_rule: TypeAdapter[str] = TypeAdapter(Annotated[str, PASSWORD_FIELD])


def _fail(message: str) -> typer.Exit:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    return typer.Exit(2)


@app.command("reset-password")
def reset_password(
    email: Annotated[str, typer.Argument(help="Email of the account.")],
    password: Annotated[
        str,
        typer.Option(
            prompt="New password",
            hide_input=True,
            confirmation_prompt=True,
            envvar="FLOW_NEW_USER_PASSWORD",
            help="Read from a prompt if omitted.",
        ),
    ] = "",
) -> None:
    """Set an account's password and sign out all its sessions (as a reset link would)."""
    try:
        _password_rule.validate_python(password)
    except ValidationError as exc:
        raise _fail(f"password: {exc.errors()[0]['msg']}") from None

    async def work() -> str:
        engine = create_engine(get_settings())
        try:
            async with unit_of_work(create_session_factory(engine)) as session:
                user = await password_reset.set_password_from_shell(
                    session, email=email, new_password=password
                )
                return user.email
        finally:
            await engine.dispose()

    try:
        changed = asyncio.run(work())
    except (FlowError, ConfigurationError) as exc:
        raise _fail(exc.detail if isinstance(exc, FlowError) else str(exc)) from None
    except (OperationalError, DBAPIError, OSError) as exc:
        reason = str(getattr(exc, "orig", None) or exc).splitlines()[0]
        raise _fail(f"database unavailable: {reason}") from None
    typer.echo(f"password set for {changed}; every session of the account was signed out")
