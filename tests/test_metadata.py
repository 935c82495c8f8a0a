"""Catalog metadata against a real node: raw Flight SQL commands and ADBC's metadata calls.

The module runs its own node (one process for the module), with the demo tables, a second
catalog (Spark's JDBC catalog over an in-memory Derby database, both in PySpark's jars) and a
catalog whose class does not exist. Every object the tests create is named ``meta_*``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import adbc_driver_flightsql.dbapi
import adbc_driver_manager
import pyarrow as pa
import pyarrow.flight as flight
import pytest
from google.protobuf.message import Message
from support.server import ServerProcess, start_server

from spark_flight_sql.flightsql import protocol, schemas
from spark_flight_sql.flightsql.catalog import like, named
from spark_flight_sql.flightsql.proto import FlightSql_pb2 as sql_pb2

I = sql_pb2.SqlInfo  # noqa: E741 - reads as the spec's SqlInfo

OTHER_CATALOG = [
    "--conf",
    "spark.sql.catalog.other=org.apache.spark.sql.execution.datasources.v2.jdbc.JDBCTableCatalog",
    "--conf",
    "spark.sql.catalog.other.url=jdbc:derby:memory:meta_other;create=true",
    "--conf",
    "spark.sql.catalog.other.driver=org.apache.derby.jdbc.EmbeddedDriver",
    "--conf",
    "spark.sql.catalog.broken=org.example.NoSuchCatalog",
    # Derby would write derby.log into the node's working directory, the source tree.
    "--conf",
    "spark.driver.extraJavaOptions=-Dderby.stream.error.file=/dev/null",
]

SETUP = [
    "CREATE DATABASE meta_db",
    """CREATE TABLE meta_db.t_managed (
        id INT, price DECIMAL(12,3) COMMENT 'cost', code CHAR(3), label VARCHAR(20),
        at TIMESTAMP, tags ARRAY<STRING>) USING parquet""",
    "CREATE TABLE meta_db.tzz (a INT) USING parquet",
    "CREATE VIEW meta_db.v_view AS SELECT id, price FROM meta_db.t_managed",
    "CREATE DATABASE meta_x_y",
    "CREATE DATABASE metazxzy",
    "CREATE DATABASE meta_broken",
    "CREATE TABLE meta_broken.base (a INT) USING parquet",
    "CREATE VIEW meta_broken.stale AS SELECT a FROM meta_broken.base",
    "DROP TABLE meta_broken.base",
    "CREATE GLOBAL TEMPORARY VIEW meta_global AS SELECT 2 AS two",
    "CREATE NAMESPACE other.meta_ns",
    "CREATE TABLE other.meta_ns.jt (a INT, s STRING)",
]


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A node with the demo tables, the catalogs above and this module's objects."""
    # A temporary view lives in a session: the node's own, registered by an init script, is
    # copied into every client's session.
    init_script = tmp_path_factory.mktemp("meta_init") / "temp_view.py"
    init_script.write_text(
        "spark.sql(\"CREATE TEMPORARY VIEW meta_temp AS SELECT 1 AS one, 'x' AS letter\")\n"
    )
    process = start_server(*OTHER_CATALOG, "--init-script", str(init_script))
    try:
        external = tmp_path_factory.mktemp("meta_external")
        with _adbc(process) as connection, connection.cursor() as cursor:
            for statement in SETUP:
                cursor.execute(statement)
            cursor.execute(
                f"CREATE TABLE meta_db.t_external (a INT) USING parquet LOCATION '{external / 'data'}'"
            )
        yield process
    finally:
        code = process.stop()
    assert code == 0, "the node did not stop cleanly:\n" + "\n".join(process.lines[-50:])


def _adbc(process: ServerProcess) -> Any:
    return adbc_driver_flightsql.dbapi.connect(process.location)


@pytest.fixture
def conn(node: ServerProcess) -> Iterator[Any]:
    """An ADBC DBAPI connection to the module's node."""
    with _adbc(node) as connection:
        yield connection


@pytest.fixture
def client(node: ServerProcess) -> Iterator[flight.FlightClient]:
    """A raw pyarrow.flight client of the module's node."""
    with flight.FlightClient(node.location) as raw:
        yield raw


def _descriptor(command: Message) -> flight.FlightDescriptor:
    return flight.FlightDescriptor.for_command(protocol.pack_command(command))


def _fetch(client: flight.FlightClient, command: Message) -> pa.Table:
    """GetFlightInfo then DoGet of its one endpoint; the FlightInfo's schema must be the data's."""
    info = client.get_flight_info(_descriptor(command))
    [endpoint] = info.endpoints
    assert list(endpoint.locations) == []
    table = client.do_get(endpoint.ticket).read_all()
    assert table.schema == info.schema
    return table


def _exactly(table: pa.Table, schema: pa.Schema) -> None:
    """Names, types, nullability and metadata of every field, nested ones included."""
    assert table.schema.equals(schema, check_metadata=True), f"{table.schema}\n!=\n{schema}"


