"""What clients read of an error: ``[CLASS] message (error id 3fa2c91b)``, Spark's SQLSTATE kept, no
traceback, no server path, nothing said twice; and the node's log holds the error's traceback under
that id. Checked on the wire (grpcio: the status exactly as sent), through ADBC and through pyarrow's
client, for a catalogue of errors of the public server, of a node's internal push server and of the
authentication middleware."""

from __future__ import annotations

import base64
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import adbc_driver_flightsql.dbapi
import adbc_driver_manager
import grpc
import pyarrow as pa
import pyarrow.flight as flight
import pytest
from google.protobuf import any_pb2
from support.error_sweep import problems
from support.flight_calls import SECRET, write_users
from support.server import ServerProcess

from spark_flight_sql.flightsql.auth.basic import BasicAuthenticator
from spark_flight_sql.flightsql.auth.middleware import AuthMiddlewareFactory
from spark_flight_sql.flightsql.auth.settings import AuthConfKey
from spark_flight_sql.flightsql.auth.tokens import TokenService
from spark_flight_sql.flightsql.proto import FlightSql_pb2 as sql_pb2
from spark_flight_sql.flightsql.protocol import pack_command

SERVICE = "/arrow.flight.protocol.FlightService/"
TIMEOUT = 120.0
SHAPE = re.compile(
    r"\[(?P<error_class>[A-Z_][A-Z0-9_]*(\.[A-Z0-9_]+)*)\] (?P<body>.+) \(error id (?P<error_id>[0-9a-f]{8})\)",
    re.S,
)
LOG_RECORD = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} ")


@dataclass(frozen=True)
class Sent:
    """A status as it went over the wire."""

    code: str
    message: str
    detail: str

    @property
    def error_id(self) -> str:
        found = SHAPE.fullmatch(self.message)
        assert found is not None, f"not [CLASS] message (error id ...): {self.message!r}"
        return found.group("error_id")


def sent(error: grpc.RpcError) -> Sent:
    """The status of ``error``: its code, and its details split into message and Arrow's detail."""
    details = error.details() or ""
    message, _, detail = details.rpartition(". Detail: ")
    return Sent(error.code().name, message, detail)


def call(location: str, method: str, request: bytes, *, metadata: tuple[tuple[str, str], ...] = ()) -> Sent:
    """Call ``method`` of the Flight service with the serialized ``request`` (a stream of FlightData
    for DoPut) and read every answer; the status it fails with."""
    target = location.removeprefix("grpc://")
    with grpc.insecure_channel(target) as channel:
        if method == "GetFlightInfo":
            rpc: Callable[..., object] = channel.unary_unary(
                SERVICE + method, request_serializer=bytes, response_deserializer=bytes
            )
        elif method == "DoPut":
            rpc = channel.stream_stream(
                SERVICE + method, request_serializer=bytes, response_deserializer=bytes
            )
        else:
            rpc = channel.unary_stream(
                SERVICE + method, request_serializer=bytes, response_deserializer=bytes
            )
        argument = iter([request]) if method == "DoPut" else request
        with pytest.raises(grpc.RpcError) as raised:
            answer = rpc(argument, timeout=TIMEOUT, metadata=metadata)
            if not isinstance(answer, bytes):
                for _ in answer:  # type: ignore[attr-defined]  # - a stream of answers
                    pass
    return sent(raised.value)


def statement(sql: str) -> bytes:
    return flight.FlightDescriptor.for_command(
        pack_command(sql_pb2.CommandStatementQuery(query=sql))
    ).serialize()


def command(payload: bytes) -> bytes:
    return flight.FlightDescriptor.for_command(payload).serialize()


def ticket_of(location: str, sql: str) -> bytes:
    """The first endpoint's ticket of ``sql``, serialized."""
    with flight.FlightClient(location) as client:
        info = client.get_flight_info(
            flight.FlightDescriptor.for_command(pack_command(sql_pb2.CommandStatementQuery(query=sql)))
        )
    return info.endpoints[0].ticket.serialize()


def assert_logged(
    node_lines: Callable[[], list[str]], error_id: str, *, event: str = "sent to a client"
) -> None:
    """The node logged ``error_id`` (that ``event``) with a traceback, in the same log record."""
    lines = node_lines()
    starts = [i for i, line in enumerate(lines) if f"error {error_id} (" in line and f") {event}: " in line]
    assert starts, f"no log line for error {error_id} {event}"
    for start in starts:
        for line in lines[start + 1 :]:
            if line.startswith("Traceback (most recent call last):"):
                return
            if LOG_RECORD.match(line):
                break
    raise AssertionError(
        f"error {error_id} was logged without a traceback:\n" + "\n".join(lines[starts[0] :][:30])
    )


