"""The demo workspace that an empty embedded database starts with, and its sample data
(`demo_data`): `serve` creates both on first run when demo seeding is on (FLOW_SEED_DEMO);
`intuitivus-flow seed demo` does the same on demand."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from intuitivus_flow.auth import service as auth
from intuitivus_flow.kit.security import new_secret
from intuitivus_flow.seed.demo_data import DemoCounts, fill_demo_workspace
from intuitivus_flow.users.models import User
from intuitivus_flow.users.repository import AccountRepository

DEMO_EMAIL = "demo@intuitivus.local"
DEMO_FILE = "demo-login.txt"


@dataclass(frozen=True, slots=True)
class DemoLogin:
    email: str
    password: str


@dataclass(frozen=True, slots=True)
class DemoSeeded:
    login: DemoLogin | None  # only when the demo owner was created now
    counts: DemoCounts | None  # None: the demo workspace already had data


async def database_is_empty(session: AsyncSession) -> bool:
    return not await session.scalar(select(func.count()).select_from(User))


async def seed_demo_if_empty(session: AsyncSession, data_dir: Path) -> DemoLogin | None:
    """On start: an empty database gets the demo owner with its sample data, and a demo
    workspace left empty (made before the sample data existed) gets the data. An instance
    whose users include no demo owner is never touched. The login when one was created."""
    try:
        return (await seed_demo(session, data_dir)).login
    except LookupError:
        return None


async def seed_demo(session: AsyncSession, data_dir: Path) -> DemoSeeded:
    """The demo workspace with its sample data: the owner is created in an empty database,
    the data added to the demo workspace while it has none (a second run adds nothing).
    LookupError when users exist but none is the demo owner (a real instance)."""
    login = None
    owner = await AccountRepository(session).by_email(DEMO_EMAIL)
    if owner is None:
        if not await database_is_empty(session):
            raise LookupError(f"This database has users but no demo owner ({DEMO_EMAIL})")
        login = DemoLogin(DEMO_EMAIL, new_secret(12))
        owner = await auth.create_workspace_with_owner(
            session,
            email=login.email,
            password=login.password,
            name="Demo Owner",
            workspace_name="Demo workspace",
        )
    counts = await fill_demo_workspace(session, owner.workspace_id, owner.id)
    if login is not None:
        _remember(data_dir / DEMO_FILE, login)
    return DemoSeeded(login=login, counts=counts)


def _remember(path: Path, login: DemoLogin) -> None:
    # Kept beside the database (owner-only) so the first-run credentials can be found again.
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"email: {login.email}\npassword: {login.password}\n")
    path.chmod(0o600)