def _rows(table: pa.Table, *columns: str) -> list[tuple[Any, ...]]:
    return list(zip(*(table.column(name).to_pylist() for name in columns)))


def _tables(client: flight.FlightClient, **fields: Any) -> list[tuple[str, str, str, str]]:
    table = _fetch(client, sql_pb2.CommandGetTables(**fields))
    _exactly(table, schemas.TABLES)
    return _rows(table, "catalog_name", "db_schema_name", "table_name", "table_type")


def _schemas(client: flight.FlightClient, **fields: Any) -> list[tuple[str, str]]:
    table = _fetch(client, sql_pb2.CommandGetDbSchemas(**fields))
    _exactly(table, schemas.DB_SCHEMAS)
    return _rows(table, "catalog_name", "db_schema_name")


# ---- patterns (no server) ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "name", "matches"),
    [
        ("d%", "demo", True),
        ("d_mo", "demo", True),
        ("d_mo", "dmo", False),
        ("%", "", True),
        ("", "", True),
        ("", "x", False),
        (r"meta\_x\_y", "meta_x_y", True),
        (r"meta\_x\_y", "metazxzy", False),
        (r"100\%", "100%", True),
        (r"100\%", "1000", False),
        ("a.b", "axb", False),
        ("a\\", "a\\", True),
        ("DEMO", "demo", True),
    ],
)
def test_like_patterns_follow_the_flight_sql_rules(pattern: str, name: str, matches: bool) -> None:
    assert like(pattern, case_sensitive=False)(name) is matches


def test_case_sensitive_matching_when_spark_is() -> None:
    assert not like("DEMO", case_sensitive=True)("demo")
    assert not named("DEMO", case_sensitive=True)("demo")
    assert named("DEMO", case_sensitive=False)("demo")
    assert like(None, case_sensitive=True)("anything") and named(None, case_sensitive=True)("x")


# ---- GetSchema and FlightInfo of every command ---------------------------------------------------

KEYS_OF_CUSTOMERS = {"catalog": "spark_catalog", "db_schema": "demo", "table": "customers"}
FIXED_SCHEMAS = [
    (sql_pb2.CommandGetCatalogs(), schemas.CATALOGS),
    (sql_pb2.CommandGetDbSchemas(), schemas.DB_SCHEMAS),
    (sql_pb2.CommandGetTables(), schemas.TABLES),
    (sql_pb2.CommandGetTables(include_schema=True), schemas.TABLES_WITH_SCHEMA),
    (sql_pb2.CommandGetTableTypes(), schemas.TABLE_TYPES),
    (sql_pb2.CommandGetSqlInfo(), schemas.SQL_INFO),
    (sql_pb2.CommandGetXdbcTypeInfo(), schemas.XDBC_TYPE_INFO),
    (sql_pb2.CommandGetPrimaryKeys(**KEYS_OF_CUSTOMERS), schemas.PRIMARY_KEYS),
    (sql_pb2.CommandGetExportedKeys(**KEYS_OF_CUSTOMERS), schemas.EXPORTED_KEYS),
    (sql_pb2.CommandGetImportedKeys(**KEYS_OF_CUSTOMERS), schemas.IMPORTED_KEYS),
    (
        sql_pb2.CommandGetCrossReference(pk_table="customers", fk_db_schema="demo", fk_table="sales"),
        schemas.CROSS_REFERENCE,
    ),
]


@pytest.mark.parametrize(("command", "schema"), FIXED_SCHEMAS, ids=lambda v: type(v).__name__)
def test_get_schema_and_results_have_the_fixed_schema(
    client: flight.FlightClient, command: Message, schema: pa.Schema
) -> None:
    assert client.get_schema(_descriptor(command)).schema.equals(schema, check_metadata=True)
    _exactly(_fetch(client, command), schema)


# ---- GetCatalogs, GetDbSchemas ---------------------------------------------------------------------


def test_catalogs_are_the_session_system_and_configured_ones_sorted(client: flight.FlightClient) -> None:
    table = _fetch(client, sql_pb2.CommandGetCatalogs())
    _exactly(table, schemas.CATALOGS)
    assert table.column("catalog_name").to_pylist() == ["broken", "other", "spark_catalog", "system"]


