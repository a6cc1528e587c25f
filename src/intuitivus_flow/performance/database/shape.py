"""What a statement asks of each table, read with a SQL parser (sqlglot): the columns it
compares for equality, the range it filters on, the order it wants, and the predicates whose
value is a constant (a partial index's WHERE clause).

From that shape come the index candidates, in the classic order: equality columns first (any
order serves them, so they lead), then one range column (an index can range over one column
only), then the sort columns (the index then returns rows already ordered, and LIMIT stops
early). A constant predicate, `status IN ('queued', 'running')` or `active = true`, becomes the
index's WHERE clause instead of a column: the index then holds only the rows the statement can
want. A substring search, `lower(name) LIKE '%term%'` (in every branch of an OR, if any), has no
B-tree to serve it: its expressions become one GIN index of trigrams (pg_trgm), a candidate
HypoPG cannot simulate, so the advisor proves it on its scratch copy only.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError

_RANGE = (exp.GT, exp.GTE, exp.LT, exp.LTE)
_LIKE = (exp.Like, exp.ILike)
TRIGRAM_OPS = "gin_trgm_ops"
_CONSTANT = (exp.Literal, exp.Boolean, exp.Null)


@dataclass
class TableShape:
    table: str
    equal: list[str] = field(default_factory=list)  # compared with a parameter or a column
    constant: list[str] = field(default_factory=list)  # predicates on constants (SQL)
    ranged: list[str] = field(default_factory=list)
    sort: list[tuple[str, bool]] = field(default_factory=list)  # (column, descending)
    referenced: list[str] = field(default_factory=list)  # every column the statement names
    substring: list[str] = field(default_factory=list)  # expressions searched with LIKE '%..'


@dataclass(frozen=True, slots=True)
class Candidate:
    table: str
    columns: tuple[str, ...]  # each "name" or "name DESC"; a trigram's "lower(name) gin_trgm_ops"
    predicate: str = ""
    method: str = "btree"  # or "gin": a trigram index (pg_trgm)

    @property
    def trigram(self) -> bool:
        return self.method == "gin"

    @property
    def requires(self) -> str | None:
        """The extension the index needs (its operator class), if any."""
        return "pg_trgm" if self.trigram else None

    @property
    def name(self) -> str:
        if self.trigram:
            parts = [n for c in self.columns for n in _column_names(c)] + ["trgm"]
        else:
            parts = [c.split()[0] for c in self.columns]
        suffix = "_partial" if self.predicate else ""
        return f"ix_{self.table}_{'_'.join(dict.fromkeys(parts))}{suffix}"[:63]

    def ddl(self, *, concurrently: bool = True, name: bool = True) -> str:
        keyword = "CREATE INDEX CONCURRENTLY" if concurrently else "CREATE INDEX"
        named = f" {self.name}" if name else ""
        using = f" USING {self.method}" if self.method != "btree" else ""
        where = f" WHERE {self.predicate}" if self.predicate else ""
        return f"{keyword}{named} ON {self.table}{using} ({', '.join(self.columns)}){where}"


def _column_names(key: str) -> list[str]:
    tree = parse(key.removesuffix(f" {TRIGRAM_OPS}"))
    return [c.name for c in tree.find_all(exp.Column)] if tree is not None else []


def parse(sql: str) -> exp.Expr | None:
    try:
        return sqlglot.parse_one(sql, read="postgres")
    except SqlglotError:
        return None


def shapes(sql: str) -> list[TableShape]:
    """One shape per (query block, table) that filters or sorts: a subquery is its own block."""
    tree = parse(sql)
    if tree is None:
        return []
    found: list[TableShape] = []
    for block in tree.find_all(exp.Select, exp.Update, exp.Delete):
        found += _block_shapes(block)
    return [s for s in found if s.equal or s.constant or s.ranged or s.sort or s.substring]


def _tables(block: exp.Expr) -> dict[str, str]:
    """alias (or name) -> table name, for the tables this block reads directly."""
    tables: dict[str, str] = {}
    sources: list[exp.Expr] = []
    if isinstance(block, exp.Select):
        from_ = block.args.get("from_") or block.args.get("from")
        if from_ is not None:
            sources.append(from_.this)
        sources += [join.this for join in block.args.get("joins") or []]
    else:
        sources.append(block.this)
    for source in sources:
        if isinstance(source, exp.Table) and source.name:
            tables[source.alias_or_name] = source.name
    return tables


def _owner(column: exp.Column, tables: dict[str, str]) -> str | None:
    if column.table:
        return tables.get(column.table)
    return next(iter(tables.values())) if len(tables) == 1 else None


def _own_nodes(block: exp.Expr, kind: type[exp.Expr]) -> list[exp.Expr]:
    """Nodes of `kind` in this block, not inside a nested query block."""
    nested = (exp.Select, exp.Update, exp.Delete)
    return [
        node
        for node in block.find_all(kind)
        if node.find_ancestor(*nested) is block or node is block
    ]


def _block_shapes(block: exp.Expr) -> list[TableShape]:
    tables = _tables(block)
    if not tables:
        return []
    by_table = {name: TableShape(name) for name in tables.values()}

    def shape_of(column: exp.Column) -> TableShape | None:
        owner = _owner(column, tables)
        return by_table.get(owner) if owner else None

    where = block.args.get("where")
    if where is not None:
        for conjunct in where.this.flatten() if isinstance(where.this, exp.And) else [where.this]:
            _classify(conjunct, shape_of)
    order = block.args.get("order")
    sort_keys = list(order.expressions) if order is not None else []
    group = block.args.get("group")
    group_keys = [exp.Ordered(this=e) for e in group.expressions] if group is not None else []
    for ordered in sort_keys or group_keys:
        if isinstance(ordered.this, exp.Column) and (shape := shape_of(ordered.this)):
            shape.sort.append((ordered.this.name, bool(ordered.args.get("desc"))))
    for column in _own_nodes(block, exp.Column):
        assert isinstance(column, exp.Column)
        if (shape := shape_of(column)) and column.name not in shape.referenced:
            shape.referenced.append(column.name)
    return list(by_table.values())


def _column_and_other(node: exp.Expr) -> tuple[exp.Column, exp.Expr] | None:
    left, right = node.this, node.expression
    if isinstance(left, exp.Column):
        return left, right
    if isinstance(right, exp.Column):
        return right, left
    return None


def _classify(node: exp.Expr, shape_of: object) -> None:
    find = shape_of  # callable: Column -> TableShape | None
    assert callable(find)
    if isinstance(node, exp.Paren):
        _classify(node.this, find)
        return
    if isinstance(node, exp.Or):
        _classify_or(node, find)
        return
    if (searched := substring_search(node)) is not None:
        if shape := find(searched[0]):
            shape.substring.append(searched[1])
        return
    if isinstance(node, exp.EQ) and (pair := _column_and_other(node)):
        column, other = pair
        if (shape := find(column)) is None:
            return
        if isinstance(other, _CONSTANT):
            shape.constant.append(node.sql(dialect="postgres"))
        else:
            shape.equal.append(column.name)
    elif isinstance(node, exp.In) and isinstance(node.this, exp.Column):
        if (shape := find(node.this)) is None:
            return
        if node.expressions and all(isinstance(e, _CONSTANT) for e in node.expressions):
            shape.constant.append(node.sql(dialect="postgres"))
        else:
            shape.equal.append(node.this.name)
    elif isinstance(node, exp.Is) and isinstance(node.this, exp.Column):
        if shape := find(node.this):
            shape.constant.append(node.sql(dialect="postgres"))
    elif isinstance(node, exp.Not) and isinstance(node.this, exp.Is):
        if isinstance(node.this.this, exp.Column) and (shape := find(node.this.this)):
            shape.constant.append(node.sql(dialect="postgres"))
    elif isinstance(node, _RANGE) and isinstance(node.this, exp.Tuple):
        # `(received_at, id) > ($1, $2)`: a range starting at the first column's value.
        first = node.this.expressions[0] if node.this.expressions else None
        if (
            isinstance(first, exp.Column)
            and (shape := find(first))
            and first.name not in shape.ranged
        ):
            shape.ranged.append(first.name)
    elif isinstance(node, _RANGE) and (pair := _column_and_other(node)):
        if (shape := find(pair[0])) and pair[0].name not in shape.ranged:
            shape.ranged.append(pair[0].name)
    elif (
        isinstance(node, exp.Between)
        and isinstance(node.this, exp.Column)
        and (shape := find(node.this))
        and node.this.name not in shape.ranged
    ):
        shape.ranged.append(node.this.name)


def _classify_or(node: exp.Or, find: object) -> None:
    """`(status = 'a' AND x) OR (status = 'b' AND y)`: every branch fixes `status` to a
    constant, so `status IN ('a', 'b')` holds for every row wanted (a partial index's
    predicate); the branches' range columns are candidates too."""
    assert callable(find)
    branches = [b.unnest() for b in node.flatten()]
    searches = [substring_search(branch) for branch in branches]
    if all(searches):  # name LIKE .. OR email LIKE ..: one index must serve every branch
        for column, expression in (s for s in searches if s is not None):
            if shape := find(column):
                shape.substring.append(expression)
        return
    per_branch: list[dict[str, tuple[exp.Column, list[exp.Expr]]]] = []
    for branch in branches:
        conjuncts = list(branch.flatten()) if isinstance(branch, exp.And) else [branch]
        constants: dict[str, tuple[exp.Column, list[exp.Expr]]] = {}
        for conjunct in conjuncts:
            conjunct = conjunct.unnest()
            if isinstance(conjunct, exp.EQ) and (pair := _column_and_other(conjunct)):
                if isinstance(pair[1], _CONSTANT):
                    constants[pair[0].name] = (pair[0], [pair[1]])
            elif isinstance(conjunct, _RANGE) and (pair := _column_and_other(conjunct)):
                shape = find(pair[0])
                if shape is not None and pair[0].name not in shape.ranged:
                    shape.ranged.append(pair[0].name)
        per_branch.append(constants)
    common = set.intersection(*(set(b) for b in per_branch)) if per_branch else set()
    for name in sorted(common):
        column = per_branch[0][name][0]
        shape = find(column)
        if shape is None:
            continue
        values: list[str] = []
        for branch_constants in per_branch:
            for value in branch_constants[name][1]:
                text = value.sql(dialect="postgres")
                if text not in values:
                    values.append(text)
        shape.constant.append(f"{name} IN ({', '.join(values)})")


