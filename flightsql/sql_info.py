"""The SQL dialect this server reports: GetSqlInfo values, GetXdbcTypeInfo rows, column type facts.

GetSqlInfo values come in two parts. :func:`basic_sql_info` is cheap and answers what clients ask
on connect (ADBC asks 0, 1, 2 and 8; the flightsql-dbapi SQLAlchemy dialect 0, 2, 3 and 504).
:func:`runtime_sql_info` asks Spark for its keywords, its built-in functions by group and the casts
it allows (a fraction of a second, so a node computes it once, on the first request that needs it).

Spark types map to XDBC (JDBC/ODBC) type codes once, in :data:`XDBC_TYPES`; the same facts feed
GetXdbcTypeInfo and the Flight SQL column metadata of table schemas (:func:`column_type_facts`).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple

import pyarrow as pa

from spark_flight_sql.flightsql.proto import FlightSql_pb2 as sql_pb2
from spark_flight_sql.flightsql.schemas import XDBC_TYPE_INFO, Int32Bitmask, SqlInfoValue

if TYPE_CHECKING:
    from pyspark.sql import SparkSession
    from pyspark.sql.types import DataType

__all__ = [
    "RUNTIME_SQL_INFO_IDS",
    "SPARK_KEYWORDS",
    "XDBC_TYPES",
    "TypeFacts",
    "XdbcType",
    "basic_sql_info",
    "column_type_facts",
    "runtime_sql_info",
    "server_sql_info",
    "sql_type_name",
    "xdbc_type_info_table",
]

log = logging.getLogger(__name__)

_I = sql_pb2.SqlInfo
_X = sql_pb2

# Spark SQL's reserved words under ANSI mode: the keyword list when Spark cannot list its own.
SPARK_KEYWORDS = (
    "ALL",
    "AND",
    "ANY",
    "AS",
    "AUTHORIZATION",
    "BOTH",
    "CASE",
    "CAST",
    "CHECK",
    "COLLATE",
    "COLUMN",
    "CONSTRAINT",
    "CREATE",
    "CROSS",
    "CURRENT_DATE",
    "CURRENT_TIME",
    "CURRENT_TIMESTAMP",
    "CURRENT_USER",
    "DISTINCT",
    "ELSE",
    "END",
    "ESCAPE",
    "EXCEPT",
    "FALSE",
    "FETCH",
    "FILTER",
    "FOR",
    "FOREIGN",
    "FROM",
    "FULL",
    "GRANT",
    "GROUP",
    "HAVING",
    "IN",
    "INNER",
    "INTERSECT",
    "INTO",
    "IS",
    "JOIN",
    "LATERAL",
    "LEADING",
    "LEFT",
    "NATURAL",
    "NOT",
    "NULL",
    "OFFSET",
    "ON",
    "ONLY",
    "OR",
    "ORDER",
    "OUTER",
    "OVERLAPS",
    "PRIMARY",
    "REFERENCES",
    "RIGHT",
    "SELECT",
    "SESSION_USER",
    "SOME",
    "TABLE",
    "THEN",
    "TO",
    "TRAILING",
    "TRUE",
    "UNION",
    "UNIQUE",
    "UNKNOWN",
    "USING",
    "USER",
    "WHEN",
    "WHERE",
    "WITH",
)


def _bits(*flags: int) -> Int32Bitmask:
    """The int32 bitmask with bit ``flag`` set for each enum value in ``flags``."""
    mask = 0
    for flag in flags:
        mask |= 1 << flag
    return Int32Bitmask(mask)


# Limits Spark does not have (or does not know): the specification's 0.
_NO_LIMIT_IDS = (
    _I.SQL_MAX_BINARY_LITERAL_LENGTH,
    _I.SQL_MAX_CHAR_LITERAL_LENGTH,
    _I.SQL_MAX_COLUMN_NAME_LENGTH,
    _I.SQL_MAX_COLUMNS_IN_GROUP_BY,
    _I.SQL_MAX_COLUMNS_IN_INDEX,
    _I.SQL_MAX_COLUMNS_IN_ORDER_BY,
    _I.SQL_MAX_COLUMNS_IN_SELECT,
    _I.SQL_MAX_COLUMNS_IN_TABLE,
    _I.SQL_MAX_CONNECTIONS,
    _I.SQL_MAX_CURSOR_NAME_LENGTH,
    _I.SQL_MAX_INDEX_LENGTH,
    _I.SQL_DB_SCHEMA_NAME_LENGTH,
    _I.SQL_MAX_PROCEDURE_NAME_LENGTH,
    _I.SQL_MAX_CATALOG_NAME_LENGTH,
    _I.SQL_MAX_ROW_SIZE,
    _I.SQL_MAX_STATEMENT_LENGTH,
    _I.SQL_MAX_STATEMENTS,
    _I.SQL_MAX_TABLE_NAME_LENGTH,
    _I.SQL_MAX_TABLES_IN_SELECT,
    _I.SQL_MAX_USERNAME_LENGTH,
)


def _case_sensitivity(spark: SparkSession) -> int:
    sensitive = (spark.conf.get("spark.sql.caseSensitive", "false") or "false").lower() == "true"
    if sensitive:
        return _X.SQL_CASE_SENSITIVITY_UNKNOWN  # the enum has no "case sensitive, stored as written"
    return _X.SQL_CASE_SENSITIVITY_CASE_INSENSITIVE


def basic_sql_info(server_version: str, spark: SparkSession) -> dict[int, SqlInfoValue]:
    """Every GetSqlInfo value but those Spark is asked for at run time (see :func:`runtime_sql_info`)."""
    case = _case_sensitivity(spark)
    values: dict[int, SqlInfoValue] = {
        _I.FLIGHT_SQL_SERVER_NAME: "Spark Flight SQL",
        _I.FLIGHT_SQL_SERVER_VERSION: f"{server_version} (Spark {spark.version})",
        _I.FLIGHT_SQL_SERVER_ARROW_VERSION: pa.__version__,
        _I.FLIGHT_SQL_SERVER_READ_ONLY: False,
        _I.FLIGHT_SQL_SERVER_SQL: True,
        _I.FLIGHT_SQL_SERVER_SUBSTRAIT: False,
        _I.FLIGHT_SQL_SERVER_TRANSACTION: _X.SQL_SUPPORTED_TRANSACTION_NONE,
        _I.FLIGHT_SQL_SERVER_CANCEL: True,
        _I.FLIGHT_SQL_SERVER_BULK_INGESTION: True,
        _I.FLIGHT_SQL_SERVER_INGEST_TRANSACTIONS_SUPPORTED: False,
        _I.FLIGHT_SQL_SERVER_STATEMENT_TIMEOUT: 0,
        _I.FLIGHT_SQL_SERVER_TRANSACTION_TIMEOUT: 0,
        _I.SQL_DDL_CATALOG: False,
        _I.SQL_DDL_SCHEMA: True,
        _I.SQL_DDL_TABLE: True,
        _I.SQL_IDENTIFIER_CASE: case,
        _I.SQL_IDENTIFIER_QUOTE_CHAR: "`",
        _I.SQL_QUOTED_IDENTIFIER_CASE: case,
        _I.SQL_ALL_TABLES_ARE_SELECTABLE: True,
        # Spark puts NULLs first when ascending and last when descending.
        _I.SQL_NULL_ORDERING: _X.SQL_NULLS_SORTED_LOW,
        _I.SQL_SEARCH_STRING_ESCAPE: "\\",
        _I.SQL_EXTRA_NAME_CHARACTERS: "",
        _I.SQL_SUPPORTS_COLUMN_ALIASING: True,
        _I.SQL_NULL_PLUS_NULL_IS_NULL: True,
        _I.SQL_SUPPORTS_TABLE_CORRELATION_NAMES: True,
        _I.SQL_SUPPORTS_DIFFERENT_TABLE_CORRELATION_NAMES: False,
        _I.SQL_SUPPORTS_EXPRESSIONS_IN_ORDER_BY: True,
        _I.SQL_SUPPORTS_ORDER_BY_UNRELATED: True,
        _I.SQL_SUPPORTED_GROUP_BY: _bits(_X.SQL_GROUP_BY_UNRELATED, _X.SQL_GROUP_BY_BEYOND_SELECT),
        _I.SQL_SUPPORTS_LIKE_ESCAPE_CLAUSE: True,
        _I.SQL_SUPPORTS_NON_NULLABLE_COLUMNS: True,
        _I.SQL_SUPPORTED_GRAMMAR: _bits(_X.SQL_MINIMUM_GRAMMAR, _X.SQL_CORE_GRAMMAR),
        _I.SQL_ANSI92_SUPPORTED_LEVEL: _bits(_X.ANSI92_ENTRY_SQL),
        # Constraints are informational in Spark: nothing enforces them.
        _I.SQL_SUPPORTS_INTEGRITY_ENHANCEMENT_FACILITY: False,
        _I.SQL_OUTER_JOINS_SUPPORT_LEVEL: _X.SQL_FULL_OUTER_JOINS,
        _I.SQL_SCHEMA_TERM: "schema",
        _I.SQL_PROCEDURE_TERM: "procedure",
        _I.SQL_CATALOG_TERM: "catalog",
        _I.SQL_CATALOG_AT_START: True,
        _I.SQL_SCHEMAS_SUPPORTED_ACTIONS: _bits(),
        _I.SQL_CATALOGS_SUPPORTED_ACTIONS: _bits(),
        _I.SQL_SUPPORTED_POSITIONED_COMMANDS: _bits(),
        _I.SQL_SELECT_FOR_UPDATE_SUPPORTED: False,
        _I.SQL_STORED_PROCEDURES_SUPPORTED: False,
        # Spark has no quantified comparisons with a subquery (x > ALL (SELECT ...)).
        _I.SQL_SUPPORTED_SUBQUERIES: _bits(
            _X.SQL_SUBQUERIES_IN_COMPARISONS, _X.SQL_SUBQUERIES_IN_EXISTS, _X.SQL_SUBQUERIES_IN_INS
        ),
        _I.SQL_CORRELATED_SUBQUERIES_SUPPORTED: True,
        _I.SQL_SUPPORTED_UNIONS: _bits(_X.SQL_UNION, _X.SQL_UNION_ALL),
        _I.SQL_MAX_ROW_SIZE_INCLUDES_BLOBS: False,
        _I.SQL_DEFAULT_TRANSACTION_ISOLATION: _X.SQL_TRANSACTION_NONE,
        _I.SQL_TRANSACTIONS_SUPPORTED: False,
        _I.SQL_SUPPORTED_TRANSACTIONS_ISOLATION_LEVELS: _bits(_X.SQL_TRANSACTION_NONE),
        _I.SQL_DATA_DEFINITION_CAUSES_TRANSACTION_COMMIT: False,
        _I.SQL_DATA_DEFINITIONS_IN_TRANSACTIONS_IGNORED: False,
        _I.SQL_SUPPORTED_RESULT_SET_TYPES: _bits(_X.SQL_RESULT_SET_TYPE_FORWARD_ONLY),
        _I.SQL_SUPPORTED_CONCURRENCIES_FOR_RESULT_SET_UNSPECIFIED: _bits(
            _X.SQL_RESULT_SET_CONCURRENCY_READ_ONLY
        ),
        _I.SQL_SUPPORTED_CONCURRENCIES_FOR_RESULT_SET_FORWARD_ONLY: _bits(
            _X.SQL_RESULT_SET_CONCURRENCY_READ_ONLY
        ),
        _I.SQL_SUPPORTED_CONCURRENCIES_FOR_RESULT_SET_SCROLL_SENSITIVE: _bits(),
        _I.SQL_SUPPORTED_CONCURRENCIES_FOR_RESULT_SET_SCROLL_INSENSITIVE: _bits(),
        _I.SQL_BATCH_UPDATES_SUPPORTED: False,
        _I.SQL_SAVEPOINTS_SUPPORTED: False,
        _I.SQL_NAMED_PARAMETERS_SUPPORTED: False,
        _I.SQL_LOCATORS_UPDATE_COPY: False,
        _I.SQL_STORED_FUNCTIONS_USING_CALL_SYNTAX_SUPPORTED: False,
    }
    values.update(dict.fromkeys(_NO_LIMIT_IDS, 0))
    return values


RUNTIME_SQL_INFO_IDS: frozenset[int] = frozenset(
    (
        _I.SQL_KEYWORDS,
        _I.SQL_NUMERIC_FUNCTIONS,
        _I.SQL_STRING_FUNCTIONS,
        _I.SQL_SYSTEM_FUNCTIONS,
        _I.SQL_DATETIME_FUNCTIONS,
        _I.SQL_SUPPORTS_CONVERT,
    )
)
"""The ids :func:`runtime_sql_info` answers."""

# Function groups of Spark's ExpressionInfo -> the SqlInfo list they go in.
_FUNCTION_GROUPS: Mapping[int, tuple[str, ...]] = {
    _I.SQL_NUMERIC_FUNCTIONS: ("math_funcs",),
    _I.SQL_STRING_FUNCTIONS: ("string_funcs",),
    _I.SQL_DATETIME_FUNCTIONS: ("datetime_funcs",),
    # ODBC's system functions are DATABASE, IFNULL and USER: Spark's misc and conditional groups.
    _I.SQL_SYSTEM_FUNCTIONS: ("misc_funcs", "conditional_funcs"),
}

_FUNCTION_NAME = re.compile(r"[a-z_][a-z0-9_]*")  # leaves out operators such as "+" and "<=>"


def runtime_sql_info(spark: SparkSession) -> dict[int, SqlInfoValue]:
    """Keywords, function lists and casts, asked from Spark; ids Spark cannot answer are left out.

    With a classic session's JVM: keywords from Spark's parser, functions by their ExpressionInfo
    group, and casts from Spark's own rules (ANSI or not, as the session is). Without one, only
    the keywords, from ``sql_keywords()``.
    """
    jvm = getattr(spark, "_jvm", None)
    if jvm is None:
        return {_I.SQL_KEYWORDS: _keywords(spark)}
    try:
        return {
            _I.SQL_KEYWORDS: _jvm_keywords(jvm),
            **_functions(jvm),
            _I.SQL_SUPPORTS_CONVERT: _conversions(spark, jvm),
        }
    except Exception:  # a JVM without these internals: report less rather than fail GetSqlInfo
        log.warning("could not read Spark's keywords, functions or cast rules", exc_info=True)
        return {_I.SQL_KEYWORDS: _keywords(spark)}


def server_sql_info(server_version: str, spark: SparkSession) -> dict[int, SqlInfoValue]:
    """Every GetSqlInfo value of a node running ``server_version`` on ``spark``."""
    return {**basic_sql_info(server_version, spark), **runtime_sql_info(spark)}


def _jvm_keywords(jvm: Any) -> list[str]:
    # What sql_keywords() lists, without the Spark job that query starts.
    keywords = (
        getattr(jvm.org.apache.spark.sql.catalyst.util, "SQLKeywordUtils$").__getattr__("MODULE$").keywords()
    )
    return sorted(keywords.mkString("\n").split("\n"))


def _keywords(spark: SparkSession) -> list[str]:
    try:
        return sorted(row[0] for row in spark.sql("SELECT keyword FROM sql_keywords()").collect())
    except Exception:  # Spark without sql_keywords()
        log.warning("sql_keywords() failed; reporting the ANSI reserved words", exc_info=True)
        return list(SPARK_KEYWORDS)


def _functions(jvm: Any) -> dict[int, SqlInfoValue]:
    registry = getattr(jvm.org.apache.spark.sql.catalyst.analysis, "FunctionRegistry$").__getattr__("MODULE$")
    expressions = jvm.scala.jdk.javaapi.CollectionConverters.asJava(registry.expressions())
    by_group: dict[str, list[str]] = {}
    for name, entry in expressions.items():
        if _FUNCTION_NAME.fullmatch(name):
            by_group.setdefault(entry._1().getGroup() or "", []).append(name)
    return {
        info_id: sorted(name for group in groups for name in by_group.get(group, ()))
        for info_id, groups in _FUNCTION_GROUPS.items()
    }


# SqlSupportsConvert -> a Spark type standing for it in the cast rules.
_CONVERT_TYPES: Mapping[int, str] = {
    _X.SQL_CONVERT_BIGINT: "bigint",
    _X.SQL_CONVERT_BINARY: "binary",
    _X.SQL_CONVERT_BIT: "boolean",
    _X.SQL_CONVERT_CHAR: "string",
    _X.SQL_CONVERT_DATE: "date",
    _X.SQL_CONVERT_DECIMAL: "decimal(38,18)",
    _X.SQL_CONVERT_FLOAT: "double",
    _X.SQL_CONVERT_INTEGER: "int",
    _X.SQL_CONVERT_INTERVAL_DAY_TIME: "interval day to second",
    _X.SQL_CONVERT_INTERVAL_YEAR_MONTH: "interval year to month",
    _X.SQL_CONVERT_LONGVARBINARY: "binary",
    _X.SQL_CONVERT_LONGVARCHAR: "string",
    _X.SQL_CONVERT_NUMERIC: "decimal(38,18)",
    _X.SQL_CONVERT_REAL: "float",
    _X.SQL_CONVERT_SMALLINT: "smallint",
    _X.SQL_CONVERT_TIMESTAMP: "timestamp",
    _X.SQL_CONVERT_TINYINT: "tinyint",
    _X.SQL_CONVERT_VARBINARY: "binary",
    _X.SQL_CONVERT_VARCHAR: "string",
}


def _conversions(spark: SparkSession, jvm: Any) -> dict[int, list[int]]:
    cast = getattr(jvm.org.apache.spark.sql.catalyst.expressions, "Cast$").__getattr__("MODULE$")
    ansi = (spark.conf.get("spark.sql.ansi.enabled", "true") or "true").lower() == "true"
    can_cast = cast.canAnsiCast if ansi else cast.canCast
    parse = jvm.org.apache.spark.sql.types.DataType.fromDDL
    types = {code: parse(ddl) for code, ddl in _CONVERT_TYPES.items()}
    return {
        source: [target for target, to_type in types.items() if can_cast(from_type, to_type)]
        for source, from_type in types.items()
    }


# ---- XDBC types -------------------------------------------------------------------------------


class XdbcType(NamedTuple):
    """One row of GetXdbcTypeInfo (the columns of :data:`spark_flight_sql.flightsql.schemas.XDBC_TYPE_INFO`)."""

    type_name: str
    data_type: int
    column_size: int | None
    literal_prefix: str | None
    literal_suffix: str | None
    create_params: list[str] | None
    nullable: int
    case_sensitive: bool
    searchable: int
    unsigned_attribute: bool | None
    fixed_prec_scale: bool
    auto_increment: bool | None
    local_type_name: str | None
    minimum_scale: int | None
    maximum_scale: int | None
    sql_data_type: int
    datetime_subcode: int | None
    num_prec_radix: int | None
    interval_precision: int | None


def _number(name: str, code: int, size: int, scale: tuple[int | None, int | None] = (0, 0)) -> XdbcType:
    return XdbcType(
        name,
        code,
        size,
        None,
        None,
        None,
        _X.NULLABILITY_NULLABLE,
        False,
        _X.SEARCHABLE_BASIC,
        False,
        False,
        False,
        None,
        scale[0],
        scale[1],
        code,
        None,
        10,
        None,
    )


def _text(name: str, code: int, size: int | None, params: list[str] | None) -> XdbcType:
    return XdbcType(
        name,
        code,
        size,
        "'",
        "'",
        params,
        _X.NULLABILITY_NULLABLE,
        True,
        _X.SEARCHABLE_FULL,
        None,
        False,
        None,
        None,
        None,
        None,
        code,
        None,
        None,
        None,
    )


def _datetime(name: str, code: int, size: int, prefix: str, subcode: int, scale: int | None) -> XdbcType:
    return XdbcType(
        name,
        code,
        size,
        prefix,
        "'",
        None,
        _X.NULLABILITY_NULLABLE,
        False,
        _X.SEARCHABLE_BASIC,
        None,
        False,
        None,
        None,
        scale,
        scale,
        _X.XDBC_DATETIME,
        subcode,
        None,
        None,
    )


def _interval(name: str, subcode: int, suffix: str, scale: int | None) -> XdbcType:
    # ODBC's concise interval type codes are 100 + the interval's datetime subcode.
    return XdbcType(
        name,
        100 + subcode,
        None,
        "INTERVAL '",
        f"' {suffix}",
        None,
        _X.NULLABILITY_NULLABLE,
        False,
        _X.SEARCHABLE_BASIC,
        None,
        False,
        None,
        None,
        scale,
        scale,
        _X.XDBC_INTERVAL,
        subcode,
        None,
        9,
    )


def _nested(name: str, jdbc_code: int, searchable: int) -> XdbcType:
    return XdbcType(
        name,
        jdbc_code,
        None,
        None,
        None,
        None,
        _X.NULLABILITY_NULLABLE,
        False,
        searchable,
        None,
        False,
        None,
        None,
        None,
        None,
        jdbc_code,
        None,
        None,
        None,
    )


# JDBC's java.sql.Types codes for nested types (XDBC has none), as Spark's Thrift server reports them.
_JDBC_JAVA_OBJECT, _JDBC_STRUCT, _JDBC_ARRAY = 2000, 2002, 2003

XDBC_TYPES: tuple[XdbcType, ...] = (
    XdbcType(
        "BOOLEAN",
        _X.XDBC_BIT,
        1,
        None,
        None,
        None,
        _X.NULLABILITY_NULLABLE,
        False,
        _X.SEARCHABLE_BASIC,
        None,
        False,
        None,
        None,
        None,
        None,
        _X.XDBC_BIT,
        None,
        None,
        None,
    ),
    _number("TINYINT", _X.XDBC_TINYINT, 3),
    _number("SMALLINT", _X.XDBC_SMALLINT, 5),
    _number("INT", _X.XDBC_INTEGER, 10),
    _number("BIGINT", _X.XDBC_BIGINT, 19),
    # Column sizes of approximate types in decimal digits, as Spark's Thrift server reports them.
    _number("FLOAT", _X.XDBC_REAL, 7, (None, None)),
    _number("DOUBLE", _X.XDBC_DOUBLE, 15, (None, None)),
    _number("DECIMAL", _X.XDBC_DECIMAL, 38, (0, 38))._replace(create_params=["precision", "scale"]),
    _text("STRING", _X.XDBC_VARCHAR, None, None),
    _text("VARCHAR", _X.XDBC_VARCHAR, None, ["length"]),
    _text("CHAR", _X.XDBC_CHAR, None, ["length"]),
    XdbcType(
        "BINARY",
        _X.XDBC_BINARY,
        None,
        "X'",
        "'",
        None,
        _X.NULLABILITY_NULLABLE,
        False,
        _X.SEARCHABLE_BASIC,
        None,
        False,
        None,
        None,
        None,
        None,
        _X.XDBC_BINARY,
        None,
        None,
        None,
    ),
    _datetime("DATE", _X.XDBC_DATE, 10, "DATE '", _X.XDBC_SUBCODE_DATE, None),
    # TIMESTAMP is an instant shown in the session time zone; TIMESTAMP_NTZ a wall-clock time.
    _datetime("TIMESTAMP", _X.XDBC_TIMESTAMP, 26, "TIMESTAMP '", _X.XDBC_SUBCODE_TIMESTAMP_WITH_TIMEZONE, 6),
    _datetime("TIMESTAMP_NTZ", _X.XDBC_TIMESTAMP, 26, "TIMESTAMP_NTZ '", _X.XDBC_SUBCODE_TIMESTAMP, 6),
    _interval("INTERVAL YEAR TO MONTH", _X.XDBC_SUBCODE_YEAR_TO_MONTH, "YEAR TO MONTH", None),
    _interval("INTERVAL DAY TO SECOND", _X.XDBC_SUBCODE_DAY_TO_SECOND, "DAY TO SECOND", 6),
    # Arrays and structs compare (=, <, ...); maps do not.
    _nested("ARRAY", _JDBC_ARRAY, _X.SEARCHABLE_BASIC),
    _nested("MAP", _JDBC_JAVA_OBJECT, _X.SEARCHABLE_NONE),
    _nested("STRUCT", _JDBC_STRUCT, _X.SEARCHABLE_BASIC),
)
"""Spark SQL's types as GetXdbcTypeInfo rows, ordered by data_type then type_name when served."""

