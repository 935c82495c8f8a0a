"""The fixed Arrow schemas of Flight SQL metadata results, and the GetSqlInfo result builder.

Every name, type and nullability (nested fields included) is the one arrow-go's
``flightsql/schema_ref`` declares, which is what the ADBC Go driver checks results against: a
mismatch in the GetSqlInfo union makes that driver abort the whole client process. Where the
specification's comments and the implementations differ, the implementations win:

- GetPrimaryKeys puts ``key_sequence`` before ``key_name`` (arrow-go, Java and C++ all do).
- The union children of GetSqlInfo and its ``value`` column are not nullable, and list items
  are called ``item`` (the specification's comment says ``string_data`` / ``$data$``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TypeAlias

import pyarrow as pa

from spark_flight_sql.flightsql.proto import FlightSql_pb2 as sql_pb2

__all__ = [
    "CATALOGS",
    "CROSS_REFERENCE",
    "DB_SCHEMAS",
    "EXPORTED_KEYS",
    "IMPORTED_KEYS",
    "INT32_INFO_IDS",
    "PRIMARY_KEYS",
    "SQL_INFO",
    "SQL_INFO_VALUE",
    "TABLES",
    "TABLES_WITH_SCHEMA",
    "TABLE_TYPES",
    "XDBC_TYPE_INFO",
    "Int32Bitmask",
    "SqlInfoValue",
    "filter_sql_info",
    "sql_info_table",
]


def _utf8(name: str, nullable: bool) -> pa.Field:
    return pa.field(name, pa.utf8(), nullable=nullable)


CATALOGS = pa.schema([_utf8("catalog_name", False)])

DB_SCHEMAS = pa.schema([_utf8("catalog_name", True), _utf8("db_schema_name", False)])

TABLES = pa.schema(
    [
        _utf8("catalog_name", True),
        _utf8("db_schema_name", True),
        _utf8("table_name", False),
        _utf8("table_type", False),
    ]
)

TABLES_WITH_SCHEMA = TABLES.append(pa.field("table_schema", pa.binary(), nullable=False))
"""GetTables with ``include_schema``: ``table_schema`` holds each table's IPC-serialized schema."""

TABLE_TYPES = pa.schema([_utf8("table_type", False)])

PRIMARY_KEYS = pa.schema(
    [
        _utf8("catalog_name", True),
        _utf8("db_schema_name", True),
        _utf8("table_name", False),
        _utf8("column_name", False),
        pa.field("key_sequence", pa.int32(), nullable=False),
        _utf8("key_name", True),
    ]
)

_KEYS = pa.schema(
    [
        _utf8("pk_catalog_name", True),
        _utf8("pk_db_schema_name", True),
        _utf8("pk_table_name", False),
        _utf8("pk_column_name", False),
        _utf8("fk_catalog_name", True),
        _utf8("fk_db_schema_name", True),
        _utf8("fk_table_name", False),
        _utf8("fk_column_name", False),
        pa.field("key_sequence", pa.int32(), nullable=False),
        _utf8("fk_key_name", True),
        _utf8("pk_key_name", True),
        pa.field("update_rule", pa.uint8(), nullable=False),
        pa.field("delete_rule", pa.uint8(), nullable=False),
    ]
)
IMPORTED_KEYS = _KEYS
EXPORTED_KEYS = _KEYS
CROSS_REFERENCE = _KEYS

XDBC_TYPE_INFO = pa.schema(
    [
        _utf8("type_name", False),
        pa.field("data_type", pa.int32(), nullable=False),
        pa.field("column_size", pa.int32(), nullable=True),
        _utf8("literal_prefix", True),
        _utf8("literal_suffix", True),
        pa.field("create_params", pa.list_(pa.field("item", pa.utf8(), nullable=False)), nullable=True),
        pa.field("nullable", pa.int32(), nullable=False),
        pa.field("case_sensitive", pa.bool_(), nullable=False),
        pa.field("searchable", pa.int32(), nullable=False),
        pa.field("unsigned_attribute", pa.bool_(), nullable=True),
        pa.field("fixed_prec_scale", pa.bool_(), nullable=False),
        pa.field("auto_increment", pa.bool_(), nullable=True),
        _utf8("local_type_name", True),
        pa.field("minimum_scale", pa.int32(), nullable=True),
        pa.field("maximum_scale", pa.int32(), nullable=True),
        pa.field("sql_data_type", pa.int32(), nullable=False),
        pa.field("datetime_subcode", pa.int32(), nullable=True),
        pa.field("num_prec_radix", pa.int32(), nullable=True),
        pa.field("interval_precision", pa.int32(), nullable=True),
    ]
)

