"""Spark's catalogs as the Flight SQL metadata commands see them.

Where each kind of relation is reported (catalog / db_schema / table_type):

- Tables and views of the session catalog and of every catalog configured as
  ``spark.sql.catalog.<name>``: where Spark keeps them; managed and external tables are ``TABLE``,
  views ``VIEW``. A catalog whose namespaces Spark cannot list is left out of a listing of all
  catalogs (and logged); asked for by name, its error is the answer.
- Global temporary views: ``spark_catalog`` / ``global_temp`` (``spark.sql.globalTempDatabase``) /
  ``TEMPORARY VIEW``. Spark keeps that database beside the session catalog's own and lists it nowhere,
  so it is added to the session catalog's schemas.
- Local temporary views: ``system`` / ``session`` / ``TEMPORARY VIEW``. They belong to no catalog,
  but reporting them with a null catalog and schema would hide them from ADBC: ``adbc_get_objects``
  builds its tree from GetCatalogs, then GetDbSchemas, then GetTables, and drops every table whose
  catalog and schema are not in that tree. Spark itself lists them in every database, which would
  show each one once per schema. ``system.session`` is where Spark's own search path puts them
  (from Spark 4.2, ``SELECT * FROM system.session.v`` resolves; every version resolves the bare
  name), so GetCatalogs lists ``system`` and GetDbSchemas its one schema ``session``.

Names and patterns match as Spark resolves identifiers: case-insensitively unless
``spark.sql.caseSensitive`` is true.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, cast

import pyarrow as pa

from spark_flight_sql.flightsql.sql_info import column_type_facts
from spark_flight_sql.flightsql.statements import quote_identifier

if TYPE_CHECKING:
    from pyspark.sql import SparkSession
    from pyspark.sql.types import StructField

__all__ = [
    "SESSION_CATALOG",
    "SESSION_SCHEMA",
    "SYSTEM_CATALOG",
    "TABLE",
    "TABLE_TYPES",
    "TEMPORARY_VIEW",
    "VIEW",
    "Matcher",
    "SparkCatalogs",
    "TableRef",
    "column_metadata",
    "like",
    "named",
]

log = logging.getLogger(__name__)

SESSION_CATALOG = "spark_catalog"
SYSTEM_CATALOG = "system"
SESSION_SCHEMA = "session"

TABLE, VIEW, TEMPORARY_VIEW = "TABLE", "VIEW", "TEMPORARY VIEW"
TABLE_TYPES = (TABLE, VIEW, TEMPORARY_VIEW)
"""Every table type this server reports, as GetTableTypes lists them."""

Matcher = Callable[[str], bool]
"""Whether a catalog, schema or table name is wanted."""

_CATALOG_CONF = re.compile(r"spark\.sql\.catalog\.([^.]+)")


def like(pattern: str | None, *, case_sensitive: bool) -> Matcher:
    """A Flight SQL filter pattern as a matcher: ``%`` any string, ``_`` any one character.

    A backslash makes the next character literal (SqlInfo SQL_SEARCH_STRING_ESCAPE). No pattern
    matches every name.
    """
    if pattern is None:
        return lambda name: True
    # Tokens: a character to match, "" for any one character, None for any run. Matched without
    # regular expressions: a pattern of many % would make a backtracking regex take hours.
    tokens: list[str | None] = []
    chars = iter(pattern)
    for char in chars:
        if char == "%":
            if not tokens or tokens[-1] is not None:
                tokens.append(None)
        elif char == "_":
            tokens.append("")
        else:
            tokens.append(next(chars, "\\") if char == "\\" else char)
    if not case_sensitive:
        tokens = [token.casefold() if token else token for token in tokens]
    return lambda name: _matches(tokens, name if case_sensitive else name.casefold())


def _matches(tokens: list[str | None], name: str) -> bool:
    """Whether ``name`` matches the tokens of :func:`like`, in O(len(name) * len(tokens)): on a
    mismatch only the last run (None) widens, by one character."""
    pos = tok = 0
    star, star_pos = -1, 0
    while pos < len(name):
        token = tokens[tok] if tok < len(tokens) else False
        if token is None:
            star, star_pos = tok, pos
            tok += 1
        elif token is not False and (token == "" or token == name[pos]):
            pos += 1
            tok += 1
        elif star >= 0:
            star_pos += 1
            pos, tok = star_pos, star + 1
        else:
            return False
    while tok < len(tokens) and tokens[tok] is None:
        tok += 1
    return tok == len(tokens)


def named(name: str | None, *, case_sensitive: bool) -> Matcher:
    """A matcher of exactly ``name`` (every name when None)."""
    if name is None:
        return lambda candidate: True
    if case_sensitive:
        return lambda candidate: candidate == name
    folded = name.casefold()
    return lambda candidate: candidate.casefold() == folded


def _namespace_sql(namespace: str) -> str:
    # SHOW NAMESPACES already quotes names that need it and joins nested ones with dots.
    return quote_identifier(namespace) if re.fullmatch(r"[A-Za-z0-9_]+", namespace) else namespace


@dataclass(frozen=True, order=True)
class TableRef:
    """One relation as GetTables reports it."""

    catalog: str
    db_schema: str
    name: str
    table_type: str

    @property
    def sql_name(self) -> str:
        """The name Spark SQL resolves to this relation."""
        if self.catalog == SYSTEM_CATALOG:
            return quote_identifier(self.name)  # temporary views resolve by their bare name in every Spark 4
        if self.table_type == TEMPORARY_VIEW:
            return f"{quote_identifier(self.db_schema)}.{quote_identifier(self.name)}"  # global_temp.<view>
        return (
            f"{quote_identifier(self.catalog)}.{_namespace_sql(self.db_schema)}.{quote_identifier(self.name)}"
        )


class SparkCatalogs:
    """The catalogs, schemas and tables of one SparkSession, listed on demand.

    Make one per request: it remembers the temporary views it has listed.
    """

    def __init__(self, spark: SparkSession) -> None:
        self.spark = spark
        self.case_sensitive = (spark.conf.get("spark.sql.caseSensitive", "false") or "").lower() == "true"
        self.global_temp = spark.conf.get("spark.sql.globalTempDatabase", "global_temp") or "global_temp"

    def like(self, pattern: str | None) -> Matcher:
        """:func:`like` with this session's case sensitivity."""
        return like(pattern, case_sensitive=self.case_sensitive)

    def named(self, name: str | None) -> Matcher:
        """:func:`named` with this session's case sensitivity."""
        return named(name, case_sensitive=self.case_sensitive)

    # ---- catalogs ---------------------------------------------------------------------------------

    def catalogs(self) -> list[str]:
        """The session catalog, ``system``, every configured catalog and any other Spark has loaded."""
        names = {SESSION_CATALOG, SYSTEM_CATALOG}
        for key in self.spark.conf.getAll:
            match = _CATALOG_CONF.fullmatch(key)
            if match:
                names.add(match.group(1))
        names.update(row[0] for row in self.spark.sql("SHOW CATALOGS").collect())
        return sorted(names)

    def _catalogs_named(self, catalog: str | None) -> list[str]:
        wanted = self.named(catalog)
        return [name for name in self.catalogs() if wanted(name)]

    # ---- schemas ----------------------------------------------------------------------------------

    def db_schemas(self, catalog: str | None, db_schema: Matcher) -> list[tuple[str, str]]:
        """(catalog, schema) pairs, sorted, of the catalog named ``catalog`` (all when None)."""
        found = [
            (name, schema)
            for name in self._catalogs_named(catalog)
            for schema in self._schemas_of(name, strict=catalog is not None)
            if db_schema(schema)
        ]
        return sorted(found)

    def _schemas_of(self, catalog: str, *, strict: bool) -> list[str]:
        if catalog == SYSTEM_CATALOG:
            return [SESSION_SCHEMA]
        try:
            rows = self.spark.sql(f"SHOW NAMESPACES IN {quote_identifier(catalog)}").collect()
        except Exception as exc:
            if strict:
                raise
            log.warning(
                "cannot list the namespaces of catalog %s; leaving it out: %s", catalog, _summary(exc)
            )
            return []
        schemas = [row[0] for row in rows]
        if catalog == SESSION_CATALOG:
            schemas.append(self.global_temp)
        return schemas

    # ---- tables -----------------------------------------------------------------------------------

    def tables(
        self,
        catalog: str | None,
        db_schema: Matcher,
        table: Matcher,
        table_types: Collection[str] | None = None,
    ) -> list[TableRef]:
        """The relations GetTables reports, sorted by catalog, schema, name and type.

        ``catalog`` is an exact name (all catalogs when None); ``table_types`` keeps only those
        types (all when empty or None).
        """
        types = {kind.upper() for kind in table_types or ()}
        found = [
            ref
            for name, schema in self.db_schemas(catalog, db_schema)
            for ref in self._tables_in(name, schema, strict=catalog is not None)
            if table(ref.name) and (not types or ref.table_type in types)
        ]
        return sorted(found)

    def _tables_in(self, catalog: str, schema: str, *, strict: bool) -> Iterator[TableRef]:
        if catalog == SYSTEM_CATALOG:
            yield from (TableRef(catalog, schema, name, TEMPORARY_VIEW) for name in self._temp_views[""])
        elif catalog == SESSION_CATALOG and schema == self.global_temp:
            yield from (TableRef(catalog, schema, name, TEMPORARY_VIEW) for name in self._temp_views[schema])
        else:
            yield from self._persistent_tables(catalog, schema, strict=strict)

    @cached_property
    def _temp_views(self) -> dict[str, list[str]]:
        """Temporary view names by namespace: ``""`` local ones, the global temp database's."""
        views: dict[str, list[str]] = {"": [], self.global_temp: []}
        # Listing the global temp database lists the local temporary views as well.
        rows = self.spark.sql(
            f"SHOW TABLES IN {quote_identifier(SESSION_CATALOG)}.{quote_identifier(self.global_temp)}"
        ).collect()
        for namespace, name, _ in rows:
            views.setdefault(namespace, []).append(name)
        return views

    def _persistent_tables(self, catalog: str, schema: str, *, strict: bool) -> list[TableRef]:
        where = f"{quote_identifier(catalog)}.{_namespace_sql(schema)}"
        try:
            rows = self.spark.sql(f"SHOW TABLES IN {where}").collect()
        except Exception as exc:
            if strict:
                raise
            log.warning("cannot list the tables of %s; leaving them out: %s", where, _summary(exc))
            return []
        views = self._views_in(where)
        return [
            TableRef(catalog, schema, name, VIEW if name in views else TABLE)
            for _, name, temporary in rows
            if not temporary
        ]

    def _views_in(self, where: str) -> set[str]:
        try:
            rows = self.spark.sql(f"SHOW VIEWS IN {where}").collect()
        except Exception:  # noqa: BLE001 - a catalog without views (not a ViewCatalog)
            return set()
        return {name for _, name, temporary in rows if not temporary}

    def table_exists(self, catalog: str | None, db_schema: str | None, table: str) -> bool:
        """Whether GetTables would list a relation of exactly these names (None: any)."""
        return bool(self.tables(catalog, self.named(db_schema), self.named(table)))

    # ---- schemas of tables ------------------------------------------------------------------------

    def arrow_schema(self, ref: TableRef, push_method: str) -> pa.Schema:
        """The relation's Arrow schema as its query results have it, with Flight SQL column metadata.

        A view Spark can no longer analyse (a table it reads was dropped) gets an empty schema and
        a warning in the log, rather than failing the whole listing.
        """
        from spark_flight_sql.flightmanager.spark_job import arrow_schema, use_jvm

        try:
            df = self.spark.table(ref.sql_name)
            schema = arrow_schema(df, use_jvm(df, push_method))
        except Exception as exc:  # noqa: BLE001 - any analysis error: logged, the listing goes on
            log.warning("cannot analyse %s; reporting an empty schema: %s", ref.sql_name, _summary(exc))
            return pa.schema([])
        fields = [
            field.with_metadata(_merged(field.metadata, column_metadata(spark_field, ref)))
            for field, spark_field in zip(schema, df.schema.fields)
        ]
        return pa.schema(fields, metadata=cast("dict[bytes | str, bytes | str] | None", schema.metadata))


