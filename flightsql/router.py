"""FlightSqlRouter: Flight SQL dispatch on top of ``pyarrow.flight.FlightServerBase``.

The router is the one Flight server of the front end. It holds a
:class:`spark_flight_sql.flightsql.interface.FlightSqlService` (composition: it does not inherit
from it), decodes every request at the edge (descriptors, tickets, action bodies), builds the
call's :class:`spark_flight_sql.flightsql.call.Call` once with ``service.new_call(context)`` and calls
the one typed service method the command's Any type URL names in :data:`ROUTES` (and an action's
type in :data:`ACTION_HANDLERS`). Service methods never see ``google.protobuf.Any``; their results
are encoded back here. Every public entry point converts errors with
:class:`spark_flight_sql.flightsql.errors.flight_errors`.

Every RPC passes the router's :class:`~spark_flight_sql.flightsql.admission.Admission`: a node that
drains before it stops refuses new work there (UNAVAILABLE) and waits for the calls inside.

Hostile input is refused here, before any handler runs: bytes that are not what they should be
are INVALID_ARGUMENT (never INTERNAL); a descriptor command, ticket or action body over
``max_request_bytes`` is refused before it is parsed; SQL text (CommandStatementQuery,
CommandStatementUpdate, CreatePreparedStatement) over ``max_sql_length`` characters is refused
before a handler sees it. Both are constructor arguments. pyarrow's gRPC server accepts
messages of any size (``SetMaxReceiveMessageSize(-1)``) and lets Python change none of its
options, so these bounds apply once gRPC has received a message: they keep parsers and handlers
from working on it, not the memory of receiving it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import pyarrow as pa
import pyarrow.flight as flight
from google.protobuf.message import Message

from spark_flight_sql.flightsql import protocol
from spark_flight_sql.flightsql.admission import WORK_STARTING_ACTIONS, Admission
from spark_flight_sql.flightsql.call import Call
from spark_flight_sql.flightsql.errors import InvalidArgument, Unimplemented, flight_errors
from spark_flight_sql.flightsql.interface import FlightSqlService
from spark_flight_sql.flightsql.proto import FlightSql_pb2 as sql_pb2
from spark_flight_sql.flightsql.settings import DEFAULT_MAX_SQL_LENGTH, SqlConfKey

__all__ = [
    "ACTION_HANDLERS",
    "DEFAULT_MAX_REQUEST_BYTES",
    "DEFAULT_MAX_SQL_LENGTH",
    "ROUTES",
    "SQL_TEXT_FIELDS",
    "FlightSqlRouter",
    "Route",
    "descriptor_command",
]

DEFAULT_MAX_REQUEST_BYTES = 64 * 1024 * 1024
"""Largest descriptor command, ticket or action body the router parses (64 MiB): room for the
longest SQL text in UTF-8 and a prepared statement handle carrying bound parameters."""

Context = flight.ServerCallContext
Handler = Callable[..., Any]


@dataclass(frozen=True)
class Route:
    """The service method (its name) a command reaches through each RPC; None: not allowed there."""

    get_flight_info: str | None = None
    get_schema: str | None = None
    do_get: str | None = None
    do_put: str | None = None


def _metadata(name: str) -> Route:
    return Route(f"get_flight_info_{name}", f"get_schema_{name}", f"do_get_{name}")


ROUTES: Mapping[str, Route] = MappingProxyType(
    {
        protocol.type_url(message): route
        for message, route in (
            (
                sql_pb2.CommandStatementQuery,
                Route("get_flight_info_statement", "get_schema_statement"),
            ),
            (
                sql_pb2.CommandStatementSubstraitPlan,
                Route(
                    "get_flight_info_substrait_plan",
                    "get_schema_substrait_plan",
                    do_put="do_put_substrait_plan",
                ),
            ),
            (
                sql_pb2.CommandPreparedStatementQuery,
                Route(
                    "get_flight_info_prepared_statement",
                    "get_schema_prepared_statement",
                    "do_get_prepared_statement",
                    "do_put_prepared_statement_query",
                ),
            ),
            (sql_pb2.CommandStatementUpdate, Route(do_put="do_put_statement_update")),
            (
                sql_pb2.CommandPreparedStatementUpdate,
                Route(do_put="do_put_prepared_statement_update"),
            ),
            (sql_pb2.CommandStatementIngest, Route(do_put="do_put_statement_ingest")),
            (sql_pb2.TicketStatementQuery, Route(do_get="do_get_statement")),
            (sql_pb2.CommandGetCatalogs, _metadata("catalogs")),
            (sql_pb2.CommandGetDbSchemas, _metadata("schemas")),
            (sql_pb2.CommandGetTables, _metadata("tables")),
            (sql_pb2.CommandGetTableTypes, _metadata("table_types")),
            (sql_pb2.CommandGetSqlInfo, _metadata("sql_info")),
            (sql_pb2.CommandGetPrimaryKeys, _metadata("primary_keys")),
            (sql_pb2.CommandGetExportedKeys, _metadata("exported_keys")),
            (sql_pb2.CommandGetImportedKeys, _metadata("imported_keys")),
            (sql_pb2.CommandGetCrossReference, _metadata("cross_reference")),
            (sql_pb2.CommandGetXdbcTypeInfo, _metadata("xdbc_type_info")),
        )
    }
)
"""Command type URL -> the service method it reaches through GetFlightInfo, GetSchema, DoGet, DoPut."""

ACTION_HANDLERS: Mapping[str, str] = MappingProxyType(
    {
        "CreatePreparedStatement": "do_action_create_prepared_statement",
        "ClosePreparedStatement": "do_action_close_prepared_statement",
        "CreatePreparedSubstraitPlan": "do_action_create_prepared_substrait_plan",
        "BeginTransaction": "do_action_begin_transaction",
        "EndTransaction": "do_action_end_transaction",
        "BeginSavepoint": "do_action_begin_savepoint",
        "EndSavepoint": "do_action_end_savepoint",
        "CancelQuery": "do_action_cancel_query",
        "CancelFlightInfo": "do_action_cancel_flight_info",
        "RenewFlightEndpoint": "do_action_renew_flight_endpoint",
        "SetSessionOptions": "do_action_set_session_options",
        "GetSessionOptions": "do_action_get_session_options",
        "CloseSession": "do_action_close_session",
    }
)
"""``Action.type`` -> service method; :data:`spark_flight_sql.flightsql.protocol.ACTIONS` says how each is encoded."""

SQL_TEXT_FIELDS: Mapping[type[Message], str] = MappingProxyType(
    {
        sql_pb2.CommandStatementQuery: "query",
        sql_pb2.CommandStatementUpdate: "query",
        sql_pb2.ActionCreatePreparedStatementRequest: "query",
    }
)
"""The commands and action requests that carry SQL text, and its field: checked against
``max_sql_length`` at the edge. (CommandStatementIngest carries none.)"""


class FlightSqlRouter(flight.FlightServerBase):
    """The Flight server of a :class:`FlightSqlService`: decodes, bounds, dispatches, encodes.

    ``FlightSqlRouter(service, location, ...)`` binds and serves at once, as every
    ``pyarrow.flight.FlightServerBase`` does; the other keyword arguments are pyarrow's
    (``auth_handler``, ``middleware``, ``tls_certificates``, ...), plus ``max_sql_length``
    (characters of SQL text a request may carry, default :data:`DEFAULT_MAX_SQL_LENGTH`, the
    default of ``spark.flight.sql.maxLength``) and ``max_request_bytes`` (bytes of a descriptor
    command, ticket or action body, default :data:`DEFAULT_MAX_REQUEST_BYTES`) and ``admission``
    (the gate every RPC passes, open by default; see :mod:`~spark_flight_sql.flightsql.admission`).
    """

    def __init__(
        self,
        service: FlightSqlService[Any],
        location: str | tuple[str, int] | flight.Location | None = None,
        *,
        max_sql_length: int = DEFAULT_MAX_SQL_LENGTH,
        max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES,
        admission: Admission | None = None,
        **flight_options: Any,
    ) -> None:
        self.service = service
        """The handlers this router dispatches to."""
        # Set before pyarrow starts serving (it does so in its __init__).
        self.max_sql_length = max_sql_length
        """Longest SQL text, in characters, that reaches a handler (see :data:`SQL_TEXT_FIELDS`)."""
        self.max_request_bytes = max_request_bytes
        """Largest descriptor command, ticket or action body, in bytes, that is parsed at all."""
        self.admission = admission or Admission()
        """Every RPC passes it: while closed, calls that start new work are refused (a node starting
        or draining)."""
        super().__init__(location, **flight_options)

    # --- Flight RPC entry points (the edge) -----------------------------------------------

    @flight_errors()
    def get_flight_info(self, context: Context, descriptor: flight.FlightDescriptor) -> flight.FlightInfo:
        """GetFlightInfo: the descriptor's command to ``get_flight_info_*``."""
        with self.admission.call(starts_work=True):
            command, handler = self._route(self._descriptor_command(descriptor), "get_flight_info")
            info: flight.FlightInfo = handler(self.service.new_call(context), command, descriptor)
            return info

    @flight_errors()
    def get_schema(  # type: ignore[override]  # - pyarrow requires a SchemaResult; its stubs say Schema
        self, context: Context, descriptor: flight.FlightDescriptor
    ) -> flight.SchemaResult:
        """GetSchema: the descriptor's command to ``get_schema_*``.

        Handlers return a ``pa.Schema`` (a ``flight.SchemaResult`` is accepted as well). Of the
        statuses, GetSchema can send only INVALID_ARGUMENT, NOT_FOUND and UNIMPLEMENTED: pyarrow's
        GetSchema callback (pyarrow 26) lacks the FlightError handling of the other RPCs, so
        PERMISSION_DENIED, UNAUTHENTICATED, CANCELLED, UNAVAILABLE, DEADLINE_EXCEEDED and INTERNAL
        raised here reach the client as UNKNOWN.
        """
        with self.admission.call(starts_work=True):
            command, handler = self._route(self._descriptor_command(descriptor), "get_schema")
            schema = handler(self.service.new_call(context), command, descriptor)
        if isinstance(schema, flight.SchemaResult):
            return schema
        return flight.SchemaResult(schema)

    @flight_errors()
    def do_get(self, context: Context, ticket: flight.Ticket) -> flight.FlightDataStream:
        """DoGet: the ticket is an Any-wrapped ticket or command, for ``do_get_*``."""
        data = ticket.ticket
        self._check_size(len(data), "ticket")
        with self.admission.call(starts_work=False):  # a ticket reads what was admitted before
            command, handler = self._route(protocol.unpack_command(data), "do_get")
            stream = handler(self.service.new_call(context), command)
        if isinstance(stream, (pa.Table, pa.RecordBatchReader)):
            return flight.RecordBatchStream(stream)
        result: flight.FlightDataStream = stream
        return result

    @flight_errors()
    def do_put(
        self,
        context: Context,
        descriptor: flight.FlightDescriptor,
        reader: flight.MetadataRecordBatchReader,
        writer: flight.FlightMetadataWriter,
    ) -> None:
        """DoPut: ``do_put_*``, its result written as ``PutResult.app_metadata``.

        Updates and ingestion answer a DoPutUpdateResult; binding parameters to a prepared
        statement answers a DoPutPreparedStatementResult (with the new handle, if any).
        """
        with self.admission.call(starts_work=True):
            command, handler = self._route(self._descriptor_command(descriptor), "do_put")
            outcome = handler(self.service.new_call(context), command, reader)
        writer.write(pa.py_buffer(_put_result(command, outcome).SerializeToString()))

    @flight_errors()
    def list_actions(  # type: ignore[override]  # - pyarrow takes ActionTypes; its stubs say Actions
        self, context: Context
    ) -> list[flight.ActionType]:
        """ListActions: every Flight SQL and Flight session action."""
        return [flight.ActionType(spec.type, spec.description) for spec in protocol.ACTIONS.values()]

    @flight_errors()
    def do_action(self, context: Context, action: flight.Action) -> list[bytes]:
        """DoAction: decode the body, call ``do_action_*``, encode its result."""
        action_type = _action_type(action)
        if action.body is not None:
            self._check_size(action.body.size, f"body of action {action_type!r}")
        body = bytes(action.body) if action.body is not None else b""
        handler_name = ACTION_HANDLERS.get(action_type)
        with self.admission.call(starts_work=action_type in WORK_STARTING_ACTIONS):
            call = self.service.new_call(context)
            if handler_name is None:
                return [_result_bytes(result) for result in self.service.do_action_fallback(call, action)]
            return self._do_action(call, action_type, getattr(self.service, handler_name), body)

    @flight_errors()
    def list_flights(  # type: ignore[override]  # - pyarrow passes the criteria as bytes; its stubs say str
        self, context: Context, criteria: bytes
    ) -> Iterator[flight.FlightInfo]:
        """ListFlights is not part of Flight SQL: UNIMPLEMENTED."""
        raise Unimplemented("ListFlights is not part of Flight SQL")

    @flight_errors()
    def do_exchange(
        self,
        context: Context,
        descriptor: flight.FlightDescriptor,
        reader: flight.MetadataRecordBatchReader,
        writer: flight.MetadataRecordBatchWriter,
    ) -> None:
        """DoExchange is not part of Flight SQL: UNIMPLEMENTED."""
        raise Unimplemented("DoExchange is not part of Flight SQL")

    # --- Dispatch -------------------------------------------------------------------------

    def _route(self, command: Message, rpc: str) -> tuple[Message, Handler]:
        route = ROUTES[protocol.type_url(command)]
        name = getattr(route, rpc)
        if name is None:
            raise InvalidArgument(f"{protocol.command_name(command)} cannot be used with {_RPC_NAMES[rpc]}")
        self._check_sql(command)
        return command, getattr(self.service, name)

    def _do_action(self, call: Call, action_type: str, handler: Handler, body: bytes) -> list[bytes]:
        if action_type == "CancelFlightInfo":
            info = protocol.decode_cancel_flight_info_request(body)
            return [protocol.encode_cancel_flight_info_result(handler(call, info))]
        if action_type == "RenewFlightEndpoint":
            endpoint = protocol.decode_renew_flight_endpoint_request(body)
            renewed: flight.FlightEndpoint = handler(call, endpoint)
            return [renewed.serialize()]
        request = protocol.decode_action_body(action_type, body)
        self._check_sql(request)
        result = handler(call, request)
        if protocol.ACTIONS[action_type].result is None:
            return []
        return [protocol.encode_action_result(action_type, result)]

    # --- Bounds ---------------------------------------------------------------------------

    def _descriptor_command(self, descriptor: flight.FlightDescriptor) -> Message:
        """:func:`descriptor_command`, refusing a command over ``max_request_bytes`` unparsed."""
        if descriptor.descriptor_type != flight.DescriptorType.CMD:
            return descriptor_command(descriptor)  # raises InvalidArgument
        data = descriptor.command or b""
        self._check_size(len(data), "descriptor command")
        return protocol.unpack_command(data)

    def _check_size(self, size: int, what: str) -> None:
        """InvalidArgument when a request part is over ``max_request_bytes``, before parsing it."""
        if size > self.max_request_bytes:
            raise InvalidArgument(
                f"the {what} is {size} bytes long; this server accepts at most {self.max_request_bytes} bytes"
            )

    def _check_sql(self, message: Message) -> None:
        """InvalidArgument when the message carries SQL text over ``max_sql_length`` characters."""
        field = SQL_TEXT_FIELDS.get(type(message))
        if field is None:
            return
        length = len(getattr(message, field))
        if length > self.max_sql_length:
            raise InvalidArgument(
                f"the SQL text of {protocol.command_name(message)} is {length} characters long; "
                f"this server accepts at most {self.max_sql_length} characters "
                f"({SqlConfKey.MAX_SQL_LENGTH.value})"
            )


