"""The public server against hostile clients: oversized requests, stalled and vanished streams,
and two hundred hostile connections at once.

The node under test runs with a 3 s ``spark.flight.stream.idleTimeout`` and a 1000-character
``spark.flight.sql.maxLength``. Clients that vanish are played by a TCP proxy in this process that
stops forwarding in both directions without closing anything (to the node, exactly a client whose
machine went away), and by a child process killed with SIGKILL (a client that crashed). Every wait
is a condition with a deadline.
"""

from __future__ import annotations

import json
import os
import queue
import random
import select
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.flight as flight
import pytest
from support import ROOT
from support.server import ServerProcess, start_server
from support.waiting import wait_until

from spark_flight_sql.flightmanager.config import ConfKey, FlightConfig
from spark_flight_sql.flightmanager.errors import StreamTimeoutError
from spark_flight_sql.flightmanager.results import ResultStore
from spark_flight_sql.flightsql import protocol
from spark_flight_sql.flightsql.proto import FlightSql_pb2 as sql_pb2
from spark_flight_sql.flightsql.router import DEFAULT_MAX_REQUEST_BYTES, DEFAULT_MAX_SQL_LENGTH
from spark_flight_sql.flightsql.settings import SqlConfKey, SqlSettings
from spark_flight_sql.flightsql.standalone import StandaloneService as FlightSqlServerBase

IDLE_TIMEOUT = 3
MAX_SQL_LENGTH = 1000
OPTIONS = flight.FlightCallOptions(timeout=120)
# About 50 MB: several times what gRPC and TCP buffers hold between a server and a client that
# stopped reading (about 9 MB on loopback), so the node is left holding most of it.
BIG_QUERY = "SELECT id, repeat('x', 1000) AS pad FROM range(0, 50000, 1, 4)"


def statement(sql: str) -> flight.FlightDescriptor:
    return flight.FlightDescriptor.for_command(
        protocol.pack_command(sql_pb2.CommandStatementQuery(query=sql))
    )


def node_stats(client: flight.FlightClient) -> dict[str, Any]:
    (result,) = client.do_action(flight.Action("NodeStats", b""), OPTIONS)
    return json.loads(result.body.to_pybytes())


HELD = ("results", "buffered_bytes", "spill_files")


def holds_no_more_than(client: flight.FlightClient, before: dict[str, Any]) -> dict[str, Any] | None:
    """The node's stats when it holds no more results, buffers and spill files than ``before``."""
    stats = node_stats(client)
    return stats if all(stats[key] <= before[key] for key in HELD) else None


STALLED = f"its reader took no batch for {IDLE_TIMEOUT} s; released the result"


def stalled_readers(node: ServerProcess) -> int:
    """How many times the node said so far that it released a stalled reader's result."""
    return sum(STALLED in line for line in node.lines)


def answers_a_query(client: flight.FlightClient) -> None:
    info = client.get_flight_info(statement("SELECT count(*) AS n FROM demo.sales"), OPTIONS)
    assert client.do_get(info.endpoints[0].ticket, OPTIONS).read_all().column(0)[0].as_py() > 0


