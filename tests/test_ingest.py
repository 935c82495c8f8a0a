"""Bulk ingest (CommandStatementIngest): ADBC ``adbc_ingest`` and raw DoPut uploads become Spark tables.

Every test runs against one node of this module whose uploads are staged in a folder the tests
watch: after each test no staging folder is left but those of the temporary tables it made, and
none at all once the node has stopped.
"""

from __future__ import annotations

import concurrent.futures
import datetime as dt
import decimal
import os
import subprocess
import sys
import zoneinfo
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import adbc_driver_flightsql.dbapi
import adbc_driver_manager
import pyarrow as pa
import pyarrow.flight as flight
import pyarrow.parquet as pq
import pytest
from support import ROOT
from support.server import ServerProcess, port_is_free, start_server
from support.waiting import wait_until

from spark_flight_sql.flightsql import ingest as ingest_module
from spark_flight_sql.flightsql.errors import AlreadyExists, InvalidArgument, NotFound
from spark_flight_sql.flightsql.ingest import IngestAction, IngestRequest, StagingArea, stage_batches
from spark_flight_sql.flightsql.proto import FlightSql_pb2 as sql_pb2
from spark_flight_sql.flightsql.protocol import pack_command
from spark_flight_sql.flightsql.statements import quote_identifier as quote

UTC = zoneinfo.ZoneInfo("UTC")
PARIS = zoneinfo.ZoneInfo("Europe/Paris")
DEADLINE = 60.0
Options = sql_pb2.CommandStatementIngest.TableDefinitionOptions
MODES = {
    "create": (Options.TABLE_NOT_EXIST_OPTION_CREATE, Options.TABLE_EXISTS_OPTION_FAIL),
    "append": (Options.TABLE_NOT_EXIST_OPTION_FAIL, Options.TABLE_EXISTS_OPTION_APPEND),
    "replace": (Options.TABLE_NOT_EXIST_OPTION_CREATE, Options.TABLE_EXISTS_OPTION_REPLACE),
    "create_append": (Options.TABLE_NOT_EXIST_OPTION_CREATE, Options.TABLE_EXISTS_OPTION_APPEND),
}


# ---- the node and its staging folder ----------------------------------------------------------


@pytest.fixture(scope="module")
def staging_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The folder this module's node stages uploads in."""
    return tmp_path_factory.mktemp("ingest-staging")


@pytest.fixture(scope="module")
def server(staging_dir: Path) -> Iterator[ServerProcess]:
    """This module's node (it replaces the session's, so ``adbc`` connects here)."""
    node = start_server("--conf", f"spark.flight.sql.ingest.stagingDir={staging_dir}", demo=False)
    yield node
    code = node.stop()
    assert code == 0, "the server did not stop cleanly:\n" + "\n".join(node.lines[-50:])
    assert port_is_free(node.port)
    assert list(staging_dir.iterdir()) == [], "staged files of temporary tables outlived the node"


@dataclass
class Staging:
    """The staging folder as one test sees it."""

    path: Path
    before: set[str]

    def new_folders(self) -> set[str]:
        return {p.name for p in self.path.iterdir()} - self.before


@pytest.fixture(autouse=True)
def staging(server: ServerProcess, staging_dir: Path) -> Iterator[Staging]:
    """After each test (its connections closed, so their temporary tables gone), no staging folder is left."""
    watch = Staging(staging_dir, {p.name for p in staging_dir.iterdir()})
    yield watch
    assert not watch.new_folders(), f"staging folders left behind: {sorted(watch.new_folders())}"


# ---- helpers -----------------------------------------------------------------------------------


def fetch(adbc, sql: str) -> pa.Table:
    with adbc.cursor() as cursor:
        cursor.execute(sql)
        return cursor.fetch_arrow_table()


def ingest(
    adbc, table: str, data: pa.Table | pa.RecordBatchReader, mode: str = "create", **kwargs: object
) -> int:
    with adbc.cursor() as cursor:
        return cursor.adbc_ingest(table, data, mode=mode, **kwargs)


def ingest_fails(
    adbc, table: str, data: pa.Table, mode: str, status: str, match: str, **kwargs: object
) -> None:
    """The ingest fails with ``status`` on the wire and a message matching ``match``."""
    with pytest.raises(adbc_driver_manager.Error, match=match) as caught:
        ingest(adbc, table, data, mode, **kwargs)
    assert str(caught.value).startswith(f"{status}:"), caught.value


