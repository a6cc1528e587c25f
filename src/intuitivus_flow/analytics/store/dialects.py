"""The SQL spellings that differ between DuckDB and ClickHouse, behind one set of helpers,
so each analysis is written once. Literals are rendered here (with each engine's quoting)
instead of bound, because the two engines bind parameters differently; every value that
reaches SQL goes through `literal`.
"""

from __future__ import annotations

import math
import uuid
from datetime import UTC, datetime
from typing import Any


class SqlDialect:
    name = "duckdb"
    # whether a CTE is recomputed at each use (ClickHouse) rather than computed once
    inlines_ctes = False

    # --- literals ---
    def literal(self, value: Any) -> str:
        if value is None:
            return "NULL"
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, int):
            return str(int(value))
        if isinstance(value, float):
            if not math.isfinite(value):
                raise ValueError("only finite numbers can be SQL literals")
            return repr(value)
        if isinstance(value, datetime):
            return self.timestamp_literal(value)
        if isinstance(value, uuid.UUID):
            return self.string_literal(str(value))
        if isinstance(value, str):
            return self.string_literal(value)
        raise TypeError(f"no SQL literal for {type(value).__name__}")

    def string_literal(self, value: str) -> str:
        if "\x00" in value:
            raise ValueError("NUL characters cannot be SQL literals")
        return "'" + value.replace("'", "''") + "'"

    def timestamp_literal(self, value: datetime) -> str:
        return f"TIMESTAMP '{_utc_text(value)}'"

    # --- expressions ---
    def epoch_us(self, column: str) -> str:
        return f"epoch_us({column})"

    def from_epoch_us(self, expression: str) -> str:
        return f"make_timestamp({expression})"

    def json_text(self, column: str, key: str) -> str:
        """The property's value as text (strings unquoted, numbers/booleans as written), NULL
        when absent or JSON null."""
        path = self.string_literal('$."' + key.replace('"', '\\"') + '"')
        return f"json_extract_string({column}, {path})"

    def median(self, expression: str) -> str:
        return f"quantile_cont({expression}, 0.5)"

    def arg_min(self, value: str, key: str) -> str:
        return f"arg_min({value}, {key})"

    def any_value(self, expression: str) -> str:
        return f"any_value({expression})"

    def arg_max(self, value: str, key: str) -> str:
        return f"arg_max({value}, {key})"

    def int_div(self, a: str, b: str) -> str:
        return f"({a}) // ({b})"

    def bucket(self, timestamp: str, unit: str) -> str:
        """The day, ISO week (Monday) or month a timestamp falls in, as a date."""
        return f"CAST(date_trunc('{_unit(unit)}', {timestamp}) AS DATE)"

    def periods_between(self, start: str, end: str, unit: str) -> str:
        """Whole periods from bucket `start` to bucket `end` (both from `bucket`)."""
        if _unit(unit) == "month":
            return f"((year({end}) * 12 + month({end})) - (year({start}) * 12 + month({start})))"
        days = f"date_diff('day', {start}, {end})"
        return days if unit == "day" else self.int_div(days, "7")

    def add_periods(self, bucket: str, periods: str, unit: str) -> str:
        return f"CAST({bucket} + to_{_unit(unit)}s(CAST({periods} AS INTEGER)) AS DATE)"

    def lag(self, expression: str, window: str) -> str:
        return f"lag({expression}) OVER ({window})"

    def lead(self, expression: str, window: str, offset: int = 1) -> str:
        return f"lead({expression}, {int(offset)}) OVER ({window})"

    def join_settings(self) -> str:
        return ""

    def sorted_non_null(self, expressions: str) -> str:
        return f"list_sort(list_filter([{expressions}], lambda x: x IS NOT NULL))"

    def null_int(self) -> str:
        return "CAST(NULL AS BIGINT)"

    def materialized(self) -> str:
        """Compute a CTE once (DuckDB; ClickHouse inlines CTEs)."""
        return "MATERIALIZED "

    def person_key(self, alias: str = "") -> str:
        """A 64-bit key of the event's person: joins and windows on integers, not text. DuckDB
        stores it at insert (`stored_person_key`): decompressing the person id text was most of
        a funnel's time (10 M events: 0.25 s of a 0.9 s funnel only to read it)."""
        return f"{alias}.person_key" if alias else "person_key"

    def stored_person_key(self, column: str) -> str | None:
        """The key written with each event (None: computed when read). md5, not `hash()`:
        stored keys must not change with the engine's version."""
        return f"md5_number_lower({column})"

    def element(self, array: str, index: int) -> str:
        return f"{array}[{int(index)}]"

    def migrations_table(self) -> str:
        return (
            "CREATE TABLE IF NOT EXISTS analytics_schema_migrations "
            "(version INTEGER PRIMARY KEY, applied_at TIMESTAMP NOT NULL)"
        )