@pytest.fixture(scope="module")
def staging(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("ingest-staging")


@pytest.fixture(scope="module")
def node(staging: Path) -> Iterator[ServerProcess]:
    process = start_server(
        "--conf",
        f"{ConfKey.STREAM_IDLE_TIMEOUT.value}={IDLE_TIMEOUT}",
        "--conf",
        f"{SqlConfKey.MAX_SQL_LENGTH.value}={MAX_SQL_LENGTH}",
        "--conf",
        f"{SqlConfKey.INGEST_STAGING_DIR.value}={staging}",
    )
    yield process
    assert process.stop() == 0, "the node did not stop cleanly:\n" + "\n".join(process.lines[-50:])


@pytest.fixture
def client(node: ServerProcess) -> Iterator[flight.FlightClient]:
    with flight.FlightClient(node.location) as connection:
        yield connection


def staged_uploads(staging: Path) -> list[str]:
    return sorted(path.name for path in staging.glob("ingest-*"))


# ---- the settings ---------------------------------------------------------------------------------


def test_settings_are_read_and_checked() -> None:
    assert SqlSettings().max_sql_length == DEFAULT_MAX_SQL_LENGTH == 1_048_576
    assert SqlSettings.from_conf({SqlConfKey.MAX_SQL_LENGTH.value: "2000"}).max_sql_length == 2000
    for bad in ("0", "-1", "lots"):
        with pytest.raises(ValueError, match="spark.flight.sql.maxLength"):
            SqlSettings.from_conf({SqlConfKey.MAX_SQL_LENGTH.value: bad})
    assert FlightConfig().stream_idle_timeout == 600
    assert FlightConfig.from_conf({ConfKey.STREAM_IDLE_TIMEOUT.value: "2.5s"}).stream_idle_timeout == 2.5
    with pytest.raises(ValueError, match="spark.flight.stream.idleTimeout"):
        FlightConfig.from_conf({ConfKey.STREAM_IDLE_TIMEOUT.value: "0"})


# ---- bounds at the edge ----------------------------------------------------------------------------


class _EchoSchemaServer(FlightSqlServerBase):
    """The base alone: statements' schema is one column named after the SQL's length."""

    def get_schema_statement(self, context, command, descriptor):  # type: ignore[override]
        return pa.schema([(str(len(command.query)), pa.int8())])


def test_the_base_refuses_sql_over_its_limit_before_any_handler() -> None:
    with _EchoSchemaServer() as default, flight.FlightClient(f"grpc://127.0.0.1:{default.port}") as client:
        at_limit = client.get_schema(statement("x" * DEFAULT_MAX_SQL_LENGTH), OPTIONS)
        assert at_limit.schema.names == [str(DEFAULT_MAX_SQL_LENGTH)]
        with pytest.raises(
            pa.ArrowInvalid, match=r"1048577 characters.*at most 1048576.*spark\.flight\.sql\.maxLength"
        ):
            client.get_schema(statement("x" * (DEFAULT_MAX_SQL_LENGTH + 1)), OPTIONS)
    with (
        _EchoSchemaServer(max_sql_length=10) as small,
        flight.FlightClient(f"grpc://127.0.0.1:{small.port}") as client,
    ):
        assert client.get_schema(statement("é" * 10), OPTIONS).schema.names == ["10"]  # characters, not bytes
        with pytest.raises(pa.ArrowInvalid, match="at most 10 characters"):
            client.get_schema(statement("x" * 11), OPTIONS)


def test_the_base_refuses_oversized_requests_before_parsing_them() -> None:
    assert DEFAULT_MAX_REQUEST_BYTES == 64 * 1024 * 1024
    with (
        _EchoSchemaServer(max_request_bytes=1000) as server,
        flight.FlightClient(f"grpc://127.0.0.1:{server.port}") as client,
    ):
        big = b"\x00" * 1001
        with pytest.raises(
            pa.ArrowInvalid, match="descriptor command is 1001 bytes long; this server accepts at most 1000"
        ):
            client.get_flight_info(flight.FlightDescriptor.for_command(big), OPTIONS)
        with pytest.raises(pa.ArrowInvalid, match="ticket is 1001 bytes long"):
            client.do_get(flight.Ticket(big), OPTIONS).read_all()
        with pytest.raises(
            pa.ArrowInvalid, match="body of action 'CreatePreparedStatement' is 1001 bytes long"
        ):
            list(client.do_action(flight.Action("CreatePreparedStatement", big), OPTIONS))
        assert client.get_schema(statement("SELECT 1"), OPTIONS).schema.names == ["8"]


def test_the_node_refuses_sql_over_spark_flight_sql_max_length(client) -> None:
    """Every command and action that carries SQL, against the node's setting (1000 here)."""
    too_long = "SELECT 1 AS one -- " + "x" * (MAX_SQL_LENGTH - 18)
    assert len(too_long) == MAX_SQL_LENGTH + 1
    expected = (
        r"1001 characters long; this server accepts at most 1000 characters \(spark\.flight\.sql\.maxLength\)"
    )
    with pytest.raises(pa.ArrowInvalid, match=expected):
        client.get_flight_info(statement(too_long), OPTIONS)
    with pytest.raises(pa.ArrowInvalid, match=expected):
        client.get_schema(statement(too_long), OPTIONS)
    body = protocol.encode_action_body(
        "CreatePreparedStatement", sql_pb2.ActionCreatePreparedStatementRequest(query=too_long)
    )
    with pytest.raises(pa.ArrowInvalid, match=expected):
        list(client.do_action(flight.Action("CreatePreparedStatement", body), OPTIONS))
    update = flight.FlightDescriptor.for_command(
        protocol.pack_command(sql_pb2.CommandStatementUpdate(query=too_long))
    )
    writer, _ = client.do_put(update, pa.schema([]), OPTIONS)
    with pytest.raises(pa.ArrowInvalid, match=expected):
        writer.close()
    assert client.get_schema(statement(too_long[:-1]), OPTIONS).schema.names == ["one"]


# ---- stalled and vanished streams -------------------------------------------------------------------


def test_the_store_releases_a_result_whose_reader_keeps_a_batch_too_long() -> None:
    """The mechanism behind the node tests below, in the store alone."""
    schema = pa.schema([("x", pa.int64())])
    abandoned: list[str] = []
    store = ResultStore(ttl=600, stream_timeout=30, on_abandoned=abandoned.append, idle_timeout=0.3).start()
    try:
        store.create("q", schema, b"s", partitions=[0])
        store.receive(
            "q", b"s", 0, 0, [pa.record_batch([pa.array([i])], schema=schema) for i in range(3)], schema
        )
        store.finish("q", [(0, 0)])
        _, batches = store.open_stream("q")
        assert next(batches).column(0).to_pylist() == [0]
        assert store.buffered_bytes() > 0
        wait_until(
            lambda: store.query_ids() == [] and store.buffered_bytes() == 0, message="the result is released"
        )
        assert abandoned == ["q"]
        with pytest.raises(StreamTimeoutError, match=r"for 0\.3 s \(spark\.flight\.stream\.idleTimeout\)"):
            next(batches)
    finally:
        store.close()


def test_a_reader_waiting_for_data_is_not_idle() -> None:
    """Waiting for the query's next batch is the stream timeout's business, not the idle timeout's."""
    schema = pa.schema([("x", pa.int64())])
    store = ResultStore(ttl=600, stream_timeout=30, idle_timeout=0.2).start()
    try:
        store.create("q", schema, b"s", partitions=[0, 1])
        store.receive("q", b"s", 0, 0, [pa.record_batch([pa.array([1])], schema=schema)], schema)
        assert store.confirm("q", 0, 0)
        _, batches = store.open_stream("q")
        assert next(batches).column(0).to_pylist() == [1]
        late = threading.Timer(
            1.0,
            lambda: (
                store.receive("q", b"s", 1, 0, [pa.record_batch([pa.array([2])], schema=schema)], schema),
                store.finish("q", [(0, 0), (1, 0)]),
            ),
        )
        late.start()
        try:
            # Asked for at once, the second batch comes a second later: five idle timeouts of waiting.
            assert [b.column(0).to_pylist() for b in batches] == [[2]]
        finally:
            late.join()
    finally:
        store.close()


class BlackHoleProxy:
    """A TCP proxy to the node that can stop forwarding without closing anything (``vanish``): to the
    node, a client whose machine went away. ``close`` resets every connection."""

    def __init__(self, port: int) -> None:
        self._target = port
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._vanished = threading.Event()
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._accept, daemon=True)]
        self._threads[0].start()

    def _accept(self) -> None:
        while not self._vanished.is_set():
            try:
                ready, _, _ = select.select([self._listener], [], [], 0.1)
                if not ready:
                    continue
                downstream, _ = self._listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self._target))
            with self._lock:
                self._sockets += [downstream, upstream]
            for source, target in ((downstream, upstream), (upstream, downstream)):
                thread = threading.Thread(target=self._pump, args=(source, target), daemon=True)
                self._threads.append(thread)
                thread.start()

    def _pump(self, source: socket.socket, target: socket.socket) -> None:
        try:
            while not self._vanished.is_set():
                ready, _, _ = select.select([source], [], [], 0.1)
                if not ready:
                    continue
                data = source.recv(65536)
                if not data or self._vanished.is_set():
                    return
                target.sendall(data)
        except OSError:
            return

    def vanish(self) -> None:
        """Forward nothing more, close nothing: the sockets stay open, unread."""
        self._vanished.set()

    def close(self) -> None:
        """Reset every connection (RST, as when the client's host comes back and refuses them)."""
        self._vanished.set()
        for thread in self._threads:
            thread.join(timeout=10)
        self._listener.close()
        with self._lock:
            sockets, self._sockets = self._sockets, []
        for sock in sockets:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            sock.close()