def rows(adbc, table: str, order_by: str = "id") -> list[dict[str, object]]:
    return fetch(adbc, f"SELECT * FROM {table} ORDER BY {order_by}").to_pylist()


def table_names(adbc, schema: str = "default") -> set[str]:
    """The names of the permanent tables in ``schema`` (SHOW TABLES lists temporary views too)."""
    listed = fetch(adbc, f"SHOW TABLES IN {schema}").to_pylist()
    return {row["tableName"] for row in listed if not row["isTemporary"]}


def ids(start: int, stop: int) -> pa.Table:
    return pa.table(
        {"id": pa.array(range(start, stop), pa.int64()), "name": [f"n{i}" for i in range(start, stop)]}
    )


def ingest_command(table: str, mode: str = "create", **fields: object) -> sql_pb2.CommandStatementIngest:
    if_not_exist, if_exists = MODES[mode]
    return sql_pb2.CommandStatementIngest(
        table=table,
        table_definition_options=Options(if_not_exist=if_not_exist, if_exists=if_exists),
        **fields,
    )


def raw_ingest(
    location: str, command: sql_pb2.CommandStatementIngest, schema: pa.Schema, batches: list[pa.RecordBatch]
) -> int:
    """DoPut with a CommandStatementIngest descriptor through pyarrow.flight; the DoPutUpdateResult count."""
    descriptor = flight.FlightDescriptor.for_command(pack_command(command))
    with flight.FlightClient(location) as client:
        writer, results = client.do_put(descriptor, schema)
        with writer:
            for batch in batches:
                writer.write_batch(batch)
            writer.done_writing()
            answer = results.read()
    assert answer is not None
    return sql_pb2.DoPutUpdateResult.FromString(answer.to_pybytes()).record_count


# ---- the four modes ------------------------------------------------------------------------------


def test_create_loads_the_rows_and_returns_their_count(adbc) -> None:
    assert ingest(adbc, "created", ids(0, 3)) == 3
    assert rows(adbc, "created") == [
        {"id": 0, "name": "n0"},
        {"id": 1, "name": "n1"},
        {"id": 2, "name": "n2"},
    ]


def test_create_fails_when_the_table_exists_and_keeps_it(adbc) -> None:
    ingest(adbc, "create_twice", ids(0, 2))
    # ALREADY_EXISTS travels as INVALID_ARGUMENT (pyarrow.flight cannot send it); the message names it.
    ingest_fails(
        adbc, "create_twice", ids(5, 9), "create", "INVALID_ARGUMENT", "TABLE_OR_VIEW_ALREADY_EXISTS"
    )
    assert [r["id"] for r in rows(adbc, "create_twice")] == [0, 1]


def test_append_adds_rows_matching_columns_by_name(adbc) -> None:
    ingest(adbc, "appended", ids(0, 2))
    reordered = pa.table({"name": ["n2", "n3"], "id": pa.array([2, 3], pa.int32())})  # int fits bigint
    assert ingest(adbc, "appended", reordered, "append") == 2
    assert rows(adbc, "appended") == [{"id": i, "name": f"n{i}"} for i in range(4)]
    assert fetch(adbc, "SELECT * FROM appended").schema.names == ["id", "name"]


def test_append_to_a_missing_table_is_not_found(adbc) -> None:
    ingest_fails(adbc, "never_created", ids(0, 1), "append", "NOT_FOUND", "TABLE_OR_VIEW_NOT_FOUND")
    assert "never_created" not in table_names(adbc)


def test_append_with_other_columns_names_them_and_changes_nothing(adbc) -> None:
    ingest(adbc, "strict_columns", ids(0, 1))
    other = pa.table({"id": [1], "nickname": ["x"]})
    ingest_fails(
        adbc, "strict_columns", other, "append", "INVALID_ARGUMENT", r"missing \['name'\].*\['nickname'\]"
    )
    ingest_fails(
        adbc, "strict_columns", pa.table({"id": [1]}), "append", "INVALID_ARGUMENT", r"missing \['name'\]"
    )
    assert rows(adbc, "strict_columns") == [{"id": 0, "name": "n0"}]