def test_db_schemas_of_every_catalog_sorted(client: flight.FlightClient) -> None:
    rows = _schemas(client)
    assert rows == sorted(rows)
    for expected in [
        ("other", "meta_ns"),
        ("spark_catalog", "default"),
        ("spark_catalog", "demo"),
        ("spark_catalog", "global_temp"),
        ("spark_catalog", "meta_db"),
        ("system", "session"),
    ]:
        assert expected in rows
    assert {catalog for catalog, _ in rows} == {"other", "spark_catalog", "system"}, "broken is left out"


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"catalog": "spark_catalog", "db_schema_filter_pattern": "de%"}, ["default", "demo"]),
        ({"catalog": "spark_catalog", "db_schema_filter_pattern": "d_mo"}, ["demo"]),
        ({"catalog": "spark_catalog", "db_schema_filter_pattern": "DEMO"}, ["demo"]),
        ({"catalog": "spark_catalog", "db_schema_filter_pattern": "meta_x_y"}, ["meta_x_y", "metazxzy"]),
        ({"catalog": "spark_catalog", "db_schema_filter_pattern": r"meta\_x\_y"}, ["meta_x_y"]),
        ({"catalog": "system"}, ["session"]),
        ({"catalog": "other", "db_schema_filter_pattern": "meta%"}, ["meta_ns"]),
        ({"catalog": "nowhere"}, []),
        ({"catalog": ""}, []),
    ],
)
def test_db_schema_filters(client: flight.FlightClient, fields: dict[str, str], expected: list[str]) -> None:
    rows = _schemas(client, **fields)
    assert [schema for _, schema in rows] == expected
    assert {catalog for catalog, _ in rows} <= {fields["catalog"]}


def test_a_catalog_named_explicitly_reports_its_error(client: flight.FlightClient) -> None:
    with pytest.raises(flight.FlightError, match="broken"):
        _fetch(client, sql_pb2.CommandGetDbSchemas(catalog="broken"))


# ---- GetTables -------------------------------------------------------------------------------------


def test_tables_of_every_kind_and_where_they_appear(client: flight.FlightClient) -> None:
    rows = _tables(client)
    assert rows == sorted(rows)
    for expected in [
        ("other", "meta_ns", "jt", "TABLE"),
        ("spark_catalog", "demo", "customers", "TABLE"),
        ("spark_catalog", "global_temp", "meta_global", "TEMPORARY VIEW"),
        ("spark_catalog", "meta_db", "t_external", "TABLE"),
        ("spark_catalog", "meta_db", "t_managed", "TABLE"),
        ("spark_catalog", "meta_db", "v_view", "VIEW"),
        ("system", "session", "meta_temp", "TEMPORARY VIEW"),
    ]:
        assert expected in rows
    assert [row for row in rows if row[2] == "meta_temp"] == [
        ("system", "session", "meta_temp", "TEMPORARY VIEW")
    ]


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"db_schema_filter_pattern": "meta_db"}, ["t_external", "t_managed", "tzz", "v_view"]),
        (
            {"db_schema_filter_pattern": "meta_db", "table_name_filter_pattern": "t_%"},
            ["t_external", "t_managed", "tzz"],
        ),
        (
            {"db_schema_filter_pattern": "meta_db", "table_name_filter_pattern": r"t\_%"},
            ["t_external", "t_managed"],
        ),
        ({"db_schema_filter_pattern": "META_DB", "table_name_filter_pattern": "T_MANAGED"}, ["t_managed"]),
        ({"db_schema_filter_pattern": "meta_db", "table_types": ["VIEW"]}, ["v_view"]),
        (
            {"db_schema_filter_pattern": "meta_db", "table_types": ["TABLE"]},
            ["t_external", "t_managed", "tzz"],
        ),
        (
            {"db_schema_filter_pattern": "meta_db", "table_types": ["VIEW", "TABLE"]},
            ["t_external", "t_managed", "tzz", "v_view"],
        ),
        (
            {"table_name_filter_pattern": "meta%", "table_types": ["TEMPORARY VIEW"]},
            ["meta_global", "meta_temp"],
        ),
        ({"catalog": "system"}, ["meta_temp"]),
        ({"catalog": "other"}, ["jt"]),
        ({"catalog": "spark_catalog", "table_name_filter_pattern": "meta_temp"}, []),
        ({"catalog": ""}, []),
        ({"db_schema_filter_pattern": "meta_db", "table_types": ["SYSTEM TABLE"]}, []),
    ],
)
def test_table_filters(client: flight.FlightClient, fields: dict[str, Any], expected: list[str]) -> None:
    assert [name for _, _, name, _ in _tables(client, **fields)] == expected


def _table_schemas(client: flight.FlightClient, **fields: Any) -> dict[str, pa.Schema]:
    table = _fetch(client, sql_pb2.CommandGetTables(include_schema=True, **fields))
    _exactly(table, schemas.TABLES_WITH_SCHEMA)
    return {
        name: pa.ipc.read_schema(pa.py_buffer(data))
        for name, data in _rows(table, "table_name", "table_schema")
    }


def _result_schema(conn: Any, query: str) -> pa.Schema:
    with conn.cursor() as cursor:
        cursor.execute(query)
        return cursor.fetch_arrow_table().schema


def _shape(schema: pa.Schema) -> list[tuple[str, pa.DataType, bool]]:
    return [(field.name, field.type, field.nullable) for field in schema]


