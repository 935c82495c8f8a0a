"""The Flight SQL handlers backed by a SparkSession; result rows travel the FlightManager's path."""

from __future__ import annotations

import functools
import json
import logging
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.flight as flight

from spark_flight_sql.flightmanager import DistributedResult
from spark_flight_sql.flightmanager.errors import FlightManagerError
from spark_flight_sql.flightmanager.model import NodeTicket
from spark_flight_sql.flightsql import protocol
from spark_flight_sql.flightsql.errors import InvalidArgument, Unimplemented
from spark_flight_sql.flightsql.ingest import IngestHandlers
from spark_flight_sql.flightsql.metadata import MetadataHandlers
from spark_flight_sql.flightsql.proto import FlightSql_pb2 as sql_pb2
from spark_flight_sql.flightsql.protocol import pack_command
from spark_flight_sql.flightsql.sessions import SessionHandlers
from spark_flight_sql.flightsql.settings import ExecutionMode
from spark_flight_sql.flightsql.statements import (
    PreparedStatement,
    StatementKind,
    classify,
    count_markers,
    parameter_rows,
    parameter_schema,
)
from spark_flight_sql.flightsql.updates import run_update
from spark_flight_sql.flightsql.uploads import read_parameters

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

log = logging.getLogger(__name__)
audit = logging.getLogger("spark_flight_sql.audit")


