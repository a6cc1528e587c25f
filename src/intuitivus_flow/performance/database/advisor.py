"""The index advisor: candidates from a statement's shape, tried as hypothetical indexes
(HypoPG), kept only when the planner's cost drops by a clear margin, then proven for real on a
scratch copy of the table (create the index, re-run the statement, measure).

Statements come as `pg_stat_statements` shows them, with `$n` parameters. To plan and run them
the advisor binds each parameter to a value read from the column it is compared with (a
sampled row for equality, a high percentile for a lower bound, the maximum for an upper bound:
`run_at <= now()` style), a LIMIT to 100; a LIKE pattern to `%value%`, the value one sampled
row holds in the searched expression (a search for something that exists; every pattern of the
statement gets the same term, as one search box fills them all). Nothing the advisor does
outlives its transaction: hypothetical indexes live in the session, and the scratch copy (and
the pg_trgm extension, when a trigram index is proven there and it was not installed) is
rolled back.
"""

from __future__ import annotations

import json
import statistics
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlglot import exp

from intuitivus_flow.performance.database.postgres import Statement, short, statement_evidence
from intuitivus_flow.performance.database.shape import (
    Candidate,
    candidates,
    parameters,
    parse,
    substring_search,
)
from intuitivus_flow.performance.findings import Area, Finding, Severity

NO_HYPOPG = (
    "index candidates not tried: HypoPG is not installed (Debian postgresql-15-hypopg, then "
    "CREATE EXTENSION hypopg)"
)
SCRATCH = "flow_advisor_scratch"
# A hypothesis needs the planner's cost to drop by a third; the scratch copy then has to show
# a measured gain too (the cost model is coarse about LIMIT and sorts).
MIN_GAIN = 0.33
MIN_MEASURED_SPEEDUP = 1.5  # on the scratch copy, or the advice is not proven
RUNS = 3
LIKE_ESCAPE = "\\"  # PostgreSQL's default LIKE escape, and the one the product passes
MAX_TERM = 40


@dataclass(frozen=True, slots=True)
class Advice:
    statement: str  # with its parameters bound
    candidate: Candidate
    cost_before: float
    cost_after: float
    ms_before: float | None = None  # measured on the scratch copy (verify=True)
    ms_after: float | None = None

    @property
    def cost_ratio(self) -> float:
        return self.cost_before / self.cost_after if self.cost_after else float("inf")

    @property
    def speedup(self) -> float | None:
        if self.ms_before is None or not self.ms_after:
            return None
        return self.ms_before / self.ms_after


@dataclass(frozen=True, slots=True)
class _Need:
    table: str
    column: str  # a column, or for "substring" the searched expression (SQL)
    how: str  # "sample" (a row's value), "high" (99th percentile), "max" or "substring"


async def bind(connection: AsyncConnection, sql: str) -> str | None:
    """`sql` with every `$n` replaced by a literal read from the data; None when a parameter
    is not compared with a column (the statement cannot be planned with real values).

    Equality parameters on one table take their values from one sampled row, so the values
    occur together (a workspace and one of its event names), as a real request's do."""
    tree = parse(sql)
    if tree is None:
        return None
    needs: dict[int, _Need] = {}
    found = parameters(tree)
    # In $n order: a search's term then comes from the expression the statement names first.
    for number, parameter in sorted(enumerate(found), key=lambda item: int(item[1].name)):
        value = _value_for(tree, parameter)
        if value is None:
            return None
        if isinstance(value, _Need):
            needs[number] = value
        else:
            parameter.replace(value)
    literals = await _sampled(connection, list(needs.values()))
    for number, need in needs.items():
        literal = literals.get(need)
        found[number].replace(parse(literal) if literal is not None else exp.Null())
    return tree.sql(dialect="postgres")


