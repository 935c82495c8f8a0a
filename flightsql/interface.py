"""The Flight SQL service interface: one typed method per Flight SQL command and action.

A :class:`FlightSqlService` is what :class:`spark_flight_sql.flightsql.router.FlightSqlRouter`
serves: the router decodes every request at the edge and calls one method here, named as in
arrow-rs's ``FlightSqlService``: ``get_flight_info_<command>``, ``get_schema_<command>``,
``do_get_<command>``, ``do_put_<command>`` and ``do_action_<action>``. Each receives the call
(:class:`spark_flight_sql.flightsql.call.Call`, built once per RPC by :meth:`FlightSqlService.new_call`)
and the decoded protobuf message (never ``google.protobuf.Any``); results are encoded by the router.

Every method answers UNIMPLEMENTED naming the command, except the GetSchema of metadata commands,
whose schemas the specification fixes, and CancelQuery, which goes through CancelFlightInfo.
Override the ones you support. Methods run on gRPC threads, possibly concurrently.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Generic, TypeVar, cast

import pyarrow as pa
import pyarrow.flight as flight
from google.protobuf.message import Message

from spark_flight_sql.flightsql import protocol, schemas
from spark_flight_sql.flightsql.call import Call
from spark_flight_sql.flightsql.errors import InvalidArgument, Unimplemented, guarded
from spark_flight_sql.flightsql.proto import FlightSession_pb2 as session_pb2
from spark_flight_sql.flightsql.proto import FlightSql_pb2 as sql_pb2

__all__ = [
    "CallT",
    "DoGetResult",
    "FlightSqlService",
    "SchemaAnswer",
    "command_flight_info",
    "generator_stream",
]

CallT = TypeVar("CallT", bound=Call)
"""The per-call request type a service's methods receive."""

DoGetResult = flight.FlightDataStream | pa.Table | pa.RecordBatchReader
"""What a DoGet handler returns: a stream, or a table or reader the router streams."""
SchemaAnswer = pa.Schema | flight.SchemaResult
"""What a GetSchema handler returns."""


def _unimplemented(what: str, handler: str) -> Unimplemented:
    return Unimplemented(f"{what} is not implemented by this server ({handler})")


def command_flight_info(
    command: Message, schema: pa.Schema, descriptor: flight.FlightDescriptor | None = None
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
    schema: pa.Schema, batches: Iterable[pa.RecordBatch | pa.Table]
) -> flight.GeneratorStream:
    """A GeneratorStream whose errors are mapped like every other error of the router.

    pyarrow.flight pulls a GeneratorStream after ``do_get`` has returned; without this,
    an error raised while producing a batch would reach the client as UNKNOWN.
    """
    return flight.GeneratorStream(schema, guarded(batches))


