"""Queries and prepared statements: results are analysed here and served by the FlightManager.

GetFlightInfo starts the query and answers at once with one endpoint per node that serves it;
DoGet on a node streams that node's share. The statement timeout's clock starts with GetFlightInfo
(:mod:`~spark_flight_sql.flightsql.statement_timeout`). A prepared statement's handle carries its statement and
bound parameters, signed for its user, so any node can execute it and none holds anything for it.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.flight as flight

from spark_flight_sql.flightmanager import DistributedResult, TimeLimit
from spark_flight_sql.flightsql.errors import InvalidArgument
from spark_flight_sql.flightsql.handlers.backend import Backend, no_transactions
from spark_flight_sql.flightsql.proto import FlightSql_pb2 as sql_pb2
from spark_flight_sql.flightsql.protocol import pack_command
from spark_flight_sql.flightsql.sessions import SparkCall
from spark_flight_sql.flightsql.settings import ExecutionMode
from spark_flight_sql.flightsql.statement_timeout import StatementClock
from spark_flight_sql.flightsql.statements import (
    PreparedStatement,
    StatementKind,
    classify,
    count_markers,
    parameter_schema,
)
from spark_flight_sql.flightsql.updates import insert_parameter_schema
from spark_flight_sql.flightsql.uploads import read_parameters

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

__all__ = ["QueryHandlers"]


class QueryHandlers:
    """CommandStatementQuery, prepared statements (create, bind, execute, close) and their DoGet."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend

    # ---- ad-hoc queries -----------------------------------------------------------------------

    def get_flight_info_statement(
        self, call: SparkCall, command: sql_pb2.CommandStatementQuery, descriptor: flight.FlightDescriptor
    ) -> flight.FlightInfo:
        """Start the query and return its endpoints as soon as it is analysed."""
        no_transactions(command.transaction_id)
        return self._execute(call, PreparedStatement(command.query), descriptor)

    def get_schema_statement(
        self, call: SparkCall, command: sql_pb2.CommandStatementQuery, descriptor: flight.FlightDescriptor
    ) -> flight.SchemaResult:
        """The result schema of a query, without running it."""
        spark = call.spark
        self.backend.authorize(call, command.query)
        return self._known_schema(spark, PreparedStatement(command.query))

    def do_get_statement(
        self, call: SparkCall, ticket: sql_pb2.TicketStatementQuery
    ) -> flight.FlightDataStream:
        """Stream this node's share of a result, while the job still runs (its user's only)."""
        security = self.backend.security
        node_ticket = security.unbind(security.tickets, call.identity, ticket.statement_handle)
        return self.backend.manager.flight_stream(node_ticket, call.context)

    # ---- prepared statements ------------------------------------------------------------------

    def do_action_create_prepared_statement(
        self, call: SparkCall, request: sql_pb2.ActionCreatePreparedStatementRequest
    ) -> sql_pb2.ActionCreatePreparedStatementResult:
        """Parse and (for queries) analyse the statement; commands do not run until executed."""
        no_transactions(request.transaction_id)
        spark = call.spark
        self.backend.authorize(call, request.query)
        kind = classify(spark, request.query)
        statement = PreparedStatement(request.query)
        result = sql_pb2.ActionCreatePreparedStatementResult(
            prepared_statement_handle=self.backend.handle(call, statement),
            is_update=not kind.returns_rows,
            parameter_schema=(
                insert_parameter_schema(spark, request.query) or parameter_schema(request.query)
            )
            .serialize()
            .to_pybytes(),
        )
        schema = self._schema_of(spark, statement, kind)
        if schema is not None and schema.names:
            result.dataset_schema = schema.serialize().to_pybytes()
        return result

    def do_put_prepared_statement_query(
        self,
        call: SparkCall,
        command: sql_pb2.CommandPreparedStatementQuery,
        reader: flight.MetadataRecordBatchReader,
    ) -> bytes:
        """Bind parameters: the new handle carries them (any node can execute it)."""
        statement = self.backend.prepared(call, command.prepared_statement_handle)
        return self.backend.handle(call, statement.bind(read_parameters(reader)))

    def get_flight_info_prepared_statement(
        self,
        call: SparkCall,
        command: sql_pb2.CommandPreparedStatementQuery,
        descriptor: flight.FlightDescriptor,
    ) -> flight.FlightInfo:
        """Execute a prepared statement's query with its bound parameters."""
        statement = self.backend.prepared(call, command.prepared_statement_handle)
        return self._execute(call, statement, descriptor)

    def get_schema_prepared_statement(
        self,
        call: SparkCall,
        command: sql_pb2.CommandPreparedStatementQuery,
        descriptor: flight.FlightDescriptor,
    ) -> flight.SchemaResult:
        """The result schema of a prepared statement's query."""
        spark = call.spark
        statement = self.backend.prepared(call, command.prepared_statement_handle)
        self.backend.authorize(call, statement.sql, statement.argument_rows()[:1])
        return self._known_schema(spark, statement)

    def do_action_close_prepared_statement(
        self, call: SparkCall, request: sql_pb2.ActionClosePreparedStatementRequest
    ) -> None:
        """Handles carry their statement and parameters and hold nothing on any node: closing frees
        nothing, and an unused handle simply expires (``spark.flight.sql.preparedStatement.ttl``)."""
        self.backend.prepared(call, request.prepared_statement_handle)

    # ---- running a query ----------------------------------------------------------------------

    def _execute(
        self, call: SparkCall, statement: PreparedStatement, descriptor: flight.FlightDescriptor
    ) -> flight.FlightInfo:
        clock = StatementClock.start(call, self.backend.settings, "query")
        identity = call.identity
        spark = call.spark
        rows = statement.argument_rows()
        with clock.watching(spark, statement.sql):
            self.backend.authorize(call, statement.sql, rows)
            df, kind = _dataframe(spark, statement.sql, rows)
            result = self._serve(call, df, kind, statement.sql, clock.time_limit())
        self.backend.audit(call, "query", statement.sql, query_id=result.query_id)
        security = self.backend.security

        def ticket(node_ticket: bytes) -> bytes:
            handle = security.bind(security.tickets, identity, node_ticket)
            return pack_command(sql_pb2.TicketStatementQuery(statement_handle=handle))

        # spark.flight.endpoints=proxy or reuse, or the session's own: every endpoint here (relayed).
        location = self.backend.manager.endpoint_location(call.endpoints_mode)
        return flight.FlightInfo(
            result.schema,
            descriptor,
            result.flight_endpoints(ticket, location),
            total_records=-1,
            total_bytes=-1,
        )

    def _serve(
        self, call: SparkCall, df: DataFrame, kind: StatementKind, sql: str, limit: TimeLimit | None
    ) -> DistributedResult:
        mode = call.execution_mode
        manager = self.backend.manager
        keep_for = (
            manager.config.result_ttl
            if self.backend.settings.keep_results and call.wants_kept_result
            else None
        )
        # A command's rows are already on this node (Spark ran it while analysing it).
        if mode is ExecutionMode.AUTO and (kind.is_command or self._is_small(df)):
            return manager.collect_here(df, description=sql, time_limit=limit, keep_for=keep_for)
        return manager.distribute(
            df, description=sql, here_only=mode is ExecutionMode.SINGLE, time_limit=limit, keep_for=keep_for
        )

    def _is_small(self, df: DataFrame) -> bool:
        """Whether Spark knows the result has at most ``single.maxRows`` rows (commands' output,
        local relations, a LIMIT, a global aggregate)."""
        try:
            max_rows = df._jdf.queryExecution().optimizedPlan().maxRows()
            return bool(max_rows.isDefined()) and int(max_rows.get()) <= self.backend.settings.single_max_rows
        except Exception:  # noqa: BLE001 - no JVM (Spark Connect): distribute
            return False

    # ---- result schemas without running -------------------------------------------------------

    def _known_schema(self, spark: SparkSession, statement: PreparedStatement) -> flight.SchemaResult:
        schema = self._schema_of(spark, statement, classify(spark, statement.sql))
        if schema is None:
            raise InvalidArgument(
                "Spark needs the parameters' values to analyse this statement: bind them first"
            )
        return flight.SchemaResult(schema)

    def _schema_of(
        self, spark: SparkSession, statement: PreparedStatement, kind: StatementKind
    ) -> pa.Schema | None:
        """The statement's result schema, without running it; None when Spark cannot tell it yet
        (a command whose output depends on what it finds, markers whose values Spark needs)."""
        from spark_flight_sql.flightmanager.spark_job import arrow_schema, use_jvm

        if kind.is_command:
            return _command_schema(spark, statement.sql) if kind.returns_rows else pa.schema([])
        markers = count_markers(statement.sql)
        if statement.parameters is None and markers:
            df = _with_stand_ins(spark, statement.sql, markers)
            if df is None:
                return None
        else:
            df = spark.sql(statement.sql, args=statement.argument_rows()[0] or None)
        return arrow_schema(df, use_jvm(df, self.backend.manager.config.push_method))


