"""`intuitivus-flow alerts silence ...`: add, list and expire silences from the shell.

Mounted on the `alerts` app as `silence` (`alerts_app.add_typer(silence_app, name="silence")`).
Each command is its own unit of work against FLOW_DATABASE_URL.
"""

from __future__ import annotations

import asyncio
import getpass
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Annotated, TypeVar

import typer
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from intuitivus_flow.alerts import service as alerts
from intuitivus_flow.alerts.models import Silence
from intuitivus_flow.alerts.schemas import SilenceCreate
from intuitivus_flow.config import get_settings
from intuitivus_flow.kit.db import create_engine, create_session_factory, unit_of_work
from intuitivus_flow.kit.errors import FlowError

silence_app = typer.Typer(help="Silence alerts: add, list, expire.", no_args_is_help=True)
T = TypeVar("T")


def _run(work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    async def main() -> T:
        engine = create_engine(get_settings())
        try:
            async with unit_of_work(create_session_factory(engine)) as session:
                return await work(session)
        finally:
            await engine.dispose()

    try:
        return asyncio.run(main())
    except FlowError as exc:
        typer.secho(f"error: {exc.detail}", fg=typer.colors.RED, err=True)
        raise typer.Exit(2) from None


def _describe(silence: Silence) -> str:
    matchers = ", ".join(f"{m['name']}{m['op']}{m['value']}" for m in silence.matchers)
    ends = silence.ends_at.strftime("%Y-%m-%d %H:%M UTC")
    return f"{silence.id}  until {ends}  [{matchers}]  {silence.comment} ({silence.created_by})"


def parse_matcher(raw: str) -> dict[str, str]:
    """`name=value`, `name!=value`, `name=~regex` or `name!~regex`."""
    for op in ("=~", "!~", "!=", "="):
        if op in raw:
            name, value = raw.split(op, 1)
            return {"name": name.strip(), "op": op, "value": value.strip()}
    raise typer.BadParameter(f"{raw!r} is not a matcher; use name=value, name!=value, name=~regex")


@silence_app.command("add")
def add(
    matchers: Annotated[
        list[str], typer.Argument(help="Label matchers, e.g. alertname=HighCpuUsage")
    ],
    comment: Annotated[str, typer.Option("--comment", "-c", help="Why (required).")],
    duration: Annotated[int, typer.Option(help="Minutes the silence lasts.", min=1)] = 60,
) -> None:
    """Silence the alerts matching every MATCHER for DURATION minutes."""
    try:
        wanted = SilenceCreate.model_validate(
            {
                "matchers": [parse_matcher(m) for m in matchers],
                "duration_minutes": duration,
                "comment": comment,
            }
        )
    except ValidationError as exc:
        first = exc.errors()[0]
        raise typer.BadParameter(f"{'.'.join(map(str, first['loc']))}: {first['msg']}") from None
    actor = f"cli:{getpass.getuser()}"
    silence = _run(
        lambda s: alerts.create_silence(s, wanted, created_by=actor, now=datetime.now(UTC))
    )
    typer.echo(f"silenced: {_describe(silence)}")


@silence_app.command("list")
def list_(
    all_: Annotated[bool, typer.Option("--all", help="Include expired silences.")] = False,
) -> None:
    """List silences that have not ended (all of them with --all)."""
    page = _run(
        lambda s: alerts.list_silences(
            s, now=datetime.now(UTC), include_expired=all_, limit=100, offset=0
        )
    )
    if not page.items:
        typer.echo("no silences")
    for silence in page.items:
        typer.echo(_describe(silence))


@silence_app.command("expire")
def expire(
    silence_id: Annotated[uuid.UUID, typer.Argument(help="Id from `silence list`.")],
) -> None:
    """End a silence now."""
    actor = f"cli:{getpass.getuser()}"
    silence = _run(
        lambda s: alerts.expire_silence(s, silence_id, expired_by=actor, now=datetime.now(UTC))
    )
    typer.echo(f"expired: {_describe(silence)}")
