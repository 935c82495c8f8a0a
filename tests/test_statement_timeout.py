"""Statement timeouts: ``spark.flight.sql.statementTimeout``, the session option ``statementTimeout``,
and the deadlines ADBC's own timeout options send, on a two-node cluster.

A limit that passes cancels the Spark job and fails the statement with DEADLINE_EXCEEDED (ADBC's
``TIMEOUT``) on every node; nothing stays buffered. A job that finished in time is not timed while
its result is read.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import adbc_driver_flightsql
import adbc_driver_flightsql.dbapi
import adbc_driver_manager
import pyarrow.flight as flight
import pytest
from support.cluster import WAIT, read_endpoint, start_cluster, statement, wait_for_members
from support.flight_calls import CookieJar, action, get_options
from support.server import ServerProcess, stalling_query
from support.waiting import wait_until

from spark_flight_sql.flightsql.proto import FlightSession_pb2 as session_pb2
from spark_flight_sql.flightsql.settings import SqlSettings
from spark_flight_sql.flightsql.statement_timeout import StatementLimit

SERVER_LIMIT = 10
"""The cluster's ``spark.flight.sql.statementTimeout``: far above what a small query takes on a busy
machine, so that only the stalling queries meet it."""
SESSION_LIMIT = "2"
"""The shorter limit a session sets, to keep the stalling tests short."""
CLIENT_TIMEOUT = "2"
"""ADBC's own timeout options, in seconds."""
KEEP_COOKIES = {"adbc.flight.sql.rpc.with_cookie_middleware": "true"}
OPTIONS = adbc_driver_flightsql.DatabaseOptions
NO_HANG = {OPTIONS.TIMEOUT_FETCH.value: str(WAIT), OPTIONS.TIMEOUT_UPDATE.value: str(WAIT)}
"""Client deadlines far beyond every limit tested: a limit that never fires fails its test (with the
client's own deadline, not the server's message) instead of hanging it."""
SESSION_OPTION = "adbc.flight.sql.session.option.statementTimeout"


@pytest.fixture(scope="module")
def nodes(zookeeper) -> Iterator[list[ServerProcess]]:
    root, started = start_cluster(
        zookeeper.url, 2, "--conf", f"spark.flight.sql.statementTimeout={SERVER_LIMIT}"
    )
    wait_for_members(zookeeper.url, root, 2)
    yield started
    for node in started:
        assert node.stop() == 0, "\n".join(node.lines[-40:])


@pytest.fixture
def connect(nodes) -> Iterator[Callable[..., adbc_driver_manager.dbapi.Connection]]:
    """ADBC connections to the first node (the queries' owner), closed after the test."""
    opened: list[adbc_driver_manager.dbapi.Connection] = []

    def open_connection(**db_kwargs: str) -> adbc_driver_manager.dbapi.Connection:
        connection = adbc_driver_flightsql.dbapi.connect(
            nodes[0].location, db_kwargs={**KEEP_COOKIES, **NO_HANG, **db_kwargs}, autocommit=True
        )
        opened.append(connection)
        return connection

    yield open_connection
    for connection in opened:
        connection.close()


def node_stats(node: ServerProcess) -> dict[str, Any]:
    with flight.FlightClient(node.location) as client:
        (result,) = client.do_action(flight.Action("NodeStats", b""))
    return json.loads(result.body.to_pybytes())


def holds_nothing(stats: dict[str, Any]) -> bool:
    return stats["running_jobs"] == stats["results"] == stats["buffered_bytes"] == stats["spill_files"] == 0


def wait_until_nothing_is_held(nodes: list[ServerProcess]) -> None:
    """Every node runs no job and holds no result, buffer or spill file."""
    seen: list[dict[str, Any]] = []

    def empty() -> bool:
        seen[:] = [node_stats(node) for node in nodes]
        return all(holds_nothing(stats) for stats in seen)

    wait_until(empty, timeout=WAIT, interval=0.2, message=lambda: f"the nodes still hold something: {seen}")


def count_lines(node: ServerProcess, text: str) -> int:
    return sum(1 for line in node.lines if text in line)