def _value_for(tree: exp.Expr, parameter: exp.Parameter) -> exp.Expr | _Need | None:
    parent = parameter.parent
    if isinstance(parent, exp.Limit | exp.Fetch):
        return exp.Literal.number(100)
    if isinstance(parent, exp.Offset):
        return exp.Literal.number(0)
    if isinstance(parent, exp.Escape) and parent.expression is parameter:
        return exp.Literal.string(LIKE_ESCAPE)
    node: exp.Expr = parameter
    comparison = parent
    while isinstance(comparison, exp.Cast | exp.Paren):  # `$1::uuid`
        node, comparison = comparison, comparison.parent
    column: exp.Column | None = None
    how = "sample"
    if isinstance(comparison, exp.Like | exp.ILike) and comparison.expression is node:
        searched = substring_search(comparison)
        table = _table_of(tree, searched[0], comparison) if searched else None
        return None if searched is None or table is None else _Need(table, searched[1], "substring")
    if isinstance(comparison, exp.Tuple) and isinstance(comparison.parent, exp.Binary):
        # A row comparison, `(a, b) > ($1, $2)`: each parameter faces the column at its place.
        return _row_value_for(tree, comparison, node)
    if isinstance(comparison, exp.In) and isinstance(comparison.this, exp.Column):
        column = comparison.this
    elif isinstance(comparison, exp.Binary):
        left, right = comparison.this, comparison.expression
        column = left if isinstance(left, exp.Column) else right
        if not isinstance(column, exp.Column):
            return None
        flipped = column is right
        if isinstance(comparison, exp.GT | exp.GTE):
            how = "max" if flipped else "high"
        elif isinstance(comparison, exp.LT | exp.LTE):
            how = "high" if flipped else "max"
    if column is None or comparison is None:
        return None
    table = _table_of(tree, column, comparison)
    return None if table is None else _Need(table, column.name, how)


def _row_value_for(tree: exp.Expr, values: exp.Tuple, node: exp.Expr) -> _Need | None:
    outer = values.parent
    assert isinstance(outer, exp.Binary)
    columns = outer.this if outer.expression is values else outer.expression
    if not isinstance(columns, exp.Tuple):
        return None
    position = next((i for i, e in enumerate(values.expressions) if e is node), None)
    if position is None or position >= len(columns.expressions):
        return None
    column = columns.expressions[position]
    if not isinstance(column, exp.Column):
        return None
    lower_bound = isinstance(outer, exp.GT | exp.GTE) == (columns is outer.this)
    table = _table_of(tree, column, outer)
    return None if table is None else _Need(table, column.name, "high" if lower_bound else "max")


def _table_of(tree: exp.Expr, column: exp.Column, at: exp.Expr) -> str | None:
    block = at.find_ancestor(exp.Select, exp.Update, exp.Delete) or tree
    tables = {t.alias_or_name: t.name for t in block.find_all(exp.Table) if t.name}
    if column.table:
        return tables.get(column.table)
    names = set(tables.values())
    return names.pop() if len(names) == 1 else None


def _quoted(name: str) -> str:
    return exp.to_identifier(name, quoted=True).sql(dialect="postgres")


def _as_literal(expression: str) -> str:
    return f"quote_literal(({expression})::text) || '::' || pg_typeof({expression})::text"


async def _sampled(connection: AsyncConnection, needs: list[_Need]) -> dict[_Need, str | None]:
    literals: dict[_Need, str | None] = {}
    rows: dict[str, list[str]] = {}
    searches: dict[str, list[_Need]] = {}
    for need in needs:
        if need.how == "substring":
            searches.setdefault(need.table, []).append(need)
        elif need.how == "sample":
            columns = rows.setdefault(need.table, [])
            if need.column not in columns:
                columns.append(need.column)
        elif need not in literals:
            literals[need] = await _aggregate(connection, need)
    for table, columns in rows.items():
        values = await _one_row(connection, table, columns)
        for column, value in zip(columns, values, strict=True):
            literals[_Need(table, column, "sample")] = value
    for table, searched in searches.items():
        pattern = await _search_pattern(connection, table, [n.column for n in searched])
        for need in searched:
            literals[need] = pattern
    return literals


async def _search_pattern(
    connection: AsyncConnection, table: str, expressions: list[str]
) -> str | None:
    """`'%term%'`, the term one sampled row holds in the first searched expression that is
    not empty. The expressions are the statement's own SQL as sqlglot re-rendered it (one
    expression each, columns unqualified), read on the table the statement reads."""
    values = ", ".join(f"nullif(({e})::text, '')" for e in dict.fromkeys(expressions))
    for sample in ("TABLESAMPLE SYSTEM (1)", ""):
        query = (
            f"SELECT coalesce({values}) FROM {_quoted(table)} {sample} "  # noqa: S608
            f"WHERE coalesce({values}) IS NOT NULL LIMIT 1"
        )
        term = (await connection.execute(text(query))).scalar()
        if term is not None:
            escaped = "".join(
                LIKE_ESCAPE + c if c in ("%", "_", LIKE_ESCAPE) else c for c in str(term)[:MAX_TERM]
            )
            return exp.Literal.string(f"%{escaped}%").sql(dialect="postgres")
    return None


