"""The few Flight SQL calls the data source makes, over a :class:`spark_flight_sql.datasource.client.Connection`.

Tasks use :func:`ingest`; the rest is the driver's. Imports only pyarrow and the protocol
messages (:mod:`spark_flight_sql.flightsql.protocol`, :mod:`spark_flight_sql.flightsql.proto`).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import cast

import pyarrow as pa
import pyarrow.flight as flight

from spark_flight_sql.datasource.client import Connection, FlightSqlSourceError, call_options, describe_error
from spark_flight_sql.flightsql.proto import FlightSql_pb2 as sql_pb2
from spark_flight_sql.flightsql.protocol import (
    KEEP_RESULT_HEADER,
    decode_action_result,
    encode_action_body,
    pack_command,
)

__all__ = ["flight_info", "identifier_quote", "ingest", "result_schema"]

_DEFAULT_QUOTE = '"'


def _unimplemented(exc: BaseException) -> bool:
    return isinstance(exc, NotImplementedError) or "unimplemented" in str(exc).lower()


def _statement(sql: str) -> flight.FlightDescriptor:
    return flight.FlightDescriptor.for_command(pack_command(sql_pb2.CommandStatementQuery(query=sql)))


def _fail(connection: Connection, what: str, exc: BaseException) -> FlightSqlSourceError:
    return FlightSqlSourceError(f"flightsql: {what} at {connection.uri} failed: {describe_error(exc)}")


def _prepared_schema(connection: Connection, sql: str) -> pa.Schema | None:
    """The dataset schema of a prepared statement for ``sql`` (None when the server gives none)."""
    body = encode_action_body(
        "CreatePreparedStatement", sql_pb2.ActionCreatePreparedStatementRequest(query=sql)
    )
    results = list(
        connection.client.do_action(flight.Action("CreatePreparedStatement", body), connection.call_options())
    )
    if not results:
        return None
    prepared = decode_action_result("CreatePreparedStatement", results[0].body.to_pybytes())
    if not isinstance(prepared, sql_pb2.ActionCreatePreparedStatementResult):  # decoding checked the type
        raise TypeError(f"CreatePreparedStatement answered {type(prepared).__name__}")
    try:
        close = encode_action_body(
            "ClosePreparedStatement",
            sql_pb2.ActionClosePreparedStatementRequest(
                prepared_statement_handle=prepared.prepared_statement_handle
            ),
        )
        list(
            connection.client.do_action(
                flight.Action("ClosePreparedStatement", close), connection.call_options()
            )
        )
    except flight.FlightError:
        pass  # the server expires the handle itself; the schema is what was wanted
    if not prepared.dataset_schema:
        return None
    return pa.ipc.read_schema(pa.py_buffer(prepared.dataset_schema))


def result_schema(connection: Connection, sql: str) -> pa.Schema:
    """The schema of ``sql``'s result, without running it where the server allows that.

    Asks for a prepared statement's dataset schema first, then GetSchema; only a server that
    implements neither is sent GetFlightInfo, which runs the query on most servers.
    """
    try:
        schema = _prepared_schema(connection, sql)
        if schema is not None:
            return schema
    except Exception as exc:
        if not _unimplemented(exc):
            raise _fail(connection, f"preparing {sql!r}", exc) from exc
    try:
        # pyarrow returns a SchemaResult (its stubs say Schema).
        answer = cast(
            "flight.SchemaResult", connection.client.get_schema(_statement(sql), connection.call_options())
        )
        return answer.schema
    except Exception as exc:
        if not _unimplemented(exc):
            raise _fail(connection, f"GetSchema of {sql!r}", exc) from exc
    return flight_info(connection, sql).schema


def flight_info(connection: Connection, sql: str, *, keep_result: bool = False) -> flight.FlightInfo:
    """GetFlightInfo for ``sql``: on most servers (ours included) this starts the query.

    ``keep_result``: ask the server (with the :data:`KEEP_RESULT_HEADER` call header, which other
    servers ignore) to keep the result so that its tickets can be read more than once."""
    options = connection.call_options()
    if keep_result:
        options = call_options(
            [*connection.headers, (KEEP_RESULT_HEADER.encode(), b"true")], connection.timeout
        )
    try:
        return connection.client.get_flight_info(_statement(sql), options)
    except Exception as exc:
        raise _fail(connection, f"GetFlightInfo of {sql!r}", exc) from exc


def identifier_quote(connection: Connection) -> str:
    """The server's SQL_IDENTIFIER_QUOTE_CHAR (SqlInfo 504), or ``"`` when it does not say."""
    command = sql_pb2.CommandGetSqlInfo(info=[sql_pb2.SQL_IDENTIFIER_QUOTE_CHAR])
    try:
        info = connection.client.get_flight_info(
            flight.FlightDescriptor.for_command(pack_command(command)), connection.call_options()
        )
        for endpoint in info.endpoints:
            # SqlInfo is small and served where it was asked: no location handling needed.
            table = connection.client.do_get(endpoint.ticket, connection.call_options()).read_all()
            for name, value in zip(table.column("info_name").to_pylist(), table.column("value").to_pylist()):
                if name == sql_pb2.SQL_IDENTIFIER_QUOTE_CHAR and isinstance(value, str) and len(value) == 1:
                    return value
    except Exception:  # noqa: BLE001 - any failure (no SqlInfo, a malformed answer) means the default quote
        pass
    return _DEFAULT_QUOTE


def ingest(
    connection: Connection,
    command: sql_pb2.CommandStatementIngest,
    schema: pa.Schema,
    batches: Iterable[pa.RecordBatch],
    timeout: float | None = None,
) -> int:
    """Upload ``batches`` (with ``schema``) through ``command``, streaming them as they come.

    Returns the record count the server reports (-1 when it reports none).
    """
    descriptor = flight.FlightDescriptor.for_command(pack_command(command))
    writer, reader = connection.client.do_put(descriptor, schema, call_options(connection.headers, timeout))
    # pyarrow answers a DoPut with a metadata reader (its stubs say a stream reader).
    results = cast("flight.FlightMetadataReader", reader)
    try:
        for batch in batches:
            writer.write_batch(batch)
        writer.done_writing()
        answer = results.read()
    finally:
        writer.close()
    if answer is None:
        return -1
    update = sql_pb2.DoPutUpdateResult()
    update.ParseFromString(answer.to_pybytes())
    return int(update.record_count)