class FlightSqlService(Generic[CallT]):
    """The handlers of a Flight SQL server: override the ones you support.

    ``CallT`` is the per-call request its methods receive: :class:`Call`, or a subclass carrying
    more (a service with one overrides :meth:`new_call`).
    """

    def new_call(self, context: flight.ServerCallContext) -> CallT:
        """The per-call request the router passes to this call's handler (once per RPC)."""
        return cast("CallT", Call(context))

    # --- Helpers for handlers -------------------------------------------------------------

    def command_flight_info(
        self,
        command: Message,
        schema: pa.Schema,
        descriptor: flight.FlightDescriptor | None = None,
    ) -> flight.FlightInfo:
        """:func:`command_flight_info`."""
        return command_flight_info(command, schema, descriptor)

    def generator_stream(
        self, schema: pa.Schema, batches: Iterable[pa.RecordBatch | pa.Table]
    ) -> flight.GeneratorStream:
        """:func:`generator_stream`."""
        return generator_stream(schema, batches)

    # --- GetFlightInfo handlers -----------------------------------------------------------

    def get_flight_info_statement(
        self,
        call: CallT,
        command: sql_pb2.CommandStatementQuery,
        descriptor: flight.FlightDescriptor,
    ) -> flight.FlightInfo:
        """Execute an ad-hoc query; its endpoints' tickets reach ``do_get_statement``."""
        raise _unimplemented("CommandStatementQuery", "get_flight_info_statement")

    def get_flight_info_substrait_plan(
        self,
        call: CallT,
        command: sql_pb2.CommandStatementSubstraitPlan,
        descriptor: flight.FlightDescriptor,
    ) -> flight.FlightInfo:
        """Execute a Substrait plan."""
        raise _unimplemented("CommandStatementSubstraitPlan", "get_flight_info_substrait_plan")

    def get_flight_info_prepared_statement(
        self,
        call: CallT,
        command: sql_pb2.CommandPreparedStatementQuery,
        descriptor: flight.FlightDescriptor,
    ) -> flight.FlightInfo:
        """Execute a prepared statement with the parameters bound so far."""
        raise _unimplemented("CommandPreparedStatementQuery", "get_flight_info_prepared_statement")

    def get_flight_info_catalogs(
        self,
        call: CallT,
        command: sql_pb2.CommandGetCatalogs,
        descriptor: flight.FlightDescriptor,
    ) -> flight.FlightInfo:
        """List catalogs; usually ``self.command_flight_info(command, schemas.CATALOGS, ...)``."""
        raise _unimplemented("CommandGetCatalogs", "get_flight_info_catalogs")

    def get_flight_info_schemas(
        self,
        call: CallT,
        command: sql_pb2.CommandGetDbSchemas,
        descriptor: flight.FlightDescriptor,
    ) -> flight.FlightInfo:
        """List database schemas (result schema :data:`schemas.DB_SCHEMAS`)."""
        raise _unimplemented("CommandGetDbSchemas", "get_flight_info_schemas")

    def get_flight_info_tables(
        self,
        call: CallT,
        command: sql_pb2.CommandGetTables,
        descriptor: flight.FlightDescriptor,
    ) -> flight.FlightInfo:
        """List tables (:data:`schemas.TABLES`, or ``TABLES_WITH_SCHEMA`` if include_schema)."""
        raise _unimplemented("CommandGetTables", "get_flight_info_tables")

    def get_flight_info_table_types(
        self,
        call: CallT,
        command: sql_pb2.CommandGetTableTypes,
        descriptor: flight.FlightDescriptor,
    ) -> flight.FlightInfo:
        """List table types (:data:`schemas.TABLE_TYPES`)."""
        raise _unimplemented("CommandGetTableTypes", "get_flight_info_table_types")

    def get_flight_info_sql_info(
        self,
        call: CallT,
        command: sql_pb2.CommandGetSqlInfo,
        descriptor: flight.FlightDescriptor,
    ) -> flight.FlightInfo:
        """Server and dialect information (:data:`schemas.SQL_INFO`)."""
        raise _unimplemented("CommandGetSqlInfo", "get_flight_info_sql_info")

    def get_flight_info_primary_keys(
        self,
        call: CallT,
        command: sql_pb2.CommandGetPrimaryKeys,
        descriptor: flight.FlightDescriptor,
    ) -> flight.FlightInfo:
        """Primary keys of a table (:data:`schemas.PRIMARY_KEYS`)."""
        raise _unimplemented("CommandGetPrimaryKeys", "get_flight_info_primary_keys")

    def get_flight_info_exported_keys(
        self,
        call: CallT,
        command: sql_pb2.CommandGetExportedKeys,
        descriptor: flight.FlightDescriptor,
    ) -> flight.FlightInfo:
        """Foreign keys referencing a table (:data:`schemas.EXPORTED_KEYS`)."""
        raise _unimplemented("CommandGetExportedKeys", "get_flight_info_exported_keys")

    def get_flight_info_imported_keys(
        self,
        call: CallT,
        command: sql_pb2.CommandGetImportedKeys,
        descriptor: flight.FlightDescriptor,
    ) -> flight.FlightInfo:
        """Foreign keys of a table (:data:`schemas.IMPORTED_KEYS`)."""
        raise _unimplemented("CommandGetImportedKeys", "get_flight_info_imported_keys")

    def get_flight_info_cross_reference(
        self,
        call: CallT,
        command: sql_pb2.CommandGetCrossReference,
        descriptor: flight.FlightDescriptor,
    ) -> flight.FlightInfo:
        """Foreign keys between two tables (:data:`schemas.CROSS_REFERENCE`)."""
        raise _unimplemented("CommandGetCrossReference", "get_flight_info_cross_reference")

    def get_flight_info_xdbc_type_info(
        self,
        call: CallT,
        command: sql_pb2.CommandGetXdbcTypeInfo,
        descriptor: flight.FlightDescriptor,
    ) -> flight.FlightInfo:
        """Data types the server supports (:data:`schemas.XDBC_TYPE_INFO`)."""
        raise _unimplemented("CommandGetXdbcTypeInfo", "get_flight_info_xdbc_type_info")

    # --- GetSchema handlers ---------------------------------------------------------------

    def get_schema_statement(
        self,
        call: CallT,
        command: sql_pb2.CommandStatementQuery,
        descriptor: flight.FlightDescriptor,
    ) -> SchemaAnswer:
        """The result schema of an ad-hoc query, without running it."""
        raise _unimplemented("CommandStatementQuery", "get_schema_statement")

    def get_schema_substrait_plan(
        self,
        call: CallT,
        command: sql_pb2.CommandStatementSubstraitPlan,
        descriptor: flight.FlightDescriptor,
    ) -> SchemaAnswer:
        """The result schema of a Substrait plan."""
        raise _unimplemented("CommandStatementSubstraitPlan", "get_schema_substrait_plan")

    def get_schema_prepared_statement(
        self,
        call: CallT,
        command: sql_pb2.CommandPreparedStatementQuery,
        descriptor: flight.FlightDescriptor,
    ) -> SchemaAnswer:
        """The result schema of a prepared statement (given the parameters bound so far)."""
        raise _unimplemented("CommandPreparedStatementQuery", "get_schema_prepared_statement")

    def get_schema_catalogs(
        self,
        call: CallT,
        command: sql_pb2.CommandGetCatalogs,
        descriptor: flight.FlightDescriptor,
    ) -> SchemaAnswer:
        """The fixed GetCatalogs schema."""
        return schemas.CATALOGS

    def get_schema_schemas(
        self,
        call: CallT,
        command: sql_pb2.CommandGetDbSchemas,
        descriptor: flight.FlightDescriptor,
    ) -> SchemaAnswer:
        """The fixed GetDbSchemas schema."""
        return schemas.DB_SCHEMAS

    def get_schema_tables(
        self,
        call: CallT,
        command: sql_pb2.CommandGetTables,
        descriptor: flight.FlightDescriptor,
    ) -> SchemaAnswer:
        """The fixed GetTables schema, with ``table_schema`` when ``include_schema`` is set."""
        return schemas.TABLES_WITH_SCHEMA if command.include_schema else schemas.TABLES

    def get_schema_table_types(
        self,
        call: CallT,
        command: sql_pb2.CommandGetTableTypes,
        descriptor: flight.FlightDescriptor,
    ) -> SchemaAnswer:
        """The fixed GetTableTypes schema."""
        return schemas.TABLE_TYPES

    def get_schema_sql_info(
        self,
        call: CallT,
        command: sql_pb2.CommandGetSqlInfo,
        descriptor: flight.FlightDescriptor,
    ) -> SchemaAnswer:
        """The fixed GetSqlInfo schema."""
        return schemas.SQL_INFO

    def get_schema_primary_keys(
        self,
        call: CallT,
        command: sql_pb2.CommandGetPrimaryKeys,
        descriptor: flight.FlightDescriptor,
    ) -> SchemaAnswer:
        """The fixed GetPrimaryKeys schema."""
        return schemas.PRIMARY_KEYS

    def get_schema_exported_keys(
        self,
        call: CallT,
        command: sql_pb2.CommandGetExportedKeys,
        descriptor: flight.FlightDescriptor,
    ) -> SchemaAnswer:
        """The fixed GetExportedKeys schema."""
        return schemas.EXPORTED_KEYS

    def get_schema_imported_keys(
        self,
        call: CallT,
        command: sql_pb2.CommandGetImportedKeys,
        descriptor: flight.FlightDescriptor,
    ) -> SchemaAnswer:
        """The fixed GetImportedKeys schema."""
        return schemas.IMPORTED_KEYS

    def get_schema_cross_reference(
        self,
        call: CallT,
        command: sql_pb2.CommandGetCrossReference,
        descriptor: flight.FlightDescriptor,
    ) -> SchemaAnswer:
        """The fixed GetCrossReference schema."""
        return schemas.CROSS_REFERENCE

    def get_schema_xdbc_type_info(
        self,
        call: CallT,
        command: sql_pb2.CommandGetXdbcTypeInfo,
        descriptor: flight.FlightDescriptor,
    ) -> SchemaAnswer:
        """The fixed GetXdbcTypeInfo schema."""
        return schemas.XDBC_TYPE_INFO

    # --- DoGet handlers -------------------------------------------------------------------

    def do_get_statement(self, call: CallT, ticket: sql_pb2.TicketStatementQuery) -> DoGetResult:
        """Stream one endpoint of a query started by ``get_flight_info_statement``."""
        raise _unimplemented("TicketStatementQuery", "do_get_statement")

    def do_get_prepared_statement(
        self, call: CallT, command: sql_pb2.CommandPreparedStatementQuery
    ) -> DoGetResult:
        """Stream a prepared statement's result (when its FlightInfo used the command as ticket)."""
        raise _unimplemented("CommandPreparedStatementQuery", "do_get_prepared_statement")

    def do_get_catalogs(self, call: CallT, command: sql_pb2.CommandGetCatalogs) -> DoGetResult:
        """Stream the catalogs."""
        raise _unimplemented("CommandGetCatalogs", "do_get_catalogs")

    def do_get_schemas(self, call: CallT, command: sql_pb2.CommandGetDbSchemas) -> DoGetResult:
        """Stream the database schemas."""
        raise _unimplemented("CommandGetDbSchemas", "do_get_schemas")

    def do_get_tables(self, call: CallT, command: sql_pb2.CommandGetTables) -> DoGetResult:
        """Stream the tables."""
        raise _unimplemented("CommandGetTables", "do_get_tables")

    def do_get_table_types(self, call: CallT, command: sql_pb2.CommandGetTableTypes) -> DoGetResult:
        """Stream the table types."""
        raise _unimplemented("CommandGetTableTypes", "do_get_table_types")

    def do_get_sql_info(self, call: CallT, command: sql_pb2.CommandGetSqlInfo) -> DoGetResult:
        """Stream the SqlInfo rows (see :func:`spark_flight_sql.flightsql.schemas.filter_sql_info`)."""
        raise _unimplemented("CommandGetSqlInfo", "do_get_sql_info")

    def do_get_primary_keys(self, call: CallT, command: sql_pb2.CommandGetPrimaryKeys) -> DoGetResult:
        """Stream the primary keys."""
        raise _unimplemented("CommandGetPrimaryKeys", "do_get_primary_keys")

    def do_get_exported_keys(self, call: CallT, command: sql_pb2.CommandGetExportedKeys) -> DoGetResult:
        """Stream the exported keys."""
        raise _unimplemented("CommandGetExportedKeys", "do_get_exported_keys")

    def do_get_imported_keys(self, call: CallT, command: sql_pb2.CommandGetImportedKeys) -> DoGetResult:
        """Stream the imported keys."""
        raise _unimplemented("CommandGetImportedKeys", "do_get_imported_keys")

    def do_get_cross_reference(self, call: CallT, command: sql_pb2.CommandGetCrossReference) -> DoGetResult:
        """Stream the cross reference."""
        raise _unimplemented("CommandGetCrossReference", "do_get_cross_reference")

    def do_get_xdbc_type_info(self, call: CallT, command: sql_pb2.CommandGetXdbcTypeInfo) -> DoGetResult:
        """Stream the type information."""
        raise _unimplemented("CommandGetXdbcTypeInfo", "do_get_xdbc_type_info")

    # --- DoPut handlers -------------------------------------------------------------------

    def do_put_statement_update(
        self,
        call: CallT,
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
        call: CallT,
        command: sql_pb2.CommandStatementIngest,
        reader: flight.MetadataRecordBatchReader,
    ) -> int:
        """Load the uploaded batches into ``command.table``; the number of rows loaded."""
        raise _unimplemented("CommandStatementIngest", "do_put_statement_ingest")

    def do_put_prepared_statement_query(
        self,
        call: CallT,
        command: sql_pb2.CommandPreparedStatementQuery,
        reader: flight.MetadataRecordBatchReader,
    ) -> bytes | None:
        """Bind the uploaded parameters; a new handle for the statement, or None to keep it."""
        raise _unimplemented("CommandPreparedStatementQuery", "do_put_prepared_statement_query")

    def do_put_prepared_statement_update(
        self,
        call: CallT,
        command: sql_pb2.CommandPreparedStatementUpdate,
        reader: flight.MetadataRecordBatchReader,
    ) -> int:
        """Run a prepared update once per uploaded parameter row; the affected row count."""
        raise _unimplemented("CommandPreparedStatementUpdate", "do_put_prepared_statement_update")

    def do_put_substrait_plan(
        self,
        call: CallT,
        command: sql_pb2.CommandStatementSubstraitPlan,
        reader: flight.MetadataRecordBatchReader,
    ) -> int:
        """Run a Substrait plan as an update; the affected row count."""
        raise _unimplemented("CommandStatementSubstraitPlan", "do_put_substrait_plan")

    # --- DoAction handlers ----------------------------------------------------------------

    def do_action_create_prepared_statement(
        self, call: CallT, request: sql_pb2.ActionCreatePreparedStatementRequest
    ) -> sql_pb2.ActionCreatePreparedStatementResult:
        """CreatePreparedStatement: a handle, the IPC-serialized schemas and ``is_update``."""
        raise _unimplemented("CreatePreparedStatement", "do_action_create_prepared_statement")

    def do_action_close_prepared_statement(
        self, call: CallT, request: sql_pb2.ActionClosePreparedStatementRequest
    ) -> None:
        """ClosePreparedStatement: release the statement."""
        raise _unimplemented("ClosePreparedStatement", "do_action_close_prepared_statement")

    def do_action_create_prepared_substrait_plan(
        self, call: CallT, request: sql_pb2.ActionCreatePreparedSubstraitPlanRequest
    ) -> sql_pb2.ActionCreatePreparedStatementResult:
        """CreatePreparedSubstraitPlan: like CreatePreparedStatement, for a Substrait plan."""
        raise _unimplemented("CreatePreparedSubstraitPlan", "do_action_create_prepared_substrait_plan")

    def do_action_begin_transaction(
        self, call: CallT, request: sql_pb2.ActionBeginTransactionRequest
    ) -> sql_pb2.ActionBeginTransactionResult:
        """BeginTransaction: the new transaction's id."""
        raise _unimplemented("BeginTransaction", "do_action_begin_transaction")

    def do_action_end_transaction(self, call: CallT, request: sql_pb2.ActionEndTransactionRequest) -> None:
        """EndTransaction: commit or roll back."""
        raise _unimplemented("EndTransaction", "do_action_end_transaction")

    def do_action_begin_savepoint(
        self, call: CallT, request: sql_pb2.ActionBeginSavepointRequest
    ) -> sql_pb2.ActionBeginSavepointResult:
        """BeginSavepoint: the new savepoint's id."""
        raise _unimplemented("BeginSavepoint", "do_action_begin_savepoint")

    def do_action_end_savepoint(self, call: CallT, request: sql_pb2.ActionEndSavepointRequest) -> None:
        """EndSavepoint: release or roll back to the savepoint."""
        raise _unimplemented("EndSavepoint", "do_action_end_savepoint")

    def do_action_cancel_query(
        self, call: CallT, request: sql_pb2.ActionCancelQueryRequest
    ) -> sql_pb2.ActionCancelQueryResult:
        """CancelQuery (deprecated): by default, cancel through ``do_action_cancel_flight_info``."""
        info = protocol.decode_flight_info(request.info)
        try:
            status = self.do_action_cancel_flight_info(call, info)
        except Unimplemented:
            raise _unimplemented("CancelQuery", "do_action_cancel_query") from None
        # CancelResult and CancelStatus share their values.
        return sql_pb2.ActionCancelQueryResult(
            result=cast("sql_pb2.ActionCancelQueryResult.CancelResult", int(status))
        )

    def do_action_cancel_flight_info(self, call: CallT, info: flight.FlightInfo) -> protocol.CancelStatus:
        """CancelFlightInfo: cancel the query ``info`` came from."""
        raise _unimplemented("CancelFlightInfo", "do_action_cancel_flight_info")

    def do_action_renew_flight_endpoint(
        self, call: CallT, endpoint: flight.FlightEndpoint
    ) -> flight.FlightEndpoint:
        """RenewFlightEndpoint: the endpoint with a later ``expiration_time``."""
        raise _unimplemented("RenewFlightEndpoint", "do_action_renew_flight_endpoint")

    def do_action_set_session_options(
        self, call: CallT, request: session_pb2.SetSessionOptionsRequest
    ) -> session_pb2.SetSessionOptionsResult:
        """SetSessionOptions: set options; the result lists the ones that were not set."""
        raise _unimplemented("SetSessionOptions", "do_action_set_session_options")

    def do_action_get_session_options(
        self, call: CallT, request: session_pb2.GetSessionOptionsRequest
    ) -> session_pb2.GetSessionOptionsResult:
        """GetSessionOptions: every option of the current session."""
        raise _unimplemented("GetSessionOptions", "do_action_get_session_options")

    def do_action_close_session(
        self, call: CallT, request: session_pb2.CloseSessionRequest
    ) -> session_pb2.CloseSessionResult:
        """CloseSession: close the session (ADBC sends this when a connection closes)."""
        raise _unimplemented("CloseSession", "do_action_close_session")

    def do_action_fallback(self, call: CallT, action: flight.Action) -> Iterable[flight.Result | bytes]:
        """An action that is not Flight SQL's; override to add your own. INVALID_ARGUMENT."""
        raise InvalidArgument(f"unknown action type: {action.type!r}")
