"""Metadata result schemas match the specification (as arrow-go's schema_ref spells it)."""

from __future__ import annotations

import pyarrow as pa
import pytest

from spark_flight_sql.flightsql import schemas
from spark_flight_sql.flightsql.proto import FlightSql_pb2 as sql_pb2

U, N = True, False  # nullable, not null

# (name, type, nullable) for every top-level column, written out from the specification.
EXPECTED: dict[str, list[tuple[str, pa.DataType, bool]]] = {
    "CATALOGS": [("catalog_name", pa.utf8(), N)],
    "DB_SCHEMAS": [("catalog_name", pa.utf8(), U), ("db_schema_name", pa.utf8(), N)],
    "TABLES": [
        ("catalog_name", pa.utf8(), U),
        ("db_schema_name", pa.utf8(), U),
        ("table_name", pa.utf8(), N),
        ("table_type", pa.utf8(), N),
    ],
    "TABLES_WITH_SCHEMA": [
        ("catalog_name", pa.utf8(), U),
        ("db_schema_name", pa.utf8(), U),
        ("table_name", pa.utf8(), N),
        ("table_type", pa.utf8(), N),
        ("table_schema", pa.binary(), N),
    ],
    "TABLE_TYPES": [("table_type", pa.utf8(), N)],
    "PRIMARY_KEYS": [
        ("catalog_name", pa.utf8(), U),
        ("db_schema_name", pa.utf8(), U),
        ("table_name", pa.utf8(), N),
        ("column_name", pa.utf8(), N),
        ("key_sequence", pa.int32(), N),
        ("key_name", pa.utf8(), U),
    ],
    "XDBC_TYPE_INFO": [
        ("type_name", pa.utf8(), N),
        ("data_type", pa.int32(), N),
        ("column_size", pa.int32(), U),
        ("literal_prefix", pa.utf8(), U),
        ("literal_suffix", pa.utf8(), U),
        ("create_params", pa.list_(pa.field("item", pa.utf8(), nullable=False)), U),
        ("nullable", pa.int32(), N),
        ("case_sensitive", pa.bool_(), N),
        ("searchable", pa.int32(), N),
        ("unsigned_attribute", pa.bool_(), U),
        ("fixed_prec_scale", pa.bool_(), N),
        ("auto_increment", pa.bool_(), U),
        ("local_type_name", pa.utf8(), U),
        ("minimum_scale", pa.int32(), U),
        ("maximum_scale", pa.int32(), U),
        ("sql_data_type", pa.int32(), N),
        ("datetime_subcode", pa.int32(), U),
        ("num_prec_radix", pa.int32(), U),
        ("interval_precision", pa.int32(), U),
    ],
}
KEYS = [
    ("pk_catalog_name", pa.utf8(), U),
    ("pk_db_schema_name", pa.utf8(), U),
    ("pk_table_name", pa.utf8(), N),
    ("pk_column_name", pa.utf8(), N),
    ("fk_catalog_name", pa.utf8(), U),
    ("fk_db_schema_name", pa.utf8(), U),
    ("fk_table_name", pa.utf8(), N),
    ("fk_column_name", pa.utf8(), N),
    ("key_sequence", pa.int32(), N),
    ("fk_key_name", pa.utf8(), U),
    ("pk_key_name", pa.utf8(), U),
    ("update_rule", pa.uint8(), N),
    ("delete_rule", pa.uint8(), N),
]
EXPECTED |= {"IMPORTED_KEYS": KEYS, "EXPORTED_KEYS": KEYS, "CROSS_REFERENCE": KEYS}


def _describe(field: pa.Field) -> object:
    """Name, type id, nullability and metadata of a field and, recursively, its children."""
    t = field.type
    children = [t.field(i) for i in range(t.num_fields)]
    extra = list(t.type_codes) if isinstance(t, pa.UnionType) else None
    return (
        field.name,
        str(t.id),
        field.nullable,
        field.metadata,
        extra,
        [_describe(c) for c in children],
    )


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_metadata_schema(name: str) -> None:
    schema: pa.Schema = getattr(schemas, name)
    expected = pa.schema([pa.field(n, t, nullable=nullable) for n, t, nullable in EXPECTED[name]])
    assert [_describe(f) for f in schema] == [_describe(f) for f in expected]
    assert schema.equals(expected, check_metadata=True)
    assert schema.metadata is None


def test_create_params_items_are_not_null() -> None:
    item = schemas.XDBC_TYPE_INFO.field("create_params").type.value_field
    assert (item.name, item.type, item.nullable) == ("item", pa.utf8(), False)


def test_sql_info_schema_in_every_detail() -> None:
    schema = schemas.SQL_INFO
    assert schema.names == ["info_name", "value"]
    info_name, value = schema.field("info_name"), schema.field("value")
    assert (info_name.type, info_name.nullable) == (pa.uint32(), False)
    assert value.nullable is False
    union = value.type
    assert isinstance(union, pa.UnionType) and union.mode == "dense"
    assert list(union.type_codes) == [0, 1, 2, 3, 4, 5]
    children = [union.field(i) for i in range(union.num_fields)]
    assert [(c.name, c.nullable) for c in children] == [
        ("string_value", False),
        ("bool_value", False),
        ("bigint_value", False),
        ("int32_bitmask", False),
        ("string_list", False),
        ("int32_to_int32_list_map", False),
    ]
    assert [c.type for c in children[:4]] == [pa.utf8(), pa.bool_(), pa.int64(), pa.int32()]

    string_list = children[4].type
    assert isinstance(string_list, pa.ListType)
    item = string_list.value_field
    assert (item.name, item.type, item.nullable) == ("item", pa.utf8(), True)

    int_map = children[5].type
    assert isinstance(int_map, pa.MapType) and not int_map.keys_sorted
    entries = int_map.field(0)
    assert (entries.name, entries.nullable) == ("entries", False)
    key, item_field = int_map.key_field, int_map.item_field
    assert (key.name, key.type, key.nullable) == ("key", pa.int32(), False)
    assert (item_field.name, item_field.nullable) == ("value", True)
    inner = item_field.type
    assert isinstance(inner, pa.ListType)
    assert (inner.value_field.name, inner.value_type, inner.value_field.nullable) == (
        "item",
        pa.int32(),
        True,
    )