def substring_search(node: exp.Expr) -> tuple[exp.Column, str] | None:
    """`expr LIKE $n` (or ILIKE, with or without ESCAPE) whose pattern may start with a
    wildcard: a column of `expr` and `expr` as an index expression (columns unqualified)."""
    if isinstance(node, exp.Escape):
        node = node.this
    if not isinstance(node, _LIKE) or isinstance(node.this, exp.Literal):
        return None
    pattern = node.expression
    while isinstance(pattern, exp.Cast):
        pattern = pattern.this
    if isinstance(pattern, exp.Literal) and not pattern.this.startswith(("%", "_")):
        return None  # a prefix: a B-tree (text_pattern_ops) would do, not a trigram index
    if not isinstance(pattern, exp.Parameter | exp.Literal):
        return None
    column = node.this.find(exp.Column)
    if column is None:
        return None
    searched = node.this.copy().transform(
        lambda n: exp.column(n.name) if isinstance(n, exp.Column) else n
    )
    return column, searched.sql(dialect="postgres", normalize_functions="lower")


def candidates(sql: str) -> list[Candidate]:
    found: list[Candidate] = []
    for shape in shapes(sql):
        for candidate in _shape_candidates(shape):
            if candidate.columns and candidate not in found:
                found.append(candidate)
    return found