_XDBC_BY_NAME: Mapping[str, XdbcType] = {row.type_name: row for row in XDBC_TYPES}


def xdbc_type_info_table(data_type: int | None = None) -> pa.Table:
    """The GetXdbcTypeInfo result: every type, or those whose ``data_type`` is the one given."""
    rows = sorted(
        (row for row in XDBC_TYPES if data_type is None or row.data_type == data_type),
        key=lambda row: (row.data_type, row.type_name),
    )
    columns = {name: [getattr(row, name) for row in rows] for name in XdbcType._fields}
    return pa.Table.from_pydict(columns, schema=XDBC_TYPE_INFO)


# ---- facts about one column's type ------------------------------------------------------------

_CHAR_VARCHAR = "__CHAR_VARCHAR_TYPE_STRING"  # where Spark keeps a CHAR/VARCHAR column's declared type
_PLAIN_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@dataclass(frozen=True)
class TypeFacts:
    """What the Flight SQL column metadata says about a column of one Spark type."""

    type_name: str
    """Spark's SQL name of the type, e.g. ``DECIMAL(10,2)``, ``ARRAY<INT>``."""
    precision: int | None
    """Decimal precision, declared CHAR/VARCHAR length, or the type's column size (GetXdbcTypeInfo)."""
    scale: int | None
    case_sensitive: bool
    searchable: bool


