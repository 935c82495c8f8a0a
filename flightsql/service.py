"""SparkFlightSqlService: the Flight SQL service of a node, composed of its handler groups.

SQL runs on Spark; query results are spread and served by the FlightManager. The service holds
one object per group (:mod:`spark_flight_sql.flightsql.handlers`) and forwards each Flight SQL
method of :class:`spark_flight_sql.flightsql.interface.FlightSqlService` to the group that
implements it; every call arrives as a :class:`spark_flight_sql.flightsql.sessions.SparkCall`
built once by :meth:`SparkFlightSqlService.new_call`. Whatever is not forwarded answers
UNIMPLEMENTED (Substrait plans, savepoints, endpoint renewal).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import pyarrow.flight as flight

from spark_flight_sql.flightsql import protocol
from spark_flight_sql.flightsql.auth.middleware import MIDDLEWARE_KEY as AUTH_MIDDLEWARE_KEY
from spark_flight_sql.flightsql.auth.middleware import AuthMiddlewareFactory, HandshakeAccepted
from spark_flight_sql.flightsql.errors import Unimplemented
from spark_flight_sql.flightsql.handlers.backend import Backend
from spark_flight_sql.flightsql.handlers.cancel import CancelHandlers
from spark_flight_sql.flightsql.handlers.ingest import IngestHandlers
from spark_flight_sql.flightsql.handlers.metadata import MetadataHandlers
from spark_flight_sql.flightsql.handlers.queries import QueryHandlers
from spark_flight_sql.flightsql.handlers.sessions import SessionHandlers
from spark_flight_sql.flightsql.handlers.updates import UpdateHandlers
from spark_flight_sql.flightsql.ingest import TableLoader
from spark_flight_sql.flightsql.interface import FlightSqlService
from spark_flight_sql.flightsql.proto import FlightSession_pb2 as session_pb2
from spark_flight_sql.flightsql.proto import FlightSql_pb2 as sql_pb2
from spark_flight_sql.flightsql.router import FlightSqlRouter
from spark_flight_sql.flightsql.sessions import MIDDLEWARE_KEY as SESSION_MIDDLEWARE_KEY
from spark_flight_sql.flightsql.sessions import ClientSessions, SparkCall

if TYPE_CHECKING:
    import pyarrow as pa
    from pyspark.sql import SparkSession

    from spark_flight_sql.flightmanager import FlightManager

__all__ = ["NODE_STATS_ACTION", "SparkFlightSqlService"]

NODE_STATS_ACTION = "NodeStats"
"""Action answering one JSON object: this node's result buffers, spill files and peak memory."""

Descriptor = flight.FlightDescriptor
Reader = flight.MetadataRecordBatchReader


