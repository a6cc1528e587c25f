"""The demo workspace that an empty embedded database starts with."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from intuitivus_flow.auth import service as auth
from intuitivus_flow.kit.security import new_secret
from intuitivus_flow.users.models import User

DEMO_EMAIL = "demo@intuitivus.local"
DEMO_FILE = "demo-login.txt"


@dataclass(frozen=True, slots=True)
class DemoLogin:
    email: str
    password: str


async def database_is_empty(session: AsyncSession) -> bool:
    return not await session.scalar(select(func.count()).select_from(User))


async def seed_demo_if_empty(session: AsyncSession, data_dir: Path) -> DemoLogin | None:
    """Create the demo owner only when there is no user at all: existing data is never touched."""
    if not await database_is_empty(session):
        return None
    login = DemoLogin(DEMO_EMAIL, new_secret(12))
    await auth.create_workspace_with_owner(
        session,
        email=login.email,
        password=login.password,
        name="Demo Owner",
        workspace_name="Demo workspace",
    )
    _remember(data_dir / DEMO_FILE, login)
    return login


def _remember(path: Path, login: DemoLogin) -> None:
    # Kept beside the database (owner-only) so the first-run credentials can be found again.
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"email: {login.email}\npassword: {login.password}\n")
    path.chmod(0o600)