def assert_readable(status: Sent, code: str, error_class: str, sqlstate: str | None = None) -> re.Match[str]:
    """``status`` has ``code`` and a message of the expected shape, class and SQLSTATE."""
    assert status.code == code, status
    found = SHAPE.fullmatch(status.message)
    assert found is not None, f"not [CLASS] message (error id ...): {status.message!r}"
    assert found.group("error_class") == error_class, status.message
    if sqlstate is not None:
        assert f"SQLSTATE: {sqlstate}" in found.group("body"), status.message
    assert re.fullmatch(r"Python exception: \w+|\w+", status.detail), status.detail  # one word, no traceback
    assert problems(status.message) == [], problems(status.message)
    return found


def wait_logged(server: ServerProcess, error_id: str, event: str = "sent to a client") -> None:
    server.wait_for_line(f"error {error_id} (", timeout=TIMEOUT)
    assert_logged(lambda: list(server.lines), error_id, event=event)


# ---- the public server, on the wire ---------------------------------------------------------------

UNKNOWN_COMMAND = any_pb2.Any(
    type_url="type.googleapis.com/arrow.flight.protocol.sql.Nope"
).SerializeToString()

CATALOGUE = [
    # (id, method, request, code, class, SQLSTATE)
    ("bad-sql", "GetFlightInfo", statement("SELEC 1"), "INVALID_ARGUMENT", "PARSE_SYNTAX_ERROR", "42601"),
    (
        "missing-table",
        "GetFlightInfo",
        statement("SELECT * FROM demo.no_such_table"),
        "INVALID_ARGUMENT",
        "TABLE_OR_VIEW_NOT_FOUND",
        "42P01",
    ),
    (
        "unknown-column",
        "GetFlightInfo",
        statement("SELECT nope FROM range(3)"),
        "INVALID_ARGUMENT",
        None,
        "42703",
    ),
    (
        "unknown-command",
        "GetFlightInfo",
        command(UNKNOWN_COMMAND),
        "INVALID_ARGUMENT",
        "INVALID_ARGUMENT",
        None,
    ),
    (
        "malformed-protobuf",
        "GetFlightInfo",
        command(b"\xff\x00garbage"),
        "INVALID_ARGUMENT",
        "INVALID_ARGUMENT",
        None,
    ),
    (
        "forged-ticket",
        "DoGet",
        flight.Ticket(pack_command(sql_pb2.TicketStatementQuery(statement_handle=b"forged"))).serialize(),
        "INVALID_ARGUMENT",
        "INVALID_ARGUMENT",
        None,
    ),
    (
        "unknown-prepared-statement",
        "GetFlightInfo",
        command(
            pack_command(sql_pb2.CommandPreparedStatementQuery(prepared_statement_handle=b"no such handle"))
        ),
        "INVALID_ARGUMENT",
        "INVALID_ARGUMENT",
        None,
    ),
    (
        "unknown-action",
        "DoAction",
        flight.Action("NoSuchAction", b"").serialize(),
        "INVALID_ARGUMENT",
        "INVALID_ARGUMENT",
        None,
    ),
    ("list-flights", "ListFlights", b"", "UNIMPLEMENTED", "UNIMPLEMENTED", None),
]


@pytest.mark.parametrize(
    ("method", "request_bytes", "code", "error_class", "sqlstate"),
    [case[1:] for case in CATALOGUE],
    ids=[case[0] for case in CATALOGUE],
)
def test_the_public_server_sends_a_readable_status(
    server: ServerProcess,
    method: str,
    request_bytes: bytes,
    code: str,
    error_class: str | None,
    sqlstate: str | None,
) -> None:
    status = call(server.location, method, request_bytes)
    found = SHAPE.fullmatch(status.message)
    assert found is not None, status
    assert_readable(status, code, error_class or found.group("error_class"), sqlstate)
    wait_logged(server, status.error_id)


def test_the_analysed_plan_is_not_sent(server: ServerProcess) -> None:
    status = call(server.location, "GetFlightInfo", statement("SELECT * FROM demo.no_such_table"))
    assert "UnresolvedRelation" not in status.message and "'Project" not in status.message
    assert status.message.count("cannot be found") == 1