async def _one_row(connection: AsyncConnection, table: str, columns: list[str]) -> list[str | None]:
    # Identifiers quoted by sqlglot; the statement's values never reach this text.
    selected = ", ".join(_as_literal(_quoted(c)) for c in columns)
    present = " AND ".join(f"{_quoted(c)} IS NOT NULL" for c in columns)
    # A 1 % block sample keeps the read small on a large table; a small one is read whole.
    for sample in ("TABLESAMPLE SYSTEM (1)", ""):
        query = f"SELECT {selected} FROM {_quoted(table)} {sample} WHERE {present} LIMIT 1"  # noqa: S608
        row = (await connection.execute(text(query))).first()
        if row is not None:
            return [str(value) for value in row]
    return [None] * len(columns)


async def _aggregate(connection: AsyncConnection, need: _Need) -> str | None:
    column, table = _quoted(need.column), _quoted(need.table)
    if need.how == "max":
        value = f"(SELECT max({column}) FROM {table})"  # noqa: S608
    else:
        value = (
            f"(SELECT percentile_disc(0.99) WITHIN GROUP (ORDER BY {column}) "  # noqa: S608
            f"FROM {table} TABLESAMPLE SYSTEM (10))"
        )
    literal = (await connection.execute(text(f"SELECT {_as_literal(value)}"))).scalar_one()
    if literal is None and need.how == "high":  # a small table's sample can be empty
        literal = await _aggregate(connection, _Need(need.table, need.column, "max"))
    return None if literal is None else str(literal)


async def plan_cost(connection: AsyncConnection, sql: str) -> float:
    plan = (await connection.execute(text("EXPLAIN (FORMAT JSON) " + sql))).scalar_one()
    document = json.loads(plan) if isinstance(plan, str) else plan
    return float(document[0]["Plan"]["Total Cost"])


async def _hypothetical_cost(connection: AsyncConnection, candidate: Candidate, sql: str) -> float:
    ddl = candidate.ddl(concurrently=False, name=False)
    await connection.execute(text("SELECT * FROM hypopg_create_index(:ddl)"), {"ddl": ddl})
    try:
        return await plan_cost(connection, sql)
    finally:
        await connection.execute(text("SELECT hypopg_reset()"))


async def advise_statement(
    connection: AsyncConnection, sql: str, *, verify: bool = True, min_gain: float = MIN_GAIN
) -> Advice | None:
    """The best candidate index for `sql`, or None when none clearly lowers its cost."""
    bound = await bind(connection, sql)
    if bound is None:
        return None
    found = candidates(sql)
    try:
        async with connection.begin_nested():
            before = await plan_cost(connection, bound)
            best: tuple[float, Candidate] | None = None
            for candidate in found:
                if candidate.trigram:  # HypoPG simulates B-tree, BRIN and hash only
                    continue
                cost = await _hypothetical_cost(connection, candidate, bound)
                # Ties go to the earlier (narrower, in the classic order) candidate.
                if best is None or cost < best[0] * 0.98:
                    best = (cost, candidate)
    except DBAPIError:
        return None
    advice = None
    if best is not None and best[0] <= before * (1 - min_gain):
        advice = Advice(bound, best[1], before, best[0])
    if not verify:
        return advice
    # The planner's estimate is a hypothesis: advice whose real run does not gain is dropped.
    proven = [await verify_on_scratch(connection, advice)] if advice is not None else []
    for candidate in found:
        if candidate.trigram and await _extension_available(connection, "pg_trgm"):
            proven.append(await _trigram_on_scratch(connection, bound, candidate))
    gained = [a for a in proven if a.speedup is not None and a.speedup >= MIN_MEASURED_SPEEDUP]
    return min(gained, key=lambda a: a.ms_after or 0.0, default=None)


async def _extension_available(connection: AsyncConnection, name: str) -> bool:
    found = await connection.execute(
        text("SELECT 1 FROM pg_available_extensions WHERE name = :name"), {"name": name}
    )
    return found.first() is not None


