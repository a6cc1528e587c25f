"""A one-step edit of a campaign's automation against replacing the whole list (how every
edit was stored before steps had stable ids).

    python benchmarks/campaign_step_edits.py [--steps 20] [--rounds 50] [--database-url URL]

On a fresh database (SQLite in a temporary directory by default), one campaign with `--steps`
steps. Each round runs, in its own transaction: the baseline (`replace_steps` with one step's
template changed, keeping every id), then the one-step edits (`update_step`, `add_step` at
position 1 and `delete_step` of that step, `move_step` first to last and back). Prints per
edit the SQL statements sent, the writes among them, the campaign-row locks (PostgreSQL; SQLite
has one writer and no row locks), and the median time with its ratio to the baseline.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession

from intuitivus_flow.campaigns.automation import service as automation
from intuitivus_flow.campaigns.automation.schemas import StepEntry, StepSpecs
from intuitivus_flow.campaigns.models import Campaign
from intuitivus_flow.config import Settings
from intuitivus_flow.identity.principal import Principal
from intuitivus_flow.identity.roles import Role
from intuitivus_flow.identity.scopes import Scope
from intuitivus_flow.kit import migrations
from intuitivus_flow.kit.db import create_engine, create_session_factory, unit_of_work
from intuitivus_flow.workspaces.models import Workspace

Edit = Callable[[AsyncSession], Awaitable[object]]


def template(name: str) -> Any:
    (spec,) = StepSpecs.validate_python([{"kind": "send_template", "template": name}])
    return spec


async def main(steps: int, rounds: int, database_url: str | None) -> None:
    with tempfile.TemporaryDirectory() as directory:
        url = database_url or f"sqlite+aiosqlite:///{Path(directory) / 'bench.db'}"
        settings = Settings(env="test", data_dir=Path(directory), database_url=url)
        engine = create_engine(settings)
        await migrations.upgrade(engine)
        sessions = create_session_factory(engine)
        async with unit_of_work(sessions) as session:
            workspace = Workspace(name="Bench")
            session.add(workspace)
            await session.flush()
            campaign = Campaign(
                workspace_id=workspace.id, name="Bench", platform="whatsapp", currency="USD"
            )
            session.add(campaign)
            await session.flush()
            owner = Principal(workspace_id=workspace.id, role=Role.owner, scopes=frozenset(Scope))
            entries = [StepEntry(step=template(f"t{index}")) for index in range(steps)]
            stored = await automation.replace_steps(session, owner, campaign.id, entries=entries)
        ids = [step.id for step in stored]
        first, second = ids[0], ids[1]

        async def baseline(session: AsyncSession) -> object:
            changed = [
                StepEntry(id=step_id, step=template("changed" if step_id == second else "t"))
                for step_id in ids
            ]
            return await automation.replace_steps(session, owner, campaign.id, entries=changed)

        async def update(session: AsyncSession) -> object:
            return await automation.update_step(
                session, owner, campaign.id, second, spec=template("edited")
            )

        async def add_and_delete(session: AsyncSession) -> object:
            added = await automation.add_step(
                session, owner, campaign.id, spec=template("new"), position=1
            )
            await automation.delete_step(session, owner, campaign.id, added.id)
            return added

        async def move_there_and_back(session: AsyncSession) -> object:
            await automation.move_step(session, owner, campaign.id, first, position=steps)
            return await automation.move_step(session, owner, campaign.id, first, position=1)

        operations: list[tuple[str, Edit, int]] = [
            ("replace whole list (baseline)", baseline, 1),
            ("update one step", update, 1),
            ("add at 1 + delete it", add_and_delete, 2),
            ("move to end + back", move_there_and_back, 2),
        ]
        print(f"{engine.dialect.name}, {steps} steps, {rounds} rounds")
        print(
            f"{'operation (per edit)':32} {'stmts':>6} {'writes':>6} {'locks':>5} "
            f"{'median ms':>9} {'ratio':>6}"
        )
        base_ms = None
        for name, edit, edits in operations:
            statements: list[str] = []

            def seen(*args: Any, statements: list[str] = statements) -> None:
                statements.append(" ".join(str(args[2]).split()).upper())

            timings = []
            for _ in range(rounds):
                statements.clear()
                event.listen(engine.sync_engine, "before_cursor_execute", seen)
                started = time.perf_counter()
                async with unit_of_work(sessions) as session:
                    await edit(session)
                timings.append((time.perf_counter() - started) * 1000)
                event.remove(engine.sync_engine, "before_cursor_execute", seen)
            writes = sum(
                1 for sql in statements if sql.split()[0] in {"INSERT", "UPDATE", "DELETE"}
            )
            locks = sum(1 for sql in statements if "FOR UPDATE" in sql)
            median = statistics.median(timings) / edits
            base_ms = base_ms or median
            print(
                f"{name:32} {len(statements) / edits:>6.1f} {writes / edits:>6.1f} "
                f"{locks / edits:>5.1f} {median:>9.2f} {median / base_ms:>6.2f}"
            )
        await engine.dispose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=50)
    parser.add_argument("--database-url", default=None)
    arguments = parser.parse_args()
    asyncio.run(main(arguments.steps, arguments.rounds, arguments.database_url))