def test_table_schemas_are_those_of_query_results(client: flight.FlightClient, conn: Any) -> None:
    found = _table_schemas(client, db_schema_filter_pattern="meta_db")
    assert sorted(found) == ["t_external", "t_managed", "tzz", "v_view"]
    for name, schema in found.items():
        assert _shape(schema) == _shape(_result_schema(conn, f"SELECT * FROM meta_db.{name}")), name
    [demo] = _table_schemas(client, catalog="spark_catalog", table_name_filter_pattern="sales").values()
    assert _shape(demo) == _shape(_result_schema(conn, "SELECT * FROM demo.sales"))
    assert demo.field("sold_at").type == pa.timestamp("us", tz="UTC")


def _column_metadata(schema: pa.Schema, column: str) -> dict[str, str]:
    metadata = schema.field(column).metadata or {}
    return {
        key.decode(): value.decode()
        for key, value in metadata.items()
        if key.startswith(b"ARROW:FLIGHT:SQL:")
    }


def test_table_schema_fields_carry_flight_sql_column_metadata(client: flight.FlightClient) -> None:
    found = _table_schemas(client, catalog="spark_catalog", db_schema_filter_pattern="meta_db")
    managed = found["t_managed"]
    assert _column_metadata(managed, "price") == {
        "ARROW:FLIGHT:SQL:CATALOG_NAME": "spark_catalog",
        "ARROW:FLIGHT:SQL:SCHEMA_NAME": "meta_db",
        "ARROW:FLIGHT:SQL:DB_SCHEMA_NAME": "meta_db",
        "ARROW:FLIGHT:SQL:TABLE_NAME": "t_managed",
        "ARROW:FLIGHT:SQL:TYPE_NAME": "DECIMAL(12,3)",
        "ARROW:FLIGHT:SQL:PRECISION": "12",
        "ARROW:FLIGHT:SQL:SCALE": "3",
        "ARROW:FLIGHT:SQL:IS_AUTO_INCREMENT": "0",
        "ARROW:FLIGHT:SQL:IS_CASE_SENSITIVE": "0",
        "ARROW:FLIGHT:SQL:IS_READ_ONLY": "0",
        "ARROW:FLIGHT:SQL:IS_SEARCHABLE": "1",
        "ARROW:FLIGHT:SQL:REMARKS": "cost",
    }
    type_names = {
        field.name: _column_metadata(managed, field.name)["ARROW:FLIGHT:SQL:TYPE_NAME"] for field in managed
    }
    assert type_names == {
        "id": "INT",
        "price": "DECIMAL(12,3)",
        "code": "CHAR(3)",
        "label": "VARCHAR(20)",
        "at": "TIMESTAMP",
        "tags": "ARRAY<STRING>",
    }
    label = _column_metadata(managed, "label")
    assert label["ARROW:FLIGHT:SQL:PRECISION"] == "20" and label["ARROW:FLIGHT:SQL:IS_CASE_SENSITIVE"] == "1"
    assert _column_metadata(managed, "code")["ARROW:FLIGHT:SQL:PRECISION"] == "3"
    assert "ARROW:FLIGHT:SQL:SCALE" not in _column_metadata(managed, "label")
    view = _column_metadata(found["v_view"], "price")
    assert view["ARROW:FLIGHT:SQL:IS_READ_ONLY"] == "1" and view["ARROW:FLIGHT:SQL:TABLE_NAME"] == "v_view"


def test_temporary_view_schemas_and_metadata(client: flight.FlightClient) -> None:
    temp = _table_schemas(client, catalog="system")["meta_temp"]
    assert _shape(temp) == [("one", pa.int32(), False), ("letter", pa.string(), False)]
    assert _column_metadata(temp, "one")["ARROW:FLIGHT:SQL:CATALOG_NAME"] == "system"
    assert _column_metadata(temp, "one")["ARROW:FLIGHT:SQL:SCHEMA_NAME"] == "session"
    glob = _table_schemas(client, catalog="spark_catalog", db_schema_filter_pattern="global_temp")[
        "meta_global"
    ]
    assert _shape(glob) == [("two", pa.int32(), False)]


def test_a_view_spark_cannot_analyse_is_listed_with_an_empty_schema(client: flight.FlightClient) -> None:
    assert _table_schemas(client, db_schema_filter_pattern="meta_broken") == {"stale": pa.schema([])}


def test_tables_of_the_second_catalog_with_schemas(client: flight.FlightClient) -> None:
    found = _table_schemas(client, catalog="other", db_schema_filter_pattern="meta_ns")
    assert _shape(found["jt"]) == [("a", pa.int32(), True), ("s", pa.string(), True)]
    assert _column_metadata(found["jt"], "s")["ARROW:FLIGHT:SQL:CATALOG_NAME"] == "other"


# ---- GetTableTypes, keys, XdbcTypeInfo -------------------------------------------------------------


def test_table_types(client: flight.FlightClient) -> None:
    table = _fetch(client, sql_pb2.CommandGetTableTypes())
    _exactly(table, schemas.TABLE_TYPES)
    assert table.column("table_type").to_pylist() == ["TABLE", "TEMPORARY VIEW", "VIEW"]