MID_STREAM = [
    # (id, SQL, code, class, SQLSTATE)
    (
        "raise-error",
        "SELECT IF(id = 55555, raise_error('boom at 55555'), id) AS x FROM range(100000)",
        "INVALID_ARGUMENT",
        "USER_RAISED_EXCEPTION",
        "P0001",
    ),
    (
        "divide-by-zero",
        "SELECT 1 / (id - 77777) AS x FROM range(100000)",
        "INVALID_ARGUMENT",
        "DIVIDE_BY_ZERO",
        "22012",
    ),
    (
        "cast",
        "SELECT CAST(IF(id = 3, 'abc', '1') AS INT) AS x FROM range(10)",
        "INVALID_ARGUMENT",
        "CAST_INVALID_INPUT",
        "22018",
    ),
    (
        "java-exception",
        "SELECT java_method('java.lang.Integer', 'parseInt', IF(id = 999, 'nan', '1')) AS x FROM range(2000)",
        "INTERNAL",
        "QUERY_FAILED",
        None,
    ),
]


@pytest.mark.parametrize(
    ("sql", "code", "error_class", "sqlstate"),
    [case[1:] for case in MID_STREAM],
    ids=[case[0] for case in MID_STREAM],
)
def test_a_stream_that_fails_mid_way_sends_a_readable_status(
    server: ServerProcess, sql: str, code: str, error_class: str, sqlstate: str | None
) -> None:
    status = call(server.location, "DoGet", ticket_of(server.location, sql))
    assert_readable(status, code, error_class, sqlstate)
    # The id was given where the job failed (logged with Spark's traceback), and again where sent.
    wait_logged(server, status.error_id, "failed a query")
    wait_logged(server, status.error_id)


# ---- the same errors through the clients -------------------------------------------------------


@pytest.mark.parametrize(
    ("sql", "error_class", "sqlstate"),
    [
        ("SELEC 1", "PARSE_SYNTAX_ERROR", "42601"),
        ("SELECT * FROM demo.no_such_table", "TABLE_OR_VIEW_NOT_FOUND", "42P01"),
        (
            "SELECT IF(id = 55555, raise_error('boom at 55555'), id) AS x FROM range(100000)",
            "USER_RAISED_EXCEPTION",
            "P0001",
        ),
    ],
    ids=["bad-sql", "missing-table", "mid-stream"],
)
def test_adbc_shows_the_message_once_with_its_id(
    adbc, server: ServerProcess, sql: str, error_class: str, sqlstate: str
) -> None:
    with adbc.cursor() as cursor, pytest.raises(adbc_driver_manager.ProgrammingError) as raised:
        cursor.execute(sql)
        cursor.fetch_arrow_table()
    error = raised.value
    text = str(error)
    assert text == error.args[0]
    found = re.fullmatch(
        r"INVALID_ARGUMENT: \[FlightSQL\] (?P<message>.+)\. Detail: Python exception: InvalidArgument \(InvalidArgument; [^)]*\)",
        text,
        re.S,
    )
    assert found is not None, text
    assert_readable(
        Sent("INVALID_ARGUMENT", found.group("message"), "InvalidArgument"),
        "INVALID_ARGUMENT",
        error_class,
        sqlstate,
    )
    trailers = dict(error.details or [])
    assert trailers[b"x-arrow-status-message-bin"].decode() == found.group("message")
    assert trailers[b"x-arrow-status-detail-bin"] == b"Python exception: InvalidArgument"
    wait_logged(server, SHAPE.fullmatch(found.group("message")).group("error_id"))


def test_pyarrow_shows_the_message_and_its_own_client_context(server: ServerProcess) -> None:
    descriptor = flight.FlightDescriptor.for_command(
        pack_command(sql_pb2.CommandStatementQuery(query="SELECT 1 / (id - 5) AS x FROM range(10)"))
    )
    with flight.FlightClient(server.location) as client:
        with pytest.raises(pa.ArrowInvalid) as at_once:
            client.get_flight_info(
                flight.FlightDescriptor.for_command(
                    pack_command(sql_pb2.CommandStatementQuery(query="SELEC 1"))
                )
            )
        info = client.get_flight_info(descriptor)
        with pytest.raises(pa.ArrowInvalid) as mid_stream:
            client.do_get(info.endpoints[0].ticket).read_all()
    message, _, detail = str(at_once.value).rpartition(". Detail: ")
    assert detail == "Python exception: InvalidArgument"
    assert SHAPE.fullmatch(message) is not None
    # pyarrow's client repeats the status after its own ". gRPC client debug context:" on streams.
    streamed = str(mid_stream.value)
    own, _, client_context = streamed.partition(". gRPC client debug context: ")
    assert SHAPE.fullmatch(own.rpartition(". Detail: ")[0]) is not None, streamed
    assert client_context.endswith("Client context: OK")


# ---- the internal push server -------------------------------------------------------------------


def internal_location(server: ServerProcess) -> str:
    line = server.wait_for_line("internal server on ", timeout=TIMEOUT)
    return line.split("internal server on ", 1)[1].strip()