def a_table(connect) -> str:
    """A new empty table the stalling query's rows fit, on the first node."""
    name = f"target_{uuid.uuid4().hex[:8]}"
    with connect().cursor() as cursor:
        cursor.execute(f"CREATE TABLE {name} (id BIGINT, pause STRING) USING parquet")
    return name


def rows_in(connect, table: str) -> int:
    with connect().cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM {table}")
        ((count,),) = cursor.fetchall()
    return int(count)


def with_session_limit(connect) -> adbc_driver_manager.dbapi.Connection:
    connection = connect()
    connection.adbc_connection.set_options(**{SESSION_OPTION: SESSION_LIMIT})
    return connection


# ---- the server's limit ---------------------------------------------------------------------------


def test_the_server_limit_ends_a_slow_query_and_spares_a_finished_one(nodes, connect) -> None:
    owner = nodes[0]
    cancelled = count_lines(owner, "cancelling the job (its time limit passed)")
    with connect().cursor() as fast, connect().cursor() as slow:
        # A result whose job ends within the limit...
        fast.execute("SELECT id FROM range(0, 300000, 1, 4)")
        batches = fast.fetch_record_batch()
        first = batches.read_next_batch().num_rows
        wait_until(
            lambda: node_stats(owner)["running_jobs"] == 0, timeout=WAIT, message="the job never ended"
        )

        slow.execute(stalling_query())
        with pytest.raises(adbc_driver_manager.OperationalError) as failure:
            slow.fetchall()
        assert failure.value.status_code == adbc_driver_manager.AdbcStatusCode.TIMEOUT
        message = str(failure.value)
        assert "DeadlineExceeded" in message
        assert f"the server's time limit of {SERVER_LIMIT} s (spark.flight.sql.statementTimeout)" in message
        assert "can raise spark.flight.sql.statementTimeout" in message

        # ...is read in full after the limit passed: the limit covers the job, not the reader.
        assert first + sum(batch.num_rows for batch in batches) == 300_000
    owner.wait_for_count("cancelling the job (its time limit passed)", cancelled + 1, timeout=WAIT)
    wait_until_nothing_is_held(nodes)


# ---- a session's own limit ------------------------------------------------------------------------


def test_every_node_ends_its_reader_with_deadline_exceeded(nodes) -> None:
    jar = CookieJar()
    with flight.FlightClient(nodes[0].location, middleware=[jar]) as client:
        get_options(client)  # the session's cookie first: options are set on the session it names
        request = session_pb2.SetSessionOptionsRequest()
        request.session_options["statementTimeout"].string_value = SESSION_LIMIT
        (answer,) = action(client, "SetSessionOptions", request)
        assert not session_pb2.SetSessionOptionsResult.FromString(answer).errors
        info = client.get_flight_info(statement(stalling_query()))
    assert len(info.endpoints) == 2, "one endpoint per node"
    errors: dict[int, BaseException] = {}

    def read(index: int, endpoint: flight.FlightEndpoint) -> None:
        try:
            read_endpoint(endpoint)
        except BaseException as exc:  # noqa: BLE001 - each reader's outcome is what the test checks
            errors[index] = exc

    readers = [threading.Thread(target=read, args=item, daemon=True) for item in enumerate(info.endpoints)]
    for reader in readers:
        reader.start()
    for reader in readers:
        reader.join(WAIT)
    assert not any(reader.is_alive() for reader in readers), "a reader never ended"
    assert sorted(errors) == [0, 1], errors
    for error in errors.values():
        assert isinstance(error, flight.FlightTimedOutError), error
        assert f"time limit of {SESSION_LIMIT} s, set by the session option statementTimeout" in str(error)
        assert f"at most the server's {SERVER_LIMIT} s" in str(error)
    wait_until_nothing_is_held(nodes)


def test_an_update_past_the_limit_is_cancelled_and_writes_nothing(nodes, connect) -> None:
    table = a_table(connect)
    owner = nodes[0]
    cancelled = count_lines(owner, "cancelling the Spark jobs of the update (its time limit passed)")
    with with_session_limit(connect).cursor() as cursor:
        with pytest.raises(adbc_driver_manager.OperationalError) as failure:
            cursor.execute(f"INSERT INTO {table} {stalling_query()}")
    assert failure.value.status_code == adbc_driver_manager.AdbcStatusCode.TIMEOUT
    assert f"the update ran longer than its time limit of {SESSION_LIMIT} s" in str(failure.value)
    owner.wait_for_count(
        "cancelling the Spark jobs of the update (its time limit passed)", cancelled + 1, timeout=WAIT
    )
    assert rows_in(connect, table) == 0