KEY_COMMANDS = [
    (sql_pb2.CommandGetPrimaryKeys, schemas.PRIMARY_KEYS),
    (sql_pb2.CommandGetExportedKeys, schemas.EXPORTED_KEYS),
    (sql_pb2.CommandGetImportedKeys, schemas.IMPORTED_KEYS),
]


@pytest.mark.parametrize(("command", "schema"), KEY_COMMANDS, ids=lambda v: getattr(v, "__name__", ""))
@pytest.mark.parametrize(
    "where",
    [
        {"catalog": "spark_catalog", "db_schema": "demo", "table": "customers"},
        {"table": "customers"},
        {"db_schema": "META_DB", "table": "V_VIEW"},
        {"catalog": "system", "db_schema": "session", "table": "meta_temp"},
        {"catalog": "other", "db_schema": "meta_ns", "table": "jt"},
    ],
)
def test_keys_of_existing_tables_are_empty(
    client: flight.FlightClient, command: type[Message], schema: pa.Schema, where: dict[str, str]
) -> None:
    table = _fetch(client, command(**where))
    _exactly(table, schema)
    assert table.num_rows == 0


@pytest.mark.parametrize(("command", "schema"), KEY_COMMANDS, ids=lambda v: getattr(v, "__name__", ""))
@pytest.mark.parametrize(
    "where",
    [
        {"table": "meta_nowhere"},
        {"catalog": "spark_catalog", "db_schema": "default", "table": "customers"},
        {"catalog": "other", "db_schema": "demo", "table": "customers"},
        {"db_schema": "meta_db", "table": "t_%"},
    ],
)
def test_keys_of_unknown_tables_are_not_found_at_get_flight_info(
    client: flight.FlightClient, command: type[Message], schema: pa.Schema, where: dict[str, str]
) -> None:
    with pytest.raises(pa.ArrowKeyError, match="table not found"):
        client.get_flight_info(_descriptor(command(**where)))


def test_cross_reference(client: flight.FlightClient) -> None:
    found = sql_pb2.CommandGetCrossReference(
        pk_catalog="spark_catalog",
        pk_db_schema="demo",
        pk_table="customers",
        fk_db_schema="demo",
        fk_table="sales",
    )
    table = _fetch(client, found)
    _exactly(table, schemas.CROSS_REFERENCE)
    assert table.num_rows == 0
    for missing in (
        sql_pb2.CommandGetCrossReference(pk_table="customers", fk_table="meta_nowhere"),
        sql_pb2.CommandGetCrossReference(pk_table="meta_nowhere", fk_table="sales"),
    ):
        with pytest.raises(pa.ArrowKeyError, match="meta_nowhere"):
            client.get_flight_info(_descriptor(missing))


def _xdbc(client: flight.FlightClient, **fields: int) -> pa.Table:
    table = _fetch(client, sql_pb2.CommandGetXdbcTypeInfo(**fields))
    _exactly(table, schemas.XDBC_TYPE_INFO)
    return table


def test_xdbc_type_info_lists_spark_types_in_order(client: flight.FlightClient) -> None:
    table = _xdbc(client)
    rows = _rows(table, "data_type", "type_name")
    assert rows == sorted(rows)
    by_name = {row["type_name"]: row for row in table.to_pylist()}
    assert {
        "BOOLEAN",
        "TINYINT",
        "SMALLINT",
        "INT",
        "BIGINT",
        "FLOAT",
        "DOUBLE",
        "DECIMAL",
        "STRING",
        "VARCHAR",
        "CHAR",
        "BINARY",
        "DATE",
        "TIMESTAMP",
        "TIMESTAMP_NTZ",
        "INTERVAL YEAR TO MONTH",
        "INTERVAL DAY TO SECOND",
    } <= set(by_name)
    pb = sql_pb2
    codes = {
        name: (row["data_type"], row["sql_data_type"], row["datetime_subcode"])
        for name, row in by_name.items()
    }
    assert codes["BOOLEAN"] == (pb.XDBC_BIT, pb.XDBC_BIT, None)
    assert codes["TINYINT"] == (pb.XDBC_TINYINT, pb.XDBC_TINYINT, None)
    assert codes["SMALLINT"] == (pb.XDBC_SMALLINT, pb.XDBC_SMALLINT, None)
    assert codes["INT"] == (pb.XDBC_INTEGER, pb.XDBC_INTEGER, None)
    assert codes["BIGINT"] == (pb.XDBC_BIGINT, pb.XDBC_BIGINT, None)
    assert codes["FLOAT"] == (pb.XDBC_REAL, pb.XDBC_REAL, None)
    assert codes["DOUBLE"] == (pb.XDBC_DOUBLE, pb.XDBC_DOUBLE, None)
    assert codes["DECIMAL"] == (pb.XDBC_DECIMAL, pb.XDBC_DECIMAL, None)
    assert codes["STRING"] == codes["VARCHAR"] == (pb.XDBC_VARCHAR, pb.XDBC_VARCHAR, None)
    assert codes["CHAR"] == (pb.XDBC_CHAR, pb.XDBC_CHAR, None)
    assert codes["BINARY"] == (pb.XDBC_BINARY, pb.XDBC_BINARY, None)
    assert codes["DATE"] == (pb.XDBC_DATE, pb.XDBC_DATETIME, pb.XDBC_SUBCODE_DATE)
    assert codes["TIMESTAMP"] == (
        pb.XDBC_TIMESTAMP,
        pb.XDBC_DATETIME,
        pb.XDBC_SUBCODE_TIMESTAMP_WITH_TIMEZONE,
    )
    assert codes["TIMESTAMP_NTZ"] == (pb.XDBC_TIMESTAMP, pb.XDBC_DATETIME, pb.XDBC_SUBCODE_TIMESTAMP)
    assert codes["INTERVAL YEAR TO MONTH"] == (
        pb.XDBC_SUBCODE_INTERVAL_YEAR_TO_MONTH,
        pb.XDBC_INTERVAL,
        pb.XDBC_SUBCODE_YEAR_TO_MONTH,
    )
    assert codes["INTERVAL DAY TO SECOND"] == (
        pb.XDBC_SUBCODE_INTERVAL_DAY_TO_SECOND,
        pb.XDBC_INTERVAL,
        pb.XDBC_SUBCODE_DAY_TO_SECOND,
    )
    decimal = by_name["DECIMAL"]
    assert decimal["create_params"] == ["precision", "scale"]
    assert (decimal["column_size"], decimal["minimum_scale"], decimal["maximum_scale"]) == (38, 0, 38)
    assert by_name["STRING"]["literal_prefix"] == "'" and by_name["STRING"]["case_sensitive"]
    assert all(row["nullable"] == pb.NULLABILITY_NULLABLE for row in by_name.values())


