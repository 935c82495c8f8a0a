"""Wide values: every message a result stream sends fits the client's limit, split by rows; a single
row that cannot fit ends the stream with a clear INVALID_ARGUMENT instead of gRPC's own error."""

from __future__ import annotations

import re
from collections.abc import Iterator

import adbc_driver_flightsql.dbapi
import adbc_driver_manager
import pyarrow as pa
import pyarrow.flight as flight
import pytest
from support.server import ServerProcess, start_server
from test_readme import readme_snippet, run_snippet

from spark_flight_sql.flightmanager.errors import InvalidHeaderError, RowTooLargeError
from spark_flight_sql.flightmanager.message_limit import (
    MAX_MESSAGE_HEADER,
    MIDDLEWARE_KEY,
    MessageLimit,
    client_limit,
    fit_messages,
    metadata_allowance,
)
from spark_flight_sql.flightsql.proto import FlightSql_pb2 as sql_pb2
from spark_flight_sql.flightsql.protocol import pack_command

WIDE = "SELECT repeat('x', 20000000) AS wide"
ADBC_LIMIT = "adbc.flight.sql.client_option.with_max_msg_size"
ADBC_HEADER = f"adbc.flight.sql.rpc.call_header.{MAX_MESSAGE_HEADER}"
MIB = 1024 * 1024


def statement(sql: str) -> flight.FlightDescriptor:
    return flight.FlightDescriptor.for_command(pack_command(sql_pb2.CommandStatementQuery(query=sql)))


def adbc(location: str, **options: str) -> adbc_driver_flightsql.dbapi.Connection:
    return adbc_driver_flightsql.dbapi.connect(location, db_kwargs=options, autocommit=True)


def fetch(location: str, sql: str, **options: str) -> pa.Table:
    with adbc(location, **options) as conn, conn.cursor() as cursor:
        cursor.execute(sql)
        return cursor.fetch_arrow_table()


# ---- the splitting itself, without a server ---------------------------------------------------


def _batch(widths: list[int]) -> pa.RecordBatch:
    return pa.record_batch(
        [pa.array(range(len(widths)), pa.int64()), pa.array(["v" * width for width in widths])],
        names=["id", "text"],
    )


def test_batches_that_fit_pass_as_they_are() -> None:
    batches = [_batch([100] * 1000) for _ in range(3)]
    served = list(fit_messages(iter(batches), MIB, batches[0].schema))
    assert all(a is b for a, b in zip(served, batches, strict=True))


def test_a_batch_over_the_limit_is_split_by_rows_each_piece_under_it() -> None:
    batch = _batch([50_000] * 100)  # 5 MB
    served = list(fit_messages(iter([batch]), MIB, batch.schema))
    assert len(served) >= 5
    assert pa.Table.from_batches(served).equals(pa.Table.from_batches([batch]))
    room = MIB - metadata_allowance(batch.schema)
    assert all(piece.nbytes <= room for piece in served)
    for piece in served:  # what is sent: the IPC message fits the limit
        assert pa.ipc.get_record_batch_size(piece) <= MIB


def test_a_row_that_cannot_fit_ends_the_stream_after_the_rows_before_it() -> None:
    batch = _batch([10, 10, 2 * MIB, 10])
    served: list[pa.RecordBatch] = []
    with pytest.raises(RowTooLargeError) as raised:
        served.extend(fit_messages(iter([batch]), MIB, batch.schema))
    assert sum(piece.num_rows for piece in served) == 2
    message = str(raised.value)
    assert (
        "'text'" in message and f"{MIB} bytes" in message and "spark.flight.client.maxMessageBytes" in message
    )
    assert (
        f"{ADBC_LIMIT}=" in message and f"{ADBC_HEADER}=" in message and f"{MAX_MESSAGE_HEADER}=" in message
    )


def test_the_metadata_allowance_covers_what_arrow_writes() -> None:
    for columns in (1, 10, 300):
        schema = pa.schema(
            [(f"c{i}", pa.list_(pa.struct([("a", pa.string()), ("b", pa.int64())]))) for i in range(columns)]
        )
        row = pa.RecordBatch.from_pylist(
            [{f"c{i}": [{"a": "x", "b": 1}] for i in range(columns)}], schema=schema
        )
        assert pa.ipc.get_record_batch_size(row) - row.nbytes < metadata_allowance(schema)


class _Context:
    """What client_limit reads of a call: the middleware that kept its header."""

    def __init__(self, header: str) -> None:
        self.said = MessageLimit(header)

    def get_middleware(self, key: str) -> MessageLimit | None:
        return self.said if key == MIDDLEWARE_KEY else None


def test_the_client_limit_header_is_read_and_checked() -> None:
    assert client_limit(None, 16 * MIB) == (16 * MIB, False)
    assert client_limit(_Context(" 1048576 "), 16 * MIB) == (MIB, True)  # type: ignore[arg-type]  # - duck-typed call context
    for bad in ("lots", "1000", str(2**31), ""):
        with pytest.raises(InvalidHeaderError, match=f"the {MAX_MESSAGE_HEADER} header must be a number"):
            client_limit(_Context(bad), 16 * MIB)  # type: ignore[arg-type]  # - duck-typed call context


