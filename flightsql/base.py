"""FlightSqlServerBase: Flight SQL dispatch on top of ``pyarrow.flight.FlightServerBase``.

The base decodes every request at the edge (descriptors, tickets, action bodies) and calls
one typed handler per Flight SQL command, named as in arrow-rs's ``FlightSqlService``:
``get_flight_info_<command>``, ``get_schema_<command>``, ``do_get_<command>``,
``do_put_<command>`` and ``do_action_<action>``. Handlers receive the decoded protobuf
message and never see ``google.protobuf.Any``; results are encoded back here. Subclasses
override the handlers they support; every other one answers UNIMPLEMENTED naming the
command. All public entry points convert errors with :class:`spark_flight_sql.flightsql.errors.flight_errors`.

:data:`ROUTES` is the one table from a command's Any type URL to its handler for each RPC.

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

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import pyarrow as pa
import pyarrow.flight as flight
from google.protobuf.message import Message

from spark_flight_sql.flightsql import protocol, schemas
from spark_flight_sql.flightsql.errors import InvalidArgument, Unimplemented, flight_errors, guarded
from spark_flight_sql.flightsql.proto import FlightSession_pb2 as session_pb2
from spark_flight_sql.flightsql.proto import FlightSql_pb2 as sql_pb2
from spark_flight_sql.flightsql.settings import DEFAULT_MAX_SQL_LENGTH, SqlConfKey

__all__ = [
    "ACTION_HANDLERS",
    "DEFAULT_MAX_REQUEST_BYTES",
    "DEFAULT_MAX_SQL_LENGTH",
    "ROUTES",
    "SQL_TEXT_FIELDS",
    "FlightSqlServerBase",
    "Route",
    "descriptor_command",
]

DEFAULT_MAX_REQUEST_BYTES = 64 * 1024 * 1024
"""Largest descriptor command, ticket or action body the base parses (64 MiB): room for the
longest SQL text in UTF-8 and a prepared statement handle carrying bound parameters."""

Context = flight.ServerCallContext


@dataclass(frozen=True)
class Route:
    """The handler (method name) a command reaches through each RPC; None: not allowed there."""

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
"""Command type URL -> the handler it reaches through GetFlightInfo, GetSchema, DoGet, DoPut."""

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
"""``Action.type`` -> handler; :data:`spark_flight_sql.flightsql.protocol.ACTIONS` says how each is encoded."""

SQL_TEXT_FIELDS: Mapping[type[Message], str] = MappingProxyType(
    {
        sql_pb2.CommandStatementQuery: "query",
        sql_pb2.CommandStatementUpdate: "query",
        sql_pb2.ActionCreatePreparedStatementRequest: "query",
    }
)
"""The commands and action requests that carry SQL text, and its field: checked against
``max_sql_length`` at the edge. (CommandStatementIngest carries none.)"""


def _unimplemented(what: str, handler: str) -> Unimplemented:
    return Unimplemented(f"{what} is not implemented by this server ({handler})")


class FlightSqlServerBase(flight.FlightServerBase):
    """A Flight SQL server: override the handlers you support.

    Construct it as any ``pyarrow.flight.FlightServerBase`` (``location``, ``auth_handler``,
    ``middleware``, ...), plus ``max_sql_length`` (characters of SQL text a request may carry,
    default :data:`DEFAULT_MAX_SQL_LENGTH`, the default of ``spark.flight.sql.maxLength``) and
    ``max_request_bytes`` (bytes of a descriptor command, ticket or action body, default
    :data:`DEFAULT_MAX_REQUEST_BYTES`). Both are attributes too; set them before the server
    serves. Handlers run on gRPC threads, possibly concurrently.
    """

    max_sql_length: int = DEFAULT_MAX_SQL_LENGTH
    """Longest SQL text, in characters, that reaches a handler (see :data:`SQL_TEXT_FIELDS`)."""
    max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES
    """Largest descriptor command, ticket or action body, in bytes, that is parsed at all."""

    def __init__(
        self,
        location: object = None,
        *args: object,
        max_sql_length: int | None = None,
        max_request_bytes: int | None = None,
        **kwargs: object,
    ) -> None:
        # Set before pyarrow starts serving (it does so in its __init__).
        if max_sql_length is not None:
            self.max_sql_length = max_sql_length
        if max_request_bytes is not None:
            self.max_request_bytes = max_request_bytes
        super().__init__(location, *args, **kwargs)

    # --- Flight RPC entry points (the edge) -----------------------------------------------

    def get_flight_info(self, context: Context, descriptor: flight.FlightDescriptor) -> flight.FlightInfo:
        """GetFlightInfo: dispatch the descriptor's command to ``get_flight_info_*``."""
        with flight_errors():
            command, handler = self._route(self._descriptor_command(descriptor), "get_flight_info")
            return handler(context, command, descriptor)

    def get_schema(self, context: Context, descriptor: flight.FlightDescriptor) -> flight.SchemaResult:
        """GetSchema: dispatch the descriptor's command to ``get_schema_*``.

        Handlers return a ``pa.Schema`` (a ``flight.SchemaResult`` is accepted as well). Of the
        statuses, GetSchema can send only INVALID_ARGUMENT, NOT_FOUND and UNIMPLEMENTED: pyarrow's
        GetSchema callback (pyarrow 26) lacks the FlightError handling of the other RPCs, so
        PERMISSION_DENIED, UNAUTHENTICATED, CANCELLED, UNAVAILABLE, DEADLINE_EXCEEDED and INTERNAL
        raised here reach the client as UNKNOWN.
        """
        with flight_errors():
            command, handler = self._route(self._descriptor_command(descriptor), "get_schema")
            schema = handler(context, command, descriptor)
            if isinstance(schema, flight.SchemaResult):
                return schema
            return flight.SchemaResult(schema)

    def do_get(self, context: Context, ticket: flight.Ticket) -> flight.FlightDataStream:
        """DoGet: the ticket is an Any-wrapped ticket or command; dispatch to ``do_get_*``."""
        with flight_errors():
            data = ticket.ticket
            self._check_size(len(data), "ticket")
            command, handler = self._route(protocol.unpack_command(data), "do_get")
            stream = handler(context, command)
            if isinstance(stream, (pa.Table, pa.RecordBatchReader)):
                stream = flight.RecordBatchStream(stream)
            return stream

    def do_put(
        self,
        context: Context,
        descriptor: flight.FlightDescriptor,
        reader: flight.MetadataRecordBatchReader,
        writer: flight.FlightMetadataWriter,
    ) -> None:
        """DoPut: dispatch to ``do_put_*`` and write its result as ``PutResult.app_metadata``.

        Updates and ingestion answer a DoPutUpdateResult; binding parameters to a prepared
        statement answers a DoPutPreparedStatementResult (with the new handle, if any).
        """
        with flight_errors():
            command, handler = self._route(self._descriptor_command(descriptor), "do_put")
            outcome = handler(context, command, reader)
            if isinstance(command, sql_pb2.CommandPreparedStatementQuery):
                result: Message = sql_pb2.DoPutPreparedStatementResult()
                if outcome is not None:
                    result.prepared_statement_handle = bytes(outcome)
            else:
                result = sql_pb2.DoPutUpdateResult(record_count=int(outcome))
            writer.write(pa.py_buffer(result.SerializeToString()))

    def list_actions(self, context: Context) -> list[flight.ActionType]:
        """ListActions: every Flight SQL and Flight session action."""
        with flight_errors():
            return [flight.ActionType(spec.type, spec.description) for spec in protocol.ACTIONS.values()]

    def do_action(self, context: Context, action: flight.Action) -> list[flight.Result]:
        """DoAction: decode the body, call ``do_action_*``, encode its result."""
        with flight_errors():
            action_type = _action_type(action)
            if action.body is not None:
                self._check_size(action.body.size, f"body of action {action_type!r}")
            body = bytes(action.body) if action.body is not None else b""
            return list(self._do_action(context, action, body))

    def list_flights(self, context: Context, criteria: bytes) -> Iterator[flight.FlightInfo]:
        """ListFlights is not part of Flight SQL: UNIMPLEMENTED."""
        with flight_errors():
            raise Unimplemented("ListFlights is not part of Flight SQL")

    def do_exchange(
        self,
        context: Context,
        descriptor: flight.FlightDescriptor,
        reader: flight.MetadataRecordBatchReader,
        writer: flight.MetadataRecordBatchWriter,
    ) -> None:
        """DoExchange is not part of Flight SQL: UNIMPLEMENTED."""
        with flight_errors():
            raise Unimplemented("DoExchange is not part of Flight SQL")

    # --- Dispatch helpers -----------------------------------------------------------------

    def _route(self, command: Message, rpc: str) -> tuple[Message, Callable[..., Any]]:
        route = ROUTES[protocol.type_url(command)]
        name = getattr(route, rpc)
        if name is None:
            raise InvalidArgument(f"{protocol.command_name(command)} cannot be used with {_RPC_NAMES[rpc]}")
        self._check_sql(command)
        return command, getattr(self, name)

    def _descriptor_command(self, descriptor: flight.FlightDescriptor) -> Message:
        """:func:`descriptor_command`, refusing a command over ``max_request_bytes`` unparsed."""
        if descriptor.descriptor_type != flight.DescriptorType.CMD:
            return descriptor_command(descriptor)  # raises InvalidArgument
        data = descriptor.command
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

    def _do_action(
        self, context: Context, action: flight.Action, body: bytes
    ) -> Iterable[flight.Result | bytes]:
        action_type = action.type
        handler_name = ACTION_HANDLERS.get(action_type)
        if handler_name is None:
            return self.do_action_fallback(context, action)
        handler = getattr(self, handler_name)
        if action_type == "CancelFlightInfo":
            info = protocol.decode_cancel_flight_info_request(body)
            status = handler(context, info)
            return [flight.Result(protocol.encode_cancel_flight_info_result(status))]
        if action_type == "RenewFlightEndpoint":
            endpoint = protocol.decode_renew_flight_endpoint_request(body)
            return [flight.Result(handler(context, endpoint).serialize())]
        request = protocol.decode_action_body(action_type, body)
        self._check_sql(request)
        result = handler(context, request)
        if protocol.ACTIONS[action_type].result is None:
            return []
        return [flight.Result(protocol.encode_action_result(action_type, result))]

    # --- Helpers for subclasses -----------------------------------------------------------

    def command_flight_info(
        self,
        command: Message,
        schema: pa.Schema,
        descriptor: flight.FlightDescriptor | None = None,
    ) -> flight.FlightInfo:
        """A FlightInfo whose one endpoint's ticket is ``command`` itself, Any-wrapped.

        This is how metadata commands are answered: no location (the client reads from this
        server) and the command as the ticket, so DoGet reaches ``do_get_<command>``.
        """
        ticket = protocol.pack_command(command)
        if descriptor is None:
            descriptor = flight.FlightDescriptor.for_command(ticket)
        endpoint = flight.FlightEndpoint(ticket, [])
        return flight.FlightInfo(schema, descriptor, [endpoint], -1, -1)

    def generator_stream(
        self, schema: pa.Schema, batches: Iterable[pa.RecordBatch | pa.Table]
    ) -> flight.GeneratorStream:
        """A GeneratorStream whose errors are mapped like every other error of this server.

        pyarrow.flight pulls a GeneratorStream after ``do_get`` has returned; without this,
        an error raised while producing a batch would reach the client as UNKNOWN.
        """
        return flight.GeneratorStream(schema, guarded(batches))

    # --- GetFlightInfo handlers -----------------------------------------------------------

    def get_flight_info_statement(
        self,
        context: Context,
        command: sql_pb2.CommandStatementQuery,
        descriptor: flight.FlightDescriptor,
    ) -> flight.FlightInfo:
        """Execute an ad-hoc query; its endpoints' tickets reach ``do_get_statement``."""
        raise _unimplemented("CommandStatementQuery", "get_flight_info_statement")

    def get_flight_info_substrait_plan(
        self,
        context: Context,
        command: sql_pb2.CommandStatementSubstraitPlan,
        descriptor: flight.FlightDescriptor,
    ) -> flight.FlightInfo:
        """Execute a Substrait plan."""
        raise _unimplemented("CommandStatementSubstraitPlan", "get_flight_info_substrait_plan")

    def get_flight_info_prepared_statement(
        self,
        context: Context,
        command: sql_pb2.CommandPreparedStatementQuery,
        descriptor: flight.FlightDescriptor,
    ) -> flight.FlightInfo:
        """Execute a prepared statement with the parameters bound so far."""
        raise _unimplemented("CommandPreparedStatementQuery", "get_flight_info_prepared_statement")

    def get_flight_info_catalogs(
        self,
        context: Context,
        command: sql_pb2.CommandGetCatalogs,
        descriptor: flight.FlightDescriptor,
    ) -> flight.FlightInfo:
        """List catalogs; usually ``self.command_flight_info(command, schemas.CATALOGS, ...)``."""
        raise _unimplemented("CommandGetCatalogs", "get_flight_info_catalogs")

    def get_flight_info_schemas(
        self,
        context: Context,
        command: sql_pb2.CommandGetDbSchemas,
        descriptor: flight.FlightDescriptor,
    ) -> flight.FlightInfo:
        """List database schemas (result schema :data:`schemas.DB_SCHEMAS`)."""
        raise _unimplemented("CommandGetDbSchemas", "get_flight_info_schemas")

    def get_flight_info_tables(
        self,
        context: Context,
        command: sql_pb2.CommandGetTables,
        descriptor: flight.FlightDescriptor,
    ) -> flight.FlightInfo:
        """List tables (:data:`schemas.TABLES`, or ``TABLES_WITH_SCHEMA`` if include_schema)."""
        raise _unimplemented("CommandGetTables", "get_flight_info_tables")

    def get_flight_info_table_types(
        self,
        context: Context,
        command: sql_pb2.CommandGetTableTypes,
        descriptor: flight.FlightDescriptor,
    ) -> flight.FlightInfo:
        """List table types (:data:`schemas.TABLE_TYPES`)."""
        raise _unimplemented("CommandGetTableTypes", "get_flight_info_table_types")

    def get_flight_info_sql_info(
        self,
        context: Context,
        command: sql_pb2.CommandGetSqlInfo,
        descriptor: flight.FlightDescriptor,
    ) -> flight.FlightInfo:
        """Server and dialect information (:data:`schemas.SQL_INFO`)."""
        raise _unimplemented("CommandGetSqlInfo", "get_flight_info_sql_info")

    def get_flight_info_primary_keys(
        self,
        context: Context,
        command: sql_pb2.CommandGetPrimaryKeys,
        descriptor: flight.FlightDescriptor,
    ) -> flight.FlightInfo:
        """Primary keys of a table (:data:`schemas.PRIMARY_KEYS`)."""
        raise _unimplemented("CommandGetPrimaryKeys", "get_flight_info_primary_keys")

    def get_flight_info_exported_keys(
        self,
        context: Context,
        command: sql_pb2.CommandGetExportedKeys,
        descriptor: flight.FlightDescriptor,
    ) -> flight.FlightInfo:
        """Foreign keys referencing a table (:data:`schemas.EXPORTED_KEYS`)."""
        raise _unimplemented("CommandGetExportedKeys", "get_flight_info_exported_keys")

    def get_flight_info_imported_keys(
        self,
        context: Context,
        command: sql_pb2.CommandGetImportedKeys,
        descriptor: flight.FlightDescriptor,
    ) -> flight.FlightInfo:
        """Foreign keys of a table (:data:`schemas.IMPORTED_KEYS`)."""
        raise _unimplemented("CommandGetImportedKeys", "get_flight_info_imported_keys")

    def get_flight_info_cross_reference(
        self,
        context: Context,
        command: sql_pb2.CommandGetCrossReference,
        descriptor: flight.FlightDescriptor,
    ) -> flight.FlightInfo:
        """Foreign keys between two tables (:data:`schemas.CROSS_REFERENCE`)."""
        raise _unimplemented("CommandGetCrossReference", "get_flight_info_cross_reference")

    def get_flight_info_xdbc_type_info(
        self,
        context: Context,
        command: sql_pb2.CommandGetXdbcTypeInfo,
        descriptor: flight.FlightDescriptor,
    ) -> flight.FlightInfo:
        """Data types the server supports (:data:`schemas.XDBC_TYPE_INFO`)."""
        raise _unimplemented("CommandGetXdbcTypeInfo", "get_flight_info_xdbc_type_info")

    # --- GetSchema handlers ---------------------------------------------------------------

    def get_schema_statement(
        self,
        context: Context,
        command: sql_pb2.CommandStatementQuery,
        descriptor: flight.FlightDescriptor,
    ) -> pa.Schema:
        """The result schema of an ad-hoc query, without running it."""
        raise _unimplemented("CommandStatementQuery", "get_schema_statement")

    def get_schema_substrait_plan(
        self,
        context: Context,
        command: sql_pb2.CommandStatementSubstraitPlan,
        descriptor: flight.FlightDescriptor,
    ) -> pa.Schema:
        """The result schema of a Substrait plan."""
        raise _unimplemented("CommandStatementSubstraitPlan", "get_schema_substrait_plan")

    def get_schema_prepared_statement(
        self,
        context: Context,
        command: sql_pb2.CommandPreparedStatementQuery,
        descriptor: flight.FlightDescriptor,
    ) -> pa.Schema:
        """The result schema of a prepared statement (given the parameters bound so far)."""
        raise _unimplemented("CommandPreparedStatementQuery", "get_schema_prepared_statement")

    def get_schema_catalogs(
        self,
        context: Context,
        command: sql_pb2.CommandGetCatalogs,
        descriptor: flight.FlightDescriptor,
    ) -> pa.Schema:
        """The fixed GetCatalogs schema."""
        return schemas.CATALOGS

    def get_schema_schemas(
        self,
        context: Context,
        command: sql_pb2.CommandGetDbSchemas,
        descriptor: flight.FlightDescriptor,
    ) -> pa.Schema:
        """The fixed GetDbSchemas schema."""
        return schemas.DB_SCHEMAS

    def get_schema_tables(
        self,
        context: Context,
        command: sql_pb2.CommandGetTables,
        descriptor: flight.FlightDescriptor,
    ) -> pa.Schema:
        """The fixed GetTables schema, with ``table_schema`` when ``include_schema`` is set."""
        return schemas.TABLES_WITH_SCHEMA if command.include_schema else schemas.TABLES

    def get_schema_table_types(
        self,
        context: Context,
        command: sql_pb2.CommandGetTableTypes,
        descriptor: flight.FlightDescriptor,
    ) -> pa.Schema:
        """The fixed GetTableTypes schema."""
        return schemas.TABLE_TYPES

    def get_schema_sql_info(
        self,
        context: Context,
        command: sql_pb2.CommandGetSqlInfo,
        descriptor: flight.FlightDescriptor,
    ) -> pa.Schema:
        """The fixed GetSqlInfo schema."""
        return schemas.SQL_INFO

    def get_schema_primary_keys(
        self,
        context: Context,
        command: sql_pb2.CommandGetPrimaryKeys,
        descriptor: flight.FlightDescriptor,
    ) -> pa.Schema:
        """The fixed GetPrimaryKeys schema."""
        return schemas.PRIMARY_KEYS

    def get_schema_exported_keys(
        self,
        context: Context,
        command: sql_pb2.CommandGetExportedKeys,
        descriptor: flight.FlightDescriptor,
    ) -> pa.Schema:
        """The fixed GetExportedKeys schema."""
        return schemas.EXPORTED_KEYS

    def get_schema_imported_keys(
        self,
        context: Context,
        command: sql_pb2.CommandGetImportedKeys,
        descriptor: flight.FlightDescriptor,
    ) -> pa.Schema:
        """The fixed GetImportedKeys schema."""
        return schemas.IMPORTED_KEYS

    def get_schema_cross_reference(
        self,
        context: Context,
        command: sql_pb2.CommandGetCrossReference,
        descriptor: flight.FlightDescriptor,
    ) -> pa.Schema:
        """The fixed GetCrossReference schema."""
        return schemas.CROSS_REFERENCE

    def get_schema_xdbc_type_info(
        self,
        context: Context,
        command: sql_pb2.CommandGetXdbcTypeInfo,
        descriptor: flight.FlightDescriptor,
    ) -> pa.Schema:
        """The fixed GetXdbcTypeInfo schema."""
        return schemas.XDBC_TYPE_INFO

    # --- DoGet handlers -------------------------------------------------------------------

    def do_get_statement(
        self, context: Context, ticket: sql_pb2.TicketStatementQuery
    ) -> flight.FlightDataStream:
        """Stream one endpoint of a query started by ``get_flight_info_statement``."""
        raise _unimplemented("TicketStatementQuery", "do_get_statement")

    def do_get_prepared_statement(
        self, context: Context, command: sql_pb2.CommandPreparedStatementQuery
    ) -> flight.FlightDataStream:
        """Stream a prepared statement's result (when its FlightInfo used the command as ticket)."""
        raise _unimplemented("CommandPreparedStatementQuery", "do_get_prepared_statement")

    def do_get_catalogs(
        self, context: Context, command: sql_pb2.CommandGetCatalogs
    ) -> flight.FlightDataStream:
        """Stream the catalogs."""
        raise _unimplemented("CommandGetCatalogs", "do_get_catalogs")

    def do_get_schemas(
        self, context: Context, command: sql_pb2.CommandGetDbSchemas
    ) -> flight.FlightDataStream:
        """Stream the database schemas."""
        raise _unimplemented("CommandGetDbSchemas", "do_get_schemas")

    def do_get_tables(self, context: Context, command: sql_pb2.CommandGetTables) -> flight.FlightDataStream:
        """Stream the tables."""
        raise _unimplemented("CommandGetTables", "do_get_tables")

    def do_get_table_types(
        self, context: Context, command: sql_pb2.CommandGetTableTypes
    ) -> flight.FlightDataStream:
        """Stream the table types."""
        raise _unimplemented("CommandGetTableTypes", "do_get_table_types")

    def do_get_sql_info(
        self, context: Context, command: sql_pb2.CommandGetSqlInfo
    ) -> flight.FlightDataStream:
        """Stream the SqlInfo rows (see :func:`spark_flight_sql.flightsql.schemas.filter_sql_info`)."""
        raise _unimplemented("CommandGetSqlInfo", "do_get_sql_info")

    def do_get_primary_keys(
        self, context: Context, command: sql_pb2.CommandGetPrimaryKeys
    ) -> flight.FlightDataStream:
        """Stream the primary keys."""
        raise _unimplemented("CommandGetPrimaryKeys", "do_get_primary_keys")

    def do_get_exported_keys(
        self, context: Context, command: sql_pb2.CommandGetExportedKeys
    ) -> flight.FlightDataStream:
        """Stream the exported keys."""
        raise _unimplemented("CommandGetExportedKeys", "do_get_exported_keys")

    def do_get_imported_keys(
        self, context: Context, command: sql_pb2.CommandGetImportedKeys
    ) -> flight.FlightDataStream:
        """Stream the imported keys."""
        raise _unimplemented("CommandGetImportedKeys", "do_get_imported_keys")

    def do_get_cross_reference(
        self, context: Context, command: sql_pb2.CommandGetCrossReference
    ) -> flight.FlightDataStream:
        """Stream the cross reference."""
        raise _unimplemented("CommandGetCrossReference", "do_get_cross_reference")

    def do_get_xdbc_type_info(
        self, context: Context, command: sql_pb2.CommandGetXdbcTypeInfo
    ) -> flight.FlightDataStream:
        """Stream the type information."""
        raise _unimplemented("CommandGetXdbcTypeInfo", "do_get_xdbc_type_info")

    # --- DoPut handlers -------------------------------------------------------------------

    def do_put_statement_update(
        self,
        context: Context,
        command: sql_pb2.CommandStatementUpdate,
        reader: flight.MetadataRecordBatchReader,
    ) -> int:
        """Run an ad-hoc update; the affected row count, -1 if unknown.

        Some clients (arrow-go's) send no schema at all with this command: do not read
        ``reader`` unless the command needs data.
        """
        raise _unimplemented("CommandStatementUpdate", "do_put_statement_update")

    def do_put_statement_ingest(
        self,
        context: Context,
        command: sql_pb2.CommandStatementIngest,
        reader: flight.MetadataRecordBatchReader,
    ) -> int:
        """Load the uploaded batches into ``command.table``; the number of rows loaded."""
        raise _unimplemented("CommandStatementIngest", "do_put_statement_ingest")

    def do_put_prepared_statement_query(
        self,
        context: Context,
        command: sql_pb2.CommandPreparedStatementQuery,
        reader: flight.MetadataRecordBatchReader,
    ) -> bytes | None:
        """Bind the uploaded parameters; a new handle for the statement, or None to keep it."""
        raise _unimplemented("CommandPreparedStatementQuery", "do_put_prepared_statement_query")

    def do_put_prepared_statement_update(
        self,
        context: Context,
        command: sql_pb2.CommandPreparedStatementUpdate,
        reader: flight.MetadataRecordBatchReader,
    ) -> int:
        """Run a prepared update once per uploaded parameter row; the affected row count."""
        raise _unimplemented("CommandPreparedStatementUpdate", "do_put_prepared_statement_update")

    def do_put_substrait_plan(
        self,
        context: Context,
        command: sql_pb2.CommandStatementSubstraitPlan,
        reader: flight.MetadataRecordBatchReader,
    ) -> int:
        """Run a Substrait plan as an update; the affected row count."""
        raise _unimplemented("CommandStatementSubstraitPlan", "do_put_substrait_plan")

    # --- DoAction handlers ----------------------------------------------------------------

    def do_action_create_prepared_statement(
        self, context: Context, request: sql_pb2.ActionCreatePreparedStatementRequest
    ) -> sql_pb2.ActionCreatePreparedStatementResult:
        """CreatePreparedStatement: a handle, the IPC-serialized schemas and ``is_update``."""
        raise _unimplemented("CreatePreparedStatement", "do_action_create_prepared_statement")

    def do_action_close_prepared_statement(
        self, context: Context, request: sql_pb2.ActionClosePreparedStatementRequest
    ) -> None:
        """ClosePreparedStatement: release the statement."""
        raise _unimplemented("ClosePreparedStatement", "do_action_close_prepared_statement")

    def do_action_create_prepared_substrait_plan(
        self, context: Context, request: sql_pb2.ActionCreatePreparedSubstraitPlanRequest
    ) -> sql_pb2.ActionCreatePreparedStatementResult:
        """CreatePreparedSubstraitPlan: like CreatePreparedStatement, for a Substrait plan."""
        raise _unimplemented("CreatePreparedSubstraitPlan", "do_action_create_prepared_substrait_plan")

    def do_action_begin_transaction(
        self, context: Context, request: sql_pb2.ActionBeginTransactionRequest
    ) -> sql_pb2.ActionBeginTransactionResult:
        """BeginTransaction: the new transaction's id."""
        raise _unimplemented("BeginTransaction", "do_action_begin_transaction")

    def do_action_end_transaction(
        self, context: Context, request: sql_pb2.ActionEndTransactionRequest
    ) -> None:
        """EndTransaction: commit or roll back."""
        raise _unimplemented("EndTransaction", "do_action_end_transaction")

    def do_action_begin_savepoint(
        self, context: Context, request: sql_pb2.ActionBeginSavepointRequest
    ) -> sql_pb2.ActionBeginSavepointResult:
        """BeginSavepoint: the new savepoint's id."""
        raise _unimplemented("BeginSavepoint", "do_action_begin_savepoint")

    def do_action_end_savepoint(self, context: Context, request: sql_pb2.ActionEndSavepointRequest) -> None:
        """EndSavepoint: release or roll back to the savepoint."""
        raise _unimplemented("EndSavepoint", "do_action_end_savepoint")

    def do_action_cancel_query(
        self, context: Context, request: sql_pb2.ActionCancelQueryRequest
    ) -> sql_pb2.ActionCancelQueryResult:
        """CancelQuery (deprecated): by default, cancel through ``do_action_cancel_flight_info``."""
        info = protocol.decode_flight_info(request.info)
        try:
            status = self.do_action_cancel_flight_info(context, info)
        except Unimplemented:
            raise _unimplemented("CancelQuery", "do_action_cancel_query") from None
        # CancelResult and CancelStatus share their values.
        return sql_pb2.ActionCancelQueryResult(result=int(status))

    def do_action_cancel_flight_info(
        self, context: Context, info: flight.FlightInfo
    ) -> protocol.CancelStatus:
        """CancelFlightInfo: cancel the query ``info`` came from."""
        raise _unimplemented("CancelFlightInfo", "do_action_cancel_flight_info")

    def do_action_renew_flight_endpoint(
        self, context: Context, endpoint: flight.FlightEndpoint
    ) -> flight.FlightEndpoint:
        """RenewFlightEndpoint: the endpoint with a later ``expiration_time``."""
        raise _unimplemented("RenewFlightEndpoint", "do_action_renew_flight_endpoint")

    def do_action_set_session_options(
        self, context: Context, request: session_pb2.SetSessionOptionsRequest
    ) -> session_pb2.SetSessionOptionsResult:
        """SetSessionOptions: set options; the result lists the ones that were not set."""
        raise _unimplemented("SetSessionOptions", "do_action_set_session_options")

    def do_action_get_session_options(
        self, context: Context, request: session_pb2.GetSessionOptionsRequest
    ) -> session_pb2.GetSessionOptionsResult:
        """GetSessionOptions: every option of the current session."""
        raise _unimplemented("GetSessionOptions", "do_action_get_session_options")

    def do_action_close_session(
        self, context: Context, request: session_pb2.CloseSessionRequest
    ) -> session_pb2.CloseSessionResult:
        """CloseSession: close the session (ADBC sends this when a connection closes)."""
        raise _unimplemented("CloseSession", "do_action_close_session")

    def do_action_fallback(self, context: Context, action: flight.Action) -> Iterable[flight.Result | bytes]:
        """An action that is not Flight SQL's; override to add your own. INVALID_ARGUMENT."""
        raise InvalidArgument(f"unknown action type: {action.type!r}")


_RPC_NAMES = {
    "get_flight_info": "GetFlightInfo",
    "get_schema": "GetSchema",
    "do_get": "DoGet",
    "do_put": "DoPut",
}


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
    return protocol.unpack_command(descriptor.command)