@pytest.mark.parametrize(
    ("data_type", "names"),
    [
        (sql_pb2.XDBC_TIMESTAMP, ["TIMESTAMP", "TIMESTAMP_NTZ"]),
        (sql_pb2.XDBC_INTEGER, ["INT"]),
        (sql_pb2.XDBC_VARCHAR, ["STRING", "VARCHAR"]),
        (sql_pb2.XDBC_WCHAR, []),
    ],
)
def test_xdbc_type_info_filtered_by_data_type(
    client: flight.FlightClient, data_type: int, names: list[str]
) -> None:
    table = _xdbc(client, data_type=data_type)
    assert table.column("type_name").to_pylist() == names
    assert set(table.column("data_type").to_pylist()) <= {data_type}


# ---- GetSqlInfo ------------------------------------------------------------------------------------


def _sql_info(client: flight.FlightClient, *ids: int) -> dict[int, Any]:
    table = _fetch(client, sql_pb2.CommandGetSqlInfo(info=ids))
    _exactly(table, schemas.SQL_INFO)
    return dict(_rows(table, "info_name", "value"))


def test_sql_info_ids_clients_ask_on_connect(client: flight.FlightClient) -> None:
    adbc = _sql_info(client, 0, 1, 2, 8)
    assert list(adbc) == [0, 1, 2, 8]
    assert adbc[0] == "Spark Flight SQL"
    assert "Spark 4" in adbc[1]
    assert adbc[2] == pa.__version__
    assert adbc[8] == sql_pb2.SQL_SUPPORTED_TRANSACTION_NONE
    dialect = _sql_info(client, 0, 2, 3, 504)
    assert dialect[3] is False and dialect[504] == "`"


def test_sql_info_server_facts(client: flight.FlightClient) -> None:
    info = _sql_info(client)
    pb = sql_pb2
    expected = {
        I.FLIGHT_SQL_SERVER_SQL: True,
        I.FLIGHT_SQL_SERVER_SUBSTRAIT: False,
        I.FLIGHT_SQL_SERVER_CANCEL: True,
        I.FLIGHT_SQL_SERVER_BULK_INGESTION: True,
        I.FLIGHT_SQL_SERVER_TRANSACTION: pb.SQL_SUPPORTED_TRANSACTION_NONE,
        I.SQL_TRANSACTIONS_SUPPORTED: False,
        I.SQL_IDENTIFIER_CASE: pb.SQL_CASE_SENSITIVITY_CASE_INSENSITIVE,
        I.SQL_NULL_ORDERING: pb.SQL_NULLS_SORTED_LOW,
        I.SQL_SEARCH_STRING_ESCAPE: "\\",
        I.SQL_SUPPORTS_LIKE_ESCAPE_CLAUSE: True,
        I.SQL_SUPPORTED_GROUP_BY: 0b11,
        I.SQL_OUTER_JOINS_SUPPORT_LEVEL: pb.SQL_FULL_OUTER_JOINS,
        I.SQL_SUPPORTED_UNIONS: 0b11,
        I.SQL_SUPPORTED_SUBQUERIES: 0b111,
        I.SQL_CORRELATED_SUBQUERIES_SUPPORTED: True,
        I.SQL_DDL_CATALOG: False,
        I.SQL_DDL_SCHEMA: True,
        I.SQL_DDL_TABLE: True,
        I.SQL_MAX_COLUMN_NAME_LENGTH: 0,
        I.SQL_MAX_TABLE_NAME_LENGTH: 0,
        I.SQL_CATALOG_TERM: "catalog",
    }
    assert {info_id: info[info_id] for info_id in expected} == expected
    # Every id of the specification's range [0, 577) but Substrait versions is answered.
    missing = {i for i in sql_pb2.SqlInfo.values() if i not in info}
    assert missing == {I.FLIGHT_SQL_SERVER_SUBSTRAIT_MIN_VERSION, I.FLIGHT_SQL_SERVER_SUBSTRAIT_MAX_VERSION}