def _merged(existing: dict[bytes, bytes] | None, added: dict[str, str]) -> dict[bytes | str, bytes | str]:
    """``{**existing, **added}``, typed as pyarrow takes metadata."""
    merged: dict[bytes | str, bytes | str] = {}
    merged.update((existing or {}).items())
    merged.update(added.items())
    return merged


def _summary(exc: BaseException) -> str:
    """Spark's message without its stack trace (these errors are expected: a trace says nothing more)."""
    from spark_flight_sql.flightmanager.errors import spark_error, truncate

    mapped = spark_error(exc)
    return mapped[1] if mapped else truncate(str(exc) or type(exc).__name__)


def _flag(value: bool) -> str:
    return "1" if value else "0"


def column_metadata(field: StructField, ref: TableRef) -> dict[str, str]:
    """The Flight SQL column metadata of one column of ``ref``.

    The specification's comment spells the schema key ``DB_SCHEMA_NAME``; arrow-go, Java and ADBC
    read ``SCHEMA_NAME``: both are set. ADBC's ``adbc_get_objects`` takes xdbc_type_name,
    xdbc_is_autoincrement and the xdbc_scope_* columns from these keys.
    """
    facts = column_type_facts(field.dataType, field.metadata)
    metadata = {
        "ARROW:FLIGHT:SQL:CATALOG_NAME": ref.catalog,
        "ARROW:FLIGHT:SQL:SCHEMA_NAME": ref.db_schema,
        "ARROW:FLIGHT:SQL:DB_SCHEMA_NAME": ref.db_schema,
        "ARROW:FLIGHT:SQL:TABLE_NAME": ref.name,
        "ARROW:FLIGHT:SQL:TYPE_NAME": facts.type_name,
        "ARROW:FLIGHT:SQL:IS_AUTO_INCREMENT": "0",
        "ARROW:FLIGHT:SQL:IS_CASE_SENSITIVE": _flag(facts.case_sensitive),
        "ARROW:FLIGHT:SQL:IS_READ_ONLY": _flag(ref.table_type != TABLE),
        "ARROW:FLIGHT:SQL:IS_SEARCHABLE": _flag(facts.searchable),
    }
    optional = {
        "ARROW:FLIGHT:SQL:PRECISION": facts.precision,
        "ARROW:FLIGHT:SQL:SCALE": facts.scale,
        "ARROW:FLIGHT:SQL:REMARKS": field.metadata.get("comment"),
    }
    metadata.update({key: str(value) for key, value in optional.items() if value is not None})
    return metadata