@pytest.fixture
def proxy(node: ServerProcess) -> Iterator[BlackHoleProxy]:
    black_hole = BlackHoleProxy(node.port)
    yield black_hole
    black_hole.close()


def test_a_reader_that_stops_reading_loses_its_result_after_the_idle_timeout(node, client) -> None:
    before = node_stats(client)
    stalls = stalled_readers(node)
    info = client.get_flight_info(statement(BIG_QUERY), OPTIONS)
    reader = client.do_get(info.endpoints[0].ticket, OPTIONS)
    assert reader.read_chunk().data.num_rows > 0
    # The client keeps its connection and reads no more: the node holds the rest, then lets it go.
    node.wait_for_count(STALLED, stalls + 1, timeout=60)
    wait_until(lambda: holds_no_more_than(client, before), message="the stalled result is released")
    # When the client reads again, what was already on its way arrives, then the reason.
    with pytest.raises(flight.FlightTimedOutError, match=r"spark\.flight\.stream\.idleTimeout"):
        while True:
            reader.read_chunk()
    answers_a_query(client)


def test_a_reader_that_vanishes_loses_its_result_after_the_idle_timeout(node, client, proxy) -> None:
    before = node_stats(client)
    with flight.FlightClient(f"grpc://127.0.0.1:{proxy.port}") as far:
        stalls = stalled_readers(node)
        info = far.get_flight_info(statement(BIG_QUERY), OPTIONS)
        reader = far.do_get(info.endpoints[0].ticket, OPTIONS)
        assert reader.read_chunk().data.num_rows > 0
        proxy.vanish()
        node.wait_for_count(STALLED, stalls + 1, timeout=60)
        wait_until(
            lambda: holds_no_more_than(client, before), message="the vanished reader's result is released"
        )
        answers_a_query(client)
        proxy.close()  # the connection finally dies: the client learns it
        with pytest.raises((flight.FlightError, pa.ArrowException, OSError)):
            while True:
                reader.read_chunk()


