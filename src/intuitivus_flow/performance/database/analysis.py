"""PostgreSQL analysis: the statistics views, then (when asked) index candidates for the slow
statements, tried as hypothetical indexes."""

from __future__ import annotations

import logging

from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from intuitivus_flow.performance.database import postgres
from intuitivus_flow.performance.database.postgres import Statement, Thresholds
from intuitivus_flow.performance.findings import Area, Finding, Severity, Skipped

logger = logging.getLogger(__name__)


async def analyze_postgres(
    engine: AsyncEngine, limits: Thresholds, *, advise: bool
) -> tuple[list[Finding], list[Skipped]]:
    findings: list[Finding] = []
    skipped: list[Skipped] = []
    async with engine.connect() as connection:
        statements, missed = await postgres.statements_or_skip(connection, limits)
        skipped += missed
        slow = [s for s in statements if postgres.statement_severity(s, limits) != Severity.INFO]
        advised: dict[int, Finding] = {}
        if advise and slow:
            found, missed = await _advise(connection, slow)
            advised, skipped = found, skipped + missed
        # The three largest statements are always shown (as information when they are fast),
        # so a report says where the time goes even on a healthy database.
        for rank, statement in enumerate(statements):
            if statement.queryid in advised:
                findings.append(advised[statement.queryid])
            elif rank < 3 or statement in slow:
                findings.append(postgres.statement_finding(statement, limits))
        for check in (
            postgres.sequential_scans,
            postgres.index_findings,
            postgres.bloat_findings,
            postgres.activity_findings,
        ):
            try:
                async with connection.begin_nested():
                    findings += await check(connection, limits)
            except DBAPIError as error:  # e.g. a role without pg_read_all_stats
                logger.warning("database check %s failed: %s", check.__name__, error)
                skipped.append(Skipped(Area.DATABASE, f"{check.__name__} failed: {error.orig}"))
        await connection.rollback()
    return findings, skipped


async def _advise(
    connection: AsyncConnection, slow: list[Statement]
) -> tuple[dict[int, Finding], list[Skipped]]:
    from intuitivus_flow.performance.database import advisor

    if not await postgres.has_extension(connection, "hypopg"):
        return {}, [Skipped(Area.DATABASE, advisor.NO_HYPOPG)]
    found: dict[int, Finding] = {}
    for statement in slow:
        advice = await advisor.advise_statement(connection, statement.query, verify=False)
        if advice is not None:
            found[statement.queryid] = advisor.missing_index_finding(statement, advice)
    return found, []