def sql_type_name(data_type: DataType, metadata: Mapping[str, Any] | None = None) -> str:
    """Spark's SQL spelling of ``data_type`` (CHAR/VARCHAR as declared, from the field's metadata)."""
    from pyspark.sql import types as t

    declared = (metadata or {}).get(_CHAR_VARCHAR)
    if isinstance(declared, str):
        return declared.upper()
    if isinstance(data_type, t.ArrayType):
        return f"ARRAY<{sql_type_name(data_type.elementType)}>"
    if isinstance(data_type, t.MapType):
        return f"MAP<{sql_type_name(data_type.keyType)}, {sql_type_name(data_type.valueType)}>"
    if isinstance(data_type, t.StructType):
        fields = (
            f"{_quote_if_needed(f.name)}: {sql_type_name(f.dataType, f.metadata)}" for f in data_type.fields
        )
        return f"STRUCT<{', '.join(fields)}>"
    if isinstance(data_type, t.DecimalType):
        return f"DECIMAL({data_type.precision},{data_type.scale})"
    return data_type.simpleString().upper()


def _quote_if_needed(name: str) -> str:
    return name if _PLAIN_NAME.fullmatch(name) else "`" + name.replace("`", "``") + "`"


def _base_type(type_name: str) -> XdbcType | None:
    base = re.split(r"[(< ]", type_name, maxsplit=1)[0]  # DECIMAL(10,2), ARRAY<INT>, STRING COLLATE ...
    return _XDBC_BY_NAME.get(base)


