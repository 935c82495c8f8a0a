"""Prepared statements with parameters, updates with row counts, and transactions refused."""

from __future__ import annotations

import datetime as dt
import time
import uuid
from collections.abc import Iterator
from decimal import Decimal

import adbc_driver_manager
import pyarrow as pa
import pyarrow.flight as flight
import pytest
from support.flight_calls import action, bind, prepare, run_prepared

from spark_flight_sql.flightsql.errors import InvalidArgument
from spark_flight_sql.flightsql.proto import FlightSql_pb2 as sql_pb2
from spark_flight_sql.flightsql.protocol import pack_command
from spark_flight_sql.flightsql.statements import PreparedStatement


def table_name() -> str:
    return f"t_{uuid.uuid4().hex[:10]}"


@pytest.fixture
def client(server) -> Iterator[flight.FlightClient]:
    with flight.FlightClient(server.location) as flight_client:
        yield flight_client


def test_parameters_bind_values_of_every_common_type(adbc) -> None:
    values = (7, 2.5, "naïve", True, Decimal("12.34"), dt.date(2024, 2, 29), b"\x00\xff", None)
    with adbc.cursor() as cursor:
        cursor.execute(
            "SELECT ? AS i, ? AS f, ? AS s, ? AS b, ? AS d, ? AS day, ? AS raw, ? AS nothing", values
        )
        assert cursor.fetchall() == [values]


def test_a_timestamp_parameter_keeps_its_instant(adbc) -> None:
    instant = dt.datetime(2024, 5, 6, 7, 8, 9, tzinfo=dt.UTC)
    with adbc.cursor() as cursor:
        cursor.execute("SELECT ? AS ts", (instant,))
        ((value,),) = cursor.fetchall()
    assert value == instant


def test_parameters_filter_a_table(adbc) -> None:
    with adbc.cursor() as cursor:
        cursor.execute(
            "SELECT customer_id, country FROM demo.customers WHERE customer_id IN (?, ?) ORDER BY customer_id",
            (2, 3),
        )
        assert cursor.fetchall() == [(2, "US"), (3, "JP")]
        cursor.execute("SELECT count(*) FROM demo.customers WHERE country = ?", ("no such country",))
        assert cursor.fetchall() == [(0,)]


def test_a_marker_inside_quotes_or_comments_is_not_a_parameter(client) -> None:
    result = prepare(client, "SELECT '?' AS q, ? AS p /* ? */ -- ?\n")
    assert pa.ipc.read_schema(pa.py_buffer(result.parameter_schema)).names == ["parameter_1"]
    assert pa.ipc.read_schema(pa.py_buffer(result.dataset_schema)).names == ["q", "p"]
    assert not result.is_update


def test_insert_values_markers_are_declared_with_their_columns_types(client, adbc) -> None:
    """Clients that bind by the declared type (the JDBC driver) need one: an INSERT ... VALUES of markers
    only declares the target columns' (timestamps in milliseconds); anything else the null type."""
    name = table_name()
    with adbc.cursor() as cursor:
        cursor.execute(f"CREATE TABLE {name} (a INT, b STRING, c DECIMAL(5, 2), d TIMESTAMP) USING parquet")
    try:

        def declared(sql: str) -> list[pa.DataType]:
            return list(pa.ipc.read_schema(pa.py_buffer(prepare(client, sql).parameter_schema)).types)

        assert declared(f"INSERT INTO {name} VALUES (?, ?, ?, ?)") == [
            pa.int32(),
            pa.string(),
            pa.decimal128(5, 2),
            pa.timestamp("ms", tz="UTC"),
        ]
        assert declared(f"INSERT INTO {name} (c, a) VALUES (?, ?)") == [pa.decimal128(5, 2), pa.int32()]
        assert declared(f"INSERT INTO {name} VALUES (1, ?, NULL, NULL)") == [pa.null()]
        assert declared("INSERT INTO no_such_table VALUES (?)") == [pa.null()]
        with adbc.cursor() as cursor:  # ADBC sends its own types, which Spark casts as before
            cursor.executemany(f"INSERT INTO {name} (a, b) VALUES (?, ?)", [(1, "x"), (2, "y")])
            cursor.execute(f"SELECT a, b FROM {name} ORDER BY a")
            assert cursor.fetchall() == [(1, "x"), (2, "y")]
    finally:
        with adbc.cursor() as cursor:
            cursor.execute(f"DROP TABLE {name}")