_RPC_NAMES = {
    "get_flight_info": "GetFlightInfo",
    "get_schema": "GetSchema",
    "do_get": "DoGet",
    "do_put": "DoPut",
}


def _put_result(command: Message, outcome: Any) -> Message:
    """The DoPut answer: a DoPutPreparedStatementResult for a bound prepared statement (with the
    new handle, if any), else a DoPutUpdateResult with the record count."""
    if isinstance(command, sql_pb2.CommandPreparedStatementQuery):
        bound = sql_pb2.DoPutPreparedStatementResult()
        if outcome is not None:
            bound.prepared_statement_handle = bytes(outcome)
        return bound
    return sql_pb2.DoPutUpdateResult(record_count=int(outcome))


def _result_bytes(result: flight.Result | bytes) -> bytes:
    return result.body.to_pybytes() if isinstance(result, flight.Result) else bytes(result)


def _action_type(action: flight.Action) -> str:
    """``action.type``; InvalidArgument when it is not UTF-8 (gRPC refuses most such requests
    itself, but pyarrow decodes the type again)."""
    try:
        return action.type
    except UnicodeDecodeError:
        raise InvalidArgument("the action type is not UTF-8 text") from None


def descriptor_command(descriptor: flight.FlightDescriptor) -> Message:
    """The Flight SQL command in a CMD descriptor; InvalidArgument for anything else."""
    if descriptor.descriptor_type != flight.DescriptorType.CMD:
        raise InvalidArgument(
            f"Flight SQL needs a CMD FlightDescriptor, got {descriptor.descriptor_type.name}"
        )
    return protocol.unpack_command(descriptor.command or b"")
