"""`intuitivus-flow perf advise`: index advice for the statements that cost the most time.

Reads the top statements from `pg_stat_statements` (or the one given with --statement), tries
candidate indexes as HypoPG hypothetical indexes and, with --verify (the default), proves the
best one on a scratch copy of its table inside a transaction that is rolled back. It prints the
`CREATE INDEX CONCURRENTLY` statements with their before/after plan costs and timings; it
creates nothing on the server.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Annotated

import typer
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from intuitivus_flow.config import ConfigurationError, get_settings
from intuitivus_flow.kit.db import create_engine
from intuitivus_flow.performance.database import advisor, postgres


class AdviceError(Exception):
    """A reason the advisor cannot run here, said in one line."""


@dataclass(frozen=True, slots=True)
class Advised:
    statement: str
    calls: int | None
    mean_ms: float | None
    advice: advisor.Advice | None


def advise_command(
    top: Annotated[int, typer.Option(min=1, max=50, help="How many top statements.")] = 5,
    statement: Annotated[
        str | None, typer.Option(help="Advise this statement instead ($n parameters allowed).")
    ] = None,
    verify: Annotated[
        bool, typer.Option(help="Prove each index on a scratch copy (rolled back).")
    ] = True,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Index advice proven with HypoPG and a scratch copy: CREATE INDEX CONCURRENTLY
    statements with before/after plan costs and timings."""
    try:
        settings = get_settings()
        if make_url(settings.resolved_database_url).get_backend_name() != "postgresql":
            raise AdviceError(
                "the index advisor needs PostgreSQL (HypoPG); on SQLite `perf analyze` reads "
                "the hot queries' plans"
            )
        results = asyncio.run(_advise(create_engine(settings), top, statement, verify=verify))
    except (AdviceError, ConfigurationError) as error:
        typer.secho(f"error: {error}", fg=typer.colors.RED, err=True)
        raise typer.Exit(2) from None
    except DBAPIError as error:
        typer.secho(f"error: database: {error.orig}", fg=typer.colors.RED, err=True)
        raise typer.Exit(2) from None
    except (OSError, TimeoutError) as error:
        typer.secho(f"error: cannot reach the database: {error}", fg=typer.colors.RED, err=True)
        raise typer.Exit(2) from None
    if as_json:
        typer.echo(json.dumps([_as_dict(r) for r in results], indent=2))
    else:
        _print(results)


async def _advise(
    engine: AsyncEngine, top: int, statement: str | None, *, verify: bool
) -> list[Advised]:
    try:
        async with engine.connect() as connection:
            if not await postgres.has_extension(connection, "hypopg"):
                raise AdviceError(advisor.NO_HYPOPG)
            targets: list[tuple[str, int | None, float | None]]
            if statement is not None:
                targets = [(statement, None, None)]
            else:
                found, skipped = await postgres.statements_or_skip(
                    connection, postgres.Thresholds(top_statements=top)
                )
                if skipped:
                    raise AdviceError(skipped[0].reason)
                targets = [(s.query, s.calls, s.mean_ms) for s in found]
            results = []
            for number, (sql, calls, mean_ms) in enumerate(targets, 1):
                typer.echo(f"[{number}/{len(targets)}] {postgres.short(sql, 80)}", err=True)
                advice = await advisor.advise_statement(connection, sql, verify=verify)
                await connection.rollback()
                results.append(Advised(sql, calls, mean_ms, advice))
            return results
    finally:
        await engine.dispose()


def _as_dict(result: Advised) -> dict[str, object]:
    advice = result.advice
    return {
        "statement": result.statement,
        "calls": result.calls,
        "mean_ms": result.mean_ms,
        "create_index": advisor.create_statements(advice.candidate) if advice else None,
        "cost_before": advice.cost_before if advice else None,
        "cost_after": advice.cost_after if advice else None,
        "ms_before": advice.ms_before if advice else None,
        "ms_after": advice.ms_after if advice else None,
    }


def _print(results: list[Advised]) -> None:
    if not results:
        typer.echo("No statements recorded yet.")
    for result in results:
        typer.echo(f"\n-- {postgres.short(result.statement, 200)}")
        if result.calls is not None and result.mean_ms is not None:
            typer.echo(f"--   {result.calls} calls, {result.mean_ms:.2f} ms per call")
        advice = result.advice
        if advice is None:
            typer.echo("--   no index clearly helps (or its parameters cannot be sampled)")
            continue
        source = "scratch copy" if advice.candidate.trigram else "HypoPG"
        typer.echo(
            f"--   plan cost {advice.cost_before:.1f} -> {advice.cost_after:.1f} "
            f"({advice.cost_ratio:.1f}x, {source})"
        )
        if advice.ms_before is not None and advice.ms_after is not None:
            typer.echo(
                f"--   measured on a scratch copy: {advice.ms_before:.2f} ms -> "
                f"{advice.ms_after:.2f} ms ({advice.speedup or 0:.1f}x)"
            )
        typer.echo(advisor.create_statements(advice.candidate))