def test_append_of_an_incompatible_type_is_invalid_argument(adbc) -> None:
    ingest(adbc, "typed", ids(0, 1))
    wrong = pa.table({"id": ["not a number"], "name": ["x"]})
    ingest_fails(adbc, "typed", wrong, "append", "INVALID_ARGUMENT", r"INCOMPATIBLE_DATA_FOR_TABLE.*`id`")
    assert rows(adbc, "typed") == [{"id": 0, "name": "n0"}]


def test_append_matches_nested_struct_fields_by_name(adbc) -> None:
    xy = pa.struct([("x", pa.int32()), ("y", pa.int32())])
    yx = pa.struct([("y", pa.int32()), ("x", pa.int32())])
    ingest(adbc, "nested_append", pa.table({"id": [1], "p": pa.array([{"x": 1, "y": 2}], xy)}))
    ingest(adbc, "nested_append", pa.table({"id": [2], "p": pa.array([{"y": 20, "x": 10}], yx)}), "append")
    assert [r["p"] for r in rows(adbc, "nested_append")] == [{"x": 1, "y": 2}, {"x": 10, "y": 20}]


def test_replace_creates_then_replaces_with_the_new_schema(adbc) -> None:
    assert ingest(adbc, "replaced", ids(0, 3), "replace") == 3
    assert ingest(adbc, "replaced", pa.table({"other": [1.5]}), "replace") == 1
    result = fetch(adbc, "SELECT * FROM replaced")
    assert result.schema.names == ["other"]
    assert result.to_pylist() == [{"other": 1.5}]


def test_create_append_creates_then_appends(adbc) -> None:
    assert ingest(adbc, "create_append", ids(0, 2), "create_append") == 2
    assert ingest(adbc, "create_append", ids(2, 5), "create_append") == 3
    assert [r["id"] for r in rows(adbc, "create_append")] == list(range(5))


def test_concurrent_create_append_uploads_all_land(server, adbc) -> None:
    """The first to finish creates the table, the others append: none fails, no row is lost."""

    def upload(part: int) -> int:
        with adbc_driver_flightsql.dbapi.connect(server.location) as connection:
            return ingest(connection, "concurrent", ids(part * 100, part * 100 + 100), "create_append")

    with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
        counts = list(pool.map(upload, range(4)))
    assert counts == [100] * 4
    assert [r["id"] for r in rows(adbc, "concurrent")] == list(range(400))


# ---- where the table goes ------------------------------------------------------------------------


def test_catalog_and_schema_are_honoured(adbc) -> None:
    with adbc.cursor() as cursor:
        cursor.execute("CREATE DATABASE IF NOT EXISTS ingest_db")
    ingest(adbc, "placed", ids(0, 2), db_schema_name="ingest_db", catalog_name="spark_catalog")
    ingest(adbc, "placed", ids(2, 3), "append", db_schema_name="ingest_db")
    assert [r["id"] for r in rows(adbc, "spark_catalog.ingest_db.placed")] == [0, 1, 2]
    assert "placed" not in table_names(adbc, "default")
    ingest(adbc, "placed", ids(7, 8))  # the same name in the current schema is another table
    assert [r["id"] for r in rows(adbc, "default.placed")] == [7]


def test_missing_schema_or_catalog_is_not_found(adbc) -> None:
    ingest_fails(adbc, "t", ids(0, 1), "create", "NOT_FOUND", "SCHEMA_NOT_FOUND", db_schema_name="no_such_db")
    ingest_fails(
        adbc, "t", ids(0, 1), "create", "NOT_FOUND", "CATALOG_NOT_FOUND", catalog_name="no_such_catalog"
    )


def test_column_names_need_no_quoting_by_the_client(adbc) -> None:
    data = pa.table(
        {"id": [1], "with space": ["a"], "dotted.name": ["b"], "back`tick": ["c"], "select": ["d"]}
    )
    ingest(adbc, "odd_columns", data)
    assert rows(adbc, "odd_columns") == data.to_pylist()


def test_a_table_name_cannot_inject_sql(adbc) -> None:
    ingest(adbc, "victim", ids(0, 1))
    ingest_fails(adbc, "x` (a INT); DROP TABLE victim; --", ids(0, 1), "create", "INVALID_ARGUMENT", "victim")
    assert "victim" in table_names(adbc)


# ---- temporary tables ----------------------------------------------------------------------------