# Union type codes of the GetSqlInfo value column, in child order.
_STRING, _BOOL, _BIGINT, _INT32, _STRING_LIST, _INT32_MAP = range(6)

_INT32_LIST_MAP = pa.map_(pa.int32(), pa.list_(pa.int32()))

SQL_INFO_VALUE = pa.dense_union(
    [
        pa.field("string_value", pa.utf8(), nullable=False),
        pa.field("bool_value", pa.bool_(), nullable=False),
        pa.field("bigint_value", pa.int64(), nullable=False),
        pa.field("int32_bitmask", pa.int32(), nullable=False),
        pa.field("string_list", pa.list_(pa.utf8()), nullable=False),
        pa.field("int32_to_int32_list_map", _INT32_LIST_MAP, nullable=False),
    ],
    type_codes=[_STRING, _BOOL, _BIGINT, _INT32, _STRING_LIST, _INT32_MAP],
)
"""The type of GetSqlInfo's ``value`` column."""

SQL_INFO = pa.schema(
    [
        pa.field("info_name", pa.uint32(), nullable=False),
        pa.field("value", SQL_INFO_VALUE, nullable=False),
    ]
)


class Int32Bitmask(int):
    """An int to send in the ``int32_bitmask`` child of GetSqlInfo rather than ``bigint_value``.

    That child carries every int32 the specification defines, bitmasks and ordinals alike.
    The ids in :data:`INT32_INFO_IDS` go there anyway; wrap values of other ids (your own,
    from 10000 on) in this to send them as int32.
    """


_I = sql_pb2.SqlInfo
INT32_INFO_IDS: frozenset[int] = frozenset(
    (
        _I.FLIGHT_SQL_SERVER_TRANSACTION,
        _I.FLIGHT_SQL_SERVER_STATEMENT_TIMEOUT,
        _I.FLIGHT_SQL_SERVER_TRANSACTION_TIMEOUT,
        _I.SQL_IDENTIFIER_CASE,
        _I.SQL_QUOTED_IDENTIFIER_CASE,
        _I.SQL_NULL_ORDERING,
        _I.SQL_SUPPORTED_GROUP_BY,
        _I.SQL_SUPPORTED_GRAMMAR,
        _I.SQL_ANSI92_SUPPORTED_LEVEL,
        _I.SQL_OUTER_JOINS_SUPPORT_LEVEL,
        _I.SQL_SCHEMAS_SUPPORTED_ACTIONS,
        _I.SQL_CATALOGS_SUPPORTED_ACTIONS,
        _I.SQL_SUPPORTED_POSITIONED_COMMANDS,
        _I.SQL_SUPPORTED_SUBQUERIES,
        _I.SQL_SUPPORTED_UNIONS,
        _I.SQL_DEFAULT_TRANSACTION_ISOLATION,
        _I.SQL_SUPPORTED_TRANSACTIONS_ISOLATION_LEVELS,
        _I.SQL_SUPPORTED_RESULT_SET_TYPES,
        _I.SQL_SUPPORTED_CONCURRENCIES_FOR_RESULT_SET_UNSPECIFIED,
        _I.SQL_SUPPORTED_CONCURRENCIES_FOR_RESULT_SET_FORWARD_ONLY,
        _I.SQL_SUPPORTED_CONCURRENCIES_FOR_RESULT_SET_SCROLL_SENSITIVE,
        _I.SQL_SUPPORTED_CONCURRENCIES_FOR_RESULT_SET_SCROLL_INSENSITIVE,
    )
)
"""SqlInfo ids the specification types int32: a plain int for them goes in ``int32_bitmask``."""
del _I