# ---- through a node ------------------------------------------------------------------------------


def test_a_row_wider_than_adbc_accepts_is_a_clear_error(server: ServerProcess) -> None:
    with pytest.raises(adbc_driver_manager.ProgrammingError) as raised:
        fetch(server.location, WIDE)
    message = str(raised.value)
    assert message.startswith("INVALID_ARGUMENT: [FlightSQL] [ROW_TOO_LARGE] ")
    assert "'wide'" in message and "16777216 bytes" in message
    assert f"{ADBC_LIMIT}=" in message and f"{ADBC_HEADER}=" in message
    assert "received message larger than max" not in message
    needed = int(re.search(r"needs a message of (\d+) bytes", message).group(1))
    assert 20_000_000 < needed < 20_000_000 + 4096


def test_a_client_that_raised_its_limit_and_said_so_gets_the_row_whole(server: ServerProcess) -> None:
    size = str(32 * MIB)
    table = fetch(server.location, WIDE, **{ADBC_LIMIT: size, ADBC_HEADER: size})
    assert table.num_rows == 1 and table.column("wide")[0].as_py() == "x" * 20_000_000


def test_the_readme_wide_values_snippet(server: ServerProcess) -> None:
    assert run_snippet(readme_snippet("Wide values"), server).strip() == "20000000"


def test_many_medium_rows_arrive_whole_in_messages_the_client_accepts(server: ServerProcess) -> None:
    sql = "SELECT id, repeat('y', 300000) AS v FROM range(0, 60, 1, 2)"  # 18 MB in ~4 MiB pushed batches
    limit = str(MIB)
    table = fetch(server.location, sql, **{ADBC_LIMIT: limit, ADBC_HEADER: limit})
    assert sorted(table.column("id").to_pylist()) == list(range(60))
    assert set(table.column("v").to_pylist()) == {"y" * 300_000}
    # What each message holds, read with pyarrow (which accepts any size) saying the same limit.
    options = flight.FlightCallOptions(headers=[(MAX_MESSAGE_HEADER.encode(), limit.encode())])
    with flight.FlightClient(server.location) as client:
        info = client.get_flight_info(statement(sql))
        sizes = [
            chunk.data.nbytes
            for endpoint in info.endpoints
            for chunk in client.do_get(endpoint.ticket, options)
        ]
    assert len(sizes) >= 18 and max(sizes) <= MIB


def _chunks(reader: flight.FlightStreamReader) -> Iterator[pa.RecordBatch]:
    while True:
        try:
            yield reader.read_chunk().data
        except StopIteration:
            return


def test_the_rows_before_a_row_too_wide_are_sent_first(server: ServerProcess) -> None:
    sql = "SELECT id, IF(id = 5, repeat('x', 20000000), 'small') AS v FROM range(0, 10, 1, 1)"
    received: list[int] = []
    with flight.FlightClient(server.location) as client:
        info = client.get_flight_info(statement(sql))
        reader = client.do_get(info.endpoints[0].ticket)
        with pytest.raises(pa.ArrowInvalid, match=r"\[ROW_TOO_LARGE\] .*'v'") as raised:
            for batch in _chunks(reader):
                received.extend(batch.column("id").to_pylist())
    assert received == [0, 1, 2, 3, 4]
    error_id = re.search(r"\(error id ([0-9a-f]{8})\)", str(raised.value)).group(1)
    server.wait_for_line(f"error {error_id} (INVALID_ARGUMENT) sent to a client: [ROW_TOO_LARGE]", timeout=60)


def test_a_limit_header_that_is_no_number_is_refused(server: ServerProcess) -> None:
    options = flight.FlightCallOptions(headers=[(MAX_MESSAGE_HEADER.encode(), b"lots")])
    with flight.FlightClient(server.location) as client:
        info = client.get_flight_info(statement("SELECT 1 AS one"))
        with pytest.raises(pa.ArrowInvalid, match=rf"\[INVALID_HEADER\] the {MAX_MESSAGE_HEADER} header"):
            client.do_get(info.endpoints[0].ticket, options).read_all()


@pytest.fixture(scope="module")
def roomy_node() -> Iterator[ServerProcess]:
    """A node that assumes its clients accept 32 MiB messages."""
    node = start_server("--conf", f"spark.flight.client.maxMessageBytes={32 * MIB}", demo=False)
    yield node
    assert node.stop() == 0, node.tail(40)


def test_the_node_setting_raises_the_limit_for_clients_that_say_nothing(roomy_node: ServerProcess) -> None:
    table = fetch(roomy_node.location, WIDE, **{ADBC_LIMIT: str(32 * MIB)})
    assert table.column("wide")[0].as_py() == "x" * 20_000_000
    # A client that raised nothing now gets gRPC's own refusal: the setting says what clients accept.
    with pytest.raises(adbc_driver_manager.Error, match="larger than max"):
        fetch(roomy_node.location, WIDE)
