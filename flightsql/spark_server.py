"""The Flight SQL handlers backed by a SparkSession; result rows travel the FlightManager's path."""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.flight as flight

from flightsql.ingest import IngestHandlers
from flightsql.metadata import MetadataHandlers
from flightsql.proto import FlightSession_pb2 as session_pb2
from flightsql.proto import FlightSql_pb2 as sql_pb2
from flightsql.protocol import pack_command
from flightsql.statements import PreparedStatement, StatementKind, classify

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

log = logging.getLogger(__name__)


def statement_ticket(node_ticket: bytes) -> bytes:
    """Wrap a FlightManager ticket as the Flight SQL ticket of a statement."""
    return pack_command(sql_pb2.TicketStatementQuery(statement_handle=node_ticket))


class SparkFlightSqlServer(MetadataHandlers, IngestHandlers):
    """A Flight SQL node: SQL runs on Spark; results are spread and served by the FlightManager.

    Construct with ``(location, spark, manager, **FlightServerBase options)``.
    """

    # ---- statements --------------------------------------------------------------------------

    def _dataframe(self, sql: str) -> DataFrame:
        """Parse and analyse ``sql`` (commands run here, as Spark runs them eagerly)."""
        classify(self.spark, sql)
        return self.spark.sql(sql)

    def _execute(self, sql: str, descriptor: flight.FlightDescriptor) -> flight.FlightInfo:
        df = self._dataframe(sql)
        result = self.manager.distribute(df, description=sql)
        log.info("query %s: %s", result.query_id, " ".join(sql.split())[:300])
        return flight.FlightInfo(
            result.schema,
            descriptor,
            result.flight_endpoints(statement_ticket),
            total_records=-1,
            total_bytes=-1,
        )

    def get_flight_info_statement(
        self, context: flight.ServerCallContext, command: sql_pb2.CommandStatementQuery, descriptor: flight.FlightDescriptor
    ) -> flight.FlightInfo:
        """Start the query and return its endpoints as soon as it is analysed."""
        return self._execute(command.query, descriptor)

    def get_flight_info_prepared_statement(
        self,
        context: flight.ServerCallContext,
        command: sql_pb2.CommandPreparedStatementQuery,
        descriptor: flight.FlightDescriptor,
    ) -> flight.FlightInfo:
        """Execute a prepared statement's query."""
        statement = PreparedStatement.decode(command.prepared_statement_handle)
        return self._execute(statement.sql, descriptor)

    def get_schema_statement(
        self, context: flight.ServerCallContext, command: sql_pb2.CommandStatementQuery, descriptor: flight.FlightDescriptor
    ) -> flight.SchemaResult:
        """The result schema of a query, without running it."""
        return flight.SchemaResult(self._schema_of(command.query, classify(self.spark, command.query)))

    def get_schema_prepared_statement(
        self,
        context: flight.ServerCallContext,
        command: sql_pb2.CommandPreparedStatementQuery,
        descriptor: flight.FlightDescriptor,
    ) -> flight.SchemaResult:
        """The result schema of a prepared statement's query."""
        statement = PreparedStatement.decode(command.prepared_statement_handle)
        return flight.SchemaResult(self._schema_of(statement.sql, classify(self.spark, statement.sql)))

    def _schema_of(self, sql: str, kind: StatementKind) -> pa.Schema:
        from flightmanager.spark_job import arrow_schema, use_jvm

        if kind.is_command:
            # Running a command to learn its schema would run it twice; say nothing instead.
            return pa.schema([])
        df = self.spark.sql(sql)
        return arrow_schema(df, use_jvm(df, self.manager.config.push_method))

    def do_get_statement(
        self, context: flight.ServerCallContext, ticket: sql_pb2.TicketStatementQuery
    ) -> flight.FlightDataStream:
        """Stream this node's share of a result, while the job still runs."""
        return self.manager.flight_stream(ticket.statement_handle, context)

    # ---- updates (DDL and DML) ----------------------------------------------------------------

    def _update(self, sql: str) -> int:
        kind = classify(self.spark, sql)
        df = self.spark.sql(sql)  # Spark runs commands here, eagerly
        if not kind.is_command:
            df.count()
        log.info("update: %s", " ".join(sql.split())[:300])
        # Spark reports no affected-row count through the DataFrame API.
        return -1

    def do_put_statement_update(
        self, context: flight.ServerCallContext, command: sql_pb2.CommandStatementUpdate, reader: flight.MetadataRecordBatchReader
    ) -> int:
        """Run a DDL or DML statement; the count is -1 (unknown)."""
        return self._update(command.query)

    def do_put_prepared_statement_update(
        self,
        context: flight.ServerCallContext,
        command: sql_pb2.CommandPreparedStatementUpdate,
        reader: flight.MetadataRecordBatchReader,
    ) -> int:
        """Run a prepared DDL or DML statement (without parameters in this release)."""
        return self._update(PreparedStatement.decode(command.prepared_statement_handle).sql)

    # ---- prepared statements ----------------------------------------------------------------

    def do_action_create_prepared_statement(
        self, context: flight.ServerCallContext, request: sql_pb2.ActionCreatePreparedStatementRequest
    ) -> sql_pb2.ActionCreatePreparedStatementResult:
        """Parse and (for queries) analyse the statement; commands do not run until executed."""
        kind = classify(self.spark, request.query)
        result = sql_pb2.ActionCreatePreparedStatementResult(
            prepared_statement_handle=PreparedStatement(request.query).encode(),
            is_update=not kind.returns_rows,
        )
        if not kind.is_command:
            result.dataset_schema = self._schema_of(request.query, kind).serialize().to_pybytes()
        return result

    def do_action_close_prepared_statement(
        self, context: flight.ServerCallContext, request: sql_pb2.ActionClosePreparedStatementRequest
    ) -> None:
        """Handles carry their statement and hold nothing on the server, so closing frees nothing."""
        PreparedStatement.decode(request.prepared_statement_handle)

    # ---- this server's own actions ------------------------------------------------------------

    NODE_STATS_ACTION = "NodeStats"
    """Action answering one JSON object: this node's result buffers, spill files and peak memory."""

    def do_action_fallback(self, context: flight.ServerCallContext, action: flight.Action) -> list[bytes]:
        """``NodeStats``; any other unknown action is INVALID_ARGUMENT."""
        if action.type == self.NODE_STATS_ACTION:
            return [json.dumps(self.manager.stats()).encode()]
        return super().do_action_fallback(context, action)

    # ---- sessions --------------------------------------------------------------------------------

    def do_action_close_session(
        self, context: flight.ServerCallContext, request: session_pb2.CloseSessionRequest
    ) -> session_pb2.CloseSessionResult:
        """Accepted: sessions hold no server state yet."""
        return session_pb2.CloseSessionResult(status=session_pb2.CloseSessionResult.CLOSED)
