"""`intuitivus-flow llm ...`: maintenance of the workspaces' stored provider keys."""

from __future__ import annotations

import asyncio

import typer

from intuitivus_flow.config import ConfigurationError, get_settings
from intuitivus_flow.kit.crypto import SecretBoxError
from intuitivus_flow.kit.db import create_engine, create_session_factory, unit_of_work
from intuitivus_flow.kit.resources import secret_box_for
from intuitivus_flow.llm import service

app = typer.Typer(help="LLM provider keys.", no_args_is_help=True)


@app.command("rotate-keys")
def rotate_keys() -> None:
    """Re-encrypt every stored provider key under the first key of FLOW_ENCRYPTION_KEYS.

    Rotation: put the new key first and keep the old one after it, run this, then drop the old
    key. All keys are rewritten in one transaction, or none is.
    """

    async def rotate() -> int:
        settings = get_settings()
        engine = create_engine(settings)
        try:
            async with unit_of_work(create_session_factory(engine)) as session:
                return await service.rotate_encryption(session, secret_box_for(settings))
        finally:
            await engine.dispose()

    try:
        count = asyncio.run(rotate())
    except (ConfigurationError, SecretBoxError) as exc:
        typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
        raise typer.Exit(2) from None
    typer.echo(f"re-encrypted {count} provider key(s) under the current encryption key")