def flight_data(descriptor: flight.FlightDescriptor) -> bytes:
    """A FlightData message that carries only ``descriptor`` (field 1)."""
    body = descriptor.serialize()
    return b"\x0a" + _varint(len(body)) + body


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def test_a_forged_push_is_refused_readably(server: ServerProcess) -> None:
    location = internal_location(server)
    push = flight.FlightDescriptor.for_command(b'{"q": "0123", "p": 0, "a": 0}')
    forged = (("x-spark-flight-push-query", "0123"), ("x-spark-flight-push-secret", "00" * 32))
    status = call(location, "DoPut", flight_data(push), metadata=forged)
    assert_readable(status, "UNAUTHENTICATED", "UNAUTHENTICATED")
    assert "wrong push secret" in status.message
    wait_logged(server, status.error_id)
    status = call(location, "DoGet", flight.Ticket(b"anything").serialize())
    assert_readable(status, "UNAUTHENTICATED", "UNAUTHENTICATED")
    wait_logged(server, status.error_id)


# ---- the authentication middleware --------------------------------------------------------------


class Answering(flight.FlightServerBase):
    """Answers every action with nothing: only its authentication middleware can refuse a call."""

    def do_action(self, context: flight.ServerCallContext, action: flight.Action) -> list[bytes]:
        return []


@pytest.fixture
def authenticating(tmp_path: Path) -> Iterator[str]:
    users = write_users(tmp_path)
    authenticator = BasicAuthenticator({AuthConfKey.USERS_FILE.value: str(users)}.get)
    factory = AuthMiddlewareFactory(authenticator, TokenService(SECRET.encode(), 60), "node-1")
    with Answering("grpc://127.0.0.1:0", middleware={"auth": factory}) as server:
        yield f"grpc://127.0.0.1:{server.port}"


def test_a_wrong_password_is_refused_readably(authenticating: str, caplog: pytest.LogCaptureFixture) -> None:
    basic = base64.b64encode(b"alice:wrong").decode()
    with caplog.at_level("INFO", logger="spark_flight_sql.flightmanager.client_errors"):
        status = call(
            authenticating,
            "DoAction",
            flight.Action("x", b"").serialize(),
            metadata=(("authorization", f"Basic {basic}"),),
        )
        with pytest.raises(adbc_driver_manager.Error) as raised:
            adbc_driver_flightsql.dbapi.connect(
                authenticating, db_kwargs={"username": "alice", "password": "wrong"}
            )
    assert_readable(status, "UNAUTHENTICATED", "UNAUTHENTICATED")
    assert "invalid user name or password" in status.message
    assert re.search(
        r"\[UNAUTHENTICATED\] invalid user name or password \(error id [0-9a-f]{8}\)", str(raised.value)
    )
    for error_id in (status.error_id, re.search(r"error id ([0-9a-f]{8})", str(raised.value)).group(1)):
        [record] = [
            r for r in caplog.records if r.getMessage().startswith(f"error {error_id} (UNAUTHENTICATED) ")
        ]
        assert record.exc_info is not None


# ---- the sweep (tests/conftest.py) catches what clients used to read ---------------------------

BEFORE = (
    "INVALID_ARGUMENT: [FlightSQL] [TABLE_OR_VIEW_NOT_FOUND] The table or view `demo`.`no_such_table` cannot be "
    "found. Verify the spelling and correctness of the schema and catalog. Detail: Python exception: Traceback "
    '(most recent call last):\n  File "pyarrow/_flight.pyx", line 2343, in pyarrow._flight._do_action\n  File '
    '"/srv/spark_flight_sql/flightsql/errors.py", line 238, in __exit__\n    raise converted from None\n'
    "pyarrow.lib.ArrowInvalid: [TABLE_OR_VIEW_NOT_FOUND] The table or view `demo`.`no_such_table` cannot be "
    "found. Verify the spelling and correctness of the schema and catalog.\n (InvalidArgument; Prepare)"
)


def test_the_sweep_catches_what_clients_used_to_read() -> None:
    found = problems(BEFORE)
    assert any("Traceback" in problem for problem in found)
    assert any('.py"' in problem for problem in found) and any('.pyx"' in problem for problem in found)
    assert any("says twice" in problem for problem in found)
    assert any("without an error id" in problem for problem in found)
    # pyarrow's own stream suffix repeats the status: the client's doing, not counted.
    streamed = "[X] it failed badly, and this sentence is long (error id 0123abcd). Detail: Internal"
    assert problems(f"{streamed}. gRPC client debug context: INTERNAL:{streamed}. Client context: OK") == []
