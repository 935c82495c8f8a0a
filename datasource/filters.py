"""Spark's pushed filters as a SQL WHERE clause that means the same on any SQL server.

Only what standard SQL spells one way is pushed: comparisons, IN, IS [NOT] NULL, NOT, and LIKE
with an explicit ``ESCAPE '!'``, over top-level columns and literals of type bool, int, finite
float, Decimal, str without backslashes, and date. Everything else stays with Spark, which
evaluates it after the scan. Backslashes are kept out because dialects disagree on them (Spark
SQL reads ``'\\'`` as an escape, standard SQL as a character); timestamps because the wire
carries no zone for them.
"""

from __future__ import annotations

import datetime
import decimal
import math
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pyspark.sql.datasource import Filter

__all__ = ["LIKE_ESCAPE", "filter_sql", "quote_identifier", "where_clause"]

LIKE_ESCAPE = "!"


class Unsupported(Exception):
    """A filter this module does not translate (Spark keeps it)."""


def quote_identifier(name: str, quote: str) -> str:
    """``name`` quoted with ``quote``, a quote inside doubled (standard SQL and Spark alike)."""
    return quote + name.replace(quote, quote * 2) + quote


def _literal(value: object) -> str:
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise Unsupported
        return repr(value)
    if isinstance(value, decimal.Decimal):
        if not value.is_finite():
            raise Unsupported
        return format(value, "f")
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, datetime.datetime):
        raise Unsupported
    if isinstance(value, datetime.date):
        return f"DATE '{value.isoformat()}'"
    raise Unsupported


def _string(value: str) -> str:
    if "\\" in value or "\x00" in value:
        raise Unsupported
    return "'" + value.replace("'", "''") + "'"


def _like(value: str, prefix: str, suffix: str) -> str:
    escaped = "".join(LIKE_ESCAPE + c if c in f"%_{LIKE_ESCAPE}" else c for c in value)
    return f"LIKE {_string(prefix + escaped + suffix)} ESCAPE '{LIKE_ESCAPE}'"


def _column(attribute: tuple[str, ...], quote: str) -> str:
    if len(attribute) != 1:
        raise Unsupported
    return quote_identifier(attribute[0], quote)


def _translate(item: Filter, quote: str) -> str:
    from pyspark.sql import datasource as ds

    comparisons: dict[
        type[ds.EqualTo | ds.GreaterThan | ds.GreaterThanOrEqual | ds.LessThan | ds.LessThanOrEqual], str
    ] = {
        ds.EqualTo: "=",
        ds.GreaterThan: ">",
        ds.GreaterThanOrEqual: ">=",
        ds.LessThan: "<",
        ds.LessThanOrEqual: "<=",
    }
    for kind, operator in comparisons.items():
        if isinstance(item, kind):
            return f"{_column(item.attribute, quote)} {operator} {_literal(item.value)}"
    if isinstance(item, ds.EqualNullSafe):
        column, value = _column(item.attribute, quote), item.value
        if value is None:
            return f"{column} IS NULL"
        return f"({column} IS NOT NULL AND {column} = {_literal(value)})"
    if isinstance(item, ds.In):
        values = list(item.value)
        # A NULL in the list makes a miss NULL rather than FALSE, which matters under NOT.
        if not values or any(v is None for v in values):
            raise Unsupported
        return f"{_column(item.attribute, quote)} IN ({', '.join(_literal(v) for v in values)})"
    if isinstance(item, ds.IsNull):
        return f"{_column(item.attribute, quote)} IS NULL"
    if isinstance(item, ds.IsNotNull):
        return f"{_column(item.attribute, quote)} IS NOT NULL"
    if isinstance(item, ds.StringStartsWith):
        return f"{_column(item.attribute, quote)} {_like(item.value, '', '%')}"
    if isinstance(item, ds.StringEndsWith):
        return f"{_column(item.attribute, quote)} {_like(item.value, '%', '')}"
    if isinstance(item, ds.StringContains):
        return f"{_column(item.attribute, quote)} {_like(item.value, '%', '%')}"
    if isinstance(item, ds.Not):
        return f"NOT ({_translate(item.child, quote)})"
    raise Unsupported


def filter_sql(item: Filter, quote: str = '"') -> str | None:
    """The SQL condition for ``item`` with identifiers quoted by ``quote``, or None if not pushable."""
    try:
        return _translate(item, quote)
    except Unsupported:
        return None


def where_clause(filters: list[Filter], quote: str) -> str:
    """`` WHERE (c1) AND (c2) ...`` for pushable ``filters`` (empty when there are none)."""
    conditions = [sql for sql in (filter_sql(f, quote) for f in filters) if sql is not None]
    if not conditions:
        return ""
    return " WHERE " + " AND ".join(f"({c})" for c in conditions)
