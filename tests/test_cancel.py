"""Cancelling a running query: CancelFlightInfo, the older CancelQuery, and ADBC's cancel."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import adbc_driver_manager
import pyarrow as pa
import pyarrow.flight as flight
import pytest
from support.flight_calls import cancel_flight_info
from support.server import stalling_query

from spark_flight_sql.flightsql import protocol
from spark_flight_sql.flightsql.proto import FlightSql_pb2 as sql_pb2
from spark_flight_sql.flightsql.protocol import CancelStatus, pack_command

DEADLINE = 60.0


@pytest.fixture
def client(server) -> Iterator[flight.FlightClient]:
    with flight.FlightClient(server.location) as flight_client:
        yield flight_client


def start_query(client: flight.FlightClient, sql: str) -> flight.FlightInfo:
    return client.get_flight_info(
        flight.FlightDescriptor.for_command(pack_command(sql_pb2.CommandStatementQuery(query=sql)))
    )


def cancellations(server, reason: str) -> int:
    return sum(1 for line in server.lines if f"cancelling the job ({reason})" in line)


def test_cancel_flight_info_stops_the_job_and_releases_the_result(client, server) -> None:
    info = start_query(client, stalling_query())
    before = cancellations(server, "the client cancelled the query")
    assert cancel_flight_info(client, info) is CancelStatus.CANCELLED
    server.wait_for_count("cancelling the job (the client cancelled the query)", before + 1, timeout=DEADLINE)
    with pytest.raises(pa.ArrowKeyError, match="released"):  # NOT_FOUND: nothing is kept
        client.do_get(info.endpoints[0].ticket).read_all()
    # Cancelling again: nothing is left to cancel.
    assert cancel_flight_info(client, info) is CancelStatus.NOT_CANCELLABLE


def test_a_finished_query_is_not_cancellable(client) -> None:
    info = start_query(client, "SELECT id FROM range(10)")
    assert client.do_get(info.endpoints[0].ticket).read_all().num_rows == 10
    assert cancel_flight_info(client, info) is CancelStatus.NOT_CANCELLABLE


def test_the_older_cancel_query_action_cancels_too(client, server) -> None:
    before = cancellations(server, "the client cancelled the query")
    info = start_query(client, stalling_query())
    request = sql_pb2.ActionCancelQueryRequest(info=info.serialize())
    (result,) = client.do_action(
        flight.Action("CancelQuery", protocol.encode_action_body("CancelQuery", request))
    )
    answer = protocol.decode_action_result("CancelQuery", result.body.to_pybytes())
    assert answer.result == sql_pb2.ActionCancelQueryResult.CANCEL_RESULT_CANCELLED
    server.wait_for_count("cancelling the job (the client cancelled the query)", before + 1, timeout=DEADLINE)


def test_metadata_results_and_garbage_cannot_be_cancelled(client) -> None:
    command = sql_pb2.CommandGetSqlInfo(info=[0])
    info = client.get_flight_info(flight.FlightDescriptor.for_command(pack_command(command)))
    with pytest.raises(pa.ArrowInvalid, match="only query results can be cancelled"):
        cancel_flight_info(client, info)
    with pytest.raises(pa.ArrowInvalid):
        list(client.do_action(flight.Action("CancelFlightInfo", b"\xff\x00garbage")))


def test_adbc_cancel_from_another_thread_ends_the_fetch_and_the_job(adbc, server) -> None:
    before = cancellations(server, "its reader went away")
    outcome: dict[str, BaseException] = {}
    with adbc.cursor() as cursor:
        cursor.execute(stalling_query())
        batches = cursor.fetch_record_batch()
        assert batches.read_next_batch().num_rows > 0  # the stream is open; the rest of the job crawls

        def read_rest() -> None:
            try:
                batches.read_all()
            except BaseException as exc:  # noqa: BLE001 - the outcome is what the test checks
                outcome["error"] = exc

        reader = threading.Thread(target=read_rest)
        reader.start()
        cursor.adbc_cancel()
        reader.join(DEADLINE)
        assert not reader.is_alive(), "the fetch did not end after cancel"
    # The reader ADBC hands out reports the cancel as an OSError from its Arrow stream.
    assert isinstance(outcome.get("error"), (adbc_driver_manager.Error, OSError)), outcome
    assert "cancel" in str(outcome["error"]).lower()
    server.wait_for_count("cancelling the job (its reader went away)", before + 1, timeout=DEADLINE)