SqlInfoValue: TypeAlias = "str | bool | int | list[str] | tuple[str, ...] | Mapping[int, list[int]]"
"""A GetSqlInfo value; the Python type picks the union child (see :func:`sql_info_table`)."""


def _type_code(info_id: int, value: object) -> int:
    # bool before int: bool is an int subclass.
    if isinstance(value, bool):
        return _BOOL
    if isinstance(value, Int32Bitmask) or (isinstance(value, int) and info_id in INT32_INFO_IDS):
        return _INT32
    if isinstance(value, int):
        return _BIGINT
    if isinstance(value, str):
        return _STRING
    if isinstance(value, (list, tuple)) and all(isinstance(item, str) for item in value):
        return _STRING_LIST
    if isinstance(value, Mapping):
        return _INT32_MAP
    raise TypeError(
        f"SqlInfo {info_id}: {type(value).__name__} is not a GetSqlInfo value "
        "(str, bool, int, Int32Bitmask, list[str] or dict[int, list[int]])"
    )


def _child_value(code: int, value: object) -> object:
    if code == _INT32_MAP:
        assert isinstance(value, Mapping)
        return [(int(key), [int(item) for item in items]) for key, items in value.items()]
    if code == _STRING_LIST:
        assert isinstance(value, (list, tuple))
        return list(value)
    return value


_CHILD_TYPES = [SQL_INFO_VALUE.field(code).type for code in range(6)]


def sql_info_table(values: Mapping[int, SqlInfoValue]) -> pa.Table:
    """The GetSqlInfo result for ``values`` (info id -> value), in the mapping's order.

    The union child follows the value's Python type: ``str`` -> string_value, ``bool`` ->
    bool_value, ``int`` -> bigint_value (int32_bitmask for :data:`INT32_INFO_IDS` and
    :class:`Int32Bitmask`), ``list[str]`` -> string_list, ``dict[int, list[int]]`` ->
    int32_to_int32_list_map.
    """
    names: list[int] = []
    type_codes: list[int] = []
    offsets: list[int] = []
    children: list[list[object]] = [[] for _ in range(6)]
    for info_id, value in values.items():
        code = _type_code(int(info_id), value)
        names.append(int(info_id))
        type_codes.append(code)
        offsets.append(len(children[code]))
        children[code].append(_child_value(code, value))
    union = pa.Array.from_buffers(
        SQL_INFO_VALUE,
        len(names),
        [
            None,
            pa.array(type_codes, pa.int8()).buffers()[1],
            pa.array(offsets, pa.int32()).buffers()[1],
        ],
        children=[pa.array(items, type=t) for items, t in zip(children, _CHILD_TYPES)],
    )
    return pa.Table.from_arrays([pa.array(names, pa.uint32()), union], schema=SQL_INFO)


def filter_sql_info(
    table_or_values: pa.Table | Mapping[int, SqlInfoValue], requested: Iterable[int]
) -> pa.Table:
    """The rows of a GetSqlInfo result for the ``requested`` ids, in the order requested.

    An empty request means every row. Ids the server has no value for are left out rather
    than failing the whole request, so clients asking for more than a server knows (ADBC
    asks for a fixed list on connect) still get everything it does know.
    """
    requested = list(dict.fromkeys(int(i) for i in requested))
    if isinstance(table_or_values, Mapping):
        if requested:
            values = table_or_values
            table_or_values = {i: values[i] for i in requested if i in values}
        return sql_info_table(table_or_values)
    table = table_or_values
    if not requested:
        return table
    row_of: dict[int | None, int] = {}
    for row, info_id in enumerate(table.column("info_name").to_pylist()):
        row_of.setdefault(info_id, row)
    rows = [row_of[i] for i in requested if i in row_of]
    return table.take(pa.array(rows, pa.int64()))