class ClickHouseDialect(SqlDialect):
    name = "clickhouse"
    inlines_ctes = True

    def string_literal(self, value: str) -> str:
        if "\x00" in value:
            raise ValueError("NUL characters cannot be SQL literals")
        return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"

    def timestamp_literal(self, value: datetime) -> str:
        return f"toDateTime64('{_utc_text(value)}', 6, 'UTC')"

    def epoch_us(self, column: str) -> str:
        return f"toUnixTimestamp64Micro({column})"

    def from_epoch_us(self, expression: str) -> str:
        return f"fromUnixTimestamp64Micro(toInt64({expression}), 'UTC')"

    def json_text(self, column: str, key: str) -> str:
        k = self.string_literal(key)
        return (
            f"multiIf(JSONType({column}, {k}) = 'String', JSONExtractString({column}, {k}), "
            f"JSONType({column}, {k}) IN ('Null', 'Object', 'Array') OR NOT JSONHas({column}, "
            f"{k}), NULL, JSONExtractRaw({column}, {k}))"
        )

    def median(self, expression: str) -> str:
        return f"quantileExactInclusive(0.5)({expression})"

    def arg_min(self, value: str, key: str) -> str:
        return f"argMin({value}, {key})"

    def any_value(self, expression: str) -> str:
        return f"any({expression})"

    def arg_max(self, value: str, key: str) -> str:
        return f"argMax({value}, {key})"

    def int_div(self, a: str, b: str) -> str:
        return f"intDiv({a}, {b})"

    def bucket(self, timestamp: str, unit: str) -> str:
        unit = _unit(unit)
        if unit == "day":
            return f"toDate({timestamp}, 'UTC')"
        if unit == "week":
            return f"toMonday(toDate({timestamp}, 'UTC'))"
        return f"toStartOfMonth(toDate({timestamp}, 'UTC'))"

    def periods_between(self, start: str, end: str, unit: str) -> str:
        if _unit(unit) == "month":
            months = "(toYear({0}) * 12 + toMonth({0}))"
            return f"({months.format(end)} - {months.format(start)})"
        days = f"dateDiff('day', {start}, {end})"
        return days if unit == "day" else self.int_div(days, "7")

    def add_periods(self, bucket: str, periods: str, unit: str) -> str:
        function = {"day": "addDays", "week": "addWeeks", "month": "addMonths"}[_unit(unit)]
        return f"{function}({bucket}, toInt64({periods}))"

    def lag(self, expression: str, window: str) -> str:
        return (
            f"lagInFrame({expression}) OVER ({window} "
            "ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING)"
        )

    def lead(self, expression: str, window: str, offset: int = 1) -> str:
        return (
            f"leadInFrame({expression}, {int(offset)}) OVER ({window} "
            "ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING)"
        )

    def join_settings(self) -> str:
        # Outer joins fill missing rows with NULL as in standard SQL (ClickHouse's default is
        # the column type's default value, which would read as a step reached at epoch 0).
        return " SETTINGS join_use_nulls = 1"

    def sorted_non_null(self, expressions: str) -> str:
        return f"arraySort(arrayFilter(x -> isNotNull(x), [{expressions}]))"

    def null_int(self) -> str:
        return "CAST(NULL AS Nullable(Int64))"

    def materialized(self) -> str:
        return ""

    def person_key(self, alias: str = "") -> str:
        # ClickHouse reads the id text fast enough to hash it per query
        return f"cityHash64({alias}.person_id)" if alias else "cityHash64(person_id)"

    def stored_person_key(self, column: str) -> str | None:
        return None

    def migrations_table(self) -> str:
        return (
            "CREATE TABLE IF NOT EXISTS analytics_schema_migrations "
            "(version UInt32, applied_at DateTime64(6, 'UTC')) ENGINE = MergeTree ORDER BY version"
        )


def dialect_named(name: str) -> SqlDialect:
    return ClickHouseDialect() if name == "clickhouse" else SqlDialect()


def _utc_text(value: datetime) -> str:
    if value.tzinfo is None:
        raise ValueError("timestamps must carry a UTC offset")
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def _unit(unit: str) -> str:
    if unit not in {"day", "week", "month"}:
        raise ValueError(f"unknown period {unit!r}: use day, week or month")
    return unit
