"""The file authorization policy on a real node: every way SQL enters (queries, prepared statements,
updates, bulk ingest, schemas) asks it, denials are PERMISSION_DENIED, and edits apply without a restart."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import adbc_driver_flightsql.dbapi
import adbc_driver_manager
import pyarrow as pa
import pytest
from support.flight_calls import PASSWORDS, SECRET, write_users
from support.server import ServerProcess, start_server

POLICY = """
[users.alice]
access = "read-only"
tables = ["spark_catalog.demo.*"]

[users.bob]
access = "read-write"
"""


@pytest.fixture(scope="module")
def policy_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("policy") / "policy.toml"
    path.write_text(POLICY)
    return path


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory, policy_file: Path) -> Iterator[ServerProcess]:
    users = write_users(tmp_path_factory.mktemp("users"))
    server = start_server(
        "--conf",
        "spark.flight.auth=basic",
        "--conf",
        f"spark.flight.auth.basic.usersFile={users}",
        "--conf",
        f"spark.flight.auth.secret={SECRET}",
        "--conf",
        "spark.flight.authz.policy=file",
        "--conf",
        f"spark.flight.authz.policyFile={policy_file}",
    )
    yield server
    assert server.stop() == 0, "\n".join(server.lines[-40:])


def connect(node: ServerProcess, user: str) -> adbc_driver_flightsql.dbapi.Connection:
    return adbc_driver_flightsql.dbapi.connect(
        node.location, db_kwargs={"username": user, "password": PASSWORDS[user]}, autocommit=True
    )


def denied() -> pytest.RaisesContext:
    return pytest.raises(adbc_driver_manager.Error, match="PERMISSION_DENIED|may not")


def test_a_read_only_user_reads_allowed_tables_and_nothing_else(node: ServerProcess) -> None:
    with connect(node, "bob") as bob, bob.cursor() as cursor:
        cursor.execute("CREATE TABLE IF NOT EXISTS default.payroll AS SELECT 1 AS id, 1000 AS pay")
    with connect(node, "alice") as alice, alice.cursor() as cursor:
        cursor.execute("SELECT count(*) AS n FROM demo.sales")
        assert cursor.fetch_arrow_table().column("n")[0].as_py() > 0
        with denied():
            cursor.execute("SELECT * FROM default.payroll")
        with denied():  # hidden in a subquery: the analysed plan still names it
            cursor.execute("SELECT * FROM demo.sales WHERE EXISTS (SELECT 1 FROM default.payroll)")
        with denied():
            cursor.execute("INSERT INTO demo.sales SELECT * FROM demo.sales LIMIT 1")
        with denied():
            cursor.execute("DROP TABLE demo.sales")
        with denied():  # refused when prepared, before any parameter is bound
            cursor.adbc_prepare("SELECT * FROM default.payroll WHERE id = ?")
        with denied():
            cursor.adbc_ingest("alice_upload", pa.table({"x": [1]}), mode="create")
        # Session-only statements stay allowed.
        cursor.execute("SET spark.sql.shuffle.partitions = 4")
        cursor.execute("CREATE TEMPORARY VIEW mine AS SELECT 1 AS one")
        cursor.execute("SELECT one FROM mine")
        assert cursor.fetchall() == [(1,)]
    denial = node.wait_for_line("denied user=alice", timeout=30)
    assert "PASSWORD" not in denial.upper()


def test_a_read_write_user_writes_and_ingests(node: ServerProcess) -> None:
    with connect(node, "bob") as bob, bob.cursor() as cursor:
        # CREATE TABLE ... AS SELECT writes data (read-write); a bare CREATE TABLE is DDL (admin).
        cursor.execute("CREATE TABLE default.bob_t USING parquet AS SELECT CAST(1 AS BIGINT) AS x")
        cursor.execute("INSERT INTO default.bob_t VALUES (2)")
        assert cursor.adbc_ingest("bob_t", pa.table({"x": [3]}), mode="append") == 1
        cursor.execute("SELECT sum(x) AS s FROM default.bob_t")
        assert cursor.fetchall() == [(6,)]
        with denied():
            cursor.execute("CREATE TABLE default.bob_empty (x INT) USING parquet")
        with denied():
            cursor.execute("CREATE DATABASE bobs_own")


def test_policy_edits_apply_without_a_restart(node: ServerProcess, policy_file: Path) -> None:
    with connect(node, "bob") as bob, bob.cursor() as cursor:
        cursor.execute("CREATE TABLE default.edited USING parquet AS SELECT 1 AS x")
        policy_file.write_text(POLICY.replace('access = "read-write"', 'access = "read-only"'))
        stamp = time.time() + 5  # an mtime the policy cannot mistake for the old file's
        os.utime(policy_file, (stamp, stamp))
        try:
            with denied():
                cursor.execute("INSERT INTO default.edited VALUES (2)")
            cursor.execute("SELECT count(*) FROM default.edited")
            assert cursor.fetchall() == [(1,)]
        finally:
            policy_file.write_text(POLICY)
            stamp += 5
            os.utime(policy_file, (stamp, stamp))


def test_every_parameter_row_that_can_name_a_table_is_checked(node: ServerProcess) -> None:
    """A parameter inside IDENTIFIER(...) names a table: the policy sees every row, not the first."""
    import base64

    import pyarrow.flight as flight

    from spark_flight_sql.flightsql.proto import FlightSql_pb2 as sql_pb2
    from spark_flight_sql.flightsql.protocol import decode_action_result, encode_action_body, pack_command

    with connect(node, "bob") as bob, bob.cursor() as cursor:
        cursor.execute("CREATE TABLE IF NOT EXISTS default.payroll AS SELECT 1 AS id, 1000 AS pay")
    basic = base64.b64encode(f"alice:{PASSWORDS['alice']}".encode())
    options = flight.FlightCallOptions(headers=[(b"authorization", b"Basic " + basic)], timeout=60)
    with flight.FlightClient(node.location) as client:
        body = encode_action_body(
            "CreatePreparedStatement",
            sql_pb2.ActionCreatePreparedStatementRequest(query="SELECT count(*) AS n FROM IDENTIFIER(?)"),
        )
        results = list(client.do_action(flight.Action("CreatePreparedStatement", body), options))
        handle = decode_action_result(
            "CreatePreparedStatement", results[0].body.to_pybytes()
        ).prepared_statement_handle
        command = pack_command(sql_pb2.CommandPreparedStatementQuery(prepared_statement_handle=handle))
        writer, reader = client.do_put(
            flight.FlightDescriptor.for_command(command), pa.schema([("table", pa.string())]), options
        )
        writer.write_table(pa.table({"table": ["demo.sales", "default.payroll"]}))
        writer.done_writing()
        answer = reader.read()
        writer.close()
        bound = sql_pb2.DoPutPreparedStatementResult()
        bound.ParseFromString(answer.to_pybytes())
        descriptor = flight.FlightDescriptor.for_command(
            pack_command(
                sql_pb2.CommandPreparedStatementQuery(
                    prepared_statement_handle=bound.prepared_statement_handle
                )
            )
        )
        with pytest.raises(flight.FlightUnauthorizedError, match="payroll"):
            client.get_flight_info(descriptor, options)
