"""campaigns: branches continue at step ids (columns with foreign keys), not at positions;
the campaign's steps_version for refusing edits made from an out-of-date list

Each branch's `if_true`/`if_false` position in `config` becomes the id of the step at that
position in the same campaign (a position with no step, which validation never let through,
becomes "stop"); downgrade turns them back into positions.

SQLite copies campaign_steps to change it; the copy drops the original table, which would
cascade into the step deliveries, so they are kept aside meanwhile. campaigns is changed in
place there (a copy would cascade into everything a campaign has).

Revision ID: 0022_campaign_step_ids
Revises: 0021_job_retention_index
Create Date: 2026-12-06 23:00:00.000000
"""

import contextlib
from collections.abc import Iterator, Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

from intuitivus_flow.kit.models import JSONType

revision: str = "0022_campaign_step_ids"
down_revision: str | Sequence[str] | None = "0021_job_retention_index"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TARGETS = ("if_true", "if_false")
steps = sa.table(
    "campaign_steps",
    sa.column("id", sa.Uuid()),
    sa.column("campaign_id", sa.Uuid()),
    sa.column("position", sa.Integer()),
    sa.column("kind", sa.String()),
    sa.column("config", JSONType),
    sa.column("if_true_step_id", sa.Uuid()),
    sa.column("if_false_step_id", sa.Uuid()),
)


def upgrade() -> None:
    with op.batch_alter_table("campaigns") as batch_op:
        batch_op.add_column(
            sa.Column("steps_version", sa.Integer(), server_default="0", nullable=False)
        )
    connection = op.get_bind()
    with (
        _deliveries_kept_on_sqlite(connection),
        op.batch_alter_table("campaign_steps") as batch_op,
    ):
        for name in ("if_true_step_id", "if_false_step_id"):
            batch_op.add_column(sa.Column(name, sa.Uuid(), nullable=True))
            batch_op.create_foreign_key(
                f"fk_campaign_steps_{name}_campaign_steps",
                "campaign_steps",
                [name],
                ["id"],
                deferrable=True,
                initially="DEFERRED",
            )
    for campaign in _branching_campaigns(connection):
        by_position = {row.position: row.id for row in campaign}
        for row in campaign:
            if row.kind != "branch":
                continue
            config = dict(row.config or {})
            values: dict[str, Any] = {
                f"{name}_step_id": by_position.get(config.pop(name, None)) for name in TARGETS
            }
            connection.execute(
                steps.update().where(steps.c.id == row.id).values(config=config, **values)
            )


def downgrade() -> None:
    connection = op.get_bind()
    for campaign in _branching_campaigns(connection):
        by_id = {row.id: row.position for row in campaign}
        for row in campaign:
            if row.kind != "branch":
                continue
            config = dict(row.config or {})
            for name in TARGETS:
                config[name] = by_id.get(getattr(row, f"{name}_step_id"))
            connection.execute(
                steps.update()
                .where(steps.c.id == row.id)
                .values(config=config, if_true_step_id=None, if_false_step_id=None)
            )
    sqlite = connection.dialect.name == "sqlite"
    with (
        _deliveries_kept_on_sqlite(connection),
        op.batch_alter_table("campaign_steps") as batch_op,
    ):
        if not sqlite:  # SQLite's copy is made without them
            batch_op.drop_constraint("fk_campaign_steps_if_false_step_id_campaign_steps")
            batch_op.drop_constraint("fk_campaign_steps_if_true_step_id_campaign_steps")
        batch_op.drop_column("if_false_step_id")
        batch_op.drop_column("if_true_step_id")
    if sqlite:  # in place: copying campaigns would cascade into everything of a campaign
        op.execute("ALTER TABLE campaigns DROP COLUMN steps_version")
    else:
        op.drop_column("campaigns", "steps_version")


@contextlib.contextmanager
def _deliveries_kept_on_sqlite(connection: sa.Connection) -> Iterator[None]:
    """SQLite changes campaign_steps by copying it and dropping the original, which deletes the
    step deliveries (ON DELETE CASCADE; foreign keys cannot be switched off inside the
    migration's transaction): they are kept aside and put back."""
    if connection.dialect.name != "sqlite":
        yield
        return
    op.execute("CREATE TEMP TABLE kept_deliveries AS SELECT * FROM campaign_step_deliveries")
    yield
    op.execute("DELETE FROM campaign_step_deliveries")
    op.execute("INSERT INTO campaign_step_deliveries SELECT * FROM kept_deliveries")
    op.execute("DROP TABLE kept_deliveries")


def _branching_campaigns(connection: sa.Connection) -> Iterator[list[Any]]:
    """The steps of each campaign that has a branch, in order."""
    branching = sa.select(steps.c.campaign_id).where(steps.c.kind == "branch").distinct()
    for (campaign_id,) in connection.execute(branching).all():
        yield list(
            connection.execute(
                sa.select(steps)
                .where(steps.c.campaign_id == campaign_id)
                .order_by(steps.c.position)
            )
        )
