"""Updates: DDL and DML statements, ad hoc or prepared, answered with the affected row count.

Each runs within the statement timeout, counted from its DoPut, and stops when its client goes away
(:mod:`~spark_flight_sql.flightsql.statement_timeout`)."""

from __future__ import annotations

import pyarrow.flight as flight

from spark_flight_sql.flightsql.handlers.backend import Backend, no_transactions
from spark_flight_sql.flightsql.proto import FlightSql_pb2 as sql_pb2
from spark_flight_sql.flightsql.sessions import SparkCall
from spark_flight_sql.flightsql.statement_timeout import StatementClock
from spark_flight_sql.flightsql.statements import parameter_rows
from spark_flight_sql.flightsql.updates import run_update
from spark_flight_sql.flightsql.uploads import read_parameters

__all__ = ["UpdateHandlers"]


class UpdateHandlers:
    """CommandStatementUpdate and CommandPreparedStatementUpdate."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend

    def do_put_statement_update(
        self,
        call: SparkCall,
        command: sql_pb2.CommandStatementUpdate,
        reader: flight.MetadataRecordBatchReader,
    ) -> int:
        """Run a DDL or DML statement; the affected row count (0 for DDL), or -1 when Spark cannot
        know a write's."""
        no_transactions(command.transaction_id)
        clock = StatementClock.start(call, self.backend.settings, "update")
        spark = call.spark
        with clock.watching(spark, command.query):
            self.backend.authorize(call, command.query)
            count = run_update(spark, command.query)
        self.backend.audit(call, "update", command.query, rows=count)
        return count

    def do_put_prepared_statement_update(
        self,
        call: SparkCall,
        command: sql_pb2.CommandPreparedStatementUpdate,
        reader: flight.MetadataRecordBatchReader,
    ) -> int:
        """Run a prepared DDL or DML statement once per uploaded parameter row (once without any)."""
        clock = StatementClock.start(call, self.backend.settings, "update")
        statement = self.backend.prepared(call, command.prepared_statement_handle)
        uploaded = read_parameters(reader)
        parameters = uploaded if uploaded.num_rows else statement.parameters
        spark = call.spark
        rows = parameter_rows(parameters) if parameters is not None else None
        with clock.watching(spark, statement.sql):
            self.backend.authorize(call, statement.sql, rows)
            count = run_update(spark, statement.sql, parameters)
        self.backend.audit(call, "update", statement.sql, rows=count)
        return count