def test_temporary_table_is_a_view_of_the_session(adbc, server, staging) -> None:
    assert ingest(adbc, "temp_ingest", ids(0, 3), temporary=True) == 3
    assert [r["id"] for r in rows(adbc, "temp_ingest")] == [0, 1, 2]
    assert "temp_ingest" not in table_names(adbc)
    ingest_fails(
        adbc, "temp_ingest", ids(0, 1), "create", "INVALID_ARGUMENT", "ALREADY_EXISTS", temporary=True
    )
    assert ingest(adbc, "temp_ingest", ids(3, 5), "append", temporary=True) == 2
    assert [r["id"] for r in rows(adbc, "temp_ingest")] == list(range(5))
    # Another connection is another session: it does not see the view.
    with adbc_driver_flightsql.dbapi.connect(server.location) as other:
        with pytest.raises(adbc_driver_manager.Error, match="TABLE_OR_VIEW_NOT_FOUND"):
            fetch(other, "SELECT * FROM temp_ingest")


def test_a_session_s_temporary_table_is_its_own_and_leaves_with_it(server, staging) -> None:
    keep_cookies = {"adbc.flight.sql.rpc.with_cookie_middleware": "true"}
    with adbc_driver_flightsql.dbapi.connect(server.location, db_kwargs=keep_cookies) as mine:
        assert ingest(mine, "session_temp", ids(0, 4), temporary=True) == 4
        assert len(staging.new_folders()) == 1
        assert [r["id"] for r in rows(mine, "session_temp")] == [0, 1, 2, 3]
        with adbc_driver_flightsql.dbapi.connect(server.location, db_kwargs=keep_cookies) as theirs:
            with pytest.raises(adbc_driver_manager.Error, match="TABLE_OR_VIEW_NOT_FOUND"):
                fetch(theirs, "SELECT * FROM session_temp")
    # Closing the connection closed the session: its staged files are gone (checked by `staging`).


def test_replacing_a_temporary_table_removes_the_old_staged_files(adbc, staging) -> None:
    ingest(adbc, "temp_replaced", ids(0, 3), "replace", temporary=True)
    first = staging.new_folders()
    assert len(first) == 1
    ingest(adbc, "temp_replaced", pa.table({"v": ["new"]}), "replace", temporary=True)
    second = staging.new_folders()
    assert len(second) == 1 and second != first
    assert fetch(adbc, "SELECT * FROM temp_replaced").to_pylist() == [{"v": "new"}]


def test_temporary_table_leaves_a_table_of_the_same_name_alone(adbc, staging) -> None:
    ingest(adbc, "shadowed", ids(0, 1))
    ingest(adbc, "shadowed", ids(10, 12), temporary=True)
    assert [r["id"] for r in rows(adbc, "shadowed")] == [10, 11]  # Spark resolves the view first
    assert [r["id"] for r in rows(adbc, "spark_catalog.default.shadowed")] == [0]
    ingest(adbc, "shadowed", ids(1, 2), "append")  # the table, not the view
    assert [r["id"] for r in rows(adbc, "spark_catalog.default.shadowed")] == [0, 1]


def test_temporary_table_names_are_quoted(adbc, staging) -> None:
    name = "we`ird {staged}.view"
    ingest(adbc, name, ids(0, 1), temporary=True)
    ingest(adbc, name, ids(1, 2), "append", temporary=True)
    assert [r["id"] for r in rows(adbc, quote(name))] == [0, 1]


def test_temporary_table_takes_no_schema_or_catalog(adbc) -> None:
    ingest_fails(
        adbc,
        "temp_placed",
        ids(0, 1),
        "create",
        "INVALID_ARGUMENT",
        "namespace",
        db_schema_name="default",
        temporary=True,
    )


def test_temporary_append_to_a_missing_view_is_not_found(adbc) -> None:
    ingest_fails(
        adbc, "no_temp_view", ids(0, 1), "append", "NOT_FOUND", "TABLE_OR_VIEW_NOT_FOUND", temporary=True
    )


# ---- data: types, empty, many batches ------------------------------------------------------------