def test_the_session_option_takes_seconds_and_zero_unsets_it(connect) -> None:
    connection = connect()

    def options() -> dict[str, str]:
        return json.loads(connection.adbc_connection.get_option("adbc.flight.sql.session.options"))

    connection.adbc_connection.set_options(**{SESSION_OPTION: "2.5"})
    assert options()["statementTimeout"] == "2.5"
    for bad in ("soon", "-1", "inf"):
        with pytest.raises(adbc_driver_manager.Error, match="statementTimeout.*invalid value"):
            connection.adbc_connection.set_options(**{SESSION_OPTION: bad})
    assert options()["statementTimeout"] == "2.5"
    connection.adbc_connection.set_options(**{SESSION_OPTION: "0"})
    assert "statementTimeout" not in options()


# ---- ADBC's own timeout options -------------------------------------------------------------------


def test_adbc_fetch_timeout_cancels_the_job(nodes, connect) -> None:
    """``timeout_seconds.fetch`` is a gRPC deadline on each DoGet: when it passes, the client fails
    and each node sees its stream cancelled, which cancels the job."""
    owner = nodes[0]
    cancelled = count_lines(owner, "cancelling the job (its readers went away)")
    with connect(**{OPTIONS.TIMEOUT_FETCH.value: CLIENT_TIMEOUT}).cursor() as cursor:
        cursor.execute(stalling_query())
        with pytest.raises(adbc_driver_manager.OperationalError) as failure:
            cursor.fetchall()
    assert failure.value.status_code == adbc_driver_manager.AdbcStatusCode.TIMEOUT
    assert "DeadlineExceeded" in str(failure.value)
    owner.wait_for_count("cancelling the job (its readers went away)", cancelled + 1, timeout=WAIT)
    wait_until_nothing_is_held(nodes)


def test_adbc_update_timeout_cancels_the_update(nodes, connect) -> None:
    """``timeout_seconds.update`` is a gRPC deadline on the update's DoPut: the server cannot read
    it, but it sees the call cancelled when it passes, and cancels the update's Spark jobs."""
    table = a_table(connect)
    owner = nodes[0]
    gone = "cancelling the Spark jobs of the update (the client went away"
    cancelled = count_lines(owner, gone)
    with connect(**{OPTIONS.TIMEOUT_UPDATE.value: CLIENT_TIMEOUT}).cursor() as cursor:
        with pytest.raises(adbc_driver_manager.OperationalError) as failure:
            cursor.execute(f"INSERT INTO {table} {stalling_query()}")
    assert failure.value.status_code == adbc_driver_manager.AdbcStatusCode.TIMEOUT
    owner.wait_for_count(gone, cancelled + 1, timeout=WAIT)
    assert rows_in(connect, table) == 0


# ---- the settings ---------------------------------------------------------------------------------


def test_the_setting_is_seconds_and_zero_means_no_limit() -> None:
    def limit(text: str) -> float | None:
        return SqlSettings.from_conf({"spark.flight.sql.statementTimeout": text}).statement_timeout

    assert SqlSettings.from_conf({}).statement_timeout is None
    assert limit("0") is None
    assert limit("30") == 30.0
    assert limit("2.5s") == 2.5
    for bad in ("-1", "soon", "nan"):
        with pytest.raises(ValueError, match="spark.flight.sql.statementTimeout must be a number of seconds"):
            limit(bad)


def test_a_session_can_lower_the_server_limit_never_raise_it() -> None:
    assert StatementLimit.of(None, None) is None
    assert StatementLimit.of(10, None) == StatementLimit(10, from_session=False, server_seconds=10)
    assert StatementLimit.of(10, 2) == StatementLimit(2, from_session=True, server_seconds=10)
    assert StatementLimit.of(10, 60) == StatementLimit(10, from_session=False, server_seconds=10)
    assert StatementLimit.of(None, 60) == StatementLimit(60, from_session=True, server_seconds=None)