async def _trigram_on_scratch(
    connection: AsyncConnection, bound: str, candidate: Candidate
) -> Advice:
    """A trigram candidate, proven on the scratch copy; its plan costs are read there too,
    with and without the index (there is no hypothetical one)."""
    unproven = Advice(bound, candidate, 0.0, 0.0)
    try:
        return await verify_on_scratch(connection, unproven, costs=True)
    except DBAPIError:  # e.g. a role that may not create the extension
        return unproven


async def verify_on_scratch(
    connection: AsyncConnection, advice: Advice, *, costs: bool = False
) -> Advice:
    """Copy the table into a scratch schema, time the statement, create the index there,
    time it again; roll everything back. `costs`: the plan costs are read there as well."""
    table = advice.candidate.table
    quoted_table = exp.to_identifier(table, quoted=True).sql(dialect="postgres")
    cost_before, cost_after = advice.cost_before, advice.cost_after
    transaction = await connection.begin_nested()
    try:
        if advice.candidate.requires:
            # Trusted (PostgreSQL 13+): a role that may CREATE in the database may install it.
            await connection.execute(
                text(f"CREATE EXTENSION IF NOT EXISTS {advice.candidate.requires}")
            )
        await connection.execute(text(f"CREATE SCHEMA {SCRATCH}"))
        await connection.execute(
            text(
                f"CREATE TABLE {SCRATCH}.{quoted_table} (LIKE public.{quoted_table} "
                "INCLUDING DEFAULTS INCLUDING INDEXES)"
            )
        )
        await connection.execute(
            text(f"INSERT INTO {SCRATCH}.{quoted_table} SELECT * FROM public.{quoted_table}")  # noqa: S608
        )
        await connection.execute(text(f"ANALYZE {SCRATCH}.{quoted_table}"))
        await connection.execute(text(f"SET LOCAL search_path = {SCRATCH}, public"))
        before = await timed(connection, advice.statement)
        if costs:
            cost_before = await plan_cost(connection, advice.statement)
        await connection.execute(text(advice.candidate.ddl(concurrently=False)))
        await connection.execute(text(f"ANALYZE {SCRATCH}.{quoted_table}"))
        after = await timed(connection, advice.statement)
        if costs:
            cost_after = await plan_cost(connection, advice.statement)
    finally:
        await transaction.rollback()
    return Advice(advice.statement, advice.candidate, cost_before, cost_after, before, after)


async def timed(connection: AsyncConnection, sql: str, *, runs: int = RUNS) -> float:
    """Median execution time (ms) over `runs` runs after one warm-up; writes are rolled back."""
    times = []
    for _ in range(runs + 1):
        savepoint = await connection.begin_nested()
        try:
            result = await connection.execute(text("EXPLAIN (ANALYZE, FORMAT JSON) " + sql))
            document: Any = result.scalar_one()
            document = json.loads(document) if isinstance(document, str) else document
            times.append(float(document[0]["Execution Time"]))
        finally:
            await savepoint.rollback()
    return statistics.median(times[1:])


def create_statements(candidate: Candidate) -> str:
    """What to run: the extension the index needs, if any, then the index."""
    extension = (
        f"CREATE EXTENSION IF NOT EXISTS {candidate.requires}; " if candidate.requires else ""
    )
    return f"{extension}{candidate.ddl()};"


def missing_index_finding(statement: Statement, advice: Advice) -> Finding:
    evidence = statement_evidence(statement)
    evidence |= {
        "cost_before": round(advice.cost_before, 1),
        "cost_after": round(advice.cost_after, 1),
    }
    if advice.ms_before is not None and advice.ms_after is not None:
        evidence |= {"ms_before": round(advice.ms_before, 2), "ms_after": round(advice.ms_after, 2)}
    critical = statement.share >= 0.25 and statement.mean_ms >= 100
    return Finding(
        area=Area.DATABASE,
        code="db.missing_index",
        title=f"index on {advice.candidate.table}({', '.join(advice.candidate.columns)}) cuts "
        f"the plan cost {advice.cost_ratio:.0f}x for {statement.share:.0%} of database time",
        severity=Severity.CRITICAL if critical else Severity.WARNING,
        impact=statement.share * (1 - advice.cost_after / advice.cost_before),
        evidence=evidence,
        recommendation=create_statements(advice.candidate)
        + (
            ""
            if advice.speedup is not None
            else " (planner's estimate with a hypothetical index: `intuitivus-flow perf advise` "
            "proves it on a scratch copy before you create it)"
        ),
        subject=short(statement.query),
    )