def test_an_upload_that_stalls_holds_a_thread_until_its_connection_dies(node, client, proxy, staging) -> None:
    """pyarrow.flight gives a DoPut handler no way to time out a read: a client that stops sending
    keeps its call (and its staging folder) until its connection dies. The node serves everyone
    else meanwhile, and cleans up once the connection is gone."""
    assert staged_uploads(staging) == []
    with flight.FlightClient(f"grpc://127.0.0.1:{proxy.port}") as far:
        command = sql_pb2.CommandStatementIngest(
            table="stalled_upload",
            temporary=True,
            table_definition_options=sql_pb2.CommandStatementIngest.TableDefinitionOptions(
                if_not_exist=sql_pb2.CommandStatementIngest.TableDefinitionOptions.TABLE_NOT_EXIST_OPTION_CREATE,
                if_exists=sql_pb2.CommandStatementIngest.TableDefinitionOptions.TABLE_EXISTS_OPTION_REPLACE,
            ),
        )
        batch = pa.record_batch([pa.array(range(1000))], names=["n"])
        writer, _ = far.do_put(
            flight.FlightDescriptor.for_command(protocol.pack_command(command)), batch.schema, OPTIONS
        )
        writer.write_batch(batch)
        wait_until(lambda: staged_uploads(staging), message="the node stages the upload")
        proxy.vanish()
        answers_a_query(client)
        assert staged_uploads(staging), "the upload is still open: nothing tells the node it is over"
        proxy.close()
        wait_until(
            lambda: not staged_uploads(staging),
            message="the staged upload is removed once its connection died",
        )
        with pytest.raises((flight.FlightError, pa.ArrowException, OSError)):
            writer.close()
    answers_a_query(client)


