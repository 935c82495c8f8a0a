"""Bad input gets a clear error with the right status, and the server keeps serving everyone else."""

from __future__ import annotations

import adbc_driver_manager
import pyarrow as pa
import pyarrow.flight as flight
import pytest
from google.protobuf import any_pb2
from support.server import stalling_query

from spark_flight_sql.flightsql.proto import FlightSql_pb2 as sql_pb2
from spark_flight_sql.flightsql.protocol import pack_command


@pytest.fixture
def client(server):
    with flight.FlightClient(server.location) as connection:
        yield connection


def statement(sql: str) -> flight.FlightDescriptor:
    return flight.FlightDescriptor.for_command(pack_command(sql_pb2.CommandStatementQuery(query=sql)))


def assert_still_serving(client: flight.FlightClient) -> None:
    info = client.get_flight_info(statement("SELECT 41 + 1 AS answer"))
    assert client.do_get(info.endpoints[0].ticket).read_all().column(0).to_pylist() == [42]


def test_syntax_error_is_invalid_argument_with_spark_error_class(adbc, client) -> None:
    with adbc.cursor() as cursor, pytest.raises(adbc_driver_manager.ProgrammingError) as caught:
        cursor.execute("SELEC 1")
    assert "INVALID_ARGUMENT" in str(caught.value)
    assert "[PARSE_SYNTAX_ERROR]" in str(caught.value)
    with pytest.raises(pa.ArrowInvalid, match=r"\[PARSE_SYNTAX_ERROR\]"):
        client.get_flight_info(statement("SELEC 1"))
    assert_still_serving(client)


def test_unknown_table_is_invalid_argument(adbc, client) -> None:
    with (
        adbc.cursor() as cursor,
        pytest.raises(adbc_driver_manager.ProgrammingError, match=r"\[TABLE_OR_VIEW_NOT_FOUND\]"),
    ):
        cursor.execute("SELECT * FROM demo.no_such_table")
    with pytest.raises(pa.ArrowInvalid, match=r"TABLE_OR_VIEW_NOT_FOUND.*no_such_table"):
        client.get_flight_info(statement("SELECT * FROM demo.no_such_table"))
    assert_still_serving(client)


@pytest.mark.parametrize(
    "command",
    [
        b"\xff\x00garbage",
        b"",
        any_pb2.Any(type_url="type.googleapis.com/arrow.flight.protocol.sql.Nope").SerializeToString(),
    ],
    ids=["malformed-protobuf", "empty", "unknown-type-url"],
)
def test_bad_descriptors_are_invalid_argument(client, command: bytes) -> None:
    with pytest.raises(pa.ArrowInvalid):
        client.get_flight_info(flight.FlightDescriptor.for_command(command))
    assert_still_serving(client)


def test_unknown_type_url_is_named(client) -> None:
    command = any_pb2.Any(type_url="type.googleapis.com/arrow.flight.protocol.sql.Nope").SerializeToString()
    with pytest.raises(pa.ArrowInvalid, match="arrow.flight.protocol.sql.Nope"):
        client.get_flight_info(flight.FlightDescriptor.for_command(command))


@pytest.mark.parametrize(
    "ticket",
    [
        pack_command(sql_pb2.TicketStatementQuery(statement_handle=b'{"q":"0000","n":"nobody"}')),
        pack_command(sql_pb2.TicketStatementQuery(statement_handle=b"forged")),
    ],
    ids=["unknown-query", "forged-handle"],
)
def test_unknown_or_forged_ticket_is_not_found_or_invalid(client, ticket: bytes) -> None:
    with pytest.raises((pa.ArrowKeyError, pa.ArrowInvalid)) as caught:
        client.do_get(flight.Ticket(ticket)).read_all()
    assert "ticket" in str(caught.value).lower()
    assert_still_serving(client)


def test_consumed_ticket_is_not_found(client) -> None:
    info = client.get_flight_info(statement("SELECT id FROM range(10)"))
    ticket = info.endpoints[0].ticket
    assert client.do_get(ticket).read_all().num_rows == 10
    with pytest.raises(pa.ArrowKeyError):
        client.do_get(ticket).read_all()
    assert_still_serving(client)


def test_garbage_ticket_is_invalid_argument(client) -> None:
    with pytest.raises(pa.ArrowInvalid):
        client.do_get(flight.Ticket(b"\x00\x01not a ticket")).read_all()
    assert_still_serving(client)


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ("SELECT 1 / (id - 77777) AS x FROM range(100000)", r"\[DIVIDE_BY_ZERO\]"),
        ("SELECT IF(id = 55555, raise_error('boom at 55555'), id) AS x FROM range(100000)", "boom at 55555"),
        (
            "SELECT java_method('java.lang.Integer', 'parseInt', IF(id = 999, 'nan', '1')) FROM range(2000)",
            "NumberFormatException|nan",
        ),
    ],
    ids=["divide-by-zero", "raise-error", "java-method-throws"],
)
def test_runtime_failure_fails_the_stream(adbc, client, sql: str, expected: str) -> None:
    with adbc.cursor() as cursor, pytest.raises(adbc_driver_manager.Error, match=expected):
        cursor.execute(sql)
        cursor.fetch_arrow_table()
    info = client.get_flight_info(statement(sql))
    with pytest.raises((pa.ArrowInvalid, flight.FlightError), match=expected):
        client.do_get(info.endpoints[0].ticket).read_all()
    assert_still_serving(client)


def test_divide_by_zero_is_invalid_argument_on_the_stream(client) -> None:
    info = client.get_flight_info(statement("SELECT 1 / (id - 5) AS x FROM range(10)"))
    with pytest.raises(pa.ArrowInvalid, match=r"\[DIVIDE_BY_ZERO\]"):
        client.do_get(info.endpoints[0].ticket).read_all()


def test_disconnecting_client_cancels_the_job(server, client) -> None:
    info = client.get_flight_info(statement(stalling_query()))
    reader = client.do_get(info.endpoints[0].ticket)
    first = reader.read_chunk()
    assert first.data.num_rows > 0
    reader.cancel()
    server.wait_for_line("cancelling the job (its reader went away)", timeout=60)
    assert_still_serving(client)