def test_binding_returns_a_handle_carrying_the_parameters(client, server) -> None:
    prepared = prepare(client, "SELECT ? * 2 AS doubled")
    bound = bind(client, prepared.prepared_statement_handle, pa.table({"x": [21]}))
    assert bound and bound != prepared.prepared_statement_handle
    # The bound handle holds the values: a fresh connection (any node) executes it.
    with flight.FlightClient(server.location) as other:
        assert run_prepared(other, bound).column("doubled").to_pylist() == [42]
    # Rebinding replaces them.
    rebound = bind(client, bound, pa.table({"x": [5]}))
    assert run_prepared(client, rebound).column("doubled").to_pylist() == [10]


def test_several_parameter_rows_give_every_row_s_result_in_order(client) -> None:
    prepared = prepare(client, "SELECT ? AS n, ? AS label")
    bound = bind(
        client, prepared.prepared_statement_handle, pa.table({"n": [1, 2, 3], "label": ["a", "b", "c"]})
    )
    result = run_prepared(client, bound)
    assert result.to_pydict() == {"n": [1, 2, 3], "label": ["a", "b", "c"]}


def test_an_unbound_marker_is_invalid_argument(client) -> None:
    prepared = prepare(client, "SELECT ? AS x")
    with pytest.raises(pa.ArrowInvalid, match="UNBOUND_SQL_PARAMETER"):
        run_prepared(client, prepared.prepared_statement_handle)


def test_expired_handles_are_refused() -> None:
    expired = PreparedStatement("SELECT 1 AS one", issued_at=time.time() - 10 * 86_400).encode()
    with pytest.raises(InvalidArgument, match="expired"):
        PreparedStatement.decode(expired, ttl=86_400)
    assert PreparedStatement.decode(expired).sql == "SELECT 1 AS one"


def test_forged_handles_are_refused(client) -> None:
    # A well-formed handle the server did not sign is as forged as garbage.
    unsigned = PreparedStatement("SELECT 1 AS one").encode()
    for forged in (b"", b"not json", b'{"v": 2, "sql": 1, "t": 0}', unsigned):
        with pytest.raises(pa.ArrowInvalid, match="not a prepared statement handle"):
            run_prepared(client, forged)
    # Closing an issued handle works; closing a forged one is refused.
    action(
        client,
        "ClosePreparedStatement",
        sql_pb2.ActionClosePreparedStatementRequest(
            prepared_statement_handle=prepare(client, "SELECT 1").prepared_statement_handle
        ),
    )
    with pytest.raises(pa.ArrowInvalid):
        action(
            client,
            "ClosePreparedStatement",
            sql_pb2.ActionClosePreparedStatementRequest(prepared_statement_handle=b"x"),
        )


def test_updates_report_affected_rows(adbc) -> None:
    name = table_name()
    with adbc.cursor() as cursor:
        cursor.execute(f"CREATE TABLE {name} (a INT, b STRING) USING parquet")
        assert cursor.rowcount == 0  # DDL changes no rows
        cursor.execute(f"INSERT INTO {name} SELECT id, 'r' FROM range(25)")
        assert cursor.rowcount == 25
        cursor.execute(f"INSERT INTO {name} VALUES (?, ?)", (100, "one"))
        assert cursor.rowcount == 1
        cursor.execute(f"INSERT OVERWRITE {name} SELECT id, 'o' FROM range(7)")
        assert cursor.rowcount == 7
        cursor.execute(f"SELECT count(*) FROM {name}")
        assert cursor.fetchall() == [(7,)]
        cursor.execute(f"DROP TABLE {name}")


def test_executemany_inserts_every_row_in_one_write(adbc, server) -> None:
    name = table_name()
    rows = [(i, f"v{i}" if i % 7 else None) for i in range(500)]
    with adbc.cursor() as cursor:
        cursor.execute(f"CREATE TABLE {name} (a BIGINT, b STRING) USING parquet")
        cursor.executemany(f"INSERT INTO {name} (b, a) VALUES (?, ?)", [(b, a) for a, b in rows])
        assert cursor.rowcount == 500
        cursor.execute(f"SELECT a, b FROM {name} ORDER BY a")
        assert cursor.fetchall() == rows
    # One Spark write, not one per row: the server logged a single update for the 500 rows.
    assert (
        sum(
            1
            for line in server.lines
            if f"INSERT INTO {name} (b, a)" in line and "update user=" in line and "rows=500" in line
        )
        == 1
    )


def test_executemany_of_any_other_statement_runs_once_per_row(adbc) -> None:
    name = table_name()
    with adbc.cursor() as cursor:
        cursor.execute(f"CREATE TABLE {name} (a BIGINT) USING parquet")
        cursor.executemany(f"INSERT INTO {name} SELECT id + ? FROM range(?)", [(0, 2), (10, 3)])
        assert cursor.rowcount == 5
        cursor.execute(f"SELECT a FROM {name} ORDER BY a")
        assert [a for (a,) in cursor.fetchall()] == [0, 1, 10, 11, 12]