def test_sql_info_lists_from_spark(client: flight.FlightClient) -> None:
    info = _sql_info(
        client,
        I.SQL_KEYWORDS,
        I.SQL_NUMERIC_FUNCTIONS,
        I.SQL_STRING_FUNCTIONS,
        I.SQL_SYSTEM_FUNCTIONS,
        I.SQL_DATETIME_FUNCTIONS,
        I.SQL_SUPPORTS_CONVERT,
    )
    assert {"SELECT", "FROM", "LATERAL", "PIVOT"} <= set(info[I.SQL_KEYWORDS])
    assert {"abs", "sqrt", "round"} <= set(info[I.SQL_NUMERIC_FUNCTIONS])
    assert {"upper", "substring", "concat_ws"} <= set(info[I.SQL_STRING_FUNCTIONS])
    assert {"current_user", "ifnull"} <= set(info[I.SQL_SYSTEM_FUNCTIONS])
    assert {"date_add", "current_timestamp"} <= set(info[I.SQL_DATETIME_FUNCTIONS])
    assert "+" not in info[I.SQL_NUMERIC_FUNCTIONS]
    pb = sql_pb2
    convert = dict(info[I.SQL_SUPPORTS_CONVERT])
    assert pb.SQL_CONVERT_INTEGER in convert[pb.SQL_CONVERT_VARCHAR]
    assert pb.SQL_CONVERT_DATE in convert[pb.SQL_CONVERT_TIMESTAMP]
    assert pb.SQL_CONVERT_DATE not in convert[pb.SQL_CONVERT_BINARY]


# ---- ADBC ------------------------------------------------------------------------------------------


def test_adbc_get_info(conn: Any) -> None:
    info = conn.adbc_get_info()
    assert info["vendor_name"] == "Spark Flight SQL"
    assert "Spark 4" in info["vendor_version"]
    assert info["vendor_arrow_version"] == pa.__version__


def test_adbc_get_table_types(conn: Any) -> None:
    assert conn.adbc_get_table_types() == ["TABLE", "TEMPORARY VIEW", "VIEW"]


def _objects(conn: Any, depth: str, **filters: Any) -> list[dict[str, Any]]:
    return conn.adbc_get_objects(depth=depth, **filters).read_all().to_pylist()


def _tree(objects: list[dict[str, Any]]) -> dict[str, dict[str, dict[str, str]]]:
    """catalog -> schema -> table -> type."""
    return {
        catalog["catalog_name"]: {
            schema["db_schema_name"]: {
                table["table_name"]: table["table_type"] for table in schema["db_schema_tables"]
            }
            for schema in catalog["catalog_db_schemas"]
        }
        for catalog in objects
    }


def test_adbc_get_objects_catalogs(conn: Any) -> None:
    objects = _objects(conn, "catalogs")
    assert [c["catalog_name"] for c in objects] == ["broken", "other", "spark_catalog", "system"]
    assert all(c["catalog_db_schemas"] is None for c in objects)
    assert [c["catalog_name"] for c in _objects(conn, "catalogs", catalog_filter="sys%")] == ["system"]


def test_adbc_get_objects_db_schemas(conn: Any) -> None:
    by_catalog = {
        c["catalog_name"]: [s["db_schema_name"] for s in c["catalog_db_schemas"]]
        for c in _objects(conn, "db_schemas")
    }
    assert {"default", "demo", "global_temp", "meta_db"} <= set(by_catalog["spark_catalog"])
    assert by_catalog["system"] == ["session"]
    assert "meta_ns" in by_catalog["other"]
    assert by_catalog["broken"] == []
    filtered = _objects(conn, "db_schemas", catalog_filter="spark_catalog", db_schema_filter="meta\\_x%")
    assert [[s["db_schema_name"] for s in c["catalog_db_schemas"]] for c in filtered] == [["meta_x_y"]]
    for catalog in filtered:
        assert all(s["db_schema_tables"] is None for s in catalog["catalog_db_schemas"])


