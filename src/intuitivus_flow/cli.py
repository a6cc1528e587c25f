"""`intuitivus-flow`: serve, migrate and administer from the shell.

Failures print one readable line and exit non-zero; tracebacks are for bugs only.
"""

from __future__ import annotations

import asyncio
import os
import sys
import uuid
from collections.abc import Callable, Coroutine
from functools import wraps
from typing import Annotated, Any, TypeVar

import typer
from alembic.util import CommandError
from sqlalchemy.exc import DBAPIError, OperationalError

from intuitivus_flow.config import ConfigurationError, Settings, get_settings
from intuitivus_flow.kit import migrations
from intuitivus_flow.kit.db import create_engine, create_session_factory, unit_of_work
from intuitivus_flow.kit.errors import FlowError

app = typer.Typer(help="Intuitivus Flow Studio", no_args_is_help=True, add_completion=False)
db_app = typer.Typer(help="Database schema migrations.", no_args_is_help=True)
app.add_typer(db_app, name="db")

T = TypeVar("T")


def fail(message: str, code: int = 2) -> typer.Exit:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    return typer.Exit(code)


def readable_errors(func: Callable[..., T]) -> Callable[..., T]:
    """Turn expected failures (bad config, unreachable database, domain errors) into one line."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> T:
        try:
            return func(*args, **kwargs)
        except ConfigurationError as exc:
            raise fail(str(exc)) from None
        except FlowError as exc:
            raise fail(exc.detail) from None
        except (OperationalError, DBAPIError, OSError) as exc:
            reason = str(getattr(exc, "orig", None) or exc).splitlines()[0]
            raise fail(f"database unavailable: {reason}") from None
        except CommandError as exc:  # a revision that does not exist or is ambiguous
            raise fail(f"migrations: {exc}") from None

    return wrapper


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coroutine)


async def _upgrade(settings: Settings, revision: str) -> None:
    engine = create_engine(settings)
    try:
        await migrations.upgrade(engine, revision)
    finally:
        await engine.dispose()


async def _downgrade(settings: Settings, revision: str) -> None:
    engine = create_engine(settings)
    try:
        await migrations.downgrade(engine, revision)
    finally:
        await engine.dispose()


@db_app.command("upgrade")
@readable_errors
def db_upgrade(
    revision: Annotated[
        str, typer.Argument(help="Target revision (default: all heads).")
    ] = "heads",
) -> None:
    """Apply migrations up to REVISION (default: the newest)."""
    run(_upgrade(get_settings(), revision))
    typer.echo(f"database upgraded to {revision}")


@db_app.command("downgrade")
@readable_errors
def db_downgrade(
    revision: Annotated[str, typer.Argument(help="Target revision, e.g. -1 or base.")],
) -> None:
    """Revert migrations down to REVISION."""
    run(_downgrade(get_settings(), revision))
    typer.echo(f"database downgraded to {revision}")


@db_app.command("current")
@readable_errors
def db_current() -> None:
    """Show the database revision and whether it is the newest."""

    async def current() -> tuple[bool, str | None, str | None]:
        engine = create_engine(get_settings())
        try:
            return await migrations.is_current(engine)
        finally:
            await engine.dispose()

    up_to_date, revision, head = run(current())
    state = "up to date" if up_to_date else f"behind (newest is {head})"
    typer.echo(f"{revision or 'empty'}: {state}")


@app.command("create-user")
@readable_errors
def create_user(
    email: Annotated[str, typer.Argument(help="Email of the new user.")],
    workspace: Annotated[
        str, typer.Option(help="Name of the new workspace the user will own.")
    ] = "My workspace",
    name: Annotated[str, typer.Option(help="Display name.")] = "",
    password: Annotated[
        str,
        typer.Option(
            prompt=True,
            hide_input=True,
            confirmation_prompt=True,
            envvar="FLOW_NEW_USER_PASSWORD",
            help="Read from a prompt if omitted.",
        ),
    ] = "",
) -> None:
    """Create a workspace and its owner (for first set-up and scripts)."""
    from pydantic import TypeAdapter, ValidationError

    from intuitivus_flow.auth import service as auth
    from intuitivus_flow.auth.schemas import Register

    try:
        TypeAdapter(Register).validate_python(
            {"email": email, "password": password, "name": name, "workspace_name": workspace}
        )
    except ValidationError as exc:
        first = exc.errors()[0]
        raise fail(f"{'.'.join(map(str, first['loc']))}: {first['msg']}") from None

    async def create() -> uuid.UUID:
        engine = create_engine(get_settings())
        try:
            async with unit_of_work(create_session_factory(engine)) as session:
                user = await auth.create_workspace_with_owner(
                    session, email=email, password=password, name=name, workspace_name=workspace
                )
                return user.id
        finally:
            await engine.dispose()

    user_id = run(create())
    typer.echo(f"created {email} (id {user_id}) as owner of workspace '{workspace}'")


@app.command("serve")
@readable_errors
def serve(
    host: Annotated[str, typer.Option(help="Address to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to bind.")] = 8000,
    migrate: Annotated[
        bool | None,
        typer.Option(help="Apply migrations first (default: yes, except in production)."),
    ] = None,
    reload: Annotated[bool, typer.Option(help="Restart on code changes (development).")] = False,
    workers: Annotated[
        int,
        typer.Option(
            min=1, max=64, help="Worker processes; more than 1 runs gunicorn with uvicorn workers."
        ),
    ] = 1,
) -> None:
    """Serve the web UI and API."""
    from intuitivus_flow.observability.faults import refuse_in_production

    # Server processes build their app from the environment: freeze its startup heap there
    # (kit/heap.py) unless FLOW_GC_FREEZE says otherwise.
    os.environ.setdefault("FLOW_GC_FREEZE", "true")
    get_settings.cache_clear()
    settings = follow_served_address(get_settings(), host, port)
    settings.resolved_secret_key()  # refuse to start now, not on the first request
    refuse_in_production(settings)
    if reload and workers > 1:
        raise fail("--reload works with one worker only")
    # Done once, here, before any worker exists: N workers must not race to migrate or seed.
    if migrate if migrate is not None else not settings.is_production:
        run(_upgrade(settings, "heads"))
    if settings.seed_demo:
        _announce_demo(settings, host, port)
    if workers > 1:
        from intuitivus_flow.serving import run_workers

        run_workers(settings, host=host, port=port, workers=workers)
        return
    _serve_one_process(settings, host=host, port=port, reload=reload)


def served_url(host: str, port: int) -> str:
    """The URL a browser on this machine reaches `serve --host/--port` at."""
    # A wildcard bind is reachable on loopback; a named address as itself (IPv6 in brackets).
    if host in {"0.0.0.0", ""}:  # noqa: S104 - compared with, not bound to
        host = "127.0.0.1"
    elif host == "::":
        host = "[::1]"
    elif ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"http://{host}:{port}"


def follow_served_address(settings: Settings, host: str, port: int) -> Settings:
    """FLOW_PUBLIC_URL follows --host/--port unless it was set (env or .env): with
    `make run PORT=8100` the links handed out (invitations, channel callbacks) said 8000.
    The app is built again in each server process from the environment, so the value
    goes there too (workers and the reloader inherit it)."""
    if "public_url" in settings.model_fields_set:
        return settings
    os.environ["FLOW_PUBLIC_URL"] = served_url(host, port)
    get_settings.cache_clear()
    return get_settings()


def _serve_one_process(settings: Settings, *, host: str, port: int, reload: bool) -> None:
    import uvicorn

    uvicorn.run(
        "intuitivus_flow.app:create_app",
        factory=True,
        host=host,
        port=port,
        reload=reload,
        proxy_headers=settings.trust_forwarded_for,
        server_header=False,
        log_level=settings.log_level.lower(),
        # The app renders uvicorn's records itself (structured, redacted) and logs each request.
        log_config=None,
        access_log=False,
    )


def _announce_demo(settings: Settings, host: str, port: int) -> None:
    from intuitivus_flow.seed import DEMO_FILE, seed_demo_if_empty

    async def seed() -> Any:
        engine = create_engine(settings)
        try:
            async with unit_of_work(create_session_factory(engine)) as session:
                return await seed_demo_if_empty(session, settings.data_dir)
        finally:
            await engine.dispose()

    login = run(seed())
    url = f"http://{host}:{port}/signin"
    if login is not None:
        typer.secho("\nA demo workspace was created for this empty database.", bold=True)
        typer.echo(f"  Sign in at {url}\n  email:    {login.email}\n  password: {login.password}")
        typer.echo(f"  (also saved to {settings.data_dir / DEMO_FILE})\n")
    else:
        typer.echo(f"\nSign in at {url} (first-run demo login: {settings.data_dir / DEMO_FILE})\n")


seed_app = typer.Typer(help="Sample data for trying the product.", no_args_is_help=True)
app.add_typer(seed_app, name="seed")


@seed_app.command("demo")
@readable_errors
def seed_demo_command() -> None:
    """The demo workspace with its sample data (agents, contacts, conversations, campaigns,
    events, metrics): created in an empty database, filled while it has no data; a second run
    adds nothing."""
    from intuitivus_flow.seed import DEMO_FILE, seed_demo

    settings = get_settings()
    if not settings.seed_demo or settings.is_production:
        raise fail("demo seeding is off here (FLOW_SEED_DEMO, or a production environment)")

    async def seed() -> Any:
        engine = create_engine(settings)
        try:
            await migrations.upgrade(engine, "heads")
            async with unit_of_work(create_session_factory(engine)) as session:
                return await seed_demo(session, settings.data_dir)
        finally:
            await engine.dispose()

    try:
        result = run(seed())
    except LookupError as exc:  # a real instance's database: never filled with samples
        raise fail(str(exc)) from None
    if result.login is not None:
        typer.echo(
            f"Demo login: {result.login.email} (password in {settings.data_dir / DEMO_FILE})"
        )
    if result.counts is None:
        typer.echo("The demo workspace already has data; nothing was added.")
    else:
        typer.echo(f"Added to the demo workspace: {result.counts.summary()}.")


def _mount_optional_commands() -> None:
    """`alerts` is the rules app (validate, export) plus the predictive `evaluate` command."""
    from intuitivus_flow.alerts.cli import app as alerts_app

    try:
        from intuitivus_flow.predictive.cli import app as predictive_app
    except ImportError:
        pass
    else:
        for command in predictive_app.registered_commands:
            if command not in alerts_app.registered_commands:
                alerts_app.registered_commands.append(command)
    from intuitivus_flow.alerts.silences.cli import silence_app

    alerts_app.add_typer(silence_app, name="silence")
    app.add_typer(alerts_app, name="alerts")


_mount_optional_commands()


def _mount_domain_commands() -> None:
    # Domain commands open sessions: foreign keys need every table mapped (the composition
    # root imports them all; a domain CLI cannot, it sits below that root).
    import intuitivus_flow.models  # noqa: F401
    from intuitivus_flow.llm.cli import app as llm_app

    app.add_typer(llm_app, name="llm")
    from intuitivus_flow.task_registry import worker_command

    app.command("worker")(worker_command)
    from intuitivus_flow.dataport.cli import app as data_app

    app.add_typer(data_app, name="data")
    from intuitivus_flow.auth.cli import app as users_app

    app.add_typer(users_app, name="users")
    from intuitivus_flow.billing.cli import app as billing_app

    app.add_typer(billing_app, name="billing")
    from intuitivus_flow.autoscaling.cli import app as autoscale_app

    app.add_typer(autoscale_app, name="autoscale")
    from intuitivus_flow.backup.cli import app as backup_app

    app.add_typer(backup_app, name="backup")
    from intuitivus_flow.app import create_app
    from intuitivus_flow.performance.cli import build_cli
    from intuitivus_flow.performance.database.cli import advise_command
    from intuitivus_flow.web.performance_pages import operator_pages

    perf_app = build_cli(create_app, operator_pages)
    perf_app.command("advise")(advise_command)
    app.add_typer(perf_app, name="perf")
    from intuitivus_flow.analytics.cli import app as analytics_app
    from intuitivus_flow.analytics.events_cli import register_event_commands

    register_event_commands(analytics_app)
    app.add_typer(analytics_app, name="analytics")


_mount_domain_commands()


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)