# ---- patterns that would make a regular expression backtrack ------------------------------------------


def test_filter_patterns_match_in_linear_time(client) -> None:
    """Translated to a regular expression, a LIKE pattern of many "%" backtracks exponentially
    (fifty of them took 23 s to match "default", a few more take hours), holding the GIL: one
    metadata request would stall the whole node. (Twenty-six here: 14 s with a regular expression.)"""
    command = sql_pb2.CommandGetDbSchemas(db_schema_filter_pattern="%" * 26 + "q")
    started = time.monotonic()
    info = client.get_flight_info(
        flight.FlightDescriptor.for_command(protocol.pack_command(command)), OPTIONS
    )
    assert client.do_get(info.endpoints[0].ticket, OPTIONS).read_all().num_rows == 0
    assert time.monotonic() - started < 5


# ---- two hundred hostile connections ------------------------------------------------------------------

HOSTILE_KINDS = {
    "garbage": 50,  # random bytes where gRPC expects HTTP/2
    "http2-garbage": 30,  # the HTTP/2 preface, then random frames
    "silent": 20,  # connects and says nothing
    "flight-garbage": 40,  # Flight calls with random commands, tickets, actions; keeps the connection
    "stream": 30,  # opens a result's stream (a query or metadata), reads one batch, stops
    "upload": 30,  # starts a bulk ingest, sends one batch, stops
}
HTTP2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"