@pytest.mark.parametrize("name", [*sorted(EXPECTED), "SQL_INFO"])
def test_schemas_survive_ipc(name: str) -> None:
    schema: pa.Schema = getattr(schemas, name)
    restored = pa.ipc.read_schema(pa.py_buffer(schema.serialize()))
    assert restored.equals(schema)
    assert [_describe(f) for f in restored] == [_describe(f) for f in schema]


I = sql_pb2.SqlInfo  # noqa: E741 - reads as the spec's SqlInfo

VALUES: dict[int, object] = {
    I.FLIGHT_SQL_SERVER_NAME: "spark-flight-sql",
    I.FLIGHT_SQL_SERVER_READ_ONLY: False,
    I.FLIGHT_SQL_SERVER_TRANSACTION: 0,  # a plain int, but an int32 SqlInfo
    I.SQL_MAX_COLUMN_NAME_LENGTH: 128,
    I.SQL_KEYWORDS: ["ANTI", "SEMI"],
    I.SQL_SUPPORTS_CONVERT: {0: [1, 19], 19: []},
    10_000: schemas.Int32Bitmask(5),
    10_001: 2**40,
}


def _ipc_round_trip(table: pa.Table) -> pa.Table:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    with pa.ipc.open_stream(sink.getvalue()) as reader:
        return reader.read_all()


def test_sql_info_table_round_trips_through_ipc() -> None:
    table = schemas.sql_info_table(VALUES)
    assert table.schema.equals(schemas.SQL_INFO)
    table.validate(full=True)
    restored = _ipc_round_trip(table)
    assert restored.schema.equals(schemas.SQL_INFO)
    assert restored.equals(table)
    rows = {row["info_name"]: row["value"] for row in restored.to_pylist()}
    assert rows == {
        0: "spark-flight-sql",
        3: False,
        8: 0,
        543: 128,
        508: ["ANTI", "SEMI"],
        517: [(0, [1, 19]), (19, [])],
        10_000: 5,
        10_001: 2**40,
    }


def test_sql_info_table_picks_the_union_child_by_python_type() -> None:
    table = schemas.sql_info_table(VALUES)
    union = table.column("value").chunk(0)
    codes = dict(zip(table.column("info_name").to_pylist(), union.type_codes.to_pylist()))
    assert codes == {
        0: 0,  # str -> string_value
        3: 1,  # bool -> bool_value (not an int)
        8: 3,  # int for an int32 SqlInfo -> int32_bitmask
        543: 2,  # int -> bigint_value
        508: 4,  # list[str] -> string_list
        517: 5,  # dict -> int32_to_int32_list_map
        10_000: 3,  # Int32Bitmask -> int32_bitmask
        10_001: 2,
    }


def test_int32_info_ids_are_the_int32_sql_infos() -> None:
    assert I.FLIGHT_SQL_SERVER_TRANSACTION in schemas.INT32_INFO_IDS
    assert I.SQL_SUPPORTED_UNIONS in schemas.INT32_INFO_IDS
    assert I.SQL_NULL_ORDERING in schemas.INT32_INFO_IDS
    assert I.SQL_MAX_COLUMN_NAME_LENGTH not in schemas.INT32_INFO_IDS
    assert I.FLIGHT_SQL_SERVER_CANCEL not in schemas.INT32_INFO_IDS


def test_sql_info_table_rejects_other_types() -> None:
    with pytest.raises(TypeError, match="SqlInfo 10000: float"):
        schemas.sql_info_table({10_000: 1.5})
    with pytest.raises(TypeError):
        schemas.sql_info_table({10_000: [1, 2]})


def test_empty_sql_info_table() -> None:
    table = schemas.sql_info_table({})
    assert table.num_rows == 0 and table.schema.equals(schemas.SQL_INFO)
    assert _ipc_round_trip(table).num_rows == 0


@pytest.mark.parametrize("source", ["table", "mapping"])
def test_filter_sql_info(source: str) -> None:
    given = schemas.sql_info_table(VALUES) if source == "table" else VALUES
    everything = schemas.filter_sql_info(given, [])
    assert everything.column("info_name").to_pylist() == list(VALUES)

    some = schemas.filter_sql_info(given, [517, 0, 9_999, 517])
    assert some.schema.equals(schemas.SQL_INFO)
    assert some.to_pylist() == [
        {"info_name": 517, "value": [(0, [1, 19]), (19, [])]},
        {"info_name": 0, "value": "spark-flight-sql"},
    ]
    assert _ipc_round_trip(some).equals(some.combine_chunks())

    assert schemas.filter_sql_info(given, [9_999]).num_rows == 0
