"""Business rules a restored database must satisfy, each one query counting the rows that break
it. Foreign keys catch some of these on PostgreSQL, but a restore that skipped or reordered
data (or a SQLite file without enforced keys) would not."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection


@dataclass(frozen=True, slots=True)
class Invariant:
    description: str
    violations_sql: str


INVARIANTS = (
    Invariant(
        "paid invoices without a succeeded payment",
        "SELECT count(*) FROM billing_invoices i WHERE i.status = 'paid' AND NOT EXISTS "
        "(SELECT 1 FROM billing_payments p WHERE p.invoice_id = i.id AND p.status = 'succeeded')",
    ),
    Invariant(
        "messages without their conversation",
        "SELECT count(*) FROM conversation_messages m WHERE NOT EXISTS "
        "(SELECT 1 FROM conversations c WHERE c.id = m.conversation_id)",
    ),
    Invariant(
        "conversations without their contact",
        "SELECT count(*) FROM conversations c WHERE NOT EXISTS "
        "(SELECT 1 FROM contacts k WHERE k.id = c.contact_id)",
    ),
    Invariant(
        "members of a workspace that does not exist",
        "SELECT count(*) FROM users u WHERE NOT EXISTS "
        "(SELECT 1 FROM workspaces w WHERE w.id = u.workspace_id)",
    ),
)


async def broken_invariants(connection: AsyncConnection) -> list[str]:
    """One line per invariant that has violations (run on a database migrated to the head)."""
    problems = []
    for invariant in INVARIANTS:
        count = int((await connection.execute(text(invariant.violations_sql))).scalar_one())
        if count:
            problems.append(f"{count} {invariant.description}")
    return problems