def _interval_facts(data_type: DataType, type_name: str) -> TypeFacts:
    seconds = data_type.endField == 3  # type: ignore[attr-defined]  # - only DayTimeIntervalType has endField (3: SECOND)
    return TypeFacts(type_name, None, 6 if seconds else None, False, True)


def column_type_facts(data_type: DataType, metadata: Mapping[str, Any] | None = None) -> TypeFacts:
    """The facts of a column of ``data_type`` (``metadata``: the Spark field's metadata)."""
    from pyspark.sql import types as t

    type_name = sql_type_name(data_type, metadata)
    if isinstance(data_type, t.DayTimeIntervalType):
        return _interval_facts(data_type, type_name)
    if isinstance(data_type, t.YearMonthIntervalType):
        return TypeFacts(type_name, None, None, False, True)
    base = _base_type(type_name)
    if base is None:  # VARIANT, user-defined types, ...
        return TypeFacts(type_name, None, None, False, False)
    precision, scale = base.column_size, base.minimum_scale
    if isinstance(data_type, t.DecimalType):
        precision, scale = data_type.precision, data_type.scale
    length = re.fullmatch(r"(?:VAR)?CHAR\((\d+)\)", type_name)
    if length:
        precision = int(length.group(1))
    return TypeFacts(type_name, precision, scale, base.case_sensitive, base.searchable != _X.SEARCHABLE_NONE)