def test_delete_on_a_format_without_it_is_unimplemented(adbc) -> None:
    name = table_name()
    with adbc.cursor() as cursor:
        cursor.execute(f"CREATE TABLE {name} (a INT) USING parquet")
        with pytest.raises(adbc_driver_manager.NotSupportedError, match="does not support DELETE"):
            cursor.execute(f"DELETE FROM {name} WHERE a = 1")


def test_transactions_are_unimplemented_with_a_clear_message(client) -> None:
    with pytest.raises(pa.ArrowNotImplementedError, match="transactions are not supported"):
        action(client, "BeginTransaction", sql_pb2.ActionBeginTransactionRequest())
    with pytest.raises(pa.ArrowNotImplementedError, match="transactions are not supported"):
        action(client, "EndTransaction", sql_pb2.ActionEndTransactionRequest(transaction_id=b"t"))
    command = sql_pb2.CommandStatementQuery(query="SELECT 1", transaction_id=b"t")
    with pytest.raises(pa.ArrowInvalid, match="no transactions"):
        client.get_flight_info(flight.FlightDescriptor.for_command(pack_command(command)))


def test_adbc_reports_no_transactions(adbc) -> None:
    with pytest.raises(adbc_driver_manager.NotSupportedError):
        adbc.adbc_connection.set_autocommit(False)


def test_a_statement_spark_can_analyse_only_with_values_prepares_and_runs(client, adbc) -> None:
    prepared = prepare(client, "SELECT id FROM range(100) ORDER BY id LIMIT ?")
    assert not prepared.is_update
    bound = bind(client, prepared.prepared_statement_handle, pa.table({"n": [3]}))
    assert run_prepared(client, bound).column("id").to_pylist() == [0, 1, 2]
    with adbc.cursor() as cursor:
        cursor.execute("SELECT id FROM range(100) ORDER BY id LIMIT ?", (2,))
        assert cursor.fetchall() == [(0,), (1,)]


def test_a_bad_statement_with_markers_still_fails_at_prepare(client) -> None:
    with pytest.raises(pa.ArrowInvalid, match="TABLE_OR_VIEW_NOT_FOUND"):
        prepare(client, "SELECT * FROM no_such_table WHERE a = ?")


def test_a_write_under_with_runs_once(adbc) -> None:
    name = table_name()
    with adbc.cursor() as cursor:
        cursor.execute(f"CREATE TABLE {name} (a BIGINT) USING parquet")
        cursor.execute(f"WITH c AS (SELECT id AS a FROM range(3)) INSERT INTO {name} SELECT a FROM c")
        cursor.execute(f"SELECT count(*) FROM {name}")
        assert cursor.fetchall() == [(3,)]
        cursor.execute(
            f"FROM (SELECT id AS a FROM range(2)) s INSERT INTO {name} SELECT a INSERT INTO {name} SELECT a + 10"
        )
        cursor.execute(f"SELECT count(*) FROM {name}")
        assert cursor.fetchall() == [(7,)]


def test_executemany_with_the_wrong_number_of_values_is_invalid_argument(adbc) -> None:
    name = table_name()
    with adbc.cursor() as cursor:
        cursor.execute(f"CREATE TABLE {name} (a BIGINT, b BIGINT, c BIGINT) USING parquet")
        with pytest.raises(adbc_driver_manager.ProgrammingError, match="2 parameter markers but 3 values"):
            cursor.executemany(f"INSERT INTO {name} VALUES (?, ?)", [(1, 2, 3), (4, 5, 6)])
        cursor.execute(f"SELECT count(*) FROM {name}")
        assert cursor.fetchall() == [(0,)]


def test_commands_that_return_rows_declare_their_schema_when_prepared(client) -> None:
    prepared = prepare(client, "SHOW TABLES IN demo")
    assert not prepared.is_update
    assert pa.ipc.read_schema(pa.py_buffer(prepared.dataset_schema)).names == [
        "namespace",
        "tableName",
        "isTemporary",
    ]
    update = prepare(client, "CREATE TABLE never_created (a INT) USING parquet")
    assert update.is_update and not update.dataset_schema


def test_a_limit_marker_prepares_with_its_schema(client) -> None:
    prepared = prepare(client, "SELECT id FROM range(10) LIMIT ?")
    assert pa.ipc.read_schema(pa.py_buffer(prepared.dataset_schema)).names == ["id"]