class SparkFlightSqlServer(SessionHandlers, MetadataHandlers, IngestHandlers):
    """A Flight SQL node: SQL runs on Spark; results are spread and served by the FlightManager.

    Construct with ``(location, spark, manager, **FlightServerBase options)``.
    """

    # ---- queries -----------------------------------------------------------------------------

    def _dataframe(
        self, spark: SparkSession, sql: str, rows: list[list[object]]
    ) -> tuple[DataFrame, StatementKind]:
        """Parse and analyse ``sql``, once per parameter row (rows of results appended in order).
        Commands run here, as Spark runs them eagerly."""
        kind = classify(spark, sql)
        frames = [spark.sql(sql, args=row or None) for row in rows]
        return functools.reduce(lambda left, right: left.unionAll(right), frames), kind

    def _serve(
        self, context: flight.ServerCallContext, df: DataFrame, kind: StatementKind, sql: str
    ) -> DistributedResult:
        mode = self.execution_mode(context)
        # A command's rows are already on this node (Spark ran it while analysing it).
        if mode is ExecutionMode.AUTO and (kind.is_command or self._is_small(df)):
            return self.manager.collect_here(df, description=sql)
        return self.manager.distribute(df, description=sql, here_only=mode is ExecutionMode.SINGLE)

    def _is_small(self, df: DataFrame) -> bool:
        """Whether Spark knows the result has at most ``single.maxRows`` rows (commands' output,
        local relations, a LIMIT, a global aggregate)."""
        try:
            max_rows = df._jdf.queryExecution().optimizedPlan().maxRows()  # type: ignore[attr-defined]
            return bool(max_rows.isDefined()) and int(max_rows.get()) <= self.settings.single_max_rows
        except Exception:  # noqa: BLE001 - no JVM (Spark Connect): distribute
            return False

    def _execute(
        self,
        context: flight.ServerCallContext,
        statement: PreparedStatement,
        descriptor: flight.FlightDescriptor,
    ) -> flight.FlightInfo:
        identity = self.identity(context)
        spark = self.spark_for(context)
        rows = statement.argument_rows()
        self.authorize(context, spark, statement.sql, rows)
        df, kind = self._dataframe(spark, statement.sql, rows)
        result = self._serve(context, df, kind, statement.sql)
        self.audit_statement(context, "query", statement.sql, query_id=result.query_id)

        def ticket(node_ticket: bytes) -> bytes:
            handle = self.security.bind(self.security.tickets, identity, node_ticket)
            return pack_command(sql_pb2.TicketStatementQuery(statement_handle=handle))

        return flight.FlightInfo(
            result.schema,
            descriptor,
            result.flight_endpoints(ticket),
            total_records=-1,
            total_bytes=-1,
        )

    def get_flight_info_statement(
        self,
        context: flight.ServerCallContext,
        command: sql_pb2.CommandStatementQuery,
        descriptor: flight.FlightDescriptor,
    ) -> flight.FlightInfo:
        """Start the query and return its endpoints as soon as it is analysed."""
        self._no_transactions(command.transaction_id)
        return self._execute(context, PreparedStatement(command.query), descriptor)

    def get_flight_info_prepared_statement(
        self,
        context: flight.ServerCallContext,
        command: sql_pb2.CommandPreparedStatementQuery,
        descriptor: flight.FlightDescriptor,
    ) -> flight.FlightInfo:
        """Execute a prepared statement's query with its bound parameters."""
        return self._execute(context, self._prepared(context, command.prepared_statement_handle), descriptor)

    def get_schema_statement(
        self,
        context: flight.ServerCallContext,
        command: sql_pb2.CommandStatementQuery,
        descriptor: flight.FlightDescriptor,
    ) -> flight.SchemaResult:
        """The result schema of a query, without running it."""
        spark = self.spark_for(context)
        self.authorize(context, spark, command.query)
        return self._known_schema(spark, PreparedStatement(command.query))

    def get_schema_prepared_statement(
        self,
        context: flight.ServerCallContext,
        command: sql_pb2.CommandPreparedStatementQuery,
        descriptor: flight.FlightDescriptor,
    ) -> flight.SchemaResult:
        """The result schema of a prepared statement's query."""
        spark = self.spark_for(context)
        statement = self._prepared(context, command.prepared_statement_handle)
        self.authorize(context, spark, statement.sql, statement.argument_rows()[:1])
        return self._known_schema(spark, statement)

    def _schema_of(
        self, spark: SparkSession, statement: PreparedStatement, kind: StatementKind
    ) -> pa.Schema | None:
        """The statement's result schema, without running it; None when Spark cannot tell it yet
        (a command whose output depends on what it finds, markers whose values Spark needs)."""
        from spark_flight_sql.flightmanager.spark_job import arrow_schema, use_jvm

        if kind.is_command:
            return self._command_schema(spark, statement.sql) if kind.returns_rows else pa.schema([])
        markers = count_markers(statement.sql)
        if statement.parameters is None and markers:
            # Unbound markers: stand-ins take the values' place. Where Spark needs a typed value
            # (LIMIT ?, TABLESAMPLE (? ROWS)) it refuses a null (type VOID): zeros are tried then.
            try:
                df = spark.sql(statement.sql, args=[None] * markers)
            except Exception as exc:
                # A null where Spark needs a typed value, or a table name (IDENTIFIER(?)).
                if '"VOID"' not in str(exc) and "NOT_A_CONSTANT_STRING" not in str(exc):
                    raise
                try:
                    df = spark.sql(statement.sql, args=[0] * markers)
                except Exception:  # noqa: BLE001 - the values decide: known once they are bound
                    return None
        else:
            df = spark.sql(statement.sql, args=statement.argument_rows()[0] or None)
        return arrow_schema(df, use_jvm(df, self.manager.config.push_method))

    @staticmethod
    def _command_schema(spark: SparkSession, sql: str) -> pa.Schema | None:
        """A command's output schema from its parsed plan (SHOW, DESCRIBE, SET, EXPLAIN declare it)."""
        from spark_flight_sql.flightmanager.spark_job import arrow_schema_of_struct

        try:
            plan = spark._jsparkSession.sessionState().sqlParser().parsePlan(sql)  # type: ignore[attr-defined]
            types = spark._jvm.org.apache.spark.sql.catalyst.types.DataTypeUtils  # type: ignore[attr-defined]
            return arrow_schema_of_struct(spark, types.fromAttributes(plan.output()))
        except Exception:  # noqa: BLE001 - an unresolved output: known once the command ran
            return None

    def _known_schema(self, spark: SparkSession, statement: PreparedStatement) -> flight.SchemaResult:
        schema = self._schema_of(spark, statement, classify(spark, statement.sql))
        if schema is None:
            raise InvalidArgument(
                "Spark needs the parameters' values to analyse this statement: bind them first"
            )
        return flight.SchemaResult(schema)

    def do_get_statement(
        self, context: flight.ServerCallContext, ticket: sql_pb2.TicketStatementQuery
    ) -> flight.FlightDataStream:
        """Stream this node's share of a result, while the job still runs (its user's only)."""
        node_ticket = self.security.unbind(
            self.security.tickets, self.identity(context), ticket.statement_handle
        )
        return self.manager.flight_stream(node_ticket, context)

    # ---- updates (DDL and DML) ----------------------------------------------------------------

    def do_put_statement_update(
        self,
        context: flight.ServerCallContext,
        command: sql_pb2.CommandStatementUpdate,
        reader: flight.MetadataRecordBatchReader,
    ) -> int:
        """Run a DDL or DML statement; the affected row count, or -1 when Spark cannot know it."""
        self._no_transactions(command.transaction_id)
        spark = self.spark_for(context)
        self.authorize(context, spark, command.query)
        count = run_update(spark, command.query)
        self.audit_statement(context, "update", command.query, rows=count)
        return count

    def do_put_prepared_statement_update(
        self,
        context: flight.ServerCallContext,
        command: sql_pb2.CommandPreparedStatementUpdate,
        reader: flight.MetadataRecordBatchReader,
    ) -> int:
        """Run a prepared DDL or DML statement once per uploaded parameter row (once without any)."""
        statement = self._prepared(context, command.prepared_statement_handle)
        parameters = read_parameters(reader)
        if parameters.num_rows == 0:
            parameters = statement.parameters
        spark = self.spark_for(context)
        self.authorize(
            context, spark, statement.sql, parameter_rows(parameters) if parameters is not None else None
        )
        count = run_update(spark, statement.sql, parameters)
        self.audit_statement(context, "update", statement.sql, rows=count)
        return count

    # ---- prepared statements ----------------------------------------------------------------

    def _prepared(self, context: flight.ServerCallContext, handle: bytes) -> PreparedStatement:
        """The statement of a handle this cluster issued to the caller's user."""
        inner = self.security.unbind(self.security.statements, self.identity(context), handle)
        return PreparedStatement.decode(inner, ttl=self.settings.prepared_ttl)

    def _handle(self, context: flight.ServerCallContext, statement: PreparedStatement) -> bytes:
        return self.security.bind(self.security.statements, self.identity(context), statement.encode())

    def do_action_create_prepared_statement(
        self, context: flight.ServerCallContext, request: sql_pb2.ActionCreatePreparedStatementRequest
    ) -> sql_pb2.ActionCreatePreparedStatementResult:
        """Parse and (for queries) analyse the statement; commands do not run until executed."""
        self._no_transactions(request.transaction_id)
        spark = self.spark_for(context)
        self.authorize(context, spark, request.query)
        kind = classify(spark, request.query)
        statement = PreparedStatement(request.query)
        result = sql_pb2.ActionCreatePreparedStatementResult(
            prepared_statement_handle=self._handle(context, statement),
            is_update=not kind.returns_rows,
            parameter_schema=parameter_schema(request.query).serialize().to_pybytes(),
        )
        schema = self._schema_of(spark, statement, kind)
        if schema is not None and schema.names:
            result.dataset_schema = schema.serialize().to_pybytes()
        return result

    def do_put_prepared_statement_query(
        self,
        context: flight.ServerCallContext,
        command: sql_pb2.CommandPreparedStatementQuery,
        reader: flight.MetadataRecordBatchReader,
    ) -> bytes:
        """Bind parameters: the new handle carries them (any node can execute it)."""
        statement = self._prepared(context, command.prepared_statement_handle)
        return self._handle(context, statement.bind(read_parameters(reader)))

    def do_action_close_prepared_statement(
        self, context: flight.ServerCallContext, request: sql_pb2.ActionClosePreparedStatementRequest
    ) -> None:
        """Handles carry their statement and parameters and hold nothing on any node: closing frees
        nothing, and an unused handle simply expires (``spark.flight.sql.preparedStatement.ttl``)."""
        self._prepared(context, request.prepared_statement_handle)

    # ---- cancel -------------------------------------------------------------------------------

    def do_action_cancel_flight_info(
        self, context: flight.ServerCallContext, info: flight.FlightInfo
    ) -> protocol.CancelStatus:
        """Cancel the Spark job behind ``info`` and release its result on every node."""
        query_ids = {self._query_of(context, endpoint.ticket.ticket) for endpoint in info.endpoints}
        if not query_ids:
            raise InvalidArgument("this FlightInfo has no endpoints, so there is no query to cancel")
        cancelled = [
            self.manager.cancel(query_id, "the client cancelled the query") for query_id in query_ids
        ]
        return protocol.CancelStatus.CANCELLED if any(cancelled) else protocol.CancelStatus.NOT_CANCELLABLE

    def _query_of(self, context: flight.ServerCallContext, ticket: bytes) -> str:
        command = protocol.unpack_command(ticket)
        if not isinstance(command, sql_pb2.TicketStatementQuery):
            raise InvalidArgument("only query results can be cancelled; this FlightInfo is of metadata")
        node_ticket = self.security.unbind(
            self.security.tickets, self.identity(context), command.statement_handle
        )
        try:
            return NodeTicket.decode(node_ticket).query_id
        except FlightManagerError as exc:
            raise InvalidArgument(str(exc)) from None

    # ---- transactions --------------------------------------------------------------------------

    @staticmethod
    def _no_transactions(transaction_id: bytes) -> None:
        if transaction_id:
            raise InvalidArgument(
                "this server has no transactions (Spark SQL has none): send no transaction id"
            )

    def do_action_begin_transaction(
        self, context: flight.ServerCallContext, request: sql_pb2.ActionBeginTransactionRequest
    ) -> sql_pb2.ActionBeginTransactionResult:
        """Spark SQL has no transactions: UNIMPLEMENTED, as SqlInfo says."""
        raise Unimplemented(
            "transactions are not supported: Spark SQL runs each statement on its own (BeginTransaction)"
        )

    def do_action_end_transaction(
        self, context: flight.ServerCallContext, request: sql_pb2.ActionEndTransactionRequest
    ) -> None:
        """Spark SQL has no transactions: UNIMPLEMENTED, as SqlInfo says."""
        raise Unimplemented(
            "transactions are not supported: Spark SQL runs each statement on its own (EndTransaction)"
        )

    # ---- this server's own actions ------------------------------------------------------------

    NODE_STATS_ACTION = "NodeStats"
    """Action answering one JSON object: this node's result buffers, spill files and peak memory."""

    def do_action_fallback(self, context: flight.ServerCallContext, action: flight.Action) -> list[bytes]:
        """``NodeStats``; any other unknown action is INVALID_ARGUMENT."""
        if action.type == self.NODE_STATS_ACTION:
            return [json.dumps(self.manager.stats()).encode()]
        return super().do_action_fallback(context, action)