def typed_upload() -> pa.Table:
    """A value, a null and an edge value of every type Spark can store."""
    ts = [
        dt.datetime(2024, 2, 29, 23, 59, 59, 123456, tzinfo=UTC),
        None,
        dt.datetime(1969, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
    ]
    paris = [dt.datetime(2024, 7, 1, 12, 0, tzinfo=PARIS), None, dt.datetime(2024, 1, 1, tzinfo=PARIS)]
    big = decimal.Decimal("12345678901234567890.123456789012345678")
    deep = pa.list_(pa.struct([("k", pa.list_(pa.string()))]))
    point = pa.struct([("x", pa.float64()), ("label", pa.string())])
    return pa.table(
        {
            "id": pa.array([1, 2, 3], pa.int64()),
            "i8": pa.array([-128, None, 127], pa.int8()),
            "i16": pa.array([-32768, None, 32767], pa.int16()),
            "i32": pa.array([-(2**31), None, 2**31 - 1], pa.int32()),
            "i64": pa.array([-(2**63), None, 2**63 - 1], pa.int64()),
            "f32": pa.array([1.5, None, float("inf")], pa.float32()),
            "f64": pa.array([-1e300, None, 5e-324], pa.float64()),
            "dec": pa.array([big, None, decimal.Decimal("-1.5")], pa.decimal128(38, 18)),
            "s": pa.array(["grüße, 世界", None, ""], pa.string()),
            "ls": pa.array(["large", None, "x" * 10_000], pa.large_string()),
            "bin": pa.array([b"\x00\xff", None, b""], pa.binary()),
            "lbin": pa.array([b"large", None, b"\x01" * 1000], pa.large_binary()),
            "flag": pa.array([True, None, False]),
            "day": pa.array([dt.date(1900, 2, 28), None, dt.date(9999, 12, 31)], pa.date32()),
            "ts": pa.array(ts, pa.timestamp("us", "UTC")),
            "ts_paris": pa.array(paris, pa.timestamp("ms", "Europe/Paris")),
            "ts_ns": pa.array([1_700_000_000_123_456_000, None, 0], pa.timestamp("ns", "UTC")),
            "ntz": pa.array(
                [dt.datetime(2024, 1, 1, 12, 0, 0, 1), None, dt.datetime(1970, 1, 1)], pa.timestamp("us")
            ),
            "ints": pa.array([[1, None, 3], None, []], pa.list_(pa.int32())),
            "longs": pa.array([[1], None, [2**40]], pa.large_list(pa.int64())),
            "point": pa.array([{"x": 1.0, "label": "a"}, None, {"x": None, "label": None}], point),
            "tags": pa.array([[("a", 1), ("b", None)], None, []], pa.map_(pa.string(), pa.int64())),
            "deep": pa.array([[{"k": ["v"]}], None, [{"k": None}]], deep),
            "dict": pa.array(["red", None, "red"]).dictionary_encode(),
        }
    )


@pytest.mark.parametrize("temporary", [False, True], ids=["table", "temporary"])
def test_every_type_comes_back_equal(adbc, staging, temporary: bool) -> None:
    upload = typed_upload()
    name = "typed_temporary" if temporary else "typed_table"
    assert ingest(adbc, name, upload, temporary=temporary) == 3
    result = fetch(adbc, f"SELECT * FROM {name} ORDER BY id")
    assert result.schema.names == upload.schema.names
    for column in upload.schema.names:
        assert result.column(column).to_pylist() == upload.column(column).to_pylist(), column
    assert result.schema.field("ts").type == pa.timestamp("us", tz="UTC")
    assert result.schema.field("ts_paris").type == pa.timestamp("us", tz="UTC")  # same instants
    assert result.schema.field("ntz").type == pa.timestamp("us")
    assert result.schema.field("i8").type == pa.int8()
    assert result.schema.field("dec").type == pa.decimal128(38, 18)
    spark_types = {r["col_name"]: r["data_type"] for r in fetch(adbc, f"DESCRIBE TABLE {name}").to_pylist()}
    assert (spark_types["ts"], spark_types["ntz"], spark_types["ls"]) == (
        "timestamp",
        "timestamp_ntz",
        "string",
    )


def test_unsigned_integers_widen_to_a_signed_type(adbc) -> None:
    upload = pa.table(
        {
            "id": [1],
            "u8": pa.array([255], pa.uint8()),
            "u32": pa.array([2**32 - 1], pa.uint32()),
            "u64": pa.array([2**64 - 1], pa.uint64()),
        }
    )
    ingest(adbc, "unsigned", upload)
    result = fetch(adbc, "SELECT * FROM unsigned")
    assert result.to_pylist() == [{"id": 1, "u8": 255, "u32": 2**32 - 1, "u64": decimal.Decimal(2**64 - 1)}]


@pytest.mark.parametrize(
    ("column", "reason"),
    [
        (pa.nulls(1), "concrete type"),
        (pa.array([1], pa.duration("s")), "durations"),
        (pa.array([1], pa.time64("us")), "time of day"),
        (pa.array([1.5], pa.float16()), "half-precision"),
        (pa.array([decimal.Decimal(1)], pa.decimal256(40, 0)), "38 digits"),
        (pa.array([[None]], pa.list_(pa.null())), "concrete type"),
    ],
    ids=["null", "duration", "time", "float16", "decimal256", "list-of-null"],
)
def test_types_spark_cannot_store_are_rejected_before_the_upload(adbc, column: pa.Array, reason: str) -> None:
    upload = pa.table({"id": [1], "bad": column})
    ingest_fails(adbc, "untyped", upload, "create", "INVALID_ARGUMENT", f"'bad'.*{reason}")
    assert "untyped" not in table_names(adbc)


def test_timestamps_finer_than_microseconds_are_rejected_not_truncated(adbc) -> None:
    upload = pa.table({"ts": pa.array([1_700_000_000_123_456_789], pa.timestamp("ns"))})
    ingest_fails(adbc, "nanos", upload, "create", "INVALID_ARGUMENT", "would lose data")
    assert "nanos" not in table_names(adbc)


def test_duplicate_column_names_are_rejected(adbc) -> None:
    upload = pa.Table.from_arrays([pa.array([1]), pa.array([2])], names=["id", "ID"])
    ingest_fails(adbc, "duplicates", upload, "create", "INVALID_ARGUMENT", "twice")


def empty_upload(schema: pa.Schema) -> pa.RecordBatchReader:
    """An upload of one batch without rows.

    A pyarrow Table of no rows has no batches, and the ADBC Go driver sends nothing at all for an
    upload without batches, not even the schema (the node answers that the stream finished before
    its first message): one empty batch carries the schema.
    """
    empty = pa.RecordBatch.from_arrays([pa.array([], field.type) for field in schema], schema=schema)
    return pa.RecordBatchReader.from_batches(schema, [empty])


def test_an_empty_upload_creates_an_empty_table(adbc) -> None:
    schema = pa.schema([("id", pa.int64()), ("when", pa.timestamp("us"))])
    assert ingest(adbc, "empty_upload", empty_upload(schema)) == 0
    result = fetch(adbc, "SELECT * FROM empty_upload")
    assert result.num_rows == 0
    assert result.schema == schema
    assert ingest(adbc, "empty_upload", empty_upload(schema), "append") == 0


def test_an_upload_without_batches_through_raw_flight_creates_an_empty_table(server, adbc) -> None:
    schema = pa.schema([("id", pa.int64())])
    assert raw_ingest(server.location, ingest_command("no_batches"), schema, []) == 0
    assert fetch(adbc, "SELECT * FROM no_batches").schema == schema


def test_every_batch_of_a_long_stream_arrives(adbc) -> None:
    batches = [
        pa.record_batch({"id": pa.array(range(i * 100, (i + 1) * 100 if i % 7 else i * 100), pa.int64())})
        for i in range(600)
    ]  # every seventh batch is empty
    expected = sum(batch.num_rows for batch in batches)
    reader = pa.RecordBatchReader.from_batches(batches[0].schema, iter(batches))
    assert ingest(adbc, "many_batches", reader) == expected
    stats = fetch(
        adbc, "SELECT count(*) AS n, count(DISTINCT id) AS d, sum(id) AS s FROM many_batches"
    ).to_pylist()[0]
    all_ids = [i for batch in batches for i in batch.column(0).to_pylist()]
    assert stats == {"n": expected, "d": expected, "s": sum(all_ids)}


# ---- the raw Flight path -------------------------------------------------------------------------


def test_raw_do_put_answers_the_row_count(server, adbc) -> None:
    schema = pa.schema([("id", pa.int64())])
    batches = [
        pa.record_batch([pa.array([1, 2])], schema=schema),
        pa.record_batch([pa.array([3])], schema=schema),
    ]
    assert raw_ingest(server.location, ingest_command("raw_put"), schema, batches) == 3
    assert [r["id"] for r in rows(adbc, "raw_put")] == [1, 2, 3]


def test_raw_do_put_with_format_and_partitioning_options(server, adbc) -> None:
    schema = pa.schema([("id", pa.int64()), ("part", pa.string())])
    batch = pa.record_batch([pa.array([1, 2, 3]), pa.array(["a", "b", "a"])], schema=schema)
    command = ingest_command("raw_options", options={"format": "json", "partition_by": "part"})
    assert raw_ingest(server.location, command, schema, [batch]) == 3
    described = fetch(adbc, "DESCRIBE TABLE EXTENDED raw_options").to_pylist()
    details = {r["col_name"]: r["data_type"] for r in described}
    assert details["Provider"] == "json"
    assert [r["col_name"] for r in described].count("part") == 2  # a column and the partition column
    assert rows(adbc, "raw_options") == [
        {"id": 1, "part": "a"},
        {"id": 2, "part": "b"},
        {"id": 3, "part": "a"},
    ]


@pytest.mark.parametrize(
    ("command", "match"),
    [
        (sql_pb2.CommandStatementIngest(table="t"), "if_not_exist must be CREATE or FAIL"),
        (
            sql_pb2.CommandStatementIngest(
                table="t",
                table_definition_options=Options(if_not_exist=Options.TABLE_NOT_EXIST_OPTION_CREATE),
            ),
            "if_exists must be FAIL, APPEND or REPLACE",
        ),
        (ingest_command(""), "needs a table name"),
        (ingest_command("t", transaction_id=b"tx-1"), "transactions are not supported"),
        (ingest_command("t", options={"compression": "zstd"}), "unknown ingest option.*'compression'"),
        (ingest_command("t", options={"partition_by": "nope"}), r"partition_by names columns.*\['nope'\]"),
    ],
    ids=["no-options", "no-if-exists", "no-table", "transaction", "unknown-option", "bad-partition"],
)
def test_raw_do_put_bad_commands_are_invalid_argument(
    server, command: sql_pb2.CommandStatementIngest, match: str
) -> None:
    schema = pa.schema([("id", pa.int64())])
    with pytest.raises(pa.ArrowInvalid, match=match):
        raw_ingest(server.location, command, schema, [pa.record_batch([pa.array([1])], schema=schema)])


def test_raw_do_put_with_no_columns_is_invalid_argument(server) -> None:
    with pytest.raises(pa.ArrowInvalid, match="no columns"):
        raw_ingest(server.location, ingest_command("no_columns"), pa.schema([]), [])


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        low, value = value & 0x7F, value >> 7
        out.append(low | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _bytes_field(number: int, payload: bytes) -> bytes:
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _flight_data(header: bytes, body: bytes = b"", command: bytes | None = None) -> bytes:
    """A serialized arrow.flight.protocol.FlightData (descriptor 1, data_header 2, data_body 1000)."""
    descriptor = (
        b"" if command is None else _bytes_field(1, _varint(1 << 3) + _varint(2) + _bytes_field(2, command))
    )
    return descriptor + _bytes_field(2, header) + (_bytes_field(1000, body) if body else b"")


def test_raw_do_put_whose_batches_do_not_match_the_declared_schema(server, adbc) -> None:
    """pyarrow's writer refuses such batches, so they go through gRPC by hand: the declared schema
    has two columns, the second batch only one."""
    grpc = pytest.importorskip("grpc")
    declared = pa.schema([("id", pa.int64()), ("name", pa.string())])
    good = pa.record_batch([pa.array([1]), pa.array(["a"])], schema=declared)
    bad = pa.record_batch([pa.array([2, 3])], names=["id"])
    command = pack_command(ingest_command("mismatched"))
    messages = [
        _flight_data(pa.ipc.read_message(declared.serialize()).metadata.to_pybytes(), command=command)
    ]
    for batch in (good, bad):
        message = pa.ipc.read_message(batch.serialize())
        messages.append(_flight_data(message.metadata.to_pybytes(), message.body.to_pybytes()))
    target = server.location.split("://", 1)[1]
    with grpc.insecure_channel(target) as channel:
        do_put = channel.stream_stream("/arrow.flight.protocol.FlightService/DoPut")
        with pytest.raises(grpc.RpcError) as caught:
            list(do_put(iter(messages), timeout=DEADLINE))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT, caught.value
    assert "mismatched" not in table_names(adbc)


DISCONNECTING_CLIENT = """
import sys
import pyarrow as pa, pyarrow.flight as flight
from spark_flight_sql.flightsql.protocol import pack_command
from spark_flight_sql.flightsql.proto import FlightSql_pb2 as sql_pb2
Options = sql_pb2.CommandStatementIngest.TableDefinitionOptions
command = sql_pb2.CommandStatementIngest(table=sys.argv[2], table_definition_options=Options(
    if_not_exist=Options.TABLE_NOT_EXIST_OPTION_CREATE, if_exists=Options.TABLE_EXISTS_OPTION_FAIL))
schema = pa.schema([("id", pa.int64())])
client = flight.FlightClient(sys.argv[1])
writer, _ = client.do_put(flight.FlightDescriptor.for_command(pack_command(command)), schema)
for i in range(20):
    writer.write_batch(pa.record_batch([pa.array(range(i * 1000, (i + 1) * 1000))], schema=schema))
print("sent", flush=True)
sys.stdin.readline()  # killed while waiting here, the upload never completed
"""


def test_a_client_that_disconnects_mid_upload_leaves_no_table_and_no_files(server, adbc, staging) -> None:
    with subprocess.Popen(
        [sys.executable, "-c", DISCONNECTING_CLIENT, server.location, "cut_off"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        text=True,
    ) as client:
        try:
            assert client.stdout is not None and client.stdout.readline().strip() == "sent"
            wait_until(
                lambda: len(staging.new_folders()) == 1, message="no staging folder of the upload appeared"
            )
        finally:
            client.kill()
    wait_until(lambda: not staging.new_folders(), message="the staging folder was not removed")
    assert "cut_off" not in table_names(adbc)
    assert ingest(adbc, "cut_off", ids(0, 1)) == 1  # the name is free, the node still serves


# ---- units: requests, staging ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mode", "missing", "exists"),
    [
        ("create", IngestAction.CREATE, None),
        ("append", None, IngestAction.APPEND),
        ("replace", IngestAction.CREATE, IngestAction.REPLACE),
        ("create_append", IngestAction.CREATE, IngestAction.APPEND),
    ],
)
def test_adbc_modes_map_to_actions(
    mode: str, missing: IngestAction | None, exists: IngestAction | None
) -> None:
    request = IngestRequest.from_command(ingest_command("t", mode))
    for table_exists, expected in ((False, missing), (True, exists)):
        if expected is None:
            with pytest.raises((AlreadyExists, NotFound)):
                request.action(table_exists, "t")
        else:
            assert request.action(table_exists, "t") is expected


def test_identifiers_are_quoted_with_backticks() -> None:
    assert quote("plain") == "`plain`"
    assert quote("a`b.c") == "`a``b.c`"


def test_default_staging_is_a_private_folder_removed_on_close() -> None:
    area = StagingArea(None)
    folder = area.new_folder()
    root = Path(folder.path).parent
    assert folder.uri == "file://" + folder.path and root.is_dir()
    area.close()
    assert not root.exists()


def test_staging_under_a_uri_writes_through_pyarrow_fs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ingest_module, "ROW_GROUP_BYTES", 1024)
    area = StagingArea(f"file://{tmp_path}/under/uri")
    folder = area.new_folder()
    schema = pa.schema([("id", pa.int64())])
    batches = (pa.record_batch([pa.array(range(i * 100, i * 100 + 100))], schema=schema) for i in range(10))
    assert stage_batches(batches, schema, folder) == 1000
    staged = pq.ParquetFile(Path(folder.path) / ingest_module.STAGED_FILE)
    assert staged.metadata.num_row_groups > 1  # written as the batches came, not all at the end
    assert staged.read().column("id").to_pylist() == list(range(1000))
    folder.remove()
    area.close()
    assert list((tmp_path / "under" / "uri").iterdir()) == []


def test_staging_rejects_timestamps_spark_would_truncate(tmp_path: Path) -> None:
    folder = StagingArea(str(tmp_path)).new_folder()
    schema = pa.schema([("ts", pa.timestamp("ns"))])
    with pytest.raises(InvalidArgument, match="would lose data"):
        stage_batches(
            iter([pa.record_batch([pa.array([1], pa.timestamp("ns"))], schema=schema)]), schema, folder
        )