def _hostile_connection(kind: str, index: int, port: int, rng: random.Random, held: list[Any]) -> None:
    if kind in ("garbage", "http2-garbage", "silent"):
        sock = socket.create_connection(("127.0.0.1", port))
        held.append(sock)
        if kind == "garbage":
            sock.sendall(rng.randbytes(rng.randint(1, 4096)))
        elif kind == "http2-garbage":
            settings = struct.pack(">I", 0)[1:] + b"\x04\x00" + struct.pack(">I", 0)
            frames = b"".join(
                struct.pack(">I", len(payload))[1:]
                + bytes([rng.randrange(256), rng.randrange(256)])
                + struct.pack(">I", rng.randrange(2**31))
                + payload
                for payload in (rng.randbytes(rng.randint(0, 64)) for _ in range(rng.randint(1, 8)))
            )
            sock.sendall(HTTP2_PREFACE + settings + frames)
        return
    # A channel of its own: gRPC would otherwise share one connection between clients.
    client = flight.FlightClient(
        f"grpc://127.0.0.1:{port}",
        generic_options=[("grpc.use_local_subchannel_pool", 1), ("hostile.index", index)],
    )
    held.append(client)
    options = flight.FlightCallOptions(timeout=120)
    if kind == "flight-garbage":
        for _ in range(3):
            calls = [
                lambda: client.get_flight_info(
                    flight.FlightDescriptor.for_command(rng.randbytes(rng.randint(0, 64))), options
                ),
                lambda: client.do_get(flight.Ticket(rng.randbytes(rng.randint(0, 64))), options).read_all(),
                lambda: list(
                    client.do_action(
                        flight.Action(
                            rng.choice(["CancelFlightInfo", "SetSessionOptions", "x"]),
                            rng.randbytes(rng.randint(0, 64)),
                        ),
                        options,
                    )
                ),
            ]
            try:
                rng.choice(calls)()
            except (flight.FlightError, pa.ArrowException):
                pass
    elif kind == "stream":
        if index % 3 == 0:
            command = sql_pb2.CommandGetTables(include_schema=True)
            ticket = flight.Ticket(protocol.pack_command(command))
        else:
            rows = rng.randint(12_000, 20_000)
            info = client.get_flight_info(
                statement(f"SELECT id, repeat('x', 1000) AS pad FROM range({rows})"), options
            )
            ticket = info.endpoints[0].ticket
        reader = client.do_get(ticket, options)
        held.append(reader)
        reader.read_chunk()
    elif kind == "upload":
        command = sql_pb2.CommandStatementIngest(
            table=f"hostile_{index}",
            temporary=True,
            table_definition_options=sql_pb2.CommandStatementIngest.TableDefinitionOptions(
                if_not_exist=sql_pb2.CommandStatementIngest.TableDefinitionOptions.TABLE_NOT_EXIST_OPTION_CREATE,
                if_exists=sql_pb2.CommandStatementIngest.TableDefinitionOptions.TABLE_EXISTS_OPTION_REPLACE,
            ),
        )
        batch = pa.record_batch([pa.array(range(rng.randint(1, 10_000)))], names=["n"])
        writer, _ = client.do_put(
            flight.FlightDescriptor.for_command(protocol.pack_command(command)), batch.schema, options
        )
        held.append(writer)
        writer.write_batch(batch)


def hostile_main(port: int) -> None:
    """The child process: open every hostile connection, say READY, hold them until killed."""
    from concurrent.futures import ThreadPoolExecutor

    held: list[Any] = []
    kinds = [kind for kind, count in HOSTILE_KINDS.items() for _ in range(count)]
    with ThreadPoolExecutor(max_workers=50) as pool:
        futures = [
            pool.submit(_hostile_connection, kind, i, port, random.Random(i), held)
            for i, kind in enumerate(kinds)
        ]
        failures = [repr(future.exception()) for future in futures if future.exception() is not None]
    print(json.dumps({"connections": len(kinds), "failures": failures}), flush=True)
    sys.stdin.read()  # hold everything open until killed


def test_two_hundred_hostile_connections_leave_the_node_responsive_and_clean(node, client, staging) -> None:
    before = node_stats(client)
    assert sum(HOSTILE_KINDS.values()) == 200
    child = subprocess.Popen(
        [sys.executable, __file__, str(node.port)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env={
            **os.environ,
            "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
        },
    )
    lines: queue.Queue[str] = queue.Queue()
    pump = threading.Thread(target=lambda: [lines.put(line) for line in child.stdout], daemon=True)
    pump.start()
    try:
        try:
            report = json.loads(lines.get(timeout=180))
        except queue.Empty:
            pytest.fail("the hostile client did not open its connections within 180 s")
        assert report == {"connections": 200, "failures": []}
        # All two hundred are open (streams half read, uploads half sent): a real query still runs
        # to its end while they are held (a node whose threads they exhausted would never answer;
        # the call's own deadline then fails the test).
        answers_a_query(client)
    finally:
        child.kill()  # every connection drops at once, as when a client crashes
        child.wait(timeout=30)
        pump.join(timeout=10)
        child.stdin.close()
        child.stdout.close()
    answers_a_query(client)
    wait_until(lambda: holds_no_more_than(client, before), message="the node releases every abandoned result")
    wait_until(lambda: not staged_uploads(staging), message="the node removes every abandoned upload")
    assert not [line for line in node.lines if "mapped to INTERNAL" in line]


if __name__ == "__main__":
    hostile_main(int(sys.argv[1]))