def test_adbc_get_objects_tables_shows_every_kind(conn: Any) -> None:
    objects = _objects(conn, "tables")
    tree = _tree(objects)
    assert tree["system"]["session"]["meta_temp"] == "TEMPORARY VIEW"
    assert tree["spark_catalog"]["global_temp"]["meta_global"] == "TEMPORARY VIEW"
    assert tree["spark_catalog"]["meta_db"] == {
        "t_external": "TABLE",
        "t_managed": "TABLE",
        "tzz": "TABLE",
        "v_view": "VIEW",
    }
    assert tree["other"]["meta_ns"] == {"jt": "TABLE"}
    tables = [t for c in objects for s in c["catalog_db_schemas"] for t in s["db_schema_tables"]]
    assert all(t["table_columns"] is None and t["table_constraints"] is None for t in tables)


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({"catalog_filter": "system"}, {"system": {"session": {"meta_temp": "TEMPORARY VIEW"}}}),
        (
            {"catalog_filter": "spark_catalog", "db_schema_filter": "meta_db", "table_name_filter": "t\\_%"},
            {"spark_catalog": {"meta_db": {"t_external": "TABLE", "t_managed": "TABLE"}}},
        ),
        (
            {
                "catalog_filter": "spark_catalog",
                "db_schema_filter": "meta_db",
                "table_types_filter": ["VIEW"],
            },
            {"spark_catalog": {"meta_db": {"v_view": "VIEW"}}},
        ),
        (
            {"catalog_filter": "other", "db_schema_filter": "meta_ns"},
            {"other": {"meta_ns": {"jt": "TABLE"}}},
        ),
    ],
)
def test_adbc_get_objects_table_filters(conn: Any, filters: dict[str, Any], expected: dict[str, Any]) -> None:
    assert _tree(_objects(conn, "tables", **filters)) == expected


@pytest.mark.parametrize("depth", ["columns", "all"])
def test_adbc_get_objects_columns(conn: Any, depth: str) -> None:
    objects = _objects(
        conn, depth, catalog_filter="spark_catalog", db_schema_filter="meta_db", table_name_filter="t_managed"
    )
    [catalog] = objects
    [schema] = catalog["catalog_db_schemas"]
    [table] = schema["db_schema_tables"]
    columns = table["table_columns"]
    assert [(c["column_name"], c["ordinal_position"]) for c in columns] == [
        ("id", 1),
        ("price", 2),
        ("code", 3),
        ("label", 4),
        ("at", 5),
        ("tags", 6),
    ]
    price = columns[1]
    assert price["xdbc_type_name"] == "DECIMAL(12,3)"
    assert price["xdbc_sql_data_type"] == sql_pb2.XDBC_DECIMAL
    assert (price["xdbc_scope_catalog"], price["xdbc_scope_schema"], price["xdbc_scope_table"]) == (
        "spark_catalog",
        "meta_db",
        "t_managed",
    )
    assert price["xdbc_is_autoincrement"] is False
    assert table["table_constraints"] == []
    only = _objects(
        conn, depth, db_schema_filter="meta_db", table_name_filter="t_managed", column_name_filter="pri%"
    )
    [column] = [
        col
        for c in only
        for s in c["catalog_db_schemas"]
        for t in s["db_schema_tables"]
        for col in t["table_columns"]
    ]
    assert column["column_name"] == "price" and column["ordinal_position"] == 2


def test_adbc_get_objects_columns_of_temporary_views(conn: Any) -> None:
    objects = _objects(conn, "columns", catalog_filter="system", table_name_filter="meta_temp")
    [table] = objects[0]["catalog_db_schemas"][0]["db_schema_tables"]
    assert [(c["column_name"], c["xdbc_type_name"]) for c in table["table_columns"]] == [
        ("one", "INT"),
        ("letter", "STRING"),
    ]


def test_adbc_get_table_schema(conn: Any) -> None:
    schema = conn.adbc_get_table_schema(
        "t_managed", catalog_filter="spark_catalog", db_schema_filter="meta_db"
    )
    assert _shape(schema) == _shape(_result_schema(conn, "SELECT * FROM meta_db.t_managed"))
    temp = conn.adbc_get_table_schema("meta_temp", catalog_filter="system", db_schema_filter="session")
    assert temp.names == ["one", "letter"]
    assert conn.adbc_get_table_schema("jt", catalog_filter="other", db_schema_filter="meta_ns").names == [
        "a",
        "s",
    ]
    with pytest.raises(adbc_driver_manager.ProgrammingError):
        conn.adbc_get_table_schema("meta_nowhere", db_schema_filter="meta_db")


def test_tables_created_later_are_listed_at_once(
    conn: Any, client: flight.FlightClient, tmp_path: Path
) -> None:
    with conn.cursor() as cursor:
        cursor.execute("CREATE TABLE meta_db.meta_late (a INT) USING parquet")
        try:
            assert ("spark_catalog", "meta_db", "meta_late", "TABLE") in _tables(
                client, db_schema_filter_pattern="meta_db"
            )
        finally:
            cursor.execute("DROP TABLE meta_db.meta_late")
    assert "meta_late" not in [name for _, _, name, _ in _tables(client, db_schema_filter_pattern="meta_db")]