def _dedupe(columns: list[str]) -> tuple[str, ...]:
    seen: set[str] = set()
    kept = []
    for column in columns:
        name = column.split()[0]
        if name not in seen:
            seen.add(name)
            kept.append(column)
    return tuple(kept)


def _shape_candidates(shape: TableShape) -> list[Candidate]:
    equal = list(dict.fromkeys(shape.equal))
    ranged = shape.ranged[:1]
    # One direction for the whole key when the sort is uniform (a B-tree scans backwards);
    # a mixed sort needs the minority direction in the index itself.
    first_desc = shape.sort[0][1] if shape.sort else False
    sort = [f"{c} DESC" if desc != first_desc else c for c, desc in shape.sort]
    predicate = " AND ".join(shape.constant)
    constant_columns = [_constant_column(c) for c in shape.constant]
    constant_columns = [c for c in constant_columns if c]
    out = []
    for where in [predicate, ""] if predicate else [""]:
        lead = equal if where else equal + constant_columns
        out.append(Candidate(shape.table, _dedupe(lead + ranged + sort), where))
        if sort:
            out.append(Candidate(shape.table, _dedupe(lead + sort), where))
        if len(sort) > 1:  # the tie-breaker may cost less to sort than to index
            out.append(Candidate(shape.table, _dedupe(lead + ranged + sort[:1]), where))
        if ranged and sort and ranged[0] != shape.sort[0][0]:
            out.append(Candidate(shape.table, _dedupe(lead + sort + ranged), where))
        out.append(Candidate(shape.table, _dedupe(lead + ranged), where))
        extra = [c for c in shape.referenced if not (where and c in constant_columns)]
        covering = _dedupe(lead + ranged + sort + extra)
        if len(covering) <= 4:
            out.append(Candidate(shape.table, covering, where))
    if shape.substring:
        keys = tuple(f"{e} {TRIGRAM_OPS}" for e in dict.fromkeys(shape.substring))
        out.append(Candidate(shape.table, keys, method="gin"))
    return out


def _constant_column(predicate: str) -> str:
    tree = parse(predicate)
    column = tree.find(exp.Column) if tree is not None else None
    return column.name if column is not None else ""


def parameters(tree: exp.Expr) -> list[exp.Parameter]:
    return [p for p in tree.find_all(exp.Parameter) if p.name.isdigit()]
