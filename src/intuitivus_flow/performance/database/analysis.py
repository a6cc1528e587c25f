"""PostgreSQL analysis: the statistics views, then (when asked) index candidates for the slow
statements, tried as hypothetical indexes."""

from __future__ import annotations

import logging

from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from intuitivus_flow.performance.database import postgres
from intuitivus_flow.performance.database.postgres import Thresholds
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
        advised: dict[int, Finding] = {}  # index advice replaces a statement's finding
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