class SparkFlightSqlService(FlightSqlService[SparkCall]):
    """The Flight SQL service of one node: ``SparkFlightSqlService(spark, manager)``.

    Construction reads the settings (ValueError naming a bad one) and starts nothing; serve it
    with :meth:`router` and release what it keeps with :meth:`close` once the router stopped.
    """

    def __init__(self, spark: SparkSession, manager: FlightManager) -> None:
        self.backend = Backend.from_conf(spark, manager)
        self.loader = TableLoader(self.backend.settings.ingest_staging_dir)
        self.sessions = ClientSessions(
            spark, manager, self.backend.settings, on_ended=self.loader.release_temporary_tables
        )
        self.queries = QueryHandlers(self.backend)
        self.updates = UpdateHandlers(self.backend)
        self.metadata = MetadataHandlers(self.backend)
        self.ingest = IngestHandlers(self.backend, self.loader)
        self.session_actions = SessionHandlers(self.sessions)
        self.cancel = CancelHandlers(self.backend)

    def new_call(self, context: flight.ServerCallContext) -> SparkCall:
        """The call, with its client session resolved on first use."""
        return SparkCall(context, self.sessions)

    def router(self, location: str, **flight_options: Any) -> FlightSqlRouter:
        """Bind a router serving this service at ``location``, with the call middleware it needs
        (client sessions; the FlightManager's, for the client's message limit; authentication unless
        ``spark.flight.auth=none``) and the SQL length bound of ``spark.flight.sql.maxLength``.
        ``flight_options`` go to pyarrow (TLS)."""
        security = self.backend.security
        middleware: dict[str, flight.ServerMiddlewareFactory] = dict(
            flight_options.pop("middleware", None) or {}
        )
        middleware[SESSION_MIDDLEWARE_KEY] = self.sessions.middleware_factory()
        middleware.update(self.backend.manager.call_middleware())
        if security.authenticator is not None:
            middleware[AUTH_MIDDLEWARE_KEY] = AuthMiddlewareFactory(
                security.authenticator, security.tokens, self.backend.manager.node_id
            )
            flight_options.setdefault("auth_handler", HandshakeAccepted())
        return FlightSqlRouter(
            self,
            location,
            max_sql_length=self.backend.settings.max_sql_length,
            middleware=middleware,
            **flight_options,
        )

    def close(self) -> None:
        """Remove every staged ingest file (temporary tables included); call once serving stopped."""
        self.loader.close()

    # ---- queries and prepared statements ------------------------------------------------------

    def get_flight_info_statement(
        self, call: SparkCall, command: sql_pb2.CommandStatementQuery, descriptor: Descriptor
    ) -> flight.FlightInfo:
        """See :class:`QueryHandlers`."""
        return self.queries.get_flight_info_statement(call, command, descriptor)

    def get_schema_statement(
        self, call: SparkCall, command: sql_pb2.CommandStatementQuery, descriptor: Descriptor
    ) -> flight.SchemaResult:
        """See :class:`QueryHandlers`."""
        return self.queries.get_schema_statement(call, command, descriptor)

    def do_get_statement(
        self, call: SparkCall, ticket: sql_pb2.TicketStatementQuery
    ) -> flight.FlightDataStream:
        """See :class:`QueryHandlers`."""
        return self.queries.do_get_statement(call, ticket)

    def do_action_create_prepared_statement(
        self, call: SparkCall, request: sql_pb2.ActionCreatePreparedStatementRequest
    ) -> sql_pb2.ActionCreatePreparedStatementResult:
        """See :class:`QueryHandlers`."""
        return self.queries.do_action_create_prepared_statement(call, request)

    def do_put_prepared_statement_query(
        self, call: SparkCall, command: sql_pb2.CommandPreparedStatementQuery, reader: Reader
    ) -> bytes:
        """See :class:`QueryHandlers`."""
        return self.queries.do_put_prepared_statement_query(call, command, reader)

    def get_flight_info_prepared_statement(
        self, call: SparkCall, command: sql_pb2.CommandPreparedStatementQuery, descriptor: Descriptor
    ) -> flight.FlightInfo:
        """See :class:`QueryHandlers`."""
        return self.queries.get_flight_info_prepared_statement(call, command, descriptor)

    def get_schema_prepared_statement(
        self, call: SparkCall, command: sql_pb2.CommandPreparedStatementQuery, descriptor: Descriptor
    ) -> flight.SchemaResult:
        """See :class:`QueryHandlers`."""
        return self.queries.get_schema_prepared_statement(call, command, descriptor)

    def do_action_close_prepared_statement(
        self, call: SparkCall, request: sql_pb2.ActionClosePreparedStatementRequest
    ) -> None:
        """See :class:`QueryHandlers`."""
        self.queries.do_action_close_prepared_statement(call, request)

    # ---- updates and ingest -------------------------------------------------------------------

    def do_put_statement_update(
        self, call: SparkCall, command: sql_pb2.CommandStatementUpdate, reader: Reader
    ) -> int:
        """See :class:`UpdateHandlers`."""
        return self.updates.do_put_statement_update(call, command, reader)

    def do_put_prepared_statement_update(
        self, call: SparkCall, command: sql_pb2.CommandPreparedStatementUpdate, reader: Reader
    ) -> int:
        """See :class:`UpdateHandlers`."""
        return self.updates.do_put_prepared_statement_update(call, command, reader)

    def do_put_statement_ingest(
        self, call: SparkCall, command: sql_pb2.CommandStatementIngest, reader: Reader
    ) -> int:
        """See :class:`IngestHandlers`."""
        return self.ingest.do_put_statement_ingest(call, command, reader)

    # ---- catalog metadata ---------------------------------------------------------------------

    def get_flight_info_sql_info(
        self, call: SparkCall, command: sql_pb2.CommandGetSqlInfo, descriptor: Descriptor
    ) -> flight.FlightInfo:
        """See :class:`MetadataHandlers`."""
        return self.metadata.get_flight_info_sql_info(call, command, descriptor)

    def do_get_sql_info(
        self, call: SparkCall, command: sql_pb2.CommandGetSqlInfo
    ) -> flight.RecordBatchStream:
        """See :class:`MetadataHandlers`."""
        return self.metadata.do_get_sql_info(call, command)

    def get_flight_info_catalogs(
        self, call: SparkCall, command: sql_pb2.CommandGetCatalogs, descriptor: Descriptor
    ) -> flight.FlightInfo:
        """See :class:`MetadataHandlers`."""
        return self.metadata.get_flight_info_catalogs(call, command, descriptor)

    def do_get_catalogs(self, call: SparkCall, command: sql_pb2.CommandGetCatalogs) -> pa.Table:
        """See :class:`MetadataHandlers`."""
        return self.metadata.do_get_catalogs(call, command)

    def get_flight_info_schemas(
        self, call: SparkCall, command: sql_pb2.CommandGetDbSchemas, descriptor: Descriptor
    ) -> flight.FlightInfo:
        """See :class:`MetadataHandlers`."""
        return self.metadata.get_flight_info_schemas(call, command, descriptor)

    def do_get_schemas(self, call: SparkCall, command: sql_pb2.CommandGetDbSchemas) -> pa.Table:
        """See :class:`MetadataHandlers`."""
        return self.metadata.do_get_schemas(call, command)

    def get_flight_info_tables(
        self, call: SparkCall, command: sql_pb2.CommandGetTables, descriptor: Descriptor
    ) -> flight.FlightInfo:
        """See :class:`MetadataHandlers`."""
        return self.metadata.get_flight_info_tables(call, command, descriptor)

    def do_get_tables(self, call: SparkCall, command: sql_pb2.CommandGetTables) -> pa.Table:
        """See :class:`MetadataHandlers`."""
        return self.metadata.do_get_tables(call, command)

    def get_flight_info_table_types(
        self, call: SparkCall, command: sql_pb2.CommandGetTableTypes, descriptor: Descriptor
    ) -> flight.FlightInfo:
        """See :class:`MetadataHandlers`."""
        return self.metadata.get_flight_info_table_types(call, command, descriptor)

    def do_get_table_types(self, call: SparkCall, command: sql_pb2.CommandGetTableTypes) -> pa.Table:
        """See :class:`MetadataHandlers`."""
        return self.metadata.do_get_table_types(call, command)

    def get_flight_info_primary_keys(
        self, call: SparkCall, command: sql_pb2.CommandGetPrimaryKeys, descriptor: Descriptor
    ) -> flight.FlightInfo:
        """See :class:`MetadataHandlers`."""
        return self.metadata.get_flight_info_primary_keys(call, command, descriptor)

    def do_get_primary_keys(self, call: SparkCall, command: sql_pb2.CommandGetPrimaryKeys) -> pa.Table:
        """See :class:`MetadataHandlers`."""
        return self.metadata.do_get_primary_keys(call, command)

    def get_flight_info_exported_keys(
        self, call: SparkCall, command: sql_pb2.CommandGetExportedKeys, descriptor: Descriptor
    ) -> flight.FlightInfo:
        """See :class:`MetadataHandlers`."""
        return self.metadata.get_flight_info_exported_keys(call, command, descriptor)

    def do_get_exported_keys(self, call: SparkCall, command: sql_pb2.CommandGetExportedKeys) -> pa.Table:
        """See :class:`MetadataHandlers`."""
        return self.metadata.do_get_exported_keys(call, command)

    def get_flight_info_imported_keys(
        self, call: SparkCall, command: sql_pb2.CommandGetImportedKeys, descriptor: Descriptor
    ) -> flight.FlightInfo:
        """See :class:`MetadataHandlers`."""
        return self.metadata.get_flight_info_imported_keys(call, command, descriptor)

    def do_get_imported_keys(self, call: SparkCall, command: sql_pb2.CommandGetImportedKeys) -> pa.Table:
        """See :class:`MetadataHandlers`."""
        return self.metadata.do_get_imported_keys(call, command)

    def get_flight_info_cross_reference(
        self, call: SparkCall, command: sql_pb2.CommandGetCrossReference, descriptor: Descriptor
    ) -> flight.FlightInfo:
        """See :class:`MetadataHandlers`."""
        return self.metadata.get_flight_info_cross_reference(call, command, descriptor)

    def do_get_cross_reference(self, call: SparkCall, command: sql_pb2.CommandGetCrossReference) -> pa.Table:
        """See :class:`MetadataHandlers`."""
        return self.metadata.do_get_cross_reference(call, command)

    def get_flight_info_xdbc_type_info(
        self, call: SparkCall, command: sql_pb2.CommandGetXdbcTypeInfo, descriptor: Descriptor
    ) -> flight.FlightInfo:
        """See :class:`MetadataHandlers`."""
        return self.metadata.get_flight_info_xdbc_type_info(call, command, descriptor)

    def do_get_xdbc_type_info(self, call: SparkCall, command: sql_pb2.CommandGetXdbcTypeInfo) -> pa.Table:
        """See :class:`MetadataHandlers`."""
        return self.metadata.do_get_xdbc_type_info(call, command)

    # ---- sessions -----------------------------------------------------------------------------

    def do_action_set_session_options(
        self, call: SparkCall, request: session_pb2.SetSessionOptionsRequest
    ) -> session_pb2.SetSessionOptionsResult:
        """See :class:`SessionHandlers`."""
        return self.session_actions.do_action_set_session_options(call, request)

    def do_action_get_session_options(
        self, call: SparkCall, request: session_pb2.GetSessionOptionsRequest
    ) -> session_pb2.GetSessionOptionsResult:
        """See :class:`SessionHandlers`."""
        return self.session_actions.do_action_get_session_options(call, request)

    def do_action_close_session(
        self, call: SparkCall, request: session_pb2.CloseSessionRequest
    ) -> session_pb2.CloseSessionResult:
        """See :class:`SessionHandlers`."""
        return self.session_actions.do_action_close_session(call, request)

    # ---- cancel -------------------------------------------------------------------------------

    def do_action_cancel_flight_info(self, call: SparkCall, info: flight.FlightInfo) -> protocol.CancelStatus:
        """See :class:`CancelHandlers`."""
        return self.cancel.do_action_cancel_flight_info(call, info)

    # ---- transactions: Spark SQL has none -----------------------------------------------------

    def do_action_begin_transaction(
        self, call: SparkCall, request: sql_pb2.ActionBeginTransactionRequest
    ) -> sql_pb2.ActionBeginTransactionResult:
        """Spark SQL has no transactions: UNIMPLEMENTED, as SqlInfo says."""
        raise Unimplemented(
            "transactions are not supported: Spark SQL runs each statement on its own (BeginTransaction)"
        )

    def do_action_end_transaction(
        self, call: SparkCall, request: sql_pb2.ActionEndTransactionRequest
    ) -> None:
        """Spark SQL has no transactions: UNIMPLEMENTED, as SqlInfo says."""
        raise Unimplemented(
            "transactions are not supported: Spark SQL runs each statement on its own (EndTransaction)"
        )

    # ---- this server's own actions ------------------------------------------------------------

    def do_action_fallback(self, call: SparkCall, action: flight.Action) -> Iterable[flight.Result | bytes]:
        """``NodeStats``; any other unknown action is INVALID_ARGUMENT."""
        if action.type == NODE_STATS_ACTION:
            return [json.dumps(self.backend.manager.stats()).encode()]
        return super().do_action_fallback(call, action)