def _dataframe(spark: SparkSession, sql: str, rows: list[list[object]]) -> tuple[DataFrame, StatementKind]:
    """Parse and analyse ``sql``, once per parameter row (rows of results appended in order).
    Commands run here, as Spark runs them eagerly."""
    kind = classify(spark, sql)
    frames = [spark.sql(sql, args=row or None) for row in rows]
    return functools.reduce(lambda left, right: left.unionAll(right), frames), kind


def _with_stand_ins(spark: SparkSession, sql: str, markers: int) -> DataFrame | None:
    """``sql`` analysed with stand-ins for its unbound markers; None when only the values can tell.

    Where Spark needs a typed value (LIMIT ?, TABLESAMPLE (? ROWS)) it refuses a null (type VOID):
    zeros are tried then."""
    try:
        return spark.sql(sql, args=[None] * markers)
    except Exception as exc:
        # A null where Spark needs a typed value, or a table name (IDENTIFIER(?)).
        if '"VOID"' not in str(exc) and "NOT_A_CONSTANT_STRING" not in str(exc):
            raise
        try:
            return spark.sql(sql, args=[0] * markers)
        except Exception:  # noqa: BLE001 - the values decide: known once they are bound
            return None


def _command_schema(spark: SparkSession, sql: str) -> pa.Schema | None:
    """A command's output schema from its parsed plan (SHOW, DESCRIBE, SET, EXPLAIN declare it)."""
    from spark_flight_sql.flightmanager.spark_job import arrow_schema_of_struct

    try:
        plan = spark._jsparkSession.sessionState().sqlParser().parsePlan(sql)
        jvm = spark._jvm
        assert jvm is not None, "a session with a JVM (a parsed plan came from it)"
        types = jvm.org.apache.spark.sql.catalyst.types.DataTypeUtils
        return arrow_schema_of_struct(spark, types.fromAttributes(plan.output()))
    except Exception:  # noqa: BLE001 - an unresolved output: known once the command ran
        return None
